# SPDX-License-Identifier: Apache-2.0
"""Multi-process programs: every Python descendant joins the one report,
however it was started (fork, spawn, forkserver, ProcessPoolExecutor,
multiprocessing.Process, nested os.fork, subprocess of the interpreter by
sys.executable or by absolute path), a non-Python child is left alone, the
run's options reach exec'd children, a SIGKILLed child keeps what it
published, and the report waits for a child that outlives the main process.

Ground truth comes from the programs themselves: each burner measures its own
CPU time (time.thread_time) or its parent reaps it with os.wait4 (rusage),
and reports its pid and its parent's pid.

"CPU" below is Python + native time (the report's n_cpu_percent_python +
n_cpu_percent_c, turned into seconds with scalene_c.total_sec). System time
is left out: on a loaded machine a burner's main thread is preempted, and a
child's main-thread off-CPU time counts as system time on its line when that
line is the leaf (docs/fork.md, "Off-CPU time in children").

Tolerances: CPU_TOL (relative, reported CPU against measured CPU), SHARE_MIN
(the pool's work function's share of all CPU on the report's lines)."""
import json
import signal

import pytest

from conftest import file_entry, func_row, line_row, marker_line, pct_to_sec, process, program

CPU_TOL = 0.20  # relative
SHARE_MIN = 0.90  # the pool work function's share of all CPU on the report's lines
ALL_FILES = ["--cpu-percent-threshold", "0"]  # list every file, so "all lines" means all


def cpu_sec(report, row):
    """Python + native seconds of a line or function row (or a by_process entry)."""
    return pct_to_sec(report, row["n_cpu_percent_python"] + row["n_cpu_percent_c"])


def pid_cpu(report, row, pid):
    """CPU seconds that pid holds on a row (0 when the row has none of it)."""
    bp = row.get("by_process") or {}
    return cpu_sec(report, bp[str(pid)]) if str(pid) in bp else 0.0


def file_cpu_of(report, path, pid):
    """CPU seconds pid holds over all lines of a file."""
    return sum(pid_cpu(report, r, pid) for r in file_entry(report, path)["lines"])


def all_functions_cpu(report):
    return sum(cpu_sec(report, f) for d in report["files"].values() for f in d["functions"])


def pids_on(row):
    return {int(p) for p, v in (row.get("by_process") or {}).items() if v["n_cpu_percent_python"] + v["n_cpu_percent_c"] > 0}


def ancestors(report, pid):
    """pid's chain of parents as the report's processes list gives it."""
    by_pid = {p["pid"]: p for p in report["processes"]}
    chain = []
    while pid in by_pid and len(chain) < 64:
        pid = by_pid[pid]["ppid"]
        chain.append(pid)
    return chain


def close(got, want, tol=CPU_TOL):
    return abs(got - want) <= tol * want


def check_ok(run):
    assert run.rc == 0, "rc %d\nstdout %s\nstderr %s" % (run.rc, run.stdout[-2000:], run.stderr[-3000:])
    assert run.report is not None, run.stderr


# ---------------------------------------------------------------- pools

POOL = program("mp_pool.py")
POOL_TASKS, POOL_TASK_SEC = 8, 0.25


@pytest.fixture(scope="module", params=["fork", "spawn", "forkserver", "futures"])
def pool(request, run_scalene_module):
    run = run_scalene_module(ALL_FILES + [POOL, "---", request.param, POOL_TASKS, POOL_TASK_SEC])
    check_ok(run)
    return request.param, run.report, run.program_json()


@pytest.mark.timing
def test_pool_work_holds_the_cpu(pool):
    """The worker function holds >= 90 % of all CPU on the report's lines,
    and about the CPU the workers measured (±20 %)."""
    how, report, m = pool
    fn = func_row(report, POOL, "pool_work")
    got, total = cpu_sec(report, fn), all_functions_cpu(report)
    assert got >= SHARE_MIN * total, "%s: pool_work %.3f s of %.3f s on all functions" % (how, got, total)
    want = m["work_cpu"]
    assert close(got, want), "%s: pool_work holds %.3f s CPU, the workers measured %.3f s; processes %s" % (
        how,
        got,
        want,
        [(p["pid"], p["role"], p["python_sec"], p["native_sec"], p["samples"]) for p in report["processes"]],
    )


