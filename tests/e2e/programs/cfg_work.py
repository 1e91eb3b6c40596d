"""The program of tests/e2e/test_config.py, one run showing what each config
key changes. argv: MARKER [SECONDS]. Creates MARKER first, so that a test
of a refused config can tell that the program never ran; then burns CPU on
its own line (BURN), in cfg_helper.py (a fifth as long) and in difflib (the
standard library, called from DIFFLIB_CALL), keeps 24 MiB (ALLOC), sleeps
(SLEEP), and prints one JSON line: its argv, its pid, and whether the file
named by $CFG_WATCH existed before it ended (--profile-interval), and its
JAX_DISABLE_JIT and PYTORCH_JIT (--disable-jit)."""
import difflib
import json
import os
import sys
import time

import cfg_helper


def burn(seconds):
    end, x = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        for i in range(2000):
            x += i & 7  # BURN
    return x


def stdlib(seconds):
    a, b = "abcdefgh" * 40, "hgfedcba" * 40
    end, n = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        n += len(difflib.SequenceMatcher(None, a, b).get_matching_blocks())  # DIFFLIB_CALL
    return n


def main():
    with open(sys.argv[1], "w"):
        pass
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
    burn(0.5 * seconds)
    cfg_helper.burn(0.2 * seconds)
    stdlib(0.3 * seconds)
    keep = [bytearray(1 << 20) for _ in range(24)]  # ALLOC
    time.sleep(0.3 * seconds)  # SLEEP
    watch = os.environ.get("CFG_WATCH")
    seen = bool(watch) and os.path.exists(watch)
    jit = [os.environ.get("JAX_DISABLE_JIT"), os.environ.get("PYTORCH_JIT")]
    print(json.dumps({"argv": sys.argv, "pid": os.getpid(), "kept": len(keep), "watch_seen": seen, "jit": jit}))


if __name__ == "__main__":
    main()
