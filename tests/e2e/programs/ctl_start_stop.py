"""Profiling switched on and off from inside the program (run it with
`scalene run --off`): five equal CPU phases, each a loop on its own line;
only the second runs between scalene_profiler.start() and stop(), and the
fourth inside enable_profiling(). Prints one JSON line: each phase's CPU
seconds."""
import json
import sys
import time

from scalene import scalene_profiler


def main():
    s = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
    cpu, x = {}, 0
    t0 = time.process_time()
    while time.process_time() - t0 < s: x += 1  # PHASE_BEFORE
    cpu["before"], t0 = time.process_time() - t0, time.process_time()
    scalene_profiler.start()
    t0 = time.process_time()
    while time.process_time() - t0 < s: x += 1  # PHASE_DURING
    cpu["during"] = time.process_time() - t0
    scalene_profiler.stop()
    t0 = time.process_time()
    while time.process_time() - t0 < s: x += 1  # PHASE_OFF_AGAIN
    cpu["after"] = time.process_time() - t0
    with scalene_profiler.enable_profiling():
        t0 = time.process_time()
        while time.process_time() - t0 < s: x += 1  # PHASE_WITH
        cpu["with"] = time.process_time() - t0
    t0 = time.process_time()
    while time.process_time() - t0 < s: x += 1  # PHASE_LAST
    cpu["after_with"] = time.process_time() - t0
    cpu["profiling_at_end"] = scalene_profiler.is_profiling()
    print(json.dumps(cpu))


if __name__ == "__main__":
    main()