@pytest.mark.timing
def test_pool_work_per_worker(pool):
    """The burn line's by_process names exactly the workers, and each
    worker's share of the pool_work function is its own."""
    how, report, m = pool
    hot = line_row(report, POOL, marker_line(POOL, "POOL_BURN"))
    assert pids_on(hot) == set(m["workers"]), "%s: burn line by_process %s, workers %s" % (
        how,
        hot.get("by_process"),
        m["workers"],
    )
    fn = func_row(report, POOL, "pool_work")
    for w in m["workers"]:
        assert pid_cpu(report, fn, w) > 0.1, "%s: worker %d holds %.3f s of pool_work" % (how, w, pid_cpu(report, fn, w))


def test_pool_processes_and_parents(pool):
    """processes lists the main process and the workers, each worker with the
    parent it saw (os.getppid()), and every process descends from main."""
    how, report, m = pool
    main = process(report, m["main"])
    assert main["role"] == "main" and main["exit_code"] == 0, main
    for w in m["workers"]:
        p = process(report, w)
        assert p["ppid"] == m["ppids"][str(w)], "%s: worker %d ppid %d, it saw %d" % (how, w, p["ppid"], m["ppids"][str(w)])
        assert p["python"] == "3.11", p
        assert p["exit_code"] == 0 and p["exit_signal"] is None, p
        assert p["samples"] > 0, p
    if how in ("fork", "spawn", "futures"):
        for w in m["workers"]:
            assert process(report, w)["ppid"] == m["main"]
    else:  # forkserver: worker -> forkserver -> main
        for w in m["workers"]:
            server = m["ppids"][str(w)]
            assert server != m["main"] and process(report, server)["ppid"] == m["main"], ancestors(report, w)
    for p in report["processes"]:
        if p["pid"] != m["main"]:
            assert m["main"] in ancestors(report, p["pid"]), "%s: %d does not descend from main: %s" % (
                how,
                p["pid"],
                report["processes"],
            )
            assert p["python"] == "3.11", "%s: a non-Python process listed: %s" % (how, p)
    # fork/futures: main + 2 workers; spawn adds the resource tracker;
    # forkserver the tracker and the server
    want = {"fork": 3, "futures": 3, "spawn": 4, "forkserver": 5}[how]
    assert len(report["processes"]) == want, "%s: %s" % (how, [(p["pid"], p["ppid"], p["role"]) for p in report["processes"]])


# ---------------------------------------------------------------- multiprocessing.Process

PROCS = program("mp_procs.py")


@pytest.mark.timing
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_process_children(run_scalene, method):
    """Two multiprocessing.Process children: each listed with ppid = main,
    each burn line names only its own child and holds its CPU (±20 %)."""
    run = run_scalene(ALL_FILES + [PROCS, "---", method, 0.5])
    check_ok(run)
    report, m = run.report, run.program_json()
    assert m["exitcodes"] == [0, 0]
    for k, marker, fn in (("a", "PROC_A_BURN", "proc_a"), ("b", "PROC_B_BURN", "proc_b")):
        c = m["children"][k]
        p = process(report, c["pid"])
        assert p["ppid"] == m["main"] and p["exit_code"] == 0, p
        hot = line_row(report, PROCS, marker_line(PROCS, marker))
        assert pids_on(hot) == {c["pid"]}, hot.get("by_process")
        got = cpu_sec(report, func_row(report, PROCS, fn))
        assert close(got, c["cpu"]), "%s holds %.3f s, child %s measured %.3f s" % (fn, got, k, c["cpu"])


# ---------------------------------------------------------------- nested forks

NEST = program("nested_fork.py")


@pytest.mark.timing
def test_nested_forks(run_scalene):
    """main -> child -> grandchild -> great-grandchild, all by os.fork: every
    level is listed with its parent, and the shared burn function holds each
    level's CPU under that level's pid (±20 %)."""
    run = run_scalene(ALL_FILES + [NEST, "---", 3, 0.3])
    check_ok(run)
    report, m = run.report, run.program_json()
    levels = m["levels"]
    assert sorted(levels) == ["1", "2", "3"], levels
    parent = m["main"]
    for k in ("1", "2", "3"):
        lv = levels[k]
        p = process(report, lv["pid"])
        assert lv["ppid"] == parent and p["ppid"] == parent, (k, lv, p)
        parent = lv["pid"]
    assert len(report["processes"]) == 4, report["processes"]
    fn = func_row(report, NEST, "burn")
    hot = line_row(report, NEST, marker_line(NEST, "NEST_BURN"))
    assert {lv["pid"] for lv in levels.values()} <= pids_on(hot), hot.get("by_process")
    for k, lv in levels.items():
        got = pid_cpu(report, fn, lv["pid"])
        assert close(got, lv["cpu"]), "level %s (pid %d): burn holds %.3f s, measured %.3f s" % (k, lv["pid"], got, lv["cpu"])


