"""A run to merge with others (issue 16). argv[1]: CPU seconds burnt on
BURN_LINE; argv[2]: MB held (a bytearray made on HOLD_LINE) for argv[3]
seconds of wall time, from the start. Prints one JSON line: the pid and the
CPU it burnt."""
import json
import os
import sys
import time


def burn(seconds):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:
        for i in range(2000):
            x += i & 3  # BURN_LINE
    return time.thread_time() - t0


def hold(mb, seconds):
    buf = bytearray(mb << 20)  # HOLD_LINE
    buf[::4096] = b"x" * len(buf[::4096])
    time.sleep(seconds)
    return len(buf)


def main():
    cpu, mb, secs = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    if mb:
        hold(mb, secs)
    used = burn(cpu)
    print(json.dumps({"pid": os.getpid(), "cpu": used}))


if __name__ == "__main__":
    main()
