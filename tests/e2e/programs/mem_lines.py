"""Single-process lines whose memory is known by construction (the issue-4
ground truth, tests/e2e/test_memory.py). In order:

CHURN          2000 x bytearray(1_000_000), each rebound (so freed) at once:
               2000 x 1_000_001 bytes newly allocated (a bytearray's buffer
               is len + 1), about 2 blocks live at any time, ~0 at the end.
PY_LIST        [n for n in range(2**30, 2**30 + 6_000_000)], kept: 6e6 int
               objects of exactly 32 bytes (ints in [2**30, 2**60) have two
               30-bit digits: 24 + 2*4 = 32 bytes, the size asked of pymalloc
               and its block size) + the list's 8-byte slots, all through
               Python's allocator; nothing transient (each int stays in the
               list).
BIG_BYTEARRAY  bytearray(300_000_000), kept: 300_000_001 bytes, Python's
               allocator (PyObject_Malloc, which hands large blocks to malloc).
TRANSIENT      bytearray(100_000_000), freed right after NP_ONES: the
               process's footprint peaks on the NP_ONES line and never comes
               back near that peak.
NP_ONES        np.ones(37_500_000), kept: a 300_000_000-byte float64 data
               buffer from numpy's allocator (native malloc), plus a ~100-byte
               array object through Python's.

Everything kept lives in the module global KEEP until the process ends, so a
line's live memory at the end is what it allocated.

argv[1] == "trace": also measures, with tracemalloc (started after numpy's
import; it sees Python's allocators and numpy's data buffers), each phase's
change in live bytes ("kept") and its peak above the start ("peak"); prints
them under "traced". Slower (~2 s more).

Prints one JSON line: pid, sizes measured with sys.getsizeof, whether
libjemalloc is mapped, and a result checksum (the program's output, which a
profiler must not change)."""
import json
import os
import sys

import numpy as np

KEEP = []

CHURN_N, CHURN_SIZE = 2000, 1_000_000
INT_BASE, N_INTS = 2**30, 6_000_000
BIG = 300_000_000
TRANSIENT_SIZE = 100_000_000
NP_N = 37_500_000  # float64: 300_000_000 bytes


def churn():
    b = None
    total = 0
    for _ in range(CHURN_N):
        b = bytearray(CHURN_SIZE)  # CHURN
        total += len(b)
    return total


def py_list():
    xs = [n for n in range(INT_BASE, INT_BASE + N_INTS)]  # PY_LIST
    KEEP.append(xs)
    return xs


def big_bytearray():
    buf = bytearray(BIG)  # BIG_BYTEARRAY
    KEEP.append(buf)
    return buf


def numpy_ones():
    tmp = bytearray(TRANSIENT_SIZE)  # TRANSIENT
    a = np.ones(NP_N)  # NP_ONES
    KEEP.append(a)
    del tmp
    return a


def main():
    trace = len(sys.argv) > 1 and sys.argv[1] == "trace"
    if trace:
        import tracemalloc

        tracemalloc.start()
    out = {"pid": os.getpid(), "traced": {}}
    results = {}
    for name, phase in (("CHURN", churn), ("PY_LIST", py_list), ("BIG_BYTEARRAY", big_bytearray), ("NP_ONES", numpy_ones)):
        if trace:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
        results[name] = phase()
        if trace:
            now, peak = tracemalloc.get_traced_memory()
            out["traced"][name] = {"kept": now - before, "peak": peak - before}
    if trace:
        tracemalloc.stop()
    xs, buf, a = results["PY_LIST"], results["BIG_BYTEARRAY"], results["NP_ONES"]
    out["list_sizeof"] = sys.getsizeof(xs)
    out["int_sizeof"] = sorted({sys.getsizeof(xs[0]), sys.getsizeof(xs[-1])})
    out["bytearray_alloc"] = buf.__alloc__()
    out["np_nbytes"] = a.nbytes
    with open("/proc/self/maps") as f:
        out["jemalloc"] = "libjemalloc" in f.read()
    out["result"] = [results["CHURN"], len(xs), xs[-1] - xs[0], len(buf), float(a.sum())]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
