# SPDX-License-Identifier: Apache-2.0
"""3. The program's own signals and system calls are not disturbed.

programs/itimer.py owns ITIMER_REAL/SIGALRM or ITIMER_PROF/SIGPROF and counts
its handler's calls. The count depends on how much wall (REAL) or CPU (PROF)
time the run got, so each run is compared by ticks per expected tick (the
program's own clock / the interval), with and without the profiler. On a
loaded machine the kernel's ITIMER_PROF runs up to ~15 % ahead of the
process's CPU clock even without any profiler, so the profiled ratio must
lie within TICK_TOL of the span between 1 and the unprofiled ratio (on an
idle machine: within TICK_TOL of both). A profiler that blocks, steals or
re-arms the program's timer is off by far more.

programs/syscalls.py makes blocking calls from C through ctypes (nanosleep,
read on a slowly fed pipe, select and poll with timeouts; none of them is
restarted by SA_RESTART) and from Python: a signal used by the profiler would
show up as EINTR or a short sleep."""
import json

import pytest

from conftest import PYTHON, line_row, marker_line, pct, program, run_plain

TICK_TOL = 0.10  # ticks / expected, with the profiler vs without and vs 1 (see above)
BASE_TOL = 0.25  # sanity bound on the unprofiled ratio


def plain_json(argv):
    p = run_plain([PYTHON] + argv)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["real", "prof"])
def test_own_itimer_ticks(run_scalene, mode):
    prog = program("itimer.py")
    base = plain_json([prog, mode, "1.0"])
    run = run_scalene([prog, "---", mode, "1.0"])
    assert run.rc == 0, run.stderr
    got = run.program_json()
    r_base = base["ticks"] / base["expected"]
    r_got = got["ticks"] / got["expected"]
    assert abs(r_base - 1) <= BASE_TOL, "without the profiler: %s" % base
    lo, hi = min(1.0, r_base) - TICK_TOL, max(1.0, r_base) + TICK_TOL
    assert lo <= r_got <= hi, "ticks/expected %.3f with the profiler, %.3f without (%s vs %s)" % (
        r_got,
        r_base,
        got,
        base,
    )
    if mode == "real":
        # time.sleep is resumed after each SIGALRM and sleeps its full time
        assert got["slept"] >= 0.5 * 0.99, got
    assert run.report is not None and run.report["processes"][0]["exit_code"] == 0


def test_no_eintr(run_scalene):
    prog = program("syscalls.py")
    base = plain_json([prog, "1.0"])
    run = run_scalene([prog, "---", "1.0"])
    assert run.rc == 0, run.stderr
    got = run.program_json()
    assert base["eintr"] == 0 and not base["errors"], base
    assert got["calls"] == base["calls"] > 0, (got, base)
    assert got["eintr"] == 0, "EINTR under the profiler: %s" % got
    assert not got["errors"], got
    assert got["short_sleeps"] == 0, got
    assert got["pipe_bytes"] == base["pipe_bytes"], got
    # The C calls block: their lines are system time, not native.
    rep = run.report
    for marker in ("C_NANOSLEEP", "C_READ"):
        row = line_row(rep, prog, marker_line(prog, marker))
        assert pct(row) > 0, "%s line has no time: %s" % (marker, row)
        assert row["n_sys_percent"] >= 0.8 * pct(row), "%s line: %s" % (marker, row)
