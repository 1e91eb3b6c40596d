"""argv[1] processes forked at once (default 32), each with two extra
threads; all three threads of each process burn on STRESS_BURN. argv[2]:
seconds; argv[3]: "cpu" (default: each thread burns that much CPU) or
"wall" (each thread burns until that many wall seconds have passed since
the start signal). The children wait on a pipe until all are forked, so
they write at once. Each child leaves with os._exit(0); the parent reaps
each with os.wait4 (rusage: its true CPU time). Each burning thread also
takes its own user and kernel CPU (RUSAGE_THREAD) when it is done, and each
child sends the sums to the parent: the profiler's own sampler thread runs
in the child too, so the child's rusage holds the profiler's CPU as well as
the program's. Prints "started" once all children run, then one JSON line."""
import json
import os
import resource
import sys
import threading
import time


def burn(seconds, wall_until, used):
    t0 = time.thread_time()
    x = 0
    while (time.monotonic() < wall_until) if wall_until else (time.thread_time() - t0 < seconds):
        for i in range(2000):  # STRESS_BURN
            x += i * i % 7
    ru = resource.getrusage(resource.RUSAGE_THREAD)
    used.append((ru.ru_utime, ru.ru_stime))
    return x


def child(go, out, seconds, wall):
    os.read(go, 1)
    until = time.monotonic() + seconds if wall else None
    used = []
    ts = [threading.Thread(target=burn, args=(seconds, until, used)) for _ in range(2)]
    for t in ts:
        t.start()
    burn(seconds, until, used)
    for t in ts:
        t.join()
    # one line, under PIPE_BUF: written at once beside the other children's
    os.write(out, ("%d %f %f\n" % (os.getpid(), sum(u for u, _ in used), sum(s for _, s in used))).encode())
    os._exit(0)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 32
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 0.05
    wall = len(sys.argv) > 3 and sys.argv[3] == "wall"
    r, w = os.pipe()
    res_r, res_w = os.pipe()
    pids = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            os.close(w)
            os.close(res_r)
            child(r, res_w, seconds, wall)
        pids.append(pid)
    os.close(r)
    os.close(res_w)
    os.write(w, b"x" * n)
    print("started", flush=True)
    cpu, user, codes = {}, {}, {}
    for pid in pids:
        _, status, ru = os.wait4(pid, 0)
        cpu[str(pid)] = ru.ru_utime + ru.ru_stime
        user[str(pid)] = ru.ru_utime  # the kernel part: GIL hand-offs (futex calls) of its threads
        codes[str(pid)] = os.waitstatus_to_exitcode(status)
    burn_user, burn_sys = {}, {}
    with os.fdopen(res_r) as f:
        for line in f:
            pid, u, s = line.split()
            burn_user[pid], burn_sys[pid] = float(u), float(s)
    print(json.dumps({"main": os.getpid(), "cpu": cpu, "user": user, "exitcodes": codes,
                      "burn_user": burn_user, "burn_sys": burn_sys}))


if __name__ == "__main__":
    main()
