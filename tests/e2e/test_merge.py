# SPDX-License-Identifier: Apache-2.0
"""`scalene merge` (issue 16): reports of several hosts, or several runs of
one host, merged into one. The runs are real: each `scalene run` names its
host with SCALENE_HOST and, where the kernel lets us (unshare -p), runs in its
own pid namespace, so the two hosts' processes have the same pids, as two
machines' would."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import SCALENE, expand_report, marker_line, page_eval, program, scalene_env

WORK = program("merge_work.py")


BURN = marker_line(WORK, "BURN_LINE")
HOLD = marker_line(WORK, "HOLD_LINE")


def _can_unshare():
    if not shutil.which("unshare"):
        return False
    try:
        return subprocess.run(["unshare", "-p", "-f", "--mount-proc", "true"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


UNSHARE = _can_unshare()


def _cmd(host, out, args):
    cmd = [SCALENE, "run", "-o", str(out), WORK, "---"] + [str(a) for a in args]
    if UNSHARE:
        cmd = ["unshare", "-p", "-f", "--mount-proc"] + cmd
    return cmd


def run_host(tmp_path, host, args, name=None):
    out = tmp_path / ("%s.json" % (name or host))
    p = subprocess.run(_cmd(host, out, args), capture_output=True, text=True, timeout=120,
                       env=scalene_env({"SCALENE_HOST": host}), cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr
    with open(out) as f:
        return out, json.load(f)


def run_hosts_together(tmp_path, specs):
    """Starts every (host, args) at once; returns their (path, report)."""
    procs = []
    for host, args in specs:
        out = tmp_path / ("%s.json" % host)
        procs.append((out, subprocess.Popen(_cmd(host, out, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            text=True, env=scalene_env({"SCALENE_HOST": host}),
                                            cwd=str(tmp_path))))
    res = []
    for out, p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        with open(out) as f:
            res.append((out, json.load(f)))
    return res


def merge(tmp_path, paths, out="merged.json"):
    o = tmp_path / out
    p = subprocess.run([SCALENE, "merge", "-o", str(o)] + [str(x) for x in paths], capture_output=True, text=True,
                       timeout=60, env=scalene_env(), cwd=str(tmp_path))
    rep = None
    if p.returncode == 0:
        with open(o) as f:
            rep = json.load(f)
    return p, rep


def line_sec(rep, lineno):
    """Seconds of CPU on a line of merge_work.py: percent x total / 100."""
    total = rep["scalene_c"]["total_sec"]
    for name, fo in rep["files"].items():
        if name.endswith("merge_work.py"):
            for ln in fo["lines"]:
                if ln["lineno"] == lineno:
                    return (ln["n_cpu_percent_python"] + ln["n_cpu_percent_c"] + ln["n_sys_percent"]) * total / 100
    return 0.0


def func_sec(rep, name):
    """Seconds of CPU in a function of merge_work.py."""
    total = rep["scalene_c"]["total_sec"]
    for fname, fo in rep["files"].items():
        if fname.endswith("merge_work.py"):
            for r in fo["functions"]:
                if r["line"] == name:
                    return (r["n_cpu_percent_python"] + r["n_cpu_percent_c"] + r["n_sys_percent"]) * total / 100
    return 0.0


def line_row(rep, lineno):
    for name, fo in rep["files"].items():
        if name.endswith("merge_work.py"):
            for ln in fo["lines"]:
                if ln["lineno"] == lineno:
                    return ln
    raise AssertionError("no line %d" % lineno)


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """Three hosts, a 0.6, b 0.3, c 0.45 CPU seconds on BURN_LINE."""
    d = tmp_path_factory.mktemp("merge")
    runs = {h: run_host(d, h, [cpu, 0, 0]) for h, cpu in (("a", 0.6), ("b", 0.3), ("c", 0.45))}
    return d, runs


def test_two_hosts_colliding_pids(three):
    d, runs = three
    (pa, ra), (pb, rb) = runs["a"], runs["b"]
    assert ra["host"] == "a" and ra["hosts"] == ["a"] and all(p["host"] == "a" for p in ra["processes"])
    pids_a = {p["pid"] for p in ra["processes"]}
    pids_b = {p["pid"] for p in rb["processes"]}
    if UNSHARE:
        assert pids_a & pids_b, "pid namespaces should give the two hosts the same pids"
    p, m = merge(d, [pa, pb], "ab.json")
    assert p.returncode == 0, p.stderr
    assert m["hosts"] == ["a", "b"]
    procs = m["processes"]
    assert len(procs) == len(ra["processes"]) + len(rb["processes"])
    assert {(x["host"], x["pid"]) for x in procs} == {("a", q) for q in pids_a} | {("b", q) for q in pids_b}
    keys = [x["key"] for x in procs]
    assert len(set(keys)) == len(keys)
    # the hot line's time is the sum of the runs' (each total is the sum of its lines' shares)
    # the runs burnt 0.6 and 0.3 CPU-s in burn() (its loop lines share it)
    assert func_sec(ra, "burn") >= 0.45 and func_sec(rb, "burn") >= 0.22, (func_sec(ra, "burn"), func_sec(rb, "burn"))
    assert abs(func_sec(m, "burn") - func_sec(ra, "burn") - func_sec(rb, "burn")) <= 1e-6
    sa, sb, sm = line_sec(ra, BURN), line_sec(rb, BURN), line_sec(m, BURN)
    assert sa > 0 and sb > 0, (sa, sb)
    assert abs(sm - (sa + sb)) <= 1e-6 * (sa + sb) + 1e-9
    assert abs(m["scalene_c"]["total_sec"] - ra["scalene_c"]["total_sec"] - rb["scalene_c"]["total_sec"]) < 1e-9
    # its share lies between the inputs' shares
    share = lambda r: line_sec(r, BURN) / r["scalene_c"]["total_sec"]
    lo, hi = sorted((share(ra), share(rb)))
    assert lo - 1e-9 <= share(m) <= hi + 1e-9
    # each host's process keeps its own share of the line under its key
    byp = line_row(m, BURN)["by_process"]
    for x in procs:
        if x["role"] == "main":
            assert x["key"] in byp
    main_a = next(x for x in procs if x["host"] == "a" and x["role"] == "main")
    main_b = next(x for x in procs if x["host"] == "b" and x["role"] == "main")
    tm = m["scalene_c"]["total_sec"]
    got_a = sum(byp[main_a["key"]][k] for k in ("n_cpu_percent_python", "n_cpu_percent_c", "n_sys_percent")) * tm / 100
    assert abs(got_a - sa) <= 0.02 * sa, (got_a, sa)
    # the page and --cli group the processes by host
    v = subprocess.run([SCALENE, "view", "--cli", "--processes", str(d / "ab.json")], capture_output=True, text=True,
                       timeout=60, env=scalene_env({"COLUMNS": "160"}))
    assert v.returncode == 0, v.stderr
    assert "host a" in v.stdout and "host b" in v.stdout, v.stdout
    # --pid names one host's process as HOST:PID; a bare pid is ambiguous
    one = subprocess.run([SCALENE, "view", "--cli", "--pid", main_b["key"], str(d / "ab.json")], capture_output=True,
                         text=True, timeout=60, env=scalene_env({"COLUMNS": "160"}))
    assert one.returncode == 0, one.stderr
    assert "Showing pid %d only" % main_b["pid"] in one.stdout, one.stdout
    bare = subprocess.run([SCALENE, "view", "--cli", "--pid", str(main_b["pid"]), str(d / "ab.json")],
                          capture_output=True, text=True, timeout=60, env=scalene_env())
    assert bare.returncode == 2 and "HOST:PID" in bare.stderr and len(bare.stderr.strip().splitlines()) == 1


def test_page_groups_processes_by_host(three, tmp_path):
    """The page (Chromium, playwright-core from gui/node_modules, as tests/gui) lists
    a merged report's processes under one heading row per host, pids colliding."""
    from conftest import REPO
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not (os.path.exists(chromium) and shutil.which("node") and
            os.path.isdir(os.path.join(REPO, "gui", "node_modules", "playwright-core"))):
        pytest.skip("no chromium / playwright-core")
    d, runs = three
    p, m = merge(tmp_path, [runs["a"][0], runs["b"][0]], "ab.json")
    assert p.returncode == 0, p.stderr
    html = tmp_path / "ab.html"
    v = subprocess.run([SCALENE, "view", "--html", "-o", str(html), str(tmp_path / "ab.json")], capture_output=True,
                       text=True, timeout=60, env=scalene_env())
    assert v.returncode == 0, v.stderr
    got = page_eval(html, "[...document.querySelectorAll('#processes tr.host-head, #processes tr.proc')]"
                          ".map(tr => tr.classList.contains('host-head') ? 'H ' + tr.textContent.trim() : 'P ' + tr.dataset.pid)")
    assert not got["errors"], got
    rows = got["value"]
    assert [r for r in rows if r.startswith("H ")] == ["H host a", "H host b"], rows
    # each host's processes follow its heading, keyed host:pid
    ia, ib = rows.index("H host a"), rows.index("H host b")
    assert all(r.startswith("P a:") for r in rows[ia + 1:ib]) and rows[ia + 1:ib], rows
    assert all(r.startswith("P b:") for r in rows[ib + 1:]) and rows[ib + 1:], rows


