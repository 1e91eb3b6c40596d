# SPDX-License-Identifier: Apache-2.0
"""A real distributed engine as a test bed (issue 16): Dask's `distributed`
(Debian python3-distributed). The work is CPU burnt in task() by
time.thread_time(), so its true amount is known: tasks x seconds.

- one host: a LocalCluster of two worker processes under one `scalene run`;
- two hosts: a scheduler (host s) and two `dask worker` processes, each
  under its own `scalene run` with SCALENE_HOST=a / b, over 127.0.0.1;
  `scalene merge` makes one report of the three."""
import json
import os
import socket
import subprocess
import sys

import pytest

from conftest import PYTHON, SCALENE, expand_report, program, scalene_env

pytestmark = pytest.mark.slow

HAVE_DASK = subprocess.run([PYTHON, "-c", "import distributed"], capture_output=True).returncode == 0
if not HAVE_DASK:
    pytestmark = [pytest.mark.slow, pytest.mark.skip(reason="Debian python3-distributed is not installed")]


def seconds_of(rep, row):
    """{process key: CPU seconds} of a report row's by_process."""
    t = rep["scalene_c"]["total_sec"]
    return {k: (v["n_cpu_percent_python"] + v["n_cpu_percent_c"] + v["n_sys_percent"]) * t / 100
            for k, v in row.get("by_process", {}).items()}


def func_row(rep, fname, name):
    for path, fo in rep["files"].items():
        if path.endswith(fname):
            for r in fo["functions"]:
                if r["line"] == name:
                    return r
    raise AssertionError("no function %s in %s" % (name, list(rep["files"])))


def key_of(p):
    return p.get("key") or str(p["pid"])


def proc_cpu(p):
    return p["python_sec"] + p["native_sec"] + p["sys_sec"]


TASKS, TASK_SEC = 6, 1.5


def test_local_cluster_workers(run_scalene):
    r = run_scalene([program("dask_local.py"), "---", str(TASK_SEC)], env={"SCALENE_HOST": "h1"}, timeout=300)
    assert r.rc == 0, r.stderr
    out = r.program_json()
    rep = r.report
    procs = {p["pid"]: p for p in rep["processes"]}
    # every worker process is in the report, under this host
    for pid in out["workers"]:
        assert pid in procs, (pid, sorted(procs))
        assert procs[pid]["host"] == "h1"
    assert set(out["task_pids"]) <= set(out["workers"])
    task = seconds_of(rep, func_row(rep, "dask_local.py", "task"))
    module = seconds_of(rep, func_row(rep, "dask_local.py", "<module>"))
    workers = [procs[pid] for pid in out["workers"]]
    in_task = sum(task.get(key_of(p), 0) for p in workers)
    # ground truth: the tasks burnt TASKS x TASK_SEC CPU seconds
    assert abs(in_task - TASKS * TASK_SEC) <= 0.25 * TASKS * TASK_SEC, (in_task, task)
    # the task function holds >= 80 % of the workers' CPU once they run: their CPU
    # less their start-up (a spawned worker imports the program's module, and
    # distributed with it, before it takes a task: the <module> row)
    cpu = sum(proc_cpu(p) - module.get(key_of(p), 0) for p in workers)
    assert in_task >= 0.8 * cpu, (in_task, cpu, [proc_cpu(p) for p in workers], module)
    # and the page's process tree and --cli list them under the host
    v = subprocess.run([SCALENE, "view", "--cli", "--processes", str(r.outfile)], capture_output=True, text=True,
                       timeout=120, env=scalene_env({"COLUMNS": "160"}))
    assert v.returncode == 0, v.stderr
    for pid in out["workers"]:
        assert str(pid) in v.stdout


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_two_hosts_scheduler_and_workers_merge(tmp_path):
    port, secs, ntasks = free_port(), 0.5, 8
    env = lambda h: scalene_env({"SCALENE_HOST": h})
    progs = os.path.dirname(program("dask_driver.py"))
    sched = subprocess.Popen([SCALENE, "run", "-o", str(tmp_path / "s.json"), program("dask_driver.py"), "---",
                              str(port), str(secs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env("s"), cwd=str(tmp_path))
    workers = []
    for h in ("a", "b"):
        workers.append(subprocess.Popen(
            [SCALENE, "run", "--program-path", progs, "-o", str(tmp_path / ("%s.json" % h)), "-m",
             "distributed.cli.dask_worker", "tcp://127.0.0.1:%d" % port, "--nthreads", "1", "--no-nanny",
             "--no-dashboard", "--host", "127.0.0.1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(h), cwd=str(tmp_path)))
    try:
        sout, serr = sched.communicate(timeout=240)
        wres = [w.communicate(timeout=120) for w in workers]
    finally:
        for p in [sched] + workers:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert sched.returncode == 0, serr
    for w, (o, e) in zip(workers, wres):
        assert w.returncode == 0, e
    line = [ln for ln in sout.splitlines() if ln.startswith("{")][-1]
    out = json.loads(line)
    m = subprocess.run([SCALENE, "merge", "-o", str(tmp_path / "m.json")] +
                       [str(tmp_path / ("%s.json" % h)) for h in ("s", "a", "b")],
                       capture_output=True, text=True, timeout=120, env=scalene_env())
    assert m.returncode == 0, m.stderr
    with open(tmp_path / "m.json") as f:
        rep = expand_report(json.load(f))
    assert rep["hosts"] == ["a", "b", "s"]
    by_host = {}
    for p in rep["processes"]:
        by_host.setdefault(p["host"], []).append(p)
    # each worker's pid (as the scheduler saw it) is a process of its own host
    wpids = sorted(out["workers"].values())
    assert sorted(p["pid"] for h in ("a", "b") for p in by_host[h]) == wpids, (by_host, out)
    # the tasks ran on the workers: their time, all of it, on hosts a and b
    task = seconds_of(rep, func_row(rep, "dask_driver.py", "task"))
    keys = {key_of(p): p["host"] for p in rep["processes"]}
    assert task and all(keys[k] in ("a", "b") for k in task), task
    total = sum(task.values())
    assert abs(total - ntasks * secs) <= 0.25 * ntasks * secs, task
    assert len(task) == 2 and min(task.values()) > 0, task
