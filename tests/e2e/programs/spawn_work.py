"""One multiprocessing child started with the "spawn" method (a fresh
exec'd interpreter). argv[1]: "burn" (the child burns argv[2] CPU seconds,
default 1.0, on SPAWN_BURN) or "difflib" (the child spends argv[2] wall
seconds in difflib, called from DIFFLIB_CHILD). The child sends its pid, its
loop's CPU and the user part of it (RUSAGE_THREAD: the kernel part, page
faults of a fresh allocator's memory, is system time) through a pipe (not a Queue: a Queue starts a feeder thread, and a thread's
birth makes the sampler tick every millisecond for a while, which would blur
the child's samples-per-CPU-second); prints one JSON line."""
import difflib
import json
import multiprocessing
import os
import random
import resource
import sys
import time


def user_now():
    return resource.getrusage(resource.RUSAGE_THREAD).ru_utime


def burn(q, seconds):
    t0, u0 = time.thread_time(), user_now()
    x = 0
    while time.thread_time() - t0 < seconds:
        for i in range(5000):  # SPAWN_BURN
            x += i * i % 7
    q.send((os.getpid(), time.thread_time() - t0, user_now() - u0))


def diff(q, seconds):
    t0, u0 = time.thread_time(), user_now()
    rnd = random.Random(1)
    a = [rnd.choice("abcdefgh") for _ in range(600)]
    b = [rnd.choice("abcdefgh") for _ in range(600)]
    n = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        n += len(difflib.SequenceMatcher(None, a, b).get_matching_blocks())  # DIFFLIB_CHILD
    q.send((os.getpid(), time.thread_time() - t0, user_now() - u0))


def main():
    ctx = multiprocessing.get_context("spawn")
    r, q = ctx.Pipe(duplex=False)
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    p = ctx.Process(target=burn if sys.argv[1] == "burn" else diff, args=(q, seconds))
    p.start()
    if not r.poll(60):
        sys.exit("no answer from the child in 60 s")
    pid, cpu, user = r.recv()
    p.join()
    print(json.dumps({"main": os.getpid(), "child": pid, "child_cpu": cpu, "child_user": user,
                      "exitcode": p.exitcode}))


if __name__ == "__main__":
    main()
