# SPDX-License-Identifier: Apache-2.0
"""Version matrix (issue 12): one build of the runtime profiles every
CPython it supports. The ground-truth programs of the other end-to-end tests
run under each CPython 3.X found under `pyenv root` (3.8, 3.9, 3.10, 3.12,
3.13; Debian's /usr/bin/python3, 3.11, runs the whole suite), and the checks
are those modules' own, called on each version's report: the CPU split
(Python / native / system) on the right lines, --stacks frames and lines,
--native C frames under the Python line, threads, a forked child, pools by
fork / spawn / forkserver, memory through the allocator domains (Python) and
libc's malloc (native), @profile, and start/stop from the program.

A version that is not installed is skipped, and says so: CI installs
nothing by hand. SCALENE_TEST_PYTHONS=3.9,3.13 picks versions."""
import os

import pytest

import pyversions

import test_control as e2e_control
import test_decorator as e2e_decorator
import test_fork as e2e_fork
import test_multiproc as e2e_multiproc
import test_phases as e2e_phases
import test_stacks as e2e_stacks
import test_threads as e2e_threads
from conftest import func_row, line_row, marker_line, process, program

VERSIONS = ["3.8", "3.9", "3.10", "3.12", "3.13"]
if os.environ.get("SCALENE_TEST_PYTHONS"):
    VERSIONS = os.environ["SCALENE_TEST_PYTHONS"].split(",")


def find_python(v):
    """(path, None) of the newest pyenv CPython v.*, or (None, why not)
    (tests/e2e/pyversions.py: the same discovery as test_interpreters)."""
    mm = tuple(int(x) for x in v.split("."))
    found = pyversions.pyenv_versions().get(mm)
    if not found:
        return None, pyversions.missing(mm)
    if not pyversions.in_range(mm):
        return None, "CPython %s is outside record.h's REC_PY_MIN_HEX..REC_PY_MAX_HEX" % v
    return found[1], None


@pytest.fixture(params=VERSIONS)
def py(request):
    """(version, interpreter path); skips a version that is not installed."""
    exe, why = find_python(request.param)
    if not exe:
        pytest.skip(why)
    return request.param, exe


@pytest.fixture
def runv_fn(py, run_scalene):
    """run_scalene under this version's interpreter."""
    return lambda args, **kw: run_scalene(["--python", py[1]] + list(args), **kw)


def ok(run):
    assert run.rc == 0, "rc %d\nstdout %s\nstderr %s" % (run.rc, run.stdout[-2000:], run.stderr[-3000:])
    assert run.report is not None, run.stderr
    return run


def check_version(report, v):
    for p in report["processes"]:
        assert p["python"] == v, "process %d ran %s, not %s" % (p["pid"], p["python"], v)


# ---------------------------------------------------------------- CPU split
# Each test runs its own program (no module-scoped run), so that a
# statistical miss on this loaded machine gets the reruns `timing` gives.


@pytest.mark.timing
def test_cpu_split_and_lines(py, runv_fn):
    run = ok(runv_fn([e2e_phases.PROG, "---", "1.0"]))
    check_version(run.report, py[0])
    phases = (run.report, run.program_json())
    e2e_phases.test_python_phase_is_python(phases)
    e2e_phases.test_native_phase_is_native(phases)
    e2e_phases.test_sleep_phase_is_system(phases)
    e2e_phases.test_native_time_on_the_calling_line(phases)
    e2e_phases.test_python_time_on_loop_lines(phases)
    e2e_phases.test_all_time_on_program_lines(phases)


# ---------------------------------------------------------------- --stacks, --native


@pytest.mark.timing
def test_stacks(runv_fn):
    split = ok(runv_fn(["--stacks", e2e_stacks.PROG, "---", "split"]))
    e2e_stacks.test_frames_name_the_calling_lines(split)
    e2e_stacks.test_stack_times_match_line_table(split)
    e2e_stacks.test_merged_scalene_shapes(split)
    e2e_stacks.test_split_shares(split)


@pytest.mark.timing  # a share of signalled unwinds: 52-55 % for 60 % once at load average 17
def test_native_frames(runv_fn):
    libs = ok(runv_fn(["--native", e2e_stacks.NPROG, "---", "libs"]))
    e2e_stacks.test_native_frames_under_the_python_line(libs)
    e2e_stacks.test_native_needs_no_python_frames_of_its_own(libs)


