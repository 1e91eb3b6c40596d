"""A child burns CPU forever on a known line until the parent SIGKILLs it,
once the child has used argv[2] CPU seconds (default 2.0, read from
/proc/<pid>/stat). argv[1]: "fork" (os.fork, the child burns on KILL_BURN
here) or "exec" (subprocess.Popen of sub_child.py, which burns on SUB_BURN).
The parent reaps it with os.wait4, whose rusage is the child's true CPU
time, and prints one JSON line."""
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HZ = os.sysconf("SC_CLK_TCK")


def cpu_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ  # utime + stime


def main():
    how = sys.argv[1]
    want = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    if how == "fork":
        pid = os.fork()
        if pid == 0:
            x = 0
            while True:
                for i in range(5000):  # KILL_BURN
                    x += i * i % 7
    else:
        pid = subprocess.Popen([sys.executable, os.path.join(HERE, "sub_child.py"), "-1"]).pid
    deadline = time.monotonic() + 60
    while cpu_of(pid) < want and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    _, status, ru = os.wait4(pid, 0)
    print(json.dumps({
        "main": os.getpid(),
        "child": pid,
        "child_cpu": ru.ru_utime + ru.ru_stime,
        "exitcode": os.waitstatus_to_exitcode(status),
    }))


if __name__ == "__main__":
    main()
