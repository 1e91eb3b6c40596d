"""Copy volume known by construction (tests/e2e/test_memory.py).

COPY_BYTES  bytes(buf) of a 10_000_000-byte bytearray, 50 times: CPython
            copies the buffer with one memcpy of 10e6 bytes each time
            (_PyBytes_FromBuffer -> PyBuffer_ToContiguous): 500e6 bytes.
COPY_NP     a.copy() of a 10M float64 array, 5 times: numpy copies the
            80e6-byte contiguous buffer with memmove/memcpy: 400e6 bytes.

The sources are made without copying (bytearray(n), np.arange). With
memcount.so preloaded (the test's counting library, which counts the bytes
passed to memcpy/memmove and their _chk forms), the program also reports
the bytes counted during each phase ("counted").

Prints one JSON line: pid, the copies' checksum, counted bytes."""
import ctypes
import json
import os

import numpy as np

COPY_N, COPY_SIZE = 50, 10_000_000
NP_COPIES, NP_N = 5, 10_000_000

counter = None
try:
    counter = ctypes.CDLL(None).memcount_copied
    counter.restype = ctypes.c_uint64
except AttributeError:
    pass


def copy_bytes(buf):
    total = 0
    for i in range(COPY_N):
        b = bytes(buf)  # COPY_BYTES
        total += b[i]
    return total


def copy_numpy(a):
    total = 0.0
    for i in range(NP_COPIES):
        c = a.copy()  # COPY_NP
        total += c[i]
    return total


def main():
    buf = bytearray(COPY_SIZE)
    for i in range(COPY_N):
        buf[i] = i + 1
    a = np.arange(NP_N, dtype=np.float64)
    out = {"pid": os.getpid(), "counted": {}}
    for name, phase, arg in (("COPY_BYTES", copy_bytes, buf), ("COPY_NP", copy_numpy, a)):
        c0 = counter() if counter else 0
        out[name] = phase(arg)
        if counter:
            out["counted"][name] = counter() - c0
    print(json.dumps(out))


if __name__ == "__main__":
    main()
