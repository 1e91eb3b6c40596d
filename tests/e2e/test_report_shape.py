# SPDX-License-Identifier: Apache-2.0
"""7. Report shape (docs/REPORT.md): Scalene's keys, one row per source line,
percentages that add up, and the profile scope: only the program's files by
default, the standard library too with --profile-all.

programs/stdlib_work.py spends most of its time inside difflib (pure Python,
standard library), called from one line of its own."""

import pytest

from conftest import PROGRAMS, file_entry, line_row, marker_line, pct, program, thread

PROG = program("stdlib_work.py")
SUM_MAX = 100.5  # percent, all lines of all files
SUM_MIN_DEFAULT = 92.0  # percent: by default all time is charged to the program's own lines, but for
# interpreter start-up and exit (no Python frame): a few percent of a 1 s run, more on a loaded machine
EPOCH_TOL = 5.0  # seconds between start_time_absolute and the program's time.time() at start

TOP_KEYS = {
    "program": str,
    "entrypoint_dir": str,
    "filename": str,
    "args": list,
    "elapsed_time_sec": (int, float),
    "start_time_absolute": (int, float),
    "start_time_perf": (int, float),
    "files": dict,
    "gpu": bool,
    "gpu_device": str,
    "gpu_devices": list,
    "memory": bool,
    "async_profile": bool,
    "samples": list,
    "max_footprint_mb": (int, float),
    "max_footprint_python_fraction": (int, float),
    "growth_rate": (int, float),
    "native_allocations_mb": (int, float),
    "alloc_samples": (int, float),
    "stacks": list,
    "combined_stacks": list,
    "memory_stacks": list,
    "main_thread_id": int,
    "processes": list,
    "threads": list,
    "scalene_c": dict,
}
TOP_NULLABLE = ("max_footprint_fname", "max_footprint_lineno")
ROW_KEYS = {
    "lineno": int,
    "line": str,
    "n_cpu_percent_python": (int, float),
    "n_cpu_percent_c": (int, float),
    "n_sys_percent": (int, float),
    "n_core_utilization": (int, float),
    "cpu_samples_list": list,
    "n_malloc_mb": (int, float),
    "n_mallocs": (int, float),
    "n_peak_mb": (int, float),
    "n_avg_mb": (int, float),
    "n_growth_mb": (int, float),
    "n_python_fraction": (int, float),
    "n_usage_fraction": (int, float),
    "n_copy_mb_s": (int, float),
    "memory_samples": list,
    "n_gpu_percent": (int, float),
    "n_gpu_avg_memory_mb": (int, float),
    "n_gpu_peak_memory_mb": (int, float),
    "start_region_line": int,
    "end_region_line": int,
    "start_outermost_loop": int,
    "end_outermost_loop": int,
    "start_function_line": int,
    "end_function_line": int,
}
FILE_KEYS = {"percent_cpu_time": (int, float), "lines": list, "functions": list, "leaks": dict, "imports": list}
PROC_KEYS = (
    "pid ppid argv role python start_sec end_sec exit_code exit_signal cpu_sec python_sec native_sec sys_sec "
    "samples records_written records_dropped records_torn gpu_sec peak_gpu_memory_mb"
).split()
THREAD_KEYS = "pid tid name main cpu_sec python_sec native_sec sys_sec samples".split()
SC_KEYS = (
    "version record_version sampling_interval_sec virtual_time total_sec unslotted_processes python gpu_status"
).split()


@pytest.fixture(scope="module")
def default_run(run_scalene_module):
    run = run_scalene_module([PROG, "---", "1.0"])
    assert run.rc == 0, run.stderr
    return run.report, run.program_json()


@pytest.fixture(scope="module")
def all_run(run_scalene_module):
    run = run_scalene_module(["--profile-all", PROG, "---", "0.6"])
    assert run.rc == 0, run.stderr
    return run.report, run.program_json()


def check_types(obj, spec, what):
    for k, t in spec.items():
        assert k in obj, "%s: key %r missing (has %s)" % (what, k, sorted(obj))
        v = obj[k]
        assert isinstance(v, t) and not (t != bool and t != (int, float) and isinstance(v, bool)), "%s.%s = %r" % (
            what,
            k,
            v,
        )


def test_top_level_keys(default_run):
    report, _ = default_run
    check_types(report, TOP_KEYS, "report")
    for k in TOP_NULLABLE:
        assert k in report
    assert report["program"] == PROG
    assert report["entrypoint_dir"] == PROGRAMS
    assert report["args"] == ["1.0"]
    # memory profiling is on by default, as in Scalene (--cpu-only turns it off)
    # gpu: whether NVML found a device (docs/GPU.md): false here unless the machine has one
    assert report["gpu"] == bool(report["gpu_devices"]) and report["memory"] is True
    assert report["gpu_device"] == ("GPU" if report["gpu"] else "")
    for k in SC_KEYS:
        assert k in report["scalene_c"], k
    sc = report["scalene_c"]
    assert sc["sampling_interval_sec"] == pytest.approx(0.01)
    assert sc["virtual_time"] is False
    assert sc["python"] == "/usr/bin/python3"


