"""CPU in the standard library's pure-Python JSON encoder (indent= makes
json use json/encoder.py's Python code, not the C accelerator), called
from one line here, then memory only on another line. Prints one JSON line."""
import json
import sys
import time


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    data = [{"k%d" % i: [i, str(i), {"x": i}]} for i in range(200)]
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n += len(json.dumps(data, indent=1))  # CALLS_JSON
    keep = [bytearray(4096) for _ in range(20000)]  # ALLOC_ONLY
    print(json.dumps({"chars": n, "kept": len(keep)}))


if __name__ == "__main__":
    main()
