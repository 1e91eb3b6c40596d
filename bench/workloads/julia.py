# SPDX-License-Identifier: Apache-2.0
"""Julia-set workload: a tight pure-Python complex-arithmetic loop.

Usage: python3 julia.py [SIZE]   (SIZE = grid width and height in points)
Prints a checksum so the work cannot be skipped.
"""
import sys

C_RE, C_IM = -0.62772, -0.42193
MAX_ITER = 300


def escape_time(zr, zi):
    """Iterations before z = z*z + c leaves the radius-2 disc (MAX_ITER if never)."""
    n = 0
    while n < MAX_ITER:
        zr2 = zr * zr
        zi2 = zi * zi
        if zr2 + zi2 > 4.0:
            break
        zi = 2.0 * zr * zi + C_IM
        zr = zr2 - zi2 + C_RE
        n += 1
    return n


def render(size):
    lo, hi = -1.8, 1.8
    step = (hi - lo) / size
    rows = []
    for j in range(size):
        im = hi - j * step
        row = [escape_time(lo + i * step, im) for i in range(size)]
        rows.append(row)
    return rows


def main():
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    rows = render(size)
    total = sum(sum(r) for r in rows)
    inside = sum(1 for r in rows for n in r if n == MAX_ITER)
    print(f"julia size={size} iterations={total} inside={inside}")


if __name__ == "__main__":
    main()