# ---------------------------------------------------------------- threads, fork


@pytest.mark.timing
def test_threads(runv_fn):
    """Thread ids (3.8-3.10 read them from glibc's struct pthread), each
    burner's CPU and functions, blocked threads not native."""
    run = ok(runv_fn([e2e_threads.PROG, "---", "0.5"]))
    threads = (run.report, run.program_json())
    e2e_threads.test_burner_threads_listed_with_their_cpu(threads)
    e2e_threads.test_burner_cpu_ratio(threads)
    e2e_threads.test_burner_functions(threads)
    for who in ("sleeper", "receiver"):
        e2e_threads.test_blocked_thread_not_native(threads, who)
    e2e_threads.test_main_thread_join_is_system(threads)


@pytest.mark.timing
def test_fork_child(py, runv_fn):
    run = ok(runv_fn([e2e_fork.PROG, "---", "exit", "1.0"]))
    report, m = run.report, run.program_json()
    assert len(report["processes"]) == 2, report["processes"]
    check_version(report, py[0])
    child = process(report, m["child"])
    assert child["role"] == "forked" and child["ppid"] == m["parent"] and child["exit_code"] == 0, child
    forked = ("exit", report, m)
    e2e_fork.test_child_cpu_on_its_lines(forked)
    e2e_fork.test_parent_waits_as_system(forked)


@pytest.mark.timing
@pytest.mark.parametrize("how", ["fork", "spawn", "forkserver"])
def test_pool(py, runv_fn, how):
    """multiprocessing.Pool by each start method: every worker listed with
    its parent and this version, pool_work holds the workers' CPU."""
    mp = e2e_multiproc
    run = ok(runv_fn(mp.ALL_FILES + [mp.POOL, "---", how, mp.POOL_TASKS, mp.POOL_TASK_SEC]))
    report, m = run.report, run.program_json()
    check_version(report, py[0])
    for w in m["workers"]:
        p = process(report, w)
        assert p["ppid"] == m["ppids"][str(w)] and p["exit_code"] == 0 and p["samples"] > 0, p
    want = {"fork": 3, "spawn": 4, "forkserver": 5}[how]
    assert len(report["processes"]) == want, [(p["pid"], p["ppid"], p["role"]) for p in report["processes"]]
    pool = (how, report, m)
    mp.test_pool_work_holds_the_cpu(pool)
    mp.test_pool_work_per_worker(pool)


# ---------------------------------------------------------------- memory

MEM = program("mem_native.py")
MIB = 1024.0 * 1024.0


def test_memory_python_and_native(py, runv_fn):
    """PY_LIST and BIG_BYTEARRAY come through Python's allocator domains
    (Python fraction >= 0.9), C_MALLOC through libc's malloc (<= 0.1), each
    on its own line with its size: ±10 % for the single big blocks, ±25 %
    for the 3e6 small ones (sampled)."""
    run = ok(runv_fn(e2e_multiproc.ALL_FILES + [MEM]))
    r, m = run.report, run.program_json()
    assert r["memory"] is True and m["result"] == [3_000_000, 200_000_000, 1], m
    check_version(r, py[0])
    want = {
        "PY_LIST": ((3_000_000 * 32 + m["list_sizeof"]) / MIB, 0.25, True),
        "BIG_BYTEARRAY": (200_000_001 / MIB, 0.10, True),
        "C_MALLOC": (200_000_000 / MIB, 0.10, False),
    }
    for marker, (mb, tol, python) in want.items():
        row = line_row(r, MEM, marker_line(MEM, marker))
        got = row["n_malloc_mb"]
        assert abs(got - mb) <= tol * mb, "%s: %.1f MiB allocated, want %.1f (±%d %%)" % (marker, got, mb, tol * 100)
        if python:
            assert row["n_python_fraction"] >= 0.9, (marker, row["n_python_fraction"])
        else:
            assert row["n_python_fraction"] <= 0.1, (marker, row["n_python_fraction"])


# ---------------------------------------------------------------- @profile, start/stop


def test_profile_decorator(runv_fn):
    e2e_decorator.test_only_decorated_functions(runv_fn)


def test_start_stop(runv_fn):
    e2e_control.test_start_stop_in_the_program(runv_fn)
