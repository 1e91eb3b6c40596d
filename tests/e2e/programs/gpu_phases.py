"""A program that "uses the GPU" in known phases, for tests/e2e/test_gpu.py
with the fake NVML library (tests/fake_nvml/fake_nvml.c): while the file
$FAKE_NVML_DIR/<pid> exists and holds "MIB UTIL", the fake reports that pid
at UTIL % utilisation holding MIB MiB.

Phase A (line GPU_A): the file exists, the main thread busy-waits.
Phase B (line GPU_B): no file, the main thread busy-waits.
With "child": then a forked child does its own phase A (line CHILD_GPU)
while the parent waits for it.
argv: [seconds per phase (1.0), MiB (256), "child" or nothing].
Prints one JSON line: its pid, the child's, and how long each GPU phase
really lasted (file created to file removed)."""
import json
import os
import sys
import time

DIR = os.environ["FAKE_NVML_DIR"]
UTIL = 80


def gpu_on(mib):
    path = os.path.join(DIR, str(os.getpid()))
    with open(path + ".tmp", "w") as f:
        f.write("%d %d\n" % (mib, UTIL))
    os.rename(path + ".tmp", path)  # the fake never reads half a file
    return path, time.monotonic()


def gpu_off(path, t0):
    os.unlink(path)
    return time.monotonic() - t0


def phase_a(seconds, mib):
    path, t0 = gpu_on(mib)
    end = t0 + seconds
    while time.monotonic() < end: pass  # GPU_A
    return gpu_off(path, t0)


def phase_b(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end: pass  # GPU_B


def child_phase(seconds, mib, out_fd):
    path, t0 = gpu_on(mib)
    end = t0 + seconds
    while time.monotonic() < end: pass  # CHILD_GPU
    os.write(out_fd, ("%.6f" % gpu_off(path, t0)).encode())


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    mib = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    with_child = len(sys.argv) > 3 and sys.argv[3] == "child"
    time.sleep(0.1)  # clear of the profiler's start-up
    a_sec = phase_a(seconds, mib)
    phase_b(seconds)
    out = {"pid": os.getpid(), "a_sec": a_sec}
    if with_child:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            child_phase(seconds, mib * 2, w)
            os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)  # PARENT_WAIT
        out["child"] = pid
        out["child_a_sec"] = float(os.read(r, 64).decode())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
