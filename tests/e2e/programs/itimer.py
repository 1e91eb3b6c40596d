"""A program that owns an interval timer and counts its signal's ticks.
argv[1]: "real" (ITIMER_REAL / SIGALRM: half busy, half in time.sleep) or
"prof" (ITIMER_PROF / SIGPROF: busy for argv[2] CPU seconds). Prints one JSON line: the handler
count, the count the clock says to expect, and sleep/busy accounting."""
import json
import signal
import sys
import time

INTERVAL = 0.01
ticks = 0


def handler(signum, frame):
    global ticks
    ticks += 1


def busy(seconds, clock):
    end = clock() + seconds
    x = 0
    while clock() < end:
        for i in range(500):
            x += i
    return x


def main():
    mode = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    which, sig = {"real": (signal.ITIMER_REAL, signal.SIGALRM), "prof": (signal.ITIMER_PROF, signal.SIGPROF)}[mode]
    signal.signal(sig, handler)
    w0, c0 = time.perf_counter(), time.process_time()
    signal.setitimer(which, INTERVAL, INTERVAL)
    slept = 0.0
    if mode == "real":
        busy(seconds / 2, time.perf_counter)
        s0 = time.perf_counter()
        time.sleep(seconds / 2)  # PEP 475: resumes after each SIGALRM
        slept = time.perf_counter() - s0
    else:
        busy(seconds, time.process_time)
    signal.setitimer(which, 0, 0)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    clock = wall if mode == "real" else cpu
    print(json.dumps({"ticks": ticks, "expected": clock / INTERVAL, "wall": wall, "cpu": cpu, "slept": slept}))


if __name__ == "__main__":
    main()
