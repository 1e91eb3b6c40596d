# SPDX-License-Identifier: Apache-2.0
"""Object-churn workload: many small, short-lived Python objects.

Each step builds small dicts, tuples, lists and short strings and drops most of
them at once; a bounded cache keeps a fraction alive and is emptied when it
fills up, so the heap also grows and shrinks in steps of tens of MB (the
footprint curve a memory profiler should see) rather than staying flat.

Usage: python3 mem_churn.py [STEPS]
Prints a checksum so the work cannot be skipped.
"""
import sys

CACHE_LIMIT = 150_000  # records kept alive before the cache is dropped (~60 MB)


def make_record(i):
    key = "k" + str(i % 9973)
    tags = [key, str(i & 255), "x" * (i % 13)]
    return {"id": i, "key": key, "pos": (i, i + 1, i * 2), "tags": tags}


def churn(steps):
    cache = {}
    checksum = 0
    drops = 0
    for i in range(steps):
        rec = make_record(i)
        # A short-lived derived list and string: allocated, read once, freed.
        parts = [rec["key"], *rec["tags"], str(rec["pos"][2])]
        joined = "-".join(parts)
        checksum = (checksum * 31 + len(joined) + rec["pos"][1]) & 0xFFFFFFFF
        if i % 3 == 0:
            cache[i] = rec
            if len(cache) >= CACHE_LIMIT:
                checksum ^= len(cache)
                cache = {}
                drops += 1
    return checksum, drops, len(cache)


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 1_300_000
    checksum, drops, kept = churn(steps)
    print(f"mem_churn steps={steps} checksum={checksum} drops={drops} kept={kept}")


if __name__ == "__main__":
    main()
