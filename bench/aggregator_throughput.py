#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Aggregator throughput and multi-process overhead, measured end to end
through `scalene run` (no C harness). Prints tables; never asserts.

1. Throughput. N processes (default 1, 4, 16, 32), each with --threads
   threads (default 3: its main thread and two more), all burning CPU in
   pure Python for --seconds wall seconds, run under
   `scalene run -q --cpu-sampling-rate 0.001` (ten times the default
   record rate). From the report: records written (sum of records_written
   over processes), dropped, torn; from the harness: the run's wall time
   and the aggregator process's own CPU (its /proc/<pid>/stat utime+stime,
   read every 20 ms until it exits: the drain thread, the tables and the
   report). Printed per N:
       records/s  = sum(records_written) / elapsed_time_sec (the report's)
       merged/s   = (written - dropped - torn) / elapsed_time_sec
       drop %     = dropped / written
       agg CPU %  = the aggregator's CPU seconds / wall seconds
   On a machine with fewer cores than N x threads the burners share the
   cores and each sampler ticks less often than asked, so records/s is
   what the workload could produce, not the drain's ceiling. The drain's
   C-level ceiling (ring_drain alone, records/s through one thread) is
   printed by the ring unit test, tests/unit/test_ring.c: `make
   build/tests/test_ring && build/tests/test_ring` ("single-thread drain:
   ... M records/s" and the multi-producer lines).

2. Pool overhead. A multiprocessing Pool(2) maps a pure-Python function
   over --pool-tasks tasks, run plainly (`python3 pool.py`) and under
   `scalene run -q` (default options), alternating, the order flipping
   every round; each round's ratio is profiled wall / plain wall; printed:
   the median ratio over --rounds rounds, min..max, and best/best.

Usage:
    /usr/bin/python3 bench/aggregator_throughput.py            # ~1 minute on 2 cores
    /usr/bin/python3 bench/aggregator_throughput.py --quick    # ~20 s smoke run
Options: --scalene PATH, --python PATH, --procs 1,4,16,32, --threads 3,
--seconds 3, --rate 0.001, --rounds 5, --pool-tasks 16, --quick,
--only throughput|pool.
Exits non-zero only when a run fails (non-zero status, no report).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

BURNER = r'''
import os, sys, threading, time

def burn(until):
    x = 0
    while time.monotonic() < until:
        for i in range(2000):
            x += i * i % 7
    return x

def child(go, seconds, nthreads):
    os.read(go, 1)
    until = time.monotonic() + seconds
    ts = [threading.Thread(target=burn, args=(until,)) for _ in range(nthreads - 1)]
    for t in ts:
        t.start()
    burn(until)
    for t in ts:
        t.join()
    os._exit(0)

n, seconds, nthreads = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
r, w = os.pipe()
pids = []
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        os.close(w)
        child(r, seconds, nthreads)
    pids.append(pid)
os.close(r)
os.write(w, b"x" * n)
for pid in pids:
    os.waitpid(pid, 0)
print("done", n)
'''

POOL = r'''
import multiprocessing, sys

def work(n):
    s = 0
    for i in range(n):
        s += (i * i) % 7 + (i ^ (i >> 3)) % 5
    return s

if __name__ == "__main__":
    tasks, size = int(sys.argv[1]), int(sys.argv[2])
    with multiprocessing.Pool(2) as pool:
        print(sum(pool.map(work, [size] * tasks, chunksize=1)))
'''


class RunFailed(Exception):
    pass


def proc_cpu(pid):
    """utime + stime of one process (all its threads, not its children), seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def run_watched(argv, cwd, timeout):
    """Runs argv; returns (wall seconds, the process's own last-seen CPU seconds, stdout)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    last = [0.0]
    done = threading.Event()

    def watch():
        while not done.wait(0.02):
            c = proc_cpu(p.pid)
            if c is not None:
                last[0] = c

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise RunFailed("%s: timed out after %d s" % (" ".join(argv), timeout))
    finally:
        done.set()
        w.join()
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RunFailed("%s: exit status %d\n%s" % (" ".join(argv), p.returncode, err[-2000:]))
    return wall, last[0], out


def throughput(a, tmp):
    prog = os.path.join(tmp, "burner.py")
    with open(prog, "w") as f:
        f.write(BURNER)
    out = os.path.join(tmp, "tp.json")
    print("\n## Throughput: N processes x %d threads burning %.1f s wall, --cpu-sampling-rate %s" % (a.threads, a.seconds, a.rate))
    print("%5s %8s %9s %10s %10s %8s %6s %8s %9s" % ("procs", "wall s", "elapsed", "written", "records/s", "merged/s", "drop%", "torn", "agg CPU%"))
    rows = []
    for n in a.procs:
        argv = [a.scalene, "run", "-q", "--cpu-sampling-rate", str(a.rate), "-o", out, prog, "---", str(n), str(a.seconds), str(a.threads)]
        wall, agg_cpu, _ = run_watched(argv, tmp, a.timeout)
        if not os.path.exists(out):
            raise RunFailed("no report from %s" % " ".join(argv))
        with open(out) as f:
            rep = json.load(f)
        os.unlink(out)
        procs = rep["processes"]
        if len(procs) != n + 1:
            print("  warning: %d processes in the report, expected %d" % (len(procs), n + 1))
        wr = sum(p["records_written"] for p in procs)
        dr = sum(p["records_dropped"] for p in procs)
        tn = sum(p["records_torn"] for p in procs)
        el = rep["elapsed_time_sec"]
        row = (n, wall, el, wr, wr / el, (wr - dr - tn) / el, 100.0 * dr / wr if wr else 0.0, tn, 100.0 * agg_cpu / wall)
        rows.append(row)
        print("%5d %8.2f %9.2f %10d %10.0f %8.0f %6.2f %8d %9.1f" % row)
    return rows


def pool_overhead(a, tmp):
    prog = os.path.join(tmp, "pool.py")
    with open(prog, "w") as f:
        f.write(POOL)
    out = os.path.join(tmp, "pool.json")
    args = [str(a.pool_tasks), str(a.pool_size)]
    plain_argv = [a.python, prog] + args
    prof_argv = [a.scalene, "run", "-q", "-o", out, prog, "---"] + args
    print("\n## Pool overhead: Pool(2).map of a pure-Python function, %d tasks of size %d, %d rounds" % (a.pool_tasks, a.pool_size, a.rounds))
    ratios, plains, profs = [], [], []
    for r in range(a.rounds):
        order = [("plain", plain_argv), ("scalene", prof_argv)]
        if r % 2:
            order.reverse()
        t = {}
        outs = {}
        for name, argv in order:
            t[name], _, outs[name] = run_watched(argv, tmp, a.timeout)
        if outs["plain"].strip() != outs["scalene"].strip():
            raise RunFailed("different output under the profiler: %r vs %r" % (outs["plain"], outs["scalene"]))
        if not os.path.exists(out):
            raise RunFailed("no report from the profiled pool run")
        with open(out) as f:
            rep = json.load(f)
        os.unlink(out)
        plains.append(t["plain"])
        profs.append(t["scalene"])
        ratios.append(t["scalene"] / t["plain"])
        print("  round %d: plain %.2f s, scalene %.2f s, ratio %.3f (%d processes in the report)" % (r + 1, t["plain"], t["scalene"], ratios[-1], len(rep["processes"])))
    print("%-22s %8s %9s %8s %14s %10s" % ("workload", "plain s", "scalene s", "ratio", "min..max", "best/best"))
    print("%-22s %8.2f %9.2f %8.3f %6.3f..%-6.3f %10.3f" % ("pool2_map", statistics.median(plains), statistics.median(profs), statistics.median(ratios), min(ratios), max(ratios), min(profs) / min(plains)))
    return ratios


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scalene", default=os.path.join(ROOT, "build", "bin", "scalene"))
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--procs", default="1,4,16,32")
    ap.add_argument("--threads", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rate", default="0.001")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pool-tasks", type=int, default=16)
    ap.add_argument("--pool-size", type=int, default=4_000_000)
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--only", choices=["throughput", "pool"])
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    a.procs = [int(x) for x in a.procs.split(",")]
    if a.quick:
        a.seconds, a.rounds, a.pool_size, a.procs = 1.0, 2, 300_000, [1, 4]
    if not os.access(a.scalene, os.X_OK):
        sys.exit("not built: %s (make build/bin/scalene build/lib/scalene/libscalene.so)" % a.scalene)
    print("cores %d, load average %.2f %.2f %.2f" % ((os.cpu_count() or 0,) + os.getloadavg()))
    try:
        with tempfile.TemporaryDirectory(prefix="scalene-tp-") as tmp:
            if a.only in (None, "throughput"):
                throughput(a, tmp)
            if a.only in (None, "pool"):
                pool_overhead(a, tmp)
    except RunFailed as e:
        print("FAILED: %s" % e, file=sys.stderr)
        return 1
    print("\nload average after: %.2f %.2f %.2f" % os.getloadavg())
    print("C-level drain throughput (ring_drain alone): build/tests/test_ring (tests/unit/test_ring.c) prints records/s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
