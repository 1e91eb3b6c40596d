"""Two processes that each hold 200 MB (tests/e2e/test_memory.py). argv[1]:

"together"    the main process forks a child; each allocates
              bytearray(200_000_000) (HOLD), and only once both hold theirs
              (pipes) do they keep holding for 0.3 s more; then the child
              leaves (os._exit, still holding it) and the main process frees
              its block. The run's footprint peaks at 2 x 200e6 bytes.
"sequential"  the child allocates and holds its 200e6 bytes 0.3 s, and leaves
              (os._exit, still holding them: a process that has ended holds
              no memory); only after reaping it does the main process
              allocate and hold its own 0.3 s. The footprint peaks at 200e6.

Prints one JSON line: main and child pids, the child's exit status, and each
process's resident MiB (/proc/self/statm) while it held its block."""
import json
import os
import sys
import time

SIZE = 200_000_000
HOLD_SEC = 0.3


def hold():
    block = bytearray(SIZE)  # HOLD
    return block


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main():
    how = sys.argv[1] if len(sys.argv) > 1 else "together"
    to_child_r, to_child_w = os.pipe()
    to_main_r, to_main_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        block = hold()
        os.write(to_main_w, b"%12.3f" % rss_mb())  # I hold mine, this much resident
        if how == "together":
            os.read(to_child_r, 1)  # both held for HOLD_SEC: leave
        else:
            time.sleep(HOLD_SEC)
        os._exit(0 if len(block) == SIZE else 1)
    if how == "together":
        block = hold()
        child_rss = float(os.read(to_main_r, 12))
        main_rss = rss_mb()
        time.sleep(HOLD_SEC)
        os.write(to_child_w, b"x")
        _, status = os.waitpid(pid, 0)
        del block
    else:
        child_rss = float(os.read(to_main_r, 12))
        _, status = os.waitpid(pid, 0)
        block = hold()
        main_rss = rss_mb()
        time.sleep(HOLD_SEC)
        del block
    print(
        json.dumps(
            {
                "main": os.getpid(),
                "child": pid,
                "exit": os.waitstatus_to_exitcode(status),
                "rss_mb": {"main": main_rss, "child": child_rss},
            }
        )
    )


if __name__ == "__main__":
    main()
