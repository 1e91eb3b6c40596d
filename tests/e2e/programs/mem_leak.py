"""Leak ground truth (tests/e2e/test_memory.py). Three lines:

ONCE    bytearray(150_000_000) at the start, kept to the end: a big block
        allocated once, not a leak.
LEAK    appends a new bytearray(10_000) to a global list forever, at a steady
        argv[2] MB/s (default 100) for argv[1] seconds (default 3): a leak
        whose live memory grows linearly the whole run.
NOLEAK  allocates a bytearray(10_000) just as often and drops it at once (the
        next pass rebinds it): the same volume as LEAK, freed.

The pace is kept against the clock (blocks due by now, then a 1 ms sleep),
so the growth is steady even when the program is slowed down.

Prints one JSON line: pid, blocks allocated on each line, the growth phase's
start and end (seconds since the program's start, perf_counter), and the
LEAK line's live bytes at the end: blocks x sys.getsizeof(block) (the buffer,
len + 1, and the bytearray object) + sys.getsizeof(LEAK) (the list's slots).
Checked against tracemalloc: equal within 0.1 KB."""
import json
import os
import sys
import time

T0 = time.perf_counter()
CHUNK = 10_000
LEAK = []
ONCE = None


def grow(seconds, rate):
    global ONCE
    ONCE = bytearray(150_000_000)  # ONCE
    t0 = time.perf_counter()
    n = 0
    tmp = None
    while True:
        now = time.perf_counter() - t0
        if now >= seconds:
            break
        due = int(now * rate / CHUNK) + 1
        while n < due:
            LEAK.append(bytearray(CHUNK))  # LEAK
            tmp = bytearray(CHUNK)  # NOLEAK
            n += 1
        time.sleep(0.001)
    return n, t0 - T0, time.perf_counter() - T0, len(tmp)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    rate = float(sys.argv[2]) * 1e6 if len(sys.argv) > 2 else 100e6
    n, start, end, _ = grow(seconds, rate)
    per_block = sys.getsizeof(LEAK[0])  # buffer (len + 1) + the object
    print(
        json.dumps(
            {
                "pid": os.getpid(),
                "blocks": n,
                "start": start,
                "end": end,
                "leak_bytes": n * per_block + sys.getsizeof(LEAK),
                "once_bytes": ONCE.__alloc__(),
            }
        )
    )


if __name__ == "__main__":
    main()