def _numbers(rep):
    out = {"total": rep["scalene_c"]["total_sec"], "elapsed": rep["elapsed_time_sec"],
           "start": rep["start_time_absolute"], "peak": rep["max_footprint_mb"], "hosts": tuple(rep["hosts"]),
           "procs": tuple((p["key"], p["host"], p["pid"], round(p["start_sec"], 6)) for p in rep["processes"])}
    for name, fo in rep["files"].items():
        out["file " + name] = fo["percent_cpu_time"]
        for ln in fo["lines"] + fo["functions"]:
            for k in ("n_cpu_percent_python", "n_cpu_percent_c", "n_sys_percent", "n_malloc_mb", "n_net_mb",
                      "n_peak_mb", "n_core_utilization"):
                if k in ln:
                    out["%s:%s:%s:%s" % (name, ln["lineno"], ln["line"], k)] = ln[k]
            for key, bp in ln.get("by_process", {}).items():
                out["%s:%s:%s:bp %s" % (name, ln["lineno"], ln["line"], key)] = bp["n_cpu_percent_python"]
    return out


def test_merge_is_associative(three):
    d, runs = three
    pa, pb, pc = runs["a"][0], runs["b"][0], runs["c"][0]
    p1, ab = merge(d, [pa, pb], "ab2.json")
    p2, abc_nested = merge(d, [d / "ab2.json", pc], "abc_nested.json")
    p3, abc = merge(d, [pa, pb, pc], "abc.json")
    assert p1.returncode == p2.returncode == p3.returncode == 0, (p1.stderr, p2.stderr, p3.stderr)
    x, y = _numbers(abc_nested), _numbers(abc)
    assert set(x) == set(y), set(x) ^ set(y)
    for k in x:
        if isinstance(x[k], float):
            assert abs(x[k] - y[k]) <= 1e-7 * max(1.0, abs(y[k])), (k, x[k], y[k])
        else:
            assert x[k] == y[k], (k, x[k], y[k])
    assert len(abc["runs"]) == 3 and len(abc_nested["runs"]) == 3
    # the burn line's time is all three runs'
    s = sum(line_sec(runs[h][1], BURN) for h in "abc")
    assert abs(line_sec(abc, BURN) - s) <= 1e-6 * s