# ---------------------------------------------------------------- exec'd children

SUB = program("sub_parent.py")
SUB_CHILD = program("sub_child.py")


@pytest.mark.parametrize("how", ["sys", "abs"])
def test_subprocess_python_child(run_scalene, how):
    """subprocess.run([sys.executable, child.py]) and ["/usr/bin/python3",
    child.py]: the child is listed (ppid = main, exec'd) and its burn line
    holds its CPU under its own pid (±20 %)."""
    run = run_scalene(ALL_FILES + [SUB, "---", how, 0.5])
    check_ok(run)
    report, m = run.report, run.program_json()
    assert m["rc"] == 0
    c = m["child"]
    p = process(report, c["pid"])
    assert p["ppid"] == m["main"] == c["ppid"], p
    assert p["python"] == "3.11" and p["exit_code"] == 0, p
    assert any(a.endswith("sub_child.py") for a in p["argv"]), p["argv"]
    hot = marker_line(SUB_CHILD, "SUB_BURN")
    rows = [line_row(report, SUB_CHILD, hot), line_row(report, SUB_CHILD, hot + 1)]
    assert pids_on(rows[0]) == {c["pid"]} and pids_on(rows[1]) == {c["pid"]}, [r.get("by_process") for r in rows]
    got = sum(pid_cpu(report, r, c["pid"]) for r in rows)
    assert close(got, c["cpu"]), "burn lines hold %.3f s, the child measured %.3f s" % (got, c["cpu"])
    assert file_cpu_of(report, SUB_CHILD, m["main"]) == 0


def test_non_python_children(run_scalene):
    """sh -c 'gzip -c /etc/services' (its output decompresses to the file),
    sh -c 'gzip ... > /dev/null' and sh -c 'echo hi' work under the profiler
    and add no process entry: the report lists the main process only."""
    run = run_scalene([SUB, "---", "sh", 0])
    check_ok(run)
    report, m = run.report, run.program_json()
    assert m["gzip_rc"] == 0 and m["gzip_ok"] and m["gzip_bytes"] > 100, m
    assert m["gzip_null_rc"] == 0 and m["gzip_null_out"] == "", m
    assert m["echo_rc"] == 0 and m["echo_out"] == "hi\n", m
    assert [p["pid"] for p in report["processes"]] == [m["main"]], "non-Python children listed: %s" % [
        (p["pid"], p["ppid"], p["python"], p["argv"], p["role"]) for p in report["processes"]
    ]


def test_fork_then_exec_non_python(run_scalene):
    """os.fork() then os.execv('/bin/sh', ...): the shell's output is intact,
    and the child, which claimed a slot as a forked Python process and then
    became sh, is left out of the report (it never had a sample)."""
    run = run_scalene([SUB, "---", "forkexec", 0])
    check_ok(run)
    report, m = run.report, run.program_json()
    assert m["echo_rc"] == 0 and m["echo_out"] == "hi\n", m
    assert [p["pid"] for p in report["processes"]] == [m["main"]], report["processes"]
    for path in report["files"]:
        for r in file_entry(report, path)["lines"]:
            assert pid_cpu(report, r, m["child"]) == 0, (path, r["lineno"], r.get("by_process"))


# ---------------------------------------------------------------- options reach children

SPAWN = program("spawn_work.py")


def samples_per_cpu_sec(run):
    check_ok(run)
    m = run.program_json()
    p = process(run.report, m["child"])
    assert p["role"] != "main" and p["cpu_sec"] > 0.5, p
    return p["samples"] / p["cpu_sec"]


def test_sampling_rate_reaches_spawned_child(run_scalene):
    """--cpu-sampling-rate is the run's, not the main process's: a spawned
    (exec'd) child takes ~10x more samples per CPU-second at 0.005 s than at
    0.05 s. Bounds: ratio >= 4; at 0.05 s at most 60 samples per CPU-second
    (20 expected)."""
    slow = samples_per_cpu_sec(run_scalene(["--cpu-sampling-rate", "0.05", SPAWN, "---", "burn", 1.0]))
    fast = samples_per_cpu_sec(run_scalene(["--cpu-sampling-rate", "0.005", SPAWN, "---", "burn", 1.0]))
    assert slow <= 60, "%.1f samples per CPU-second at 0.05 s" % slow
    assert fast >= 4 * slow, "samples per CPU-second: %.1f at 0.005 s, %.1f at 0.05 s" % (fast, slow)


