"""Operators whose work is C code for numpy and pandas objects, and the
interpreter's own for ints and dicts (issue 11). Each phase runs about
`seconds` on one line of its own; the true split is known by construction:
numpy's matmul (OpenBLAS), ufunc loops and fancy indexing, and pandas column
arithmetic (numpy underneath, on 2,000,000 rows) spend nearly all their time
in C; a big-int multiply-add and dict stores run in the interpreter.
Prints one JSON line with each phase's iteration count."""
import json
import sys
import time

import numpy as np
import pandas as pd


def loop(fn, seconds):
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        fn()
        n += 1
    return n


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 0.8
    rng = np.random.default_rng(1)
    a = rng.random((300, 300))
    x, y = rng.random(2_000_000), rng.random(2_000_000)
    idx = rng.integers(0, 2_000_000, 500_000)
    df = pd.DataFrame({"p": x, "q": y})
    state = {"n": 3 ** 20000, "d": {}}

    def matmul():
        b = a @ a  # MATMUL
        return b

    def elementwise():
        c = x * y + x  # ELEMWISE
        return c

    def fancy():
        e = x[idx]  # FANCY
        return e

    def columns():
        s = df["p"] * df["q"] + df["p"]  # PANDAS
        return s

    def bigint():
        n, d = state["n"], state["d"]
        for i in range(300):
            n = n * 7 + i  # BIGINT
            d[i % 64] = n  # DICTSTORE
        state["n"] = n % (3 ** 20000)

    out = {}
    for name, fn in (("matmul", matmul), ("elementwise", elementwise), ("fancy", fancy), ("pandas", columns),
                     ("bigint", bigint)):
        out[name] = loop(fn, seconds)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
