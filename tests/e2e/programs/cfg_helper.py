"""A second file for tests/e2e/test_config.py's program (cfg_work.py): its
CPU share (about a sixth of the run) is what --cpu-percent-threshold,
--profile-only and --profile-exclude act on."""
import time


def burn(seconds):
    end, x = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        for i in range(2000):
            x += i & 7  # HELPER_BURN
    return x
