"""Call stacks with known shares, for `scalene view --collapsed` and
`--speedscope` (tests/e2e/test_export.py).

main() -> a() -> b() burns 0.7 CPU-s on B_BURN, and main() -> c() burns 0.3
CPU-s on C_BURN, in ten alternating slices (so neither owns the start or the
end of the run). argv[1]:
"plain": just that.
"fork": first forks a child that runs child_main() -> child_leaf(), burning
0.4 CPU-s on CHILD_BURN, then os._exit(0); the parent does its own work
meanwhile and reaps the child at the end, when it is long done, so the
parent's stacks are still 70/30 and not mostly a wait.
Prints one JSON line from the parent: the pids and the CPU seconds each
burn measured with time.thread_time."""
import json
import os
import sys
import time

SLICES = 10


def b(seconds):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:  # B_LOOP
        for i in range(2000):
            x += i & 3  # B_BURN
    return time.thread_time() - t0


def a(seconds):
    return b(seconds)  # A_CALL


def c(seconds):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:  # C_LOOP
        for i in range(2000):
            x += i & 3  # C_BURN
    return time.thread_time() - t0


def child_leaf(seconds):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:
        for i in range(2000):
            x += i & 3  # CHILD_BURN
    return x


def child_main():
    child_leaf(0.4)  # CHILD_CALL
    os._exit(0)


def main():
    out = {"main": os.getpid()}
    if sys.argv[1] == "fork":
        pid = os.fork()
        if pid == 0:
            child_main()  # FORK_CHILD
        out["child"] = pid
    ab = cc = 0.0
    for _ in range(SLICES):
        ab += a(0.7 / SLICES)  # MAIN_A
        cc += c(0.3 / SLICES)  # MAIN_C
    if "child" in out:
        os.waitpid(out["child"], 0)
    out.update(b_sec=ab, c_sec=cc)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
