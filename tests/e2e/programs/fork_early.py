"""Forks as its very first statement, before the program has run for even
a few milliseconds. The child burns argv[1] CPU seconds and reports, through
a pipe, the names of its threads, the burn loop's CPU time and its main
thread's (the program's own: the child's rusage, which the parent gets from
os.wait4, also holds the profiler's sampler thread). Prints one JSON line."""
import os

r, w = os.pipe()
pid = os.fork()
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

if pid == 0:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:
        for i in range(20000):  # EARLY_BURN
            x += i * i % 7
    burn = time.thread_time() - t0
    names = sorted(open("/proc/self/task/%s/comm" % t).read().strip() for t in os.listdir("/proc/self/task"))
    os.write(w, json.dumps({"threads": names, "burn_cpu": burn, "main_cpu": time.thread_time()}).encode())
    os._exit(0)
os.close(w)
_, status, ru = os.wait4(pid, 0)
said = json.loads(os.read(r, 4096) or b"{}")
print(json.dumps({"parent": os.getpid(), "child": pid, "child_cpu": ru.ru_utime + ru.ru_stime,
                  "child_main_cpu": said.get("main_cpu"), "child_burn_cpu": said.get("burn_cpu"),
                  "child_threads": said.get("threads")}))
