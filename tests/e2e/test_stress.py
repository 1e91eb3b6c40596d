# SPDX-License-Identifier: Apache-2.0
"""Many writers at once. programs/stress_procs.py forks 32 processes that
start together, each burning on three threads (its main thread and two
more), so 32 rings fill at the same time while one drain thread empties them.

Record accounting. A slot counts records_written (every attempt),
records_dropped (refused by a full ring) and records_torn (reserved by a
writer that died before publishing). The records received are not in the
report, but each sample is one received record, and so is each process's
start record and each thread's name record; so for every process
    records_written - records_dropped - records_torn >= samples + 1 + threads.

Tolerances are next to each constant."""
import json
import signal
import subprocess
import time

import pytest

from conftest import SCALENE, marker_line, line_row, pct_to_sec, process, program, scalene_env

PROG = program("stress_procs.py")
NPROC = 32
BURN_SEC = 0.08  # CPU seconds each thread burns
THREADS = 3  # burning threads per child
THREAD_CPU_TOL = 0.25  # relative: a child's threads' CPU in the report against 3 x BURN_SEC
TOTAL_CPU_TOL = 0.12  # relative: the same summed over all children, and the burn lines' CPU


def received_at_least(report, p):
    nthreads = len([t for t in report["threads"] if t["pid"] == p["pid"]])
    return p["samples"] + 1 + nthreads


def check_accounting(report, p, drops_allowed):
    w, d, t = p["records_written"], p["records_dropped"], p["records_torn"]
    assert 0 <= d <= w, p
    if not drops_allowed:
        assert d == 0, "pid %d dropped %d of %d records" % (p["pid"], d, w)
    assert t == 0, "pid %d: %d torn records after a clean exit" % (p["pid"], t)
    assert w - d - t >= received_at_least(report, p), "pid %d: written %d - dropped %d - torn %d < %d received" % (
        p["pid"],
        w,
        d,
        t,
        received_at_least(report, p),
    )


@pytest.fixture
def stress(run_scalene):
    # per test: the timing test among its users gets its reruns (a module-scoped run is read once)
    run = run_scalene(["--cpu-percent-threshold", "0", PROG, "---", NPROC, BURN_SEC])
    assert run.rc == 0, run.stderr[-3000:]
    assert run.report is not None, run.stderr
    return run.report, run.program_json()


def test_every_process_listed(stress):
    """32 children and the parent, each child with ppid = parent, exit 0."""
    report, m = stress
    kids = {int(k) for k in m["cpu"]}
    assert len(kids) == NPROC and set(m["exitcodes"].values()) == {0}
    listed = {p["pid"] for p in report["processes"]}
    assert listed == kids | {m["main"]}, "missing %s, extra %s" % (sorted(kids - listed), sorted(listed - kids - {m["main"]}))
    for k in kids:
        p = process(report, k)
        assert p["ppid"] == m["main"] and p["exit_code"] == 0 and p["exit_signal"] is None, p


def test_record_accounting(stress):
    """No drops at the default interval (4096-cell rings drained every 5 ms),
    no torn records after clean exits, and written - dropped - torn covers
    what the report shows was received."""
    report, m = stress
    for p in report["processes"]:
        check_accounting(report, p, drops_allowed=False)


