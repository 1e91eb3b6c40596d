# SPDX-License-Identifier: Apache-2.0
"""`scalene view --cli`'s table of functions in the call stacks (tools/view.c,
put_functions): when the stacks hold native frames, the hottest functions
across Python and native frames by self and by total time, the
interpreter's own frames folded into their caller; `--pid` applies.

Fixtures: stacks_scalene.json (Scalene's combined_stacks: main -> helper ->
sqrt [libm] 40 samples, main 25) and stacks_ours.json (docs/REPORT.md:
process 4242's stacks are Python but for a malloc; 4250's hold deflate,
[libfoo.so] and an unnamed native "thread 2"). The real test runs Debian's
mypy (mypyc-compiled) under --native on a copy of part of django/db."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import SCALENE, scalene_env

FIX = Path(__file__).resolve().parent / "fixtures"
ROW = re.compile(r"^\s*([0-9.]+)% +([0-9.]+) +([0-9.]+)% +([0-9.]+)  (Python|native|system) (.*)$")


def view(*args):
    env = scalene_env({"COLUMNS": "200"})
    env.pop("NO_COLOR", None)
    return subprocess.run([SCALENE, "view", *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=60)


def fn_tables(out):
    """The two tables (by self, by total) as lists of (self%, self, total%,
    total, kind, function text); [] when there is no table."""
    if "Functions in the call stacks" not in out:
        return []
    part = out[out.index("Functions in the call stacks"):]
    tables, cur = [], None
    for line in part.splitlines():
        if line.startswith("Functions in the call stacks") or line.startswith("... and by total"):
            cur = []
            tables.append(cur)
            continue
        m = ROW.match(line)
        if m and cur is not None:
            cur.append((float(m[1]), float(m[2]), float(m[3]), float(m[4]), m[5], m[6].strip()))
    return tables


def test_scalene_combined_stacks():
    r = view("--cli", FIX / "stacks_scalene.json")
    assert r.returncode == 0, r.stderr
    assert "(2 stacks), by self samples:" in r.stdout
    by_self, by_total = fn_tables(r.stdout)
    assert by_self == [(61.5, 40, 61.5, 40, "system", "sqrt [libm.so.6]"),
                       (38.5, 25, 100.0, 65, "Python", "main [app.py]")]
    assert by_total == [(38.5, 25, 100.0, 65, "Python", "main [app.py]"),
                        (61.5, 40, 61.5, 40, "system", "sqrt [libm.so.6]"),
                        (0.0, 0, 61.5, 40, "Python", "helper [app.py]")]


def test_pid_applies():
    r = view("--cli", "--pid", "4250", FIX / "stacks_ours.json")
    assert r.returncode == 0, r.stderr
    by_self, by_total = fn_tables(r.stdout)
    names = [row[5] for row in by_total]
    # only process 4250's stacks (0.623 s): none of 4242's a, b, c, loads
    assert names[0] == "main [app.py]" and by_total[0][2] == 99.5
    assert "deflate [libz.so.1]" in names and not {"a [app.py]", "b [app.py]", "c [app.py]"} & set(names)
    assert by_self[0] == (80.3, 0.50, 80.3, 0.50, "Python", "child_work [app.py]")
    # merged: both processes, seconds
    r = view("--cli", FIX / "stacks_ours.json")
    by_self, _ = fn_tables(r.stdout)
    assert by_self[0][5] == "b [app.py]" and by_self[0][1] == 0.70
    assert "(11 stacks)" in r.stdout  # 12 entries, one of 0 s


def test_no_native_frames_no_table(tmp_path):
    # ours_multi.json: no stacks at all; scalene_format.json: Python stacks only
    for name in ("ours_multi.json", "scalene_format.json"):
        r = view("--cli", FIX / name)
        assert r.returncode == 0 and "Functions in the call stacks" not in r.stdout, name


def test_interpreter_frames_fold_into_their_caller(tmp_path):
    """A mypyc function calling the interpreter's C (libpython, the python
    binary): its self time is its own plus the interpreter's under it."""
    import json
    py = lambda n: {"kind": "py", "display_name": n, "filename_or_module": "/w/m.py", "line": 3}
    nat = lambda n, m: {"kind": "native", "display_name": n, "filename_or_module": m, "line": None}
    mod = "/usr/lib/python3/dist-packages/abc__mypyc.cpython-311-x86_64-linux-gnu.so"
    doc = json.loads((FIX / "stacks_scalene.json").read_text())
    doc["combined_stacks"] = [
        [[py("main"), nat("CPyDef_f", mod), nat("PyObject_GetAttr", "/usr/bin/python3.11")], 30],
        [[py("main"), nat("CPyDef_f", mod), nat("_PyEval_EvalFrameDefault", "/usr/lib/libpython3.11.so.1.0")], 10],
        [[py("main"), nat("CPyDef_f", mod), nat("memcpy", "/lib/x86_64-linux-gnu/libc.so.6")], 10],
    ]
    p = tmp_path / "p.json"
    p.write_text(json.dumps(doc))
    by_self, by_total = fn_tables(view("--cli", p).stdout)
    assert by_self[0] == (80.0, 40, 100.0, 50, "native", "CPyDef_f [abc__mypyc.cpython-311-x86_64-linux-gnu.so]")
    assert by_self[1][4:] == ("system", "memcpy [libc.so.6]") and by_self[1][0] == 20.0
    assert not [r for r in by_total if "PyObject" in r[5] or "_PyEval" in r[5]]


def test_mypy_native(run_scalene, tmp_path):
    """`scalene run --native mypy ...` then `scalene view --cli`: mypyc's
    functions (CPyDef_...) are among the five hottest by self or by total.
    (7 files of django/db/models/sql: ~5 s idle, ~15 s on a busy machine.)"""
    mypy = shutil.which("mypy")
    dj = Path("/usr/lib/python3/dist-packages/django/db")
    if not mypy or not dj.is_dir():
        pytest.skip("needs Debian's mypy and python3-django (tools/install-deps.sh)")
    src = tmp_path / "dj"
    shutil.copytree(dj, src / "db")
    report = tmp_path / "mypy.json"
    r = run_scalene(["run", "--native", "-o", report, mypy, "---", "--no-incremental", "--cache-dir=/dev/null",
                     "--follow-imports=silent", "--ignore-missing-imports", "db/models/sql"],
                    outfile=str(report), cwd=src, timeout=300)
    assert r.report is not None, r.stderr
    assert r.report["scalene_c"]["native_stacks"] is True
    v = view("--cli", report)
    assert v.returncode == 0, v.stderr
    by_self, by_total = fn_tables(v.stdout)
    top = [row[5] for row in by_self[:5]] + [row[5] for row in by_total[:5]]
    assert any(n.startswith("CPyDef_") for n in top), v.stdout[v.stdout.index("Functions in"):]
