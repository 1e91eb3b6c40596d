"""The main thread leaves with a thread-only exit (pthread_exit through
ctypes) while a worker burns 0.3 CPU-s on WORKER_LINE; the process ends when
the worker does, with status 0 (no atexit, no finalization). Prints one JSON
line from the worker: the pid and the worker's CPU."""
import ctypes
import json
import os
import threading
import time


def work():
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < 0.3:
        for i in range(1000):
            x += i & 3  # WORKER_LINE
    print(json.dumps({"pid": os.getpid(), "cpu": time.thread_time() - t0}), flush=True)


threading.Thread(target=work).start()
ctypes.CDLL(None).pthread_exit(None)
