"""A 200 MB spike between two quiet phases (issue 11, item 5;
tests/e2e/test_memory_meaning.py).

QUIET   ~1.5 s of work that allocates only short-lived ints (the footprint
        stays flat, a few MiB, while the memory sampler keeps taking samples:
        the timeline fills and gets thinned);
SPIKE   bytearray(200_000_000) (calloc'd: its pages are not touched), held
        ~50 ms, then freed;
QUIET   ~1.5 s more of the same.

The run's footprint is flat, rises by 200e6 bytes (190.7 MiB) for ~50 ms and
falls back. Prints one JSON line: pid, how long the block was held (s), the
resident MiB while it was held (little: untouched pages), and a checksum."""
import json
import os
import time

SIZE = 200_000_000
QUIET_SEC = 1.5
HOLD_SEC = 0.05


def quiet(sec):
    acc, end = 0, time.monotonic() + sec
    while time.monotonic() < end:
        for i in range(10_000):
            acc += i * 7  # QUIET
    return acc


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def spike():
    t0 = time.monotonic()
    block = bytearray(SIZE)  # SPIKE
    time.sleep(HOLD_SEC)
    rss = rss_mb()
    held = time.monotonic() - t0
    del block
    return held, rss


def main():
    a = quiet(QUIET_SEC)
    held, rss = spike()
    b = quiet(QUIET_SEC)
    print(json.dumps({"pid": os.getpid(), "held_sec": held, "rss_mb_held": rss, "result": (a + b) % 1000}))


if __name__ == "__main__":
    main()
