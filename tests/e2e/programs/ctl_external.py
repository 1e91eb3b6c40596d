"""Profiling switched on from outside (`scalene run --off`, then
`scalene control on PID`): the program burns CPU on one line until a file
appears, then on another line for a fixed time. Its first output line is
its pid (so the test knows whom to switch on); its last is JSON with the
second phase's CPU seconds. Forks one child that burns on its own line
while profiling is on, so the switch is seen to reach children."""
import json
import os
import sys
import time


def main():
    go, s = sys.argv[1], float(sys.argv[2])
    print(os.getpid(), flush=True)
    x = 0
    while not os.path.exists(go): x += 1  # WAIT_OFF
    t0 = time.process_time()
    pid = os.fork()
    if pid == 0:
        t1 = time.process_time()
        while time.process_time() - t1 < s: x += 1  # CHILD_ON
        os._exit(0)
    while time.process_time() - t0 < s: x += 1  # MAIN_ON
    cpu = time.process_time() - t0
    os.waitpid(pid, 0)
    print(json.dumps({"on": cpu}))


if __name__ == "__main__":
    main()
