# SPDX-License-Identifier: Apache-2.0
"""`scalene view --pprof` (issue 16): the export is read back by the real
`go tool pprof` (Debian's golang-go), and what it prints is checked against
the JSON report it came from and against the shares built into the program
(tests/e2e/programs/pprof_work.py: heavy() 0.8 CPU-s in the parent, light()
0.3 CPU-s in a forked child)."""
import gzip
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import SCALENE, marker_line, program, scalene_env

GO = shutil.which("go")
pytestmark = pytest.mark.skipif(not GO, reason="go tool pprof (Debian golang-go) is not installed")

WORK = program("pprof_work.py")


def pprof(args, path):
    env = dict(os.environ)
    env.setdefault("HOME", "/tmp")
    env.setdefault("GOCACHE", "/tmp/go-cache")
    env["PPROF_TMPDIR"] = os.path.dirname(str(path))
    p = subprocess.run([GO, "tool", "pprof"] + args + [str(path)], capture_output=True, text=True, timeout=120,
                       env=env)
    assert p.returncode == 0, p.stderr
    return p.stdout


def top_rows(text):
    """go tool pprof -top: [(flat%, name)] in its order (by flat)."""
    rows = []
    for line in text.splitlines():
        m = re.match(r"\s*\S+\s+([\d.]+)%\s+[\d.]+%\s+\S+\s+[\d.]+%\s+(.+)$", line)
        if m:
            rows.append((float(m.group(1)), m.group(2).strip()))
    return rows


def func_shares(rep):
    out = {}
    for name, fo in rep["files"].items():
        if not name.endswith("pprof_work.py"):
            continue
        for r in fo["functions"]:
            out[r["line"]] = out.get(r["line"], 0) + r["n_cpu_percent_python"] + r["n_cpu_percent_c"] + r["n_sys_percent"]
    return out


def export(tmp_path, report, name="out.pb.gz"):
    dest = tmp_path / name
    p = subprocess.run([SCALENE, "view", "--pprof", "-o", str(dest), str(report)], capture_output=True, text=True,
                       timeout=60, env=scalene_env())
    assert p.returncode == 0, p.stderr
    assert "Wrote" in p.stdout
    with open(dest, "rb") as f:
        raw = f.read()
    assert raw[:2] == b"\x1f\x8b", "not gzip"
    assert len(gzip.decompress(raw)) > 0
    return dest


@pytest.fixture(scope="module")
def stacked(run_scalene_module):
    r = run_scalene_module(["--stacks", WORK])
    assert r.rc == 0, r.stderr
    return r


def test_top_function_and_share_match_json(stacked, tmp_path):
    dest = export(tmp_path, stacked.outfile)
    rows = top_rows(pprof(["-top", "-nodecount=50"], dest))
    assert rows, "go tool pprof printed no rows"
    shares = func_shares(stacked.report)
    # the top function (by flat time) is the JSON's top function, within 1 point
    top_pct, top_name = rows[0]
    json_top = max(shares, key=shares.get)
    assert top_name == json_top or abs(shares.get(top_name, -100) - shares[json_top]) <= 1.0, (rows[:4], shares)
    assert abs(top_pct - shares[top_name]) <= 1.0, (top_pct, shares)
    got = dict((n, p) for p, n in rows)
    for fn in ("heavy", "light"):
        assert abs(got[fn] - shares[fn]) <= 1.0, (fn, got.get(fn), shares[fn])
    # and the program's own truth, in CPU (what it burns: Python bytecode): heavy
    # (0.8 CPU-s) well above light (0.3), read from the cpu_python sample type
    py = dict((n, p) for p, n in top_rows(pprof(["-top", "-nodecount=50", "-sample_index=cpu_python"], dest)))
    assert py["heavy"] >= 1.5 * py["light"], py


