"""C code under known Python lines, for --native. argv[1]:

"libs": compress() spends 0.6 CPU-s in zlib.compress (libz.so.1) on
ZLIB_LINE, then digest() 0.4 CPU-s in hashlib.sha256 (libcrypto.so.3) on
SHA_LINE.
"sleepy": 300 calls of libc's usleep(1000) through ctypes (C code that is
blocked, not running) and 300 of nanosleep; counts the calls that came back
early with EINTR (a profiler that signals blocked threads would cause some).
"takeover": installs its own handler for every real-time signal from
SIGRTMAX-7 to SIGRTMAX, then runs the "libs" work; counts how often its
handlers ran (a profiler that kept signalling would make them run).
Prints one JSON line."""
import ctypes
import hashlib
import json
import os
import signal
import sys
import time
import zlib

DATA = os.urandom(1 << 20)


def compress(seconds):
    t0 = time.thread_time()
    while time.thread_time() - t0 < seconds:
        zlib.compress(DATA, 9)  # ZLIB_LINE


def digest(seconds):
    t0 = time.thread_time()
    while time.thread_time() - t0 < seconds:
        hashlib.sha256(DATA).digest()  # SHA_LINE


def sleepy():
    libc = ctypes.CDLL(None, use_errno=True)

    class timespec(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]

    eintr = 0
    for _ in range(300):
        if libc.usleep(1000) != 0 and ctypes.get_errno() == 4:
            eintr += 1  # USLEEP_LINE
    ts = timespec(0, 1000000)
    for _ in range(300):
        if libc.nanosleep(ctypes.byref(ts), None) != 0 and ctypes.get_errno() == 4:
            eintr += 1
    return eintr


def main():
    shape = sys.argv[1]
    out = {"main": os.getpid()}
    if shape == "libs":
        compress(0.6)
        digest(0.4)
    elif shape == "sleepy":
        out["eintr"] = sleepy()
    elif shape == "takeover":
        calls = [0]

        def handler(signum, frame):
            calls[0] += 1

        for s in range(signal.SIGRTMAX - 7, signal.SIGRTMAX + 1):
            signal.signal(s, handler)
        compress(0.3)
        digest(0.2)
        out["handler_calls"] = calls[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
