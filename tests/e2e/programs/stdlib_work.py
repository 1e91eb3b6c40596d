"""Spends most of its time in pure-Python standard-library code (difflib),
called from one line of its own. Prints one JSON line with its pid, the
wall clock at start, the measured wall time and the time it spent waiting
for a CPU (run queue), which the profile does not count."""
import difflib
import json
import os
import random
import sys
import time


def run_queue_wait():
    with open("/proc/thread-self/schedstat") as f:
        return int(f.read().split()[1]) / 1e9


def main():
    t_epoch, w0, q0 = time.time(), time.perf_counter(), run_queue_wait()
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 0.6
    rnd = random.Random(1)
    a = [rnd.choice("abcdefgh") for _ in range(600)]
    b = [rnd.choice("abcdefgh") for _ in range(600)]
    n = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        n += len(difflib.SequenceMatcher(None, a, b).get_matching_blocks())  # DIFFLIB_CALL
    print(json.dumps({"pid": os.getpid(), "start_epoch": t_epoch, "wall": time.perf_counter() - w0,
                      "rq": run_queue_wait() - q0, "n": n}))


if __name__ == "__main__":
    main()
