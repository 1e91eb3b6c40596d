"""Two multiprocessing.Process children (argv[1]: start method, default
"fork"), each burning argv[2] CPU seconds (default 0.5) in its own function
while the main process joins them. Each child sends (pid, ppid, CPU used)
through a queue. Prints one JSON line."""
import json
import multiprocessing
import os
import sys
import time


def proc_a(q, seconds):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:
        for i in range(5000):  # PROC_A_BURN
            x += i * i % 7
    q.put(("a", os.getpid(), os.getppid(), time.thread_time() - t0))


def proc_b(q, seconds):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:
        for i in range(5000):  # PROC_B_BURN
            x += i * i % 5
    q.put(("b", os.getpid(), os.getppid(), time.thread_time() - t0))


def main():
    ctx = multiprocessing.get_context(sys.argv[1] if len(sys.argv) > 1 else "fork")
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
    q = ctx.Queue()
    ps = [ctx.Process(target=f, args=(q, seconds)) for f in (proc_a, proc_b)]
    for p in ps:
        p.start()
    got = {}
    for _ in ps:
        k, pid, ppid, cpu = q.get(timeout=60)
        got[k] = {"pid": pid, "ppid": ppid, "cpu": cpu}
    for p in ps:
        p.join()
    print(json.dumps({"main": os.getpid(), "children": got, "exitcodes": [p.exitcode for p in ps]}))


if __name__ == "__main__":
    main()