def test_todays_format_merges_with_new(three, tmp_path):
    d, runs = three
    old = expand_report(json.loads(json.dumps(runs["a"][1])))  # today's report: every line a row,
    # stacks written out, and no host anywhere
    old.pop("host")
    old.pop("hosts")
    for p in old["processes"]:
        p.pop("host")
    po = tmp_path / "old.json"
    po.write_text(json.dumps(old))
    p, m = merge(tmp_path, [po, runs["b"][0]])
    assert p.returncode == 0, p.stderr
    assert sorted(m["hosts"]) == ["b", "unknown"]
    assert {x["host"] for x in m["processes"]} == {"b", "unknown"}
    sa, sb = line_sec(runs["a"][1], BURN), line_sec(runs["b"][1], BURN)
    assert abs(line_sec(m, BURN) - (sa + sb)) <= 1e-6 * (sa + sb)


def test_runs_of_one_host_keep_apart(three, tmp_path):
    """Two runs of one host with the same pids: the keys still differ."""
    d, runs = three
    b2 = json.loads(json.dumps(runs["b"][1]))
    for p in b2["processes"]:
        p["host"] = "a"
    b2["host"], b2["hosts"] = "a", ["a"]
    for p in runs["a"][1]["processes"]:
        if p["role"] == "main":
            main_a = p["pid"]
    for p in b2["processes"]:
        if p["role"] == "main":
            old = p["pid"]
            p["pid"] = main_a
    # by_process keys follow the pid
    for fo in b2["files"].values():
        for ln in fo["lines"] + fo["functions"]:
            bp = ln.get("by_process", {})
            if str(old) in bp:
                bp[str(main_a)] = bp.pop(str(old))
    pb2 = tmp_path / "b2.json"
    pb2.write_text(json.dumps(b2))
    p, m = merge(tmp_path, [runs["a"][0], pb2])
    assert p.returncode == 0, p.stderr
    keys = [x["key"] for x in m["processes"] if x["pid"] == main_a]
    assert len(keys) == 2 and len(set(keys)) == 2, keys
    assert m["hosts"] == ["a"]


