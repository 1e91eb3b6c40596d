# SPDX-License-Identifier: Apache-2.0
"""1. Phases: pure Python, native (zlib), asleep, each ~1 s and timed by the
program itself (programs/phases.py). The report's split must match what the
program measured.

On a busy machine a CPU-bound phase is also preempted part of the time. In
wall-clock mode the main thread's off-CPU time is charged as system time,
except its time waiting in the run queue, which is nobody's time (issue 11).
The program measures each phase's CPU time and run-queue wait too, so a
phase's expected time is wall - run-queue wait and the expected Python (or
native) share of a CPU phase is its user CPU / that, close to 1 even on a
loaded machine (zlib spends a tenth of its CPU in the kernel, faulting its
output buffers in: that part is system time, as the program's own stime
ticks say)."""
import pytest

from conftest import func_row, line_row, marker_line, pct, program

PROG = program("phases.py")
PHASES = {"python": "python_phase", "native": "native_phase", "sleep": "sleep_phase"}


def own_time(m):
    """A phase's time as the report should count it: wall less run-queue wait."""
    return m["wall"] - m["rq"]

SHARE_TOL = 5.0  # points, phase share of the three phases' total
SPLIT_TOL = 0.12  # fraction of a phase's own total, against measured cpu/wall
STRAY_MAX = 0.06  # fraction of a phase's own total in the wrong category


@pytest.fixture(scope="module")
def phases(run_scalene_module):
    run = run_scalene_module([PROG, "---", "1.0"])
    assert run.rc == 0, run.stderr
    assert run.report is not None, "no report: %s" % run.stderr
    return run.report, run.program_json()


def shares(row):
    t = pct(row)
    assert t > 0, "function %s has no time" % row["line"]
    return row["n_cpu_percent_python"] / t, row["n_cpu_percent_c"] / t, row["n_sys_percent"] / t


def test_phase_shares_match_measured(phases):
    report, measured = phases
    rows = {k: func_row(report, PROG, f) for k, f in PHASES.items()}
    total_rep = sum(pct(r) for r in rows.values())
    total_meas = sum(own_time(m) for m in measured.values())
    for k in PHASES:
        got = 100.0 * pct(rows[k]) / total_rep
        want = 100.0 * own_time(measured[k]) / total_meas
        assert abs(got - want) <= SHARE_TOL, "%s phase: report %.1f%%, measured %.1f%% (+-%.0f points)" % (
            k,
            got,
            want,
            SHARE_TOL,
        )


def test_python_phase_is_python(phases):
    report, measured = phases
    py, nat, sys_ = shares(func_row(report, PROG, "python_phase"))
    busy = (measured["python"]["cpu"] - measured["python"]["sys"]) / own_time(measured["python"])
    assert abs(py - busy) <= SPLIT_TOL, "python phase: Python share %.2f, measured cpu/wall %.2f" % (py, busy)
    assert nat <= STRAY_MAX, "python phase: native share %.2f" % nat


def test_native_phase_is_native(phases):
    report, measured = phases
    py, nat, sys_ = shares(func_row(report, PROG, "native_phase"))
    busy = (measured["native"]["cpu"] - measured["native"]["sys"]) / own_time(measured["native"])
    assert abs(nat - busy) <= SPLIT_TOL, "native phase: native share %.2f, measured cpu/wall %.2f" % (nat, busy)
    assert py <= STRAY_MAX, "native phase: Python share %.2f" % py


def test_sleep_phase_is_system(phases):
    report, _ = phases
    py, nat, sys_ = shares(func_row(report, PROG, "sleep_phase"))
    assert sys_ >= 1 - STRAY_MAX, "sleep phase: system share %.2f (python %.2f, native %.2f)" % (sys_, py, nat)
    row = line_row(report, PROG, marker_line(PROG, "SLEEP_CALL"))
    assert row["n_sys_percent"] >= (1 - STRAY_MAX) * pct(func_row(report, PROG, "sleep_phase"))


def test_native_time_on_the_calling_line(phases):
    """The line that calls zlib.compress gets the native time, not the line
    after it (an off-by-one in the frame's line would move it there)."""
    report, _ = phases
    fn = func_row(report, PROG, "native_phase")
    call = line_row(report, PROG, marker_line(PROG, "ZLIB_CALL"))
    after = line_row(report, PROG, marker_line(PROG, "AFTER_ZLIB"))
    assert call["n_cpu_percent_c"] >= 0.9 * fn["n_cpu_percent_c"], "zlib line has %.1f%% native of %.1f%%" % (
        call["n_cpu_percent_c"],
        fn["n_cpu_percent_c"],
    )
    assert pct(after) <= 0.03 * pct(fn), "the line after the zlib call has %.2f%% (function %.2f%%)" % (
        pct(after),
        pct(fn),
    )


def test_python_time_on_loop_lines(phases):
    report, _ = phases
    fn = func_row(report, PROG, "python_phase")
    loop = line_row(report, PROG, marker_line(PROG, "PY_LOOP"))
    body = line_row(report, PROG, marker_line(PROG, "PY_BODY"))
    got = loop["n_cpu_percent_python"] + body["n_cpu_percent_python"]
    assert got >= 0.9 * fn["n_cpu_percent_python"], "loop lines %.1f%% of the function's %.1f%% Python" % (
        got,
        fn["n_cpu_percent_python"],
    )


def test_all_time_on_program_lines(phases):
    """Every sample of this one-file program lands on one of its lines (all
    but interpreter start-up and exit: <= 3 %)."""
    report, _ = phases
    assert list(report["files"]) == [PROG], sorted(report["files"])
    total = sum(pct(r) for r in report["files"][PROG]["lines"])
    assert 97.0 <= total <= 100.5, total


@pytest.mark.timing  # a CPU split within 6 points: statistical on a loaded 2-core machine
def test_virtual_time_counts_cpu_only(run_scalene):
    """--use-virtual-time: the sleeping phase costs nothing; the CPU phases
    keep their split and share the whole profile between them."""
    run = run_scalene(["--use-virtual-time", PROG, "---", "0.5"])
    assert run.rc == 0, run.stderr
    report, m = run.report, run.program_json()
    assert report["scalene_c"]["virtual_time"] is True
    rows = {k: func_row(report, PROG, f) for k, f in PHASES.items()}
    total = sum(pct(r) for r in rows.values())
    assert pct(rows["sleep"]) <= 0.03 * total, rows["sleep"]
    cpu = {k: m[k]["cpu"] for k in ("python", "native")}
    for k in cpu:
        want = 100.0 * cpu[k] / sum(cpu.values())
        got = 100.0 * pct(rows[k]) / total
        assert abs(got - want) <= SHARE_TOL, "%s phase: %.1f%% of the CPU in the report, measured %.1f%%" % (k, got, want)
    for k, i in (("python", 0), ("native", 1)):
        user = 1 - m[k]["sys"] / m[k]["cpu"]  # the user part of the phase's CPU, by its own ticks
        assert shares(rows[k])[i] >= user - STRAY_MAX - 0.05, (k, user, rows[k])
    # off-CPU time is not counted: the total is the CPU time, not the wall time
    assert report["scalene_c"]["total_sec"] <= 0.75 * report["elapsed_time_sec"], report["scalene_c"]
