"""Library-heavy single-process work (issue 11): sympy integrates, expands a
series, simplifies and takes a symbolic determinant. Its call stacks are deep
and full of generators, lru_cache-style wrappers and C-to-Python calls; all
of its time is spent under the four marked lines of this file."""
import json
import time

import sympy as sp


def work():
    x, y = sp.symbols("x y")
    r = sp.integrate(sp.sin(x) ** 3 * sp.exp(x), x)  # INTEGRATE
    s = sp.series(sp.exp(sp.sin(x)), x, 0, 12)  # SERIES
    t = sp.simplify((x ** 2 - y ** 2) / (x - y) + sp.cos(x) ** 2 + sp.sin(x) ** 2)  # SIMPLIFY
    m = sp.Matrix(5, 5, lambda i, j: sp.Symbol("a%d%d" % (i, j)) if (i + j) % 2 else i + j)
    d = m.det()  # DET
    return [r, s, t, d]


if __name__ == "__main__":
    t0 = time.perf_counter()
    n = len(work())
    print(json.dumps({"n": n, "wall": time.perf_counter() - t0}))
