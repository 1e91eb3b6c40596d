"""Blocks of Scalene's magic size and its neighbours (tests/e2e/test_memory.py).

Scalene treats an allocation of exactly 98,821 bytes as a signal from its own
Python side (NEWLINE: `bytearray(98_820)` asks for 98,820 + 1 bytes). A
profiler with Scalene's CLI must measure such blocks like any other and leave
the program alone. Each line below keeps its blocks (module globals) until
the process ends, about 40 MiB a line:

PY_<n>      bytearray(n) for n in 1, 4096, 98_819, 98_820, 98_821, 98_822:
            Python's allocator is asked for the object (56 bytes) and the
            buffer (n + 1 bytes: 98_820 -> exactly 98_821); plus the list's
            8-byte slots.
C_<n>       malloc(n) through ctypes (the global symbol, as a C extension
            calls it) for n in 4096, 98_820, 98_821, 98_822: native blocks of
            exactly n bytes, each filled (memset) with a byte pattern; plus a
            32-byte Python int for the address and a slot.

argv[1] == "trace": measures what each PY_ line keeps with tracemalloc (which
sees Python's allocators only) and prints it under "traced".

Prints a RESULT line (counts and checksums of every block's contents, the
same with and without a profiler), then one JSON line: pid, blocks per line,
traced bytes."""
import ctypes
import json
import os
import sys
import zlib

TARGET = 40 * 2**20  # bytes a line
PY_SIZES = (1, 4096, 98_819, 98_820, 98_821, 98_822)
C_SIZES = (4096, 98_820, 98_821, 98_822)

# The global symbols, as a C extension's call to malloc resolves them (a
# handle of libc.so.6 itself would reach glibc's malloc past any preloaded one).
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.memset.restype = ctypes.c_void_p
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]

K = {}


def count(per_block):
    return TARGET // per_block + 1


def py_1():
    K["PY_1"] = [bytearray(1) for _ in range(count(1 + 1 + 56 + 8))]  # PY_1


def py_4096():
    K["PY_4096"] = [bytearray(4096) for _ in range(count(4096 + 1 + 56 + 8))]  # PY_4096


def py_98819():
    K["PY_98819"] = [bytearray(98_819) for _ in range(count(98_819 + 1 + 56 + 8))]  # PY_98819


def py_98820():
    K["PY_98820"] = [bytearray(98_820) for _ in range(count(98_820 + 1 + 56 + 8))]  # PY_98820


def py_98821():
    K["PY_98821"] = [bytearray(98_821) for _ in range(count(98_821 + 1 + 56 + 8))]  # PY_98821


def py_98822():
    K["PY_98822"] = [bytearray(98_822) for _ in range(count(98_822 + 1 + 56 + 8))]  # PY_98822


def c_blocks():
    m = libc.malloc
    K["C_4096"] = [m(4096) for _ in range(count(4096))]  # C_4096
    K["C_98820"] = [m(98_820) for _ in range(count(98_820))]  # C_98820
    K["C_98821"] = [m(98_821) for _ in range(count(98_821))]  # C_98821
    K["C_98822"] = [m(98_822) for _ in range(count(98_822))]  # C_98822


def checksums():
    """Every Python block gets a pattern at both ends, every native block is
    filled; then all are read back."""
    res = {}
    for n in PY_SIZES:
        crc = 0
        for i, b in enumerate(K["PY_%d" % n]):
            b[0] = i & 0xFF
            b[-1] = (i * 7) & 0xFF
            crc = zlib.crc32(bytes((b[0], b[-1], len(b) & 0xFF)), crc)
        res["PY_%d" % n] = [len(K["PY_%d" % n]), crc]
    for n in C_SIZES:
        crc = 0
        for i, p in enumerate(K["C_%d" % n]):
            libc.memset(p, (i * 13) & 0xFF, n)
            crc = zlib.crc32(ctypes.string_at(p + n - 4, 4) + n.to_bytes(4, "little"), crc)
        res["C_%d" % n] = [len(K["C_%d" % n]), crc]
    return res


def main():
    trace = len(sys.argv) > 1 and sys.argv[1] == "trace"
    traced = {}
    if trace:
        import tracemalloc

        tracemalloc.start()
    for f in (py_1, py_4096, py_98819, py_98820, py_98821, py_98822):
        before = tracemalloc.get_traced_memory()[0] if trace else 0
        f()
        if trace:
            traced[f.__name__.upper()] = tracemalloc.get_traced_memory()[0] - before
    if trace:
        tracemalloc.stop()
    c_blocks()
    print("RESULT " + json.dumps(checksums(), sort_keys=True))
    print(json.dumps({"pid": os.getpid(), "blocks": {name: len(v) for name, v in K.items()}, "traced": traced}))


if __name__ == "__main__":
    main()
