# SPDX-License-Identifier: Apache-2.0
"""For tests/e2e/test_ai.py: one function whose loop is the hot spot, with
imports to report. The loop's body (the line marked HOT) is where the
time goes: a pure-Python sum of squares of 300k numbers, repeated."""
import math
import sys
from collections import deque


def sum_squares(n):
    total = 0
    for i in range(n):
        total += i * i  # HOT
    return total


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    import time

    end = time.monotonic() + seconds
    out = deque(maxlen=1)
    while time.monotonic() < end:
        out.append(sum_squares(300_000))
    print(math.isqrt(out[0]) > 0)


main()