@pytest.mark.timing
def test_cpu_of_every_child(stress):
    """Each child's three threads are listed with samples, and their CPU
    adds up to what they burnt (3 x 0.08 s, ±25 % per child, ±12 % over
    all); the burn lines hold it too (±12 %). Samples are at least half of
    CPU / interval per child (a thread on a CPU is sampled every tick)."""
    report, m = stress
    interval = report["scalene_c"]["sampling_interval_sec"]
    total = 0.0
    for k in m["cpu"]:
        pid = int(k)
        ths = [t for t in report["threads"] if t["pid"] == pid and t["cpu_sec"] > 0]
        assert len(ths) >= THREADS and all(t["samples"] > 0 for t in ths), ths
        got = sum(t["cpu_sec"] for t in ths)
        want = THREADS * BURN_SEC
        assert abs(got - want) <= THREAD_CPU_TOL * want, "pid %d: threads hold %.3f s, burnt %.3f s" % (pid, got, want)
        assert process(report, pid)["samples"] >= 0.5 * got / interval, process(report, pid)
        total += got
    want = NPROC * THREADS * BURN_SEC
    assert abs(total - want) <= TOTAL_CPU_TOL * want, "children's threads hold %.3f s, burnt %.3f s" % (total, want)
    hot = marker_line(PROG, "STRESS_BURN")
    lines = sum(
        pct_to_sec(report, r["n_cpu_percent_python"] + r["n_cpu_percent_c"])
        for r in (line_row(report, PROG, n) for n in (hot - 1, hot, hot + 1))
    )
    # Python + native time is user CPU: compare with the burning threads' own user CPU, as each
    # takes it when it is done (the children's rusage also holds the profiler's sampler thread,
    # and the kernel part of the burn, GIL hand-offs through futex calls, is system time)
    user = sum(m["burn_user"].values())
    assert len(m["burn_user"]) == NPROC, m["burn_user"]
    assert abs(lines - user) <= TOTAL_CPU_TOL * user, "burn lines hold %.3f s, the burning threads' user CPU %.3f s" % (
        lines, user)


def test_tiny_interval_accounting(run_scalene):
    """--cpu-sampling-rate 0.001 (ten times the records): every process is
    still listed, and drops, if any, are counted consistently."""
    run = run_scalene(["--cpu-sampling-rate", "0.001", PROG, "---", NPROC, 0.05])
    assert run.rc == 0, run.stderr[-3000:]
    report, m = run.report, run.program_json()
    assert {p["pid"] for p in report["processes"]} == {int(k) for k in m["cpu"]} | {m["main"]}
    for p in report["processes"]:
        check_accounting(report, p, drops_allowed=True)
        assert p["samples"] > 0, p


def test_drops_counted_when_the_drain_stalls(tmp_path):
    """The aggregator is stopped (SIGSTOP) for 2.5 s while two processes of
    three burning threads each sample every 1 ms: their 4096-cell rings
    overflow. The run still ends normally and the report counts the drops:
    records_dropped > 0 in total, <= records_written per process, no torn
    records, and written - dropped covers what was received."""
    out = tmp_path / "out.json"
    proc = subprocess.Popen(
        [SCALENE, "run", "-q", "--cpu-sampling-rate", "0.001", "-o", str(out), PROG, "---", "2", "4", "wall"],
        cwd=str(tmp_path),
        env=scalene_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "started"
        time.sleep(0.3)
        proc.send_signal(signal.SIGSTOP)
        time.sleep(2.5)
        proc.send_signal(signal.SIGCONT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    m = json.loads(stdout.strip().splitlines()[-1])
    with open(out) as f:
        report = json.load(f)
    kids = [process(report, int(k)) for k in m["cpu"]]
    assert sum(p["records_dropped"] for p in kids) > 0, kids
    for p in report["processes"]:
        check_accounting(report, p, drops_allowed=True)


CHURN = program("import_churn.py")
CHURN_RUNS = 40


def test_sampler_survives_frame_churn(tmp_path):
    """40 short runs of a program that imports 60 modules and calls tiny
    dunder methods, sampled every 0.5 ms: frames are pushed and popped under
    the sampler's reads all the time, and a torn read must never crash the
    program. Every run exits 0 and prints its line."""
    failures = []
    for i in range(CHURN_RUNS):
        p = subprocess.run(
            [SCALENE, "run", "-q", "--cpu-sampling-rate", "0.0005", "-o", str(tmp_path / "out.json"), CHURN, "---", "60", "0.05"],
            cwd=str(tmp_path),
            env=scalene_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if p.returncode != 0 or '"imported"' not in p.stdout:
            failures.append((i, p.returncode, p.stderr[-300:]))
    assert not failures, "%d of %d runs failed (rc 139 = SIGSEGV): %s" % (len(failures), CHURN_RUNS, failures[:3])
