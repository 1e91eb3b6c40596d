# SPDX-License-Identifier: Apache-2.0
"""8. A forked child (os.fork, no exec) is profiled: programs/fork_child.py
burns ~1 s of CPU in the child on a known function while the parent waits
in os.wait4, whose rusage gives the child's true CPU time. The child either
exits (os._exit(0)) or is SIGKILLed by the parent after ~1 s of burning;
either way its samples stay in the report.

"CPU" below is Python + native time: on a loaded machine the child's main
thread is also preempted, and wall-clock mode charges that off-CPU time to
the same lines as system time."""
import signal

import pytest

from conftest import func_row, line_row, marker_line, pct, pct_to_sec, process, program

PROG = program("fork_child.py")
CPU_TOL = 0.20  # relative: the child's CPU in the report against its rusage


@pytest.fixture(scope="module", params=["exit", "kill"])
def forked(request, run_scalene_module):
    run = run_scalene_module([PROG, "---", request.param, "1.0"])
    assert run.rc == 0, run.stderr
    assert run.report is not None, run.stderr
    return request.param, run.report, run.program_json()


def test_two_processes(forked):
    how, report, m = forked
    assert len(report["processes"]) == 2, report["processes"]
    parent, child = process(report, m["parent"]), process(report, m["child"])
    assert parent["role"] == "main" and child["role"] == "forked"
    assert child["ppid"] == m["parent"], child
    assert child["python"] == "3.11"
    assert parent["exit_code"] == 0 and parent["exit_signal"] is None, parent
    if how == "exit":
        assert m["exitcode"] == 0
        assert child["exit_code"] == 0 and child["exit_signal"] is None, child
    else:
        assert m["exitcode"] == -signal.SIGKILL
        assert child["exit_code"] is None and child["exit_signal"] == signal.SIGKILL, child
    assert child["end_sec"] is not None and child["start_sec"] < child["end_sec"] <= report["elapsed_time_sec"] + 0.05


def test_child_cpu_on_its_lines(forked):
    how, report, m = forked
    want = m["child_cpu"]
    assert want >= 0.3, "the child hardly ran: %s" % m
    child = process(report, m["child"])
    assert abs(child["cpu_sec"] - want) <= CPU_TOL * want, "child cpu_sec %.3f, rusage %.3f" % (child["cpu_sec"], want)
    fn = func_row(report, PROG, "child_burn")
    got = pct_to_sec(report, fn["n_cpu_percent_python"] + fn["n_cpu_percent_c"])
    assert abs(got - want) <= CPU_TOL * want, "child_burn holds %.3f s CPU, rusage %.3f s" % (got, want)
    # the burn loop's two lines hold nearly all of it, all in the child
    hot = marker_line(PROG, "CHILD_BURN")
    rows = [line_row(report, PROG, hot), line_row(report, PROG, hot + 1)]
    lines_cpu = pct_to_sec(report, sum(r["n_cpu_percent_python"] + r["n_cpu_percent_c"] for r in rows))
    assert lines_cpu >= 0.85 * got, "burn lines %.3f s of the function's %.3f s" % (lines_cpu, got)
    for r in rows:
        assert list(r["by_process"]) == [str(m["child"])], r["by_process"]
        assert r["n_cpu_percent_python"] >= 0.9 * (r["n_cpu_percent_python"] + r["n_cpu_percent_c"]), r


def test_parent_waits_as_system(forked):
    how, report, m = forked
    marker = "PARENT_WAIT" if how == "exit" else "PARENT_SLEEP"
    row = line_row(report, PROG, marker_line(PROG, marker))
    assert list(row["by_process"]) == [str(m["parent"])], row["by_process"]
    assert pct_to_sec(report, row["n_sys_percent"]) >= 0.8, row
    assert row["n_cpu_percent_c"] + row["n_cpu_percent_python"] <= 0.05 * pct(row), row


@pytest.mark.parametrize("attempt", range(3))
def test_fork_at_startup(run_scalene, attempt):
    """A fork in the program's first milliseconds (before the runtime's
    Python-level after-fork hook could have been registered) still gives a
    profiled child: its burn line holds its CPU. The window is a race, so
    the test runs three times."""
    prog = program("fork_early.py")
    run = run_scalene([prog, "---", "0.3"])
    assert run.rc == 0, run.stderr
    report, m = run.report, run.program_json()
    child = process(report, m["child"])
    assert child["ppid"] == m["parent"] and child["exit_code"] == 0, child
    assert child["samples"] > 0, "the child was never sampled (its threads: %s): %s" % (m["child_threads"], child)
    hot = marker_line(prog, "EARLY_BURN")
    rows = [line_row(report, prog, hot), line_row(report, prog, hot + 1)]
    # the burn loop's CPU as the child takes it, user + kernel: the rows' system time is the kernel
    # part (its first writes fault copy-on-write pages in; more so under ASan); the loop never
    # blocks. Not the child's rusage, which also holds the profiler's sampler thread (0.37 s
    # against 0.29 s on the lines once), nor its main thread's CPU, which also holds the imports
    # after the fork (0.36 s under ASan)
    got = pct_to_sec(report, sum(pct(r) for r in rows))
    want = m["child_burn_cpu"]
    assert want >= 0.3 and m["child_main_cpu"] >= want and m["child_cpu"] >= want, m
    assert abs(got - want) <= CPU_TOL * want, "burn lines hold %.3f s, the child's burn loop used %.3f s" % (got, want)
