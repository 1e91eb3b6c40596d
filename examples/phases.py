"""A program whose true profile is known by construction: a pure-Python
phase, a native phase (zlib) and a sleeping phase, each timed by itself."""
import sys
import time
import zlib


def python_phase(seconds):
    end = time.perf_counter() + seconds
    total = 0
    while time.perf_counter() < end:
        for i in range(2000):
            total += i * i
    return total


def native_phase(seconds):
    data = bytes(range(256)) * 4096
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += len(zlib.compress(data, 9))
    return n


def sleep_phase(seconds):
    time.sleep(seconds)


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    t = {}
    for name, fn in (("python", python_phase), ("native", native_phase), ("sleep", sleep_phase)):
        t0 = time.perf_counter()
        fn(scale)
        t[name] = time.perf_counter() - t0
    total = sum(t.values())
    print(" ".join("%s=%.3f" % (k, v / total) for k, v in t.items()))


if __name__ == "__main__":
    main()