def test_rows_have_scalene_keys(default_run):
    report, _ = default_run
    assert report["files"], "no files"
    for fname, f in report["files"].items():
        check_types(f, FILE_KEYS, fname)
        for row in f["lines"] + f["functions"]:
            check_types(row, ROW_KEYS, "%s:%s" % (fname, row.get("lineno")))
            assert 0 <= row["n_core_utilization"] <= 1.0 + 1e-6, row
            assert len(row["cpu_samples_list"]) <= 100, row
            for t in row["cpu_samples_list"]:
                assert 0 <= t <= report["elapsed_time_sec"] + 0.05, (t, row)
            for k in ("n_cpu_percent_python", "n_cpu_percent_c", "n_sys_percent"):
                assert 0 <= row[k] <= 100.5, row


def test_lines_are_the_source(default_run):
    """`lines` holds every line of the file, in order, with its text."""
    report, _ = default_run
    f = file_entry(report, PROG)
    with open(PROG) as src:
        text = src.read().splitlines(True)
    assert [r["lineno"] for r in f["lines"]] == list(range(1, len(text) + 1))
    for r, t in zip(f["lines"], text):
        assert r["line"].rstrip("\n") == t.rstrip("\n"), (r["lineno"], r["line"], t)


def test_percentages_add_up(default_run, all_run):
    for report, _ in (default_run, all_run):
        total = 0.0
        for fname, f in report["files"].items():
            lines = sum(pct(r) for r in f["lines"])
            assert f["percent_cpu_time"] == pytest.approx(lines, abs=0.1), fname
            funcs = sum(pct(r) for r in f["functions"])
            assert funcs == pytest.approx(lines, abs=0.5), "%s: functions %.2f, lines %.2f" % (fname, funcs, lines)
            total += lines
        assert total <= SUM_MAX, total


def test_out_of_scope_time_charged_to_caller(default_run):
    """By default a sample whose leaf is outside the scope (difflib) is
    charged to the nearest in-scope caller, so the program's lines hold
    nearly all the time (the rest: interpreter start-up and exit)."""
    report, _ = default_run
    total = sum(f["percent_cpu_time"] for f in report["files"].values())
    assert total >= SUM_MIN_DEFAULT, "only %.1f%% of the time is on the program's lines" % total


def test_scope_default_program_files_only(default_run):
    report, _ = default_run
    assert list(report["files"]) == [PROG], sorted(report["files"])
    # the time inside difflib is charged to the line that called it
    call = line_row(report, PROG, marker_line(PROG, "DIFFLIB_CALL"))
    assert pct(call) >= 60.0, call


def test_scope_profile_all_has_stdlib(all_run):
    report, _ = all_run
    difflib = [f for f in report["files"] if f.endswith("/difflib.py")]
    assert len(difflib) == 1 and difflib[0].startswith("/usr/lib/python3"), sorted(report["files"])
    assert report["files"][difflib[0]]["percent_cpu_time"] >= 40.0, report["files"][difflib[0]]["percent_cpu_time"]
    if PROG in report["files"]:  # below the 1 % file threshold it is left out
        call = line_row(report, PROG, marker_line(PROG, "DIFFLIB_CALL"))
        assert pct(call) <= 10.0, "with --profile-all difflib's time stays in difflib: %s" % call


def test_processes_and_threads(default_run):
    report, m = default_run
    assert len(report["processes"]) == 1, report["processes"]
    p = report["processes"][0]
    for k in PROC_KEYS:
        assert k in p, k
    assert p["pid"] == m["pid"] and p["role"] == "main" and p["python"] == "3.11"
    assert p["argv"] == ["/usr/bin/python3", PROG, "1.0"]
    assert p["exit_code"] == 0 and p["exit_signal"] is None
    assert p["records_dropped"] == 0 and p["records_torn"] == 0, p
    assert report["main_thread_id"] == m["pid"]
    t = thread(report, m["pid"])
    assert t is not None and t["main"] and t["pid"] == m["pid"], report["threads"]
    for k in THREAD_KEYS:
        assert k in t, k
    sc = report["scalene_c"]
    assert sc["total_sec"] == pytest.approx(p["python_sec"] + p["native_sec"] + p["sys_sec"], rel=0.02)
    for row in report["files"][PROG]["lines"]:
        for pid in row.get("by_process", {}):
            assert int(pid) == m["pid"], row


def test_times(default_run):
    report, m = default_run
    assert abs(report["start_time_absolute"] - m["start_epoch"]) <= EPOCH_TOL, (
        "start_time_absolute %r, the program's time.time() at start %r" % (report["start_time_absolute"], m["start_epoch"])
    )
    assert m["wall"] <= report["elapsed_time_sec"] <= m["wall"] + 2.0, (report["elapsed_time_sec"], m["wall"])
    # the profile counts the program's wall time less its wait for a CPU
    assert report["scalene_c"]["total_sec"] == pytest.approx(m["wall"] - m["rq"], rel=0.2)
