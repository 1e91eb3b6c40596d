"""Call stacks whose true shares are built in. argv[1] picks the shape:

"split": main() -> outer() -> inner() burns 0.7 CPU-s on INNER_LINE, and
main() -> side() burns 0.3 CPU-s on SIDE_LINE; the same helper spin() runs
both, so only the callers tell the two apart.
"fork": as "split", then a forked child runs main() -> child_work() ->
spin() for 0.5 CPU-s (CHILD_LINE) and exits.
"deep": recurse(300) then spin 0.3 CPU-s at the bottom: deeper than the
walk keeps (its stack is cut at the outer end).
"thread": a threading.Thread runs worker() -> spin() for 0.5 CPU-s while
the main thread waits in join().
Prints one JSON line: the pids."""
import json
import os
import sys
import threading
import time


def spin(seconds):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:
        for i in range(2000):
            x += i & 3  # SPIN_LINE
    return x


def inner():
    return spin(0.7)  # INNER_LINE


def outer():
    return inner()  # OUTER_LINE


def side():
    return spin(0.3)  # SIDE_LINE


def child_work():
    return spin(0.5)  # CHILD_LINE


def recurse(n):
    if n == 0:
        return spin(0.3)  # BOTTOM_LINE
    return recurse(n - 1)  # RECURSE_LINE


def worker():
    return spin(0.5)  # WORKER_LINE


def main():
    shape = sys.argv[1]
    out = {"main": os.getpid()}
    if shape in ("split", "fork"):
        outer()
        side()
    if shape == "fork":
        pid = os.fork()
        if pid == 0:
            child_work()
            os._exit(0)
        os.waitpid(pid, 0)
        out["child"] = pid
    if shape == "deep":
        sys.setrecursionlimit(2000)
        recurse(300)
    if shape == "thread":
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
