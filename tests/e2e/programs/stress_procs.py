"""argv[1] processes forked at once (default 32), each with two extra
threads; all three threads of each process burn on STRESS_BURN. argv[2]:
seconds; argv[3]: "cpu" (default: each thread burns that much CPU) or
"wall" (each thread burns until that many wall seconds have passed since
the start signal). The children wait on a pipe until all are forked, so
they write at once. Each child leaves with os._exit(0); the parent reaps
each with os.wait4 (rusage: its true CPU time). Prints "started" once all
children run, then one JSON line."""
import json
import os
import sys
import threading
import time


def burn(seconds, wall_until):
    t0 = time.thread_time()
    x = 0
    while (time.monotonic() < wall_until) if wall_until else (time.thread_time() - t0 < seconds):
        for i in range(2000):  # STRESS_BURN
            x += i * i % 7
    return x


def child(go, seconds, wall):
    os.read(go, 1)
    until = time.monotonic() + seconds if wall else None
    ts = [threading.Thread(target=burn, args=(seconds, until)) for _ in range(2)]
    for t in ts:
        t.start()
    burn(seconds, until)
    for t in ts:
        t.join()
    os._exit(0)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 32
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 0.05
    wall = len(sys.argv) > 3 and sys.argv[3] == "wall"
    r, w = os.pipe()
    pids = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            os.close(w)
            child(r, seconds, wall)
        pids.append(pid)
    os.close(r)
    os.write(w, b"x" * n)
    print("started", flush=True)
    cpu, user, codes = {}, {}, {}
    for pid in pids:
        _, status, ru = os.wait4(pid, 0)
        cpu[str(pid)] = ru.ru_utime + ru.ru_stime
        user[str(pid)] = ru.ru_utime  # the kernel part: GIL hand-offs (futex calls) of its threads
        codes[str(pid)] = os.waitstatus_to_exitcode(status)
    print(json.dumps({"main": os.getpid(), "cpu": cpu, "user": user, "exitcodes": codes}))


if __name__ == "__main__":
    main()
