"""Memory ground truth that needs no numpy (the pyenv interpreters of the
version matrix, tests/e2e/test_versions.py, have none). Each line's memory
is known by construction and kept in KEEP until the process ends:

PY_LIST        [n for n in range(2**30, 2**30 + 3_000_000)]: 3e6 int objects
               of 32 bytes (two 30-bit digits) + the list's 8-byte slots, all
               through Python's allocator.
BIG_BYTEARRAY  bytearray(200_000_000): 200_000_001 bytes through Python's
               allocator (PyObject_Malloc hands the block to malloc).
C_MALLOC       libc's malloc(200_000_000) called through ctypes, the block
               written whole (memset) and kept: native, on the calling line.

Prints one JSON line: pid, the list's sys.getsizeof, and a checksum."""
import ctypes
import json
import os
import sys

KEEP = []
N_INTS, BIG, C_BYTES = 3_000_000, 200_000_000, 200_000_000


def py_list():
    xs = [n for n in range(2**30, 2**30 + N_INTS)]  # PY_LIST
    KEEP.append(xs)
    return xs


def big_bytearray():
    buf = bytearray(BIG)  # BIG_BYTEARRAY
    KEEP.append(buf)
    return buf


def c_malloc():
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    p = libc.malloc(C_BYTES)  # C_MALLOC
    ctypes.memset(p, 1, C_BYTES)
    KEEP.append(p)
    return ctypes.string_at(p + C_BYTES - 1, 1)


def main():
    xs = py_list()
    buf = big_bytearray()
    last = c_malloc()
    print(json.dumps({"pid": os.getpid(), "list_sizeof": sys.getsizeof(xs), "result": [len(xs), len(buf), last[0]]}))


if __name__ == "__main__":
    main()
