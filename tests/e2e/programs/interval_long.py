"""A long-running program for --profile-interval: burns CPU on one line
until a file appears (the test creates it once it has read a few
intermediate reports), at most 30 s. Prints one JSON line."""
import json
import os
import sys
import time


def main():
    stop = sys.argv[1]
    t0, x = time.monotonic(), 0
    while not os.path.exists(stop) and time.monotonic() - t0 < 30: x += 1  # BURN
    print(json.dumps({"seconds": time.monotonic() - t0}))


if __name__ == "__main__":
    main()
