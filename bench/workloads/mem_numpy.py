# SPDX-License-Identifier: Apache-2.0
"""NumPy workload: element-wise arithmetic on arrays of a few MB.

Every expression creates full-size temporary arrays that NumPy allocates with
malloc (outside Python's small-object allocator) and frees a moment later: a
high rate of large native allocations, most of the time in native code called
from this file.

Usage: python3 mem_numpy.py [ITERATIONS]   (needs numpy: Debian's python3-numpy)
Prints a checksum so the work cannot be skipped.
"""
import sys

import numpy as np

N = 500_000  # float64 elements: 4 MB per array


def step(x, y, k):
    # Written as plain expressions on purpose (no out=, no in-place ops): each
    # operator returns a new 4 MB temporary.
    z = x * 1.0001 + y * 0.5 - (k % 10) * 0.1
    w = np.sqrt(np.abs(z)) * x
    y = (w + y) / 2.0
    x = x + (z - w) * 1e-3
    return x, y, float(w[k % N])


def main():
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    rng = np.random.default_rng(12345)
    x = rng.random(N)
    y = rng.random(N)
    acc = 0.0
    for k in range(iterations):
        x, y, sample = step(x, y, k)
        acc += sample
    print(f"mem_numpy iterations={iterations} acc={acc:.6e} sum={float(x.sum() + y.sum()):.6e}")


if __name__ == "__main__":
    main()
