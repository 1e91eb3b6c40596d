"""Known CPU shares across two processes (issue 16's pprof export): the
parent burns 0.8 CPU-s in heavy() (main -> run -> heavy), then forks a child
that burns 0.3 CPU-s in light() (main -> run -> light) while the parent
waits. Prints one JSON line: the pids."""
import json
import os
import time


def burn(seconds):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:
        x += sum(i & 3 for i in range(200))  # BURN_LINE
    return x


def heavy():
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < 0.8:
        for i in range(2000):
            x += i & 3  # HEAVY_LINE
    return x


def light():
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < 0.3:
        for i in range(2000):
            x += i & 5  # LIGHT_LINE
    return x


def run(which):
    return heavy() if which == "heavy" else light()  # RUN_LINE


def main():
    run("heavy")
    pid = os.fork()
    if pid == 0:
        run("light")
        os._exit(0)
    os.waitpid(pid, 0)
    print(json.dumps({"main": os.getpid(), "child": pid}))


if __name__ == "__main__":
    main()
