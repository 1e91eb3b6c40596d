"""Three phases whose true profile is known by construction, each timed by
the program itself: pure Python, native (zlib on a 1 MiB buffer), asleep.
Prints one JSON line: per phase its wall seconds, its CPU seconds and the
seconds it spent runnable but waiting for a CPU (the run queue, from
/proc/thread-self/schedstat), which is neither its CPU nor system time,
and its kernel CPU seconds (stime clock ticks: zlib's output buffers fault
pages in, a tenth of its CPU on a busy machine)."""
import os
import json
import sys
import time
import zlib


def python_phase(seconds):
    end = time.perf_counter() + seconds
    total = 0
    while time.perf_counter() < end:
        for i in range(3000):  # PY_LOOP
            total += i * i % 7  # PY_BODY
    return total


def native_phase(seconds):
    data = bytes(range(256)) * 4096
    end = time.perf_counter() + seconds
    n = 0
    k = 0
    while time.perf_counter() < end:
        n += len(zlib.compress(data, 9))  # ZLIB_CALL
        k += 1  # AFTER_ZLIB
    return n + k


def sleep_phase(seconds):
    time.sleep(seconds)  # SLEEP_CALL


def run_queue_wait():
    with open("/proc/thread-self/schedstat") as f:
        return int(f.read().split()[1]) / 1e9


def kernel_cpu():
    with open("/proc/thread-self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[12]) / os.sysconf("SC_CLK_TCK")


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    out = {}
    for name, fn in (("python", python_phase), ("native", native_phase), ("sleep", sleep_phase)):
        w0, c0, q0, k0 = time.perf_counter(), time.thread_time(), run_queue_wait(), kernel_cpu()
        fn(scale)
        out[name] = {"wall": time.perf_counter() - w0, "cpu": time.thread_time() - c0, "rq": run_queue_wait() - q0,
                     "sys": kernel_cpu() - k0}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
