"""The parent forks a child that burns CPU on a known line, then waits for
it with os.wait4, whose rusage is the child's true CPU time.
argv[1]: "exit" (the child burns argv[2] CPU seconds, then os._exit(0)) or
"kill" (the child burns until the parent SIGKILLs it after argv[2] wall
seconds). argv[3]: seconds the parent waits before forking (default 0.1,
clear of the profiler's start-up; programs/fork_early.py forks at once).
Prints one JSON line from the parent."""
import json
import os
import signal
import sys
import time


def child_burn(seconds):
    """Burns `seconds` of CPU, or forever when None (no clock calls then)."""
    t0 = time.thread_time()
    x = 0
    while seconds is None or time.thread_time() - t0 < seconds:
        for i in range(20000):  # CHILD_BURN
            x += i * i % 7
    return x


def main():
    how = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    time.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 0.1)
    pid = os.fork()
    if pid == 0:
        child_burn(seconds if how == "exit" else None)
        os._exit(0)
    if how == "kill":
        time.sleep(seconds)  # PARENT_SLEEP
        os.kill(pid, signal.SIGKILL)
    wpid, status, ru = os.wait4(pid, 0)  # PARENT_WAIT
    print(json.dumps({
        "parent": os.getpid(),
        "child": pid,
        "child_cpu": ru.ru_utime + ru.ru_stime,
        # os.waitstatus_to_exitcode is new in 3.9 (the version matrix runs 3.8)
        "exitcode": -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status),
    }))


if __name__ == "__main__":
    main()