def test_profile_all_reaches_spawned_child(run_scalene):
    """--profile-all puts the standard library's lines run by a spawned child
    (difflib) in the report under the child's pid; without it difflib is
    absent and the child's time sits on the program's own calling line."""
    run = run_scalene(["--profile-all"] + ALL_FILES + [SPAWN, "---", "difflib", 0.5])
    check_ok(run)
    m = run.program_json()
    difflib = [f for f in run.report["files"] if f.endswith("/difflib.py")]
    assert difflib, sorted(run.report["files"])
    got = file_cpu_of(run.report, difflib[0], m["child"])
    assert got >= 0.5 * m["child_cpu"], "difflib.py holds %.3f s of the child's %.3f s" % (got, m["child_cpu"])

    run = run_scalene(ALL_FILES + [SPAWN, "---", "difflib", 0.5])
    check_ok(run)
    m = run.program_json()
    assert not [f for f in run.report["files"] if "/difflib.py" in f or "/multiprocessing/" in f], sorted(run.report["files"])
    row = line_row(run.report, SPAWN, marker_line(SPAWN, "DIFFLIB_CHILD"))
    # Python + native time against the loop's user CPU: its kernel time (page faults of the
    # allocator's fresh memory, more under ASan: 0.39 s of 0.50 s on the line once) is system time
    got = pid_cpu(run.report, row, m["child"])
    assert m["child_user"] <= m["child_cpu"] + 0.02, m  # tick-based, to a clock tick
    assert close(got, m["child_user"]), "the calling line holds %.3f s, the child's user CPU %.3f s" % (
        got, m["child_user"])


# ---------------------------------------------------------------- kill, orphan

KILL = program("kill_child.py")


@pytest.mark.parametrize("how", ["fork", "exec"])
def test_sigkilled_child_keeps_its_samples(run_scalene, how):
    """A child burning on a known line is SIGKILLed once it has used ~2 s of
    CPU: it is listed with exit_signal 9, and its burn lines (the loop and its
    body) hold its rusage CPU (±20 %)."""
    run = run_scalene([KILL, "---", how, 2.0])
    check_ok(run)
    report, m = run.report, run.program_json()
    assert m["exitcode"] == -signal.SIGKILL and m["child_cpu"] >= 1.9, m
    p = process(report, m["child"])
    assert p["exit_signal"] == signal.SIGKILL and p["exit_code"] is None and p["ppid"] == m["main"], p
    assert p["records_torn"] <= 2, p  # at most the records being written when it died
    path, marker = (KILL, "KILL_BURN") if how == "fork" else (SUB_CHILD, "SUB_BURN")
    hot = marker_line(path, marker)
    got = sum(pid_cpu(report, line_row(report, path, n), m["child"]) for n in (hot, hot + 1))
    assert close(got, m["child_cpu"]), "burn lines hold %.3f s, the child used %.3f s" % (got, m["child_cpu"])


ORPHAN = program("orphan.py")


def test_child_outlives_main(run_scalene):
    """The main process leaves with os._exit(0) at once; its forked child
    burns 1 s more. scalene (a child subreaper) waits for it: the report has
    the child's burn lines (±20 % of its CPU) and an elapsed time that covers
    the child."""
    run = run_scalene([ORPHAN, "---", 1.0])
    check_ok(run)
    report = run.report
    lines = [json.loads(l) for l in run.stdout.splitlines() if l.startswith("{")]
    assert len(lines) == 2, run.stdout
    main, orphan = lines
    assert orphan["orphan"] == main["child"] and orphan["ppid_now"] != main["main"], lines
    mp, cp = process(report, main["main"]), process(report, main["child"])
    assert mp["exit_code"] == 0 and cp["exit_code"] == 0, (mp, cp)
    assert cp["ppid"] == main["main"], cp
    assert cp["end_sec"] >= mp["end_sec"] + 0.5, (mp, cp)
    assert report["elapsed_time_sec"] >= cp["end_sec"] - 0.05, (report["elapsed_time_sec"], cp)
    hot = marker_line(ORPHAN, "ORPHAN_BURN")
    got = sum(pid_cpu(report, line_row(report, ORPHAN, n), cp["pid"]) for n in (hot, hot + 1))
    assert close(got, orphan["cpu"]), "burn lines hold %.3f s, the orphan used %.3f s" % (got, orphan["cpu"])
