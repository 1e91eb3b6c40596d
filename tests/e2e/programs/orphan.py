"""The main process forks a child and leaves at once with os._exit(0),
while the child (now an orphan) burns argv[1] CPU seconds (default 1.0) on
ORPHAN_BURN. Both print one JSON line: the main process first."""
import json
import os
import sys
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
time.sleep(0.05)
pid = os.fork()
if pid:
    print(json.dumps({"main": os.getpid(), "child": pid}), flush=True)
    os._exit(0)
time.sleep(0.05)  # let the parent go first
t0 = time.thread_time()
x = 0
while time.thread_time() - t0 < seconds:
    for i in range(5000):  # ORPHAN_BURN
        x += i * i % 7
print(json.dumps({"orphan": os.getpid(), "ppid_now": os.getppid(), "cpu": time.thread_time() - t0}), flush=True)
os._exit(0)