def test_overlapping_runs_peak_is_peak_of_sum(tmp_path):
    """Two hosts holding 60 MB each at the same time: the merged footprint
    peak is about 120 MB (the peak of the sum); the same two runs one after
    the other peak at about 60 MB (the higher of the two)."""
    together = run_hosts_together(tmp_path, [("p", [0.1, 60, 2.5]), ("q", [0.1, 60, 2.5])])
    peaks = [r["max_footprint_mb"] for _, r in together]
    assert min(peaks) > 50, peaks
    p, m = merge(tmp_path, [x for x, _ in together], "pq.json")
    assert p.returncode == 0, p.stderr
    assert m["max_footprint_mb"] >= 0.8 * sum(peaks), (m["max_footprint_mb"], peaks)
    hold = line_row(m, HOLD)
    one = [line_row(r, HOLD)["n_peak_mb"] for _, r in together]
    assert hold["n_peak_mb"] >= 0.8 * sum(one), (hold["n_peak_mb"], one)
    # one after the other: no overlap, so no sum
    d2 = tmp_path / "seq"
    d2.mkdir()
    s1 = run_host(d2, "p", [0.1, 60, 0.5])
    s2 = run_host(d2, "q", [0.1, 60, 0.5])
    p, m2 = merge(d2, [s1[0], s2[0]])
    assert p.returncode == 0, p.stderr
    top = max(s1[1]["max_footprint_mb"], s2[1]["max_footprint_mb"])
    assert m2["max_footprint_mb"] <= 1.15 * top, (m2["max_footprint_mb"], top)


@pytest.mark.parametrize("content,why", [
    ('{"files": {', "not a readable JSON report"),
    ("[1, 2]", "not a profile"),
    ('{"files": {"x.py": {"lines": [{"lineno": "seven"}]}}}', "not a row with a lineno"),
    (None, "not a readable JSON report"),
])
def test_bad_input_is_one_line_exit_2(three, tmp_path, content, why):
    d, runs = three
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    p, _ = merge(tmp_path, [runs["a"][0], bad], "never.json")
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scalene: ") and why in lines[0], p.stderr
    assert str(bad) in lines[0]
    assert not (tmp_path / "never.json").exists()


def test_usage_errors(tmp_path):
    p = subprocess.run([SCALENE, "merge"], capture_output=True, text=True, timeout=30, env=scalene_env())
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    p = subprocess.run([SCALENE, "merge", "--frobnicate", "x.json"], capture_output=True, text=True, timeout=30,
                       env=scalene_env())
    assert p.returncode == 2 and "unknown option" in p.stderr
