"""A Python child started by exec (subprocess): burns argv[1] CPU seconds
(default 0.5; a negative value: forever) on SUB_BURN, then prints one JSON
line with its pid, its parent's pid and the CPU it used."""
import json
import os
import sys
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
t0 = time.thread_time()
x = 0
while seconds < 0 or time.thread_time() - t0 < seconds:
    for i in range(5000):  # SUB_BURN
        x += i * i % 7
print(json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "cpu": time.thread_time() - t0}))
