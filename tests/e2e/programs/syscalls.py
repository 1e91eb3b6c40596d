"""Many blocking system calls made straight from C through ctypes, so no
Python-level EINTR retry (PEP 475) can hide an interrupted call: libc
nanosleep, read() on a pipe fed slowly by another thread, select() and
poll() with timeouts; then time.sleep and select.select loops from Python.
A profiler that interrupts threads with signals would make these fail with
EINTR. Prints one JSON line: calls made, EINTR count, other failures, and
whether each sleep lasted as long as asked."""
import ctypes
import errno
import json
import os
import select
import sys
import threading
import time

libc = ctypes.CDLL(None, use_errno=True)


class timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


stats = {"calls": 0, "eintr": 0, "errors": [], "short_sleeps": 0}


def check(name, ret):
    stats["calls"] += 1
    if ret < 0:
        e = ctypes.get_errno()
        if e == errno.EINTR:
            stats["eintr"] += 1
        else:
            stats["errors"].append("%s: %s" % (name, os.strerror(e)))


def c_nanosleep(n, ns):
    for _ in range(n):
        req, rem = timespec(0, ns), timespec(0, 0)
        t0 = time.perf_counter()
        check("nanosleep", libc.nanosleep(ctypes.byref(req), ctypes.byref(rem)))  # C_NANOSLEEP
        if time.perf_counter() - t0 < ns / 1e9 * 0.99:
            stats["short_sleeps"] += 1


def c_read_pipe(n, gap):
    r, w = os.pipe()

    def feed():
        for i in range(n):
            time.sleep(gap)
            os.write(w, b"x")
        os.close(w)

    t = threading.Thread(target=feed)
    t.start()
    buf = ctypes.create_string_buffer(1)
    got = 0
    while True:
        k = libc.read(r, buf, 1)  # C_READ
        check("read", k)
        if k == 0:
            break
        if k > 0:
            got += k
    t.join()
    os.close(r)
    stats["pipe_bytes"] = got


def c_select_poll(n, ms):
    for _ in range(n):
        tv = timeval(0, ms * 1000)
        check("select", libc.select(0, None, None, None, ctypes.byref(tv)))  # C_SELECT
        check("poll", libc.poll(None, 0, ms))  # C_POLL


def py_loops(n, sec):
    for _ in range(n):
        t0 = time.perf_counter()
        time.sleep(sec)
        select.select([], [], [], sec)
        if time.perf_counter() - t0 < 2 * sec * 0.99:
            stats["short_sleeps"] += 1
        stats["calls"] += 2


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    n = max(1, int(50 * scale))
    c_nanosleep(n, 4000000)
    c_read_pipe(n, 0.004)
    c_select_poll(n, 2)
    py_loops(n, 0.002)
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
