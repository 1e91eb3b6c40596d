"""One multiprocessing child started with the "spawn" method (a fresh
exec'd interpreter). argv[1]: "burn" (the child burns argv[2] CPU seconds,
default 1.0, on SPAWN_BURN) or "difflib" (the child spends argv[2] wall
seconds in difflib, called from DIFFLIB_CHILD). The child sends its pid and
CPU through a queue; prints one JSON line."""
import difflib
import json
import multiprocessing
import os
import random
import sys
import time


def burn(q, seconds):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:
        for i in range(5000):  # SPAWN_BURN
            x += i * i % 7
    q.put((os.getpid(), time.thread_time() - t0))


def diff(q, seconds):
    t0 = time.thread_time()
    rnd = random.Random(1)
    a = [rnd.choice("abcdefgh") for _ in range(600)]
    b = [rnd.choice("abcdefgh") for _ in range(600)]
    n = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        n += len(difflib.SequenceMatcher(None, a, b).get_matching_blocks())  # DIFFLIB_CHILD
    q.put((os.getpid(), time.thread_time() - t0))


def main():
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    p = ctx.Process(target=burn if sys.argv[1] == "burn" else diff, args=(q, seconds))
    p.start()
    pid, cpu = q.get(timeout=60)
    p.join()
    print(json.dumps({"main": os.getpid(), "child": pid, "child_cpu": cpu, "exitcode": p.exitcode}))


if __name__ == "__main__":
    main()
