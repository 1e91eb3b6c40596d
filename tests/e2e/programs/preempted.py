"""One worker thread burns argv[1] CPU seconds of pure Python while the main
thread joins. Every `chunk` (argv[2], default 20000) loop iterations -- about
a millisecond -- it reads its CPU clock with time.thread_time(), a real
system call (no vDSO for a thread's CPU clock) and so a point where a
loaded kernel likes to preempt it. The call itself is well under 1 % of the
thread's CPU. Prints one JSON line: the worker's tid and measured CPU."""
import json
import sys
import threading
import time

out = {}


def worker(seconds, chunk):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:  # CLOCK_CALL
        for i in range(chunk):  # WORK_LOOP
            x += i * i % 7
    out["tid"] = threading.get_native_id()
    out["cpu"] = time.thread_time() - t0


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 0.6
    chunk = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    t = threading.Thread(target=worker, args=(seconds, chunk))
    t.start()
    t.join()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