def test_traces_have_stacks_and_labels(stacked, tmp_path):
    dest = export(tmp_path, stacked.outfile)
    text = pprof(["-traces"], dest)
    pids = stacked.program_json()
    blocks = [b for b in text.split("-----------+-------------------------------------------------------")[1:] if b.strip()]
    assert blocks
    seen = {}
    for b in blocks:
        labels = dict((k.strip(), v.strip()) for k, v in re.findall(r"^\s*(\w+):\s+(.+)$", b, re.M))
        frames = [ln.strip() for ln in b.splitlines() if ln.strip() and ":" not in ln]
        frames = [re.sub(r"^[\d.]+\w*s\s+", "", f) for f in frames]
        for key in ("host", "pid", "thread", "process_role"):
            assert key in labels, (key, b)
        if frames and frames[0] in ("heavy", "light"):
            seen[frames[0]] = (labels, frames)
    assert set(seen) == {"heavy", "light"}, text[:3000]
    # the stack: leaf first, its callers after it
    assert seen["heavy"][1][:3] == ["heavy", "run", "main"], seen["heavy"]
    assert seen["light"][1][:3] == ["light", "run", "main"], seen["light"]
    assert seen["heavy"][0]["pid"] == str(pids["main"]) and seen["heavy"][0]["process_role"] == "main"
    assert seen["light"][0]["pid"] == str(pids["child"]) and seen["light"][0]["process_role"] == "forked"
    host = stacked.report["host"]
    assert seen["heavy"][0]["host"] == host and seen["light"][0]["host"] == host


def test_report_without_stacks_exports_lines(run_scalene, tmp_path):
    r = run_scalene([WORK])
    assert r.rc == 0, r.stderr
    dest = export(tmp_path, r.outfile)
    text = pprof(["-top", "-lines", "-nodecount=50"], dest)
    heavy_line = marker_line(WORK, "HEAVY_LINE")
    json_line = None
    for name, fo in r.report["files"].items():
        if name.endswith("pprof_work.py"):
            for ln in fo["lines"]:
                if ln["lineno"] == heavy_line:
                    json_line = ln["n_cpu_percent_python"] + ln["n_cpu_percent_c"] + ln["n_sys_percent"]
    rows = top_rows(text)
    got = [p for p, n in rows if n.startswith("heavy ") and n.endswith("pprof_work.py:%d" % heavy_line)]
    assert got, text
    assert abs(got[0] - json_line) <= 1.0, (got, json_line)
    # one frame per sample: no callers
    traces = pprof(["-traces"], dest)
    for b in traces.split("-----------+-------------------------------------------------------")[1:]:
        frames = [ln for ln in b.splitlines() if ln.strip() and ":" not in ln]
        assert len(frames) <= 1, b
    # memory: the allocated bytes are the JSON's n_malloc_mb, summed
    alloc = pprof(["-sample_index=alloc_space", "-top"], dest)
    total_mb = sum(ln.get("n_malloc_mb", 0) for fo in r.report["files"].values() for ln in fo["lines"])
    m = re.search(r"Total samples = ([\d.]+)([KMG]?B)", alloc) or re.search(r"of ([\d.]+)([KMG]?B) total", alloc)
    if total_mb > 1:
        assert m, alloc[:500]
        scale = {"B": 1 / 2**20, "kB": 1 / 1024, "KB": 1 / 1024, "MB": 1, "GB": 1024}[m.group(2)]
        assert abs(float(m.group(1)) * scale - total_mb) <= 0.02 * total_mb + 0.5, (m.group(0), total_mb)


def test_merged_report_labels_hosts(tmp_path):
    reps = []
    for h in ("a", "b"):
        out = tmp_path / ("%s.json" % h)
        p = subprocess.run([SCALENE, "run", "--stacks", "-o", str(out), WORK], capture_output=True, text=True,
                           timeout=120, env=scalene_env({"SCALENE_HOST": h}), cwd=str(tmp_path))
        assert p.returncode == 0, p.stderr
        reps.append(out)
    m = tmp_path / "m.json"
    p = subprocess.run([SCALENE, "merge", "-o", str(m)] + [str(x) for x in reps], capture_output=True, text=True,
                       timeout=60, env=scalene_env())
    assert p.returncode == 0, p.stderr
    dest = export(tmp_path, m)
    tags = pprof(["-tags"], dest)
    assert re.search(r"\ba\b", tags) and re.search(r"\bb\b", tags) and "host" in tags, tags
    rows = dict((n, p) for p, n in top_rows(pprof(["-top"], dest)))
    with open(m) as f:
        shares = func_shares(json.load(f))
    assert abs(rows["heavy"] - shares["heavy"]) <= 1.0, (rows, shares)


def test_nothing_to_export_is_one_line(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"files": {}, "processes": [], "scalene_c": {"total_sec": 0}}))
    p = subprocess.run([SCALENE, "view", "--pprof", str(empty)], capture_output=True, text=True, timeout=30,
                       env=scalene_env())
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith("scalene: "), p.stderr
    assert not (tmp_path / "empty.pb.gz").exists()
