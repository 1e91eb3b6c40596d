# SPDX-License-Identifier: Apache-2.0
"""`scalene view --collapsed` and `--speedscope` (tools/exp.c): the report's
call stacks as folded lines and as a speedscope file.

Fixtures: stacks_ours.json is this project's report (docs/REPORT.md) with
three processes (main with eight stacks, a forked child with four, a shell
with none); stacks_scalene.json and scalene_format.json are Scalene's own
format. Every folded line below is in the fixture by construction (weights
are cpu_sec in microseconds). The ground-truth tests run
programs/stack_shapes.py under `scalene run --stacks`: main -> a -> b burns
70 % of the process's CPU, main -> c 30 %, and with "fork" a child burns on
its own child_main -> child_leaf; programs/native_truth.py (the --native
tests') gives C frames."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import SCALENE, marker_line, program, scalene_env

FIX = Path(__file__).resolve().parent / "fixtures"
OURS = FIX / "stacks_ours.json"
SCAL = FIX / "stacks_scalene.json"
SCALENE_FMT = FIX / "scalene_format.json"
NO_STACKS = FIX / "ours_multi.json"  # a report of a run without --stacks
CORRUPT = ["truncated.json", "not_json.json", "empty.json", "array.json", "no_files.json",
           "wrong_types.json"]
PROG = program("stack_shapes.py")
SCHEMA = "https://www.speedscope.app/file-format-schema.json"
SHARE_TOL = 0.10  # points of the process's weight (~100 samples: standard error ~5 points)

MAIN = "python3 app.py --n 3 [4242]"
CHILD = "python3 app.py --n 3 [4250 forked]"
OURS_MAIN = f"""\
{MAIN} 5000
{MAIN};main (app.py:30);a (app.py:12);b (app.py:7) 700000
{MAIN};main (app.py:31);c (app.py:20) 250000
{MAIN};main (app.py:32);loads (/usr/lib/python3.11/json/__init__.py:346);__libc_malloc [libc.so.6] 40000
{MAIN};main (app.py:33);0x7fabc [libweird.so] 2000
{MAIN};main (app.py:34);odd,name?x 12 (we,ird.py:3) 1000
"""
OURS_CHILD = f"""\
{CHILD};<module> (app.py) 3000
{CHILD};main (app.py:30);child_work (app.py:40) 500000
{CHILD};main (app.py:30);deflate [libz.so.1];[libz.so.1];[libfoo.so]+0x1000 20000
{CHILD};main (app.py:30);thread_2 100000
"""
SCAL_FOLDED = """\
app.py -x;main (app.py:12);Klass.f (my dir/x.py:3) 50000
app.py -x;main (app.py:12);helper (app.py:30) 400000
app.py -x;main (app.py:14) 250000
"""


def view(*args, cwd=None):
    return subprocess.run([SCALENE, "view", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=scalene_env(), timeout=60)


def folded(text):
    """[(root, [frame text...], weight)] of folded output, checking each
    line's shape: frames joined by ';', a space, an integer weight > 0."""
    rows = []
    for line in text.splitlines():
        m = re.fullmatch(r"([^;\n]+(?:;[^;\n]+)*) ([0-9]+)", line)
        assert m, "not a folded line: %r" % line
        frames = m.group(1).split(";")
        # flamegraph.pl would read "... NUMBER WEIGHT" as a differential line
        assert not re.search(r"\s[0-9.]+$", frames[-1]) and all(f.strip() == f and f for f in frames), line
        assert int(m.group(2)) > 0, line
        rows.append((frames[0], frames[1:], int(m.group(2))))
    return rows


def root_pid(root):
    m = re.search(r"\[([0-9]+)(?: [^\]]*)?\]$", root)
    assert m, root
    return int(m.group(1))


def funcs(frames):
    """Function names of folded frames ("b (app.py:7)" -> "b")."""
    return [re.split(r" [(\[]", f)[0] for f in frames]


def through(fs, *names):
    """fs contains names as consecutive frames."""
    n = len(names)
    return any(tuple(fs[i:i + n]) == names for i in range(len(fs) - n + 1))


def check_speedscope(doc, nprocs):
    """Structural validation (the schema's shape, plus what the viewer needs)."""
    assert doc["$schema"] == SCHEMA and doc["exporter"] == "scalene-c"
    frames = doc["shared"]["frames"]
    assert all(isinstance(f["name"], str) and f["name"] for f in frames), frames
    assert all(set(f) <= {"name", "file", "line"} for f in frames), frames
    keys = [(f["name"], f.get("file"), f.get("line")) for f in frames]
    assert len(set(keys)) == len(keys), "frames not deduplicated"
    # one CPU profile per process, then (with memory stacks) its memory profiles, in bytes
    cpu = [p for p in doc["profiles"] if p["unit"] != "bytes"]
    assert len(cpu) == nprocs and doc["profiles"][:nprocs] == cpu
    assert all(p["name"].endswith(("(bytes allocated)", "(bytes live at the end)"))
               for p in doc["profiles"][nprocs:])
    assert 0 <= doc["activeProfileIndex"] < nprocs
    used = set()
    for p in doc["profiles"]:
        assert p["type"] == "sampled" and p["startValue"] == 0 and p["unit"] in ("seconds", "none", "bytes"), p
        assert len(p["samples"]) == len(p["weights"]), p["name"]
        assert all(isinstance(w, (int, float)) and w > 0 for w in p["weights"]), p["name"]
        assert p["endValue"] == pytest.approx(sum(p["weights"]), rel=1e-6, abs=1e-9), p["name"]
        for s in p["samples"]:
            assert all(isinstance(i, int) and 0 <= i < len(frames) for i in s), s
            used.update(s)
    assert used == set(range(len(frames))), "frames no sample uses"


def stacks_of(doc, prof):
    """[(names outermost first, weight)] of one speedscope profile."""
    frames = doc["shared"]["frames"]
    return [([frames[i]["name"] for i in s], w) for s, w in zip(prof["samples"], prof["weights"])]


def edited(tmp_path, src, edit, name="prof.json"):
    """A copy of fixture src changed by edit(doc), in tmp_path."""
    doc = json.loads(Path(src).read_text())
    edit(doc)
    out = tmp_path / name
    out.write_text(json.dumps(doc))
    return out


# ---------------------------------------------------------------- fixtures


def test_collapsed_ours_exact():
    r = view("--collapsed", OURS)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    # one tower per process, report order; within one, sorted; ';' and a
    # newline in a name replaced; the two malloc stacks (different ip) merged;
    # a 0-weight stack and the shell (no stacks) absent
    assert r.stdout == OURS_MAIN + OURS_CHILD
    folded(r.stdout)


def test_collapsed_pid():
    r = view("--collapsed", "--pid", "4250", OURS)
    assert r.returncode == 0, r.stderr
    assert r.stdout == OURS_CHILD
    r = view("--collapsed", "--pid=4260", OURS)  # the shell: in the profile, no stacks
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_pid_not_in_profile():
    r = view("--collapsed", "--pid", "999", OURS)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == f"scalene: {OURS}: pid 999 is not in this profile (its pids: 4242, 4250, 4260)\n"


def test_collapsed_scalene_format():
    r = view("--collapsed", SCAL)
    assert r.returncode == 0, r.stderr
    # Scalene's python_time + c_time (fractions of all stack time) in millionths
    assert r.stdout == SCAL_FOLDED
    r = view("--collapsed", SCALENE_FMT)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "prog_phases.py --fast;busy_python (prog_phases.py:12) 611000\n"


def test_scalene_combined_stacks_only(tmp_path):
    """A Scalene file whose `stacks` is empty: combined_stacks, weighted by
    hits (all it has), native frames included."""
    prof = edited(tmp_path, SCAL, lambda d: d.update(stacks=[]))
    r = view("--collapsed", prof)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("app.py -x;main (app.py:12);helper (app.py:30);sqrt [libm.so.6] 40\n"
                        "app.py -x;main (app.py:14) 25\n")
    r = view("--speedscope", "-o", "-", prof)
    doc = json.loads(r.stdout)
    check_speedscope(doc, 1)
    assert doc["profiles"][0]["unit"] == "none" and sorted(doc["profiles"][0]["weights"]) == [25, 40]


def test_cut_stack_and_odd_roots(tmp_path):
    """The "..." frame of a stack cut at its outer end stays "..." (no
    file, no line); a root that would end in " NUMBER" (Scalene's args)
    gets "_"; a long command line is cut to 80 bytes."""
    cut = {"kind": "py", "display_name": "...", "filename_or_module": "", "line": 0, "ip": None, "offset": None}
    leaf = {"kind": "py", "display_name": "recurse", "filename_or_module": "/srv/app/app.py", "line": 5,
            "ip": None, "offset": None}

    def edit(d):
        d["processes"][1]["stacks"] = [[[cut, leaf], {"count": 3, "cpu_sec": 0.1}]]
        d["processes"][1]["argv"] = ["/usr/bin/python3", "-c", "x" * 100]

    r = view("--collapsed", "--pid", "4250", edited(tmp_path, OURS, edit))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "python3 -c %s... [4250 forked];...;recurse (app.py:5) 100000\n" % ("x" * 66)  # 77 bytes + "..."
    folded(r.stdout)
    r = view("--speedscope", "-o", "-", "--pid", "4250", edited(tmp_path, OURS, edit))
    doc = json.loads(r.stdout)
    assert doc["shared"]["frames"][0] == {"name": "..."}
    r = view("--collapsed", edited(tmp_path, SCAL, lambda d: d.update(args=["--n", "3"])))
    assert r.stdout.splitlines()[0] == "app.py --n_3;main (app.py:12);Klass.f (my dir/x.py:3) 50000"


def test_collapsed_to_file(tmp_path):
    out = tmp_path / "stacks.txt"
    r = view("--collapsed", "-o", out, OURS)
    assert r.returncode == 0 and r.stdout == f"Wrote {out}\n", r.stderr
    assert out.read_text() == OURS_MAIN + OURS_CHILD
    r = view("--collapsed", "--outfile=-", OURS)
    assert r.stdout == OURS_MAIN + OURS_CHILD


def test_speedscope_default_path(tmp_path):
    """DIR/NAME.speedscope.json next to DIR/NAME.json, wherever we run."""
    d = tmp_path / "d"
    d.mkdir()
    prof = d / "prof.json"
    shutil.copy(OURS, prof)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    r = view("--speedscope", prof, cwd=elsewhere)
    out = d / "prof.speedscope.json"
    assert r.returncode == 0 and r.stdout == f"Wrote {out}\n" and r.stderr == "", r.stderr
    assert sorted(os.listdir(d)) == ["prof.json", "prof.speedscope.json"]
    assert list(elsewhere.iterdir()) == []
    check_speedscope(json.loads(out.read_text()), 3)


def test_speedscope_ours():
    r = view("--speedscope", "-o", "-", OURS)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    doc = json.loads(r.stdout)
    check_speedscope(doc, 3)
    assert doc["name"] == "/srv/app/app.py" and doc["activeProfileIndex"] == 0
    main, child, sh = doc["profiles"]
    assert main["name"] == "pid 4242 main: /usr/bin/python3 /srv/app/app.py --n 3"
    assert child["name"] == "pid 4250 forked: /usr/bin/python3 /srv/app/app.py --n 3"
    assert sh["name"] == "pid 4260 subprocess: /bin/sh -c 'echo hi; exit 0'"
    assert (sh["samples"], sh["weights"], sh["endValue"]) == ([], [], 0)
    assert main["unit"] == "seconds" and main["endValue"] == pytest.approx(0.998)
    # outermost first, weights in seconds, the same order as the folded lines
    assert stacks_of(doc, main) == [
        ([], 0.005),
        (["main", "a", "b"], 0.7),
        (["main", "c"], 0.25),
        (["main", "loads", "__libc_malloc"], 0.03),
        (["main", "loads", "__libc_malloc"], 0.01),
        (["main", "0x7fabc"], 0.002),
        (["main", "odd;name?x 12"], 0.001),
    ]
    assert stacks_of(doc, child) == [(["<module>"], 0.003), (["main", "child_work"], 0.5),
                                     (["main", "deflate", "[libz.so.1]", "[libfoo.so]+0x1000"], 0.02),
                                     (["main", "thread 2"], 0.1)]
    frames = doc["shared"]["frames"]
    # main at line 30 is one frame for both processes; a native frame has no line
    assert main["samples"][1][0] == child["samples"][1][0]
    assert frames[main["samples"][1][0]] == {"name": "main", "file": "/srv/app/app.py", "line": 30}
    assert frames[main["samples"][3][2]] == {"name": "__libc_malloc",
                                             "file": "/usr/lib/x86_64-linux-gnu/libc.so.6"}
    assert frames[child["samples"][0][0]] == {"name": "<module>", "file": "/srv/app/app.py"}


def test_speedscope_active_is_main(tmp_path):
    prof = edited(tmp_path, OURS, lambda d: d["processes"].reverse())
    r = view("--speedscope", "--pid", "4242", "-o", "-", prof)
    doc = json.loads(r.stdout)
    check_speedscope(doc, 1)
    r = view("--speedscope", "-o", "-", prof)
    doc = json.loads(r.stdout)
    check_speedscope(doc, 3)
    assert doc["activeProfileIndex"] == 2 and doc["profiles"][2]["name"].startswith("pid 4242 main:")


def test_speedscope_scalene_format():
    r = view("--speedscope", "-o", "-", SCAL)
    doc = json.loads(r.stdout)
    check_speedscope(doc, 1)
    p = doc["profiles"][0]
    assert p["name"] == doc["name"] == "/w/app.py" and p["unit"] == "none"
    assert stacks_of(doc, p) == [(["main", "Klass.f"], 0.05), (["main", "helper"], 0.4), (["main"], 0.25)]
    assert {"name": "Klass.f", "file": "/w/my dir/x.py", "line": 3} in doc["shared"]["frames"]


def test_deterministic(tmp_path):
    for fmt in ("--collapsed", "--speedscope"):
        a, b = view(fmt, "-o", "-", OURS).stdout, view(fmt, "-o", "-", OURS).stdout
        assert a == b and a


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("fmt", ["--collapsed", "--speedscope"])
def test_no_stacks(tmp_path, fmt):
    prof = tmp_path / "p.json"
    shutil.copy(NO_STACKS, prof)
    r = view(fmt, prof)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == f"scalene: {prof}: no call stacks in this profile (run with --stacks)\n"
    assert os.listdir(tmp_path) == ["p.json"]
    empty = edited(tmp_path, SCAL, lambda d: d.update(stacks=[], combined_stacks=[]), "s.json")
    r = view(fmt, empty)
    assert r.returncode == 2 and r.stderr == f"scalene: {empty}: no call stacks in this profile (run with --stacks)\n"


@pytest.mark.parametrize("name", CORRUPT + ["missing.json"])
@pytest.mark.parametrize("fmt", ["--collapsed", "--speedscope"])
def test_bad_profile_same_line_as_cli(fmt, name):
    """The loader is view.c's: the same one line as --cli, exit 2."""
    path = FIX / name
    r, cli = view(fmt, path), view("--cli", path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == cli.stderr and r.stderr.startswith(f"scalene: {path}: ")
    assert r.stderr.count("\n") == 1 and r.stderr.endswith("\n")


def test_bad_stack_data(tmp_path):
    def bad_weight(d):
        d["processes"][0]["stacks"][1][1]["cpu_sec"] = "x"

    def bad_frame(d):
        d["processes"][1]["stacks"][0][0][1] = 7

    def bad_entry(d):
        d["processes"][0]["stacks"][2] = {"frames": []}

    for edit, why in [(bad_weight, "processes[0].stacks[1][1].cpu_sec is a string, expected a number"),
                      (bad_frame, "processes[1].stacks[0][0][1] is a number, expected an object"),
                      (bad_entry, "processes[0].stacks[2] is an object, expected [frames, stats]")]:
        prof = edited(tmp_path, OURS, edit)
        for fmt in ("--collapsed", "--speedscope"):
            r = view(fmt, prof)
            assert (r.returncode, r.stdout, r.stderr) == (2, "", f"scalene: {prof}: {why}\n")


@pytest.mark.parametrize("args,why", [
    (["--collapsed", "--speedscope"], "--collapsed and --speedscope are different exports; choose one"),
    (["--collapsed", "--cli"], "--collapsed is an export, not a view; leave out --cli"),
    (["--speedscope", "--html"], "--speedscope is an export, not a view; leave out --html/--standalone"),
    (["--collapsed", "-r"], "-r/--reduced is for the terminal view (--cli), not --collapsed"),
    (["--processes", "--speedscope"], "--processes is for the terminal view (--cli), not --speedscope"),
])
def test_usage_errors(args, why):
    r = view(*args, OURS)
    assert (r.returncode, r.stdout, r.stderr) == (2, "", f"scalene: view: {why}\n")


def test_unwritable_output(tmp_path):
    out = tmp_path / "no" / "such" / "dir.json"
    r = view("--speedscope", "-o", out, OURS)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == f"scalene: view: cannot write {out}: No such file or directory\n"


# ------------------------------------------------------ ground truth (real runs)


@pytest.fixture(scope="module")
def plain(run_scalene_module, tmp_path_factory):
    return _real(run_scalene_module, tmp_path_factory, "plain")


@pytest.fixture(scope="module")
def forked(run_scalene_module, tmp_path_factory):
    return _real(run_scalene_module, tmp_path_factory, "fork")


def _real(run, tmp_path_factory, shape):
    """Runs the program; returns (its JSON line, the report, the folded
    rows, the speedscope document)."""
    d = tmp_path_factory.mktemp(shape)
    report = d / "out.json"
    r = run(["run", "--stacks", "-o", report, PROG, "---", shape], outfile=str(report))
    assert r.rc == 0, r.stderr
    c = view("--collapsed", report)
    assert c.returncode == 0 and c.stderr == "", c.stderr
    s = view("--speedscope", report)
    assert s.returncode == 0 and s.stdout == f"Wrote {d / 'out.speedscope.json'}\n", s.stderr
    doc = json.loads((d / "out.speedscope.json").read_text())
    return r.program_json(), r.report, folded(c.stdout), doc


def share(rows, pid, pred):
    """Fraction of process pid's folded weight on lines whose functions
    satisfy pred."""
    mine = [(fs, w) for root, fs, w in rows if root_pid(root) == pid]
    total = sum(w for _, w in mine)
    assert total > 0, rows
    return sum(w for fs, w in mine if pred(funcs(fs))) / total


@pytest.mark.timing
def test_real_split(plain):
    m, report, rows, doc = plain
    assert {root_pid(r) for r, _, _ in rows} == {m["main"]}
    ab = share(rows, m["main"], lambda fs: through(fs, "main", "a", "b"))
    c = share(rows, m["main"], lambda fs: through(fs, "main", "c"))
    assert abs(ab - 0.7) <= SHARE_TOL and abs(c - 0.3) <= SHARE_TOL, (ab, c, m)


def test_real_frames(plain):
    """The hottest line is the a;b tower ending on b's loop, named relative
    to the program's directory; the root names the process."""
    m, report, rows, doc = plain
    root, fs, w = max(rows, key=lambda r: r[2])
    assert root == "python3 stack_shapes.py plain [%d]" % m["main"]
    assert fs[-3:-1] == ["main (stack_shapes.py:%d)" % marker_line(PROG, "MAIN_A"),
                         "a (stack_shapes.py:%d)" % marker_line(PROG, "A_CALL")], fs
    b_lines = range(marker_line(PROG, "B_LOOP"), marker_line(PROG, "B_BURN") + 1)
    assert fs[-1] in ["b (stack_shapes.py:%d)" % n for n in b_lines], fs


def test_real_weights_are_the_reports(plain, forked):
    """Per process, the folded weights add up to the report's stack cpu_sec
    (each line rounded to a microsecond), and speedscope has the same
    seconds."""
    for m, report, rows, doc in (plain, forked):
        check_speedscope(doc, len(report["processes"]))
        for i, p in enumerate(report["processes"]):
            want = sum(s[1]["cpu_sec"] for s in p.get("stacks", []))
            got = sum(w for root, _, w in rows if root_pid(root) == p["pid"])
            assert abs(got - want * 1e6) <= len(p.get("stacks", [])) + 1, (p["pid"], got, want)
            sp = doc["profiles"][i]
            assert sp["name"].startswith("pid %d %s: " % (p["pid"], p["role"])), sp["name"]
            assert sp["endValue"] == pytest.approx(want, rel=1e-6, abs=1e-9)
        main = [i for i, p in enumerate(report["processes"]) if p["role"] == "main"]
        assert doc["activeProfileIndex"] == main[0]


@pytest.mark.timing
def test_real_fork(forked):
    """The child is its own tower, under its own root, and holds only its
    own stack; the parent's is still 70/30."""
    m, report, rows, doc = forked
    parent, child = m["main"], m["child"]
    assert {root_pid(r) for r, _, _ in rows} == {parent, child}
    assert all(r == "python3 stack_shapes.py fork [%d forked]" % child for r, _, _ in rows if root_pid(r) == child)
    assert all(r == "python3 stack_shapes.py fork [%d]" % parent for r, _, _ in rows if root_pid(r) == parent)
    assert share(rows, child, lambda fs: through(fs, "main", "child_main", "child_leaf")) >= 0.8
    assert share(rows, child, lambda fs: {"a", "b", "c"} & set(fs)) == 0
    assert share(rows, parent, lambda fs: "child_leaf" in fs or "child_main" in fs) == 0
    ab = share(rows, parent, lambda fs: through(fs, "main", "a", "b"))
    c = share(rows, parent, lambda fs: through(fs, "main", "c"))
    assert abs(ab - 0.7) <= SHARE_TOL and abs(c - 0.3) <= SHARE_TOL, (ab, c, m)
    # speedscope: the child's profile is the child_leaf one
    prof = [p for p in doc["profiles"] if p["name"].startswith("pid %d forked:" % child) and p["unit"] == "seconds"]
    assert len(prof) == 1
    heavy = max(stacks_of(doc, prof[0]), key=lambda s: s[1])
    assert heavy[0][-2:] == ["child_main", "child_leaf"], heavy


def test_real_native_frames(run_scalene, tmp_path):
    """--native: the C frames under a Python line are `func [lib]`, below the
    line that called them (programs/native_truth.py, zlib under ZLIB_LINE),
    and speedscope gives them their library as file and no line."""
    nprog = program("native_truth.py")
    report = tmp_path / "nat.json"
    r = run_scalene(["run", "--native", "-o", report, nprog, "---", "libs"], outfile=str(report))
    assert r.rc == 0, r.stderr
    c = view("--collapsed", report)
    assert c.returncode == 0, c.stderr
    caller = "compress (native_truth.py:%d)" % marker_line(nprog, "ZLIB_LINE")
    under = [fs[fs.index(caller) + 1:] for _, fs, _ in folded(c.stdout) if caller in fs]
    assert any("deflate [libz.so.1]" in fs for fs in under), under[:3]
    s = view("--speedscope", "-o", "-", report)
    doc = json.loads(s.stdout)
    check_speedscope(doc, len(r.report["processes"]))
    deflate = [f for f in doc["shared"]["frames"] if f["name"] == "deflate"]
    assert len(deflate) == 1 and "line" not in deflate[0] and deflate[0]["file"].endswith("/libz.so.1"), deflate


# ------------------------------------------------------------ memory stacks

MB = 1048576


def _with_memory(doc):
    """stacks_ours.json with memory stacks: process 4242 keeps 3 MB via
    main -> a and allocates 1 MB via main -> c, all freed; 4250 keeps 0.5 MB
    in child_work. Frames as in combined_stacks; [frames, MB allocated, MB live]."""
    f = lambda name, line: {"kind": "py", "display_name": name, "filename_or_module": "/srv/app/app.py",
                            "line": line, "ip": None, "offset": None}
    procs = {p["pid"]: p for p in doc["processes"]}
    procs[4242]["memory_stacks"] = [[[f("main", 30), f("a", 12)], 3.0, 3.0], [[f("main", 31), f("c", 20)], 1.0, 0.0]]
    procs[4250]["memory_stacks"] = [[[f("main", 30), f("child_work", 40)], 0.5, 0.5]]


def test_collapsed_memory(tmp_path):
    p = edited(tmp_path, OURS, _with_memory)
    r = view("--collapsed", "--memory", p)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout == (f"{MAIN};main (app.py:30);a (app.py:12) {3 * MB}\n"
                        f"{MAIN};main (app.py:31);c (app.py:20) {MB}\n"
                        f"{CHILD};main (app.py:30);child_work (app.py:40) {MB // 2}\n")
    r = view("--collapsed", "--memory=live", "--pid", "4242", p)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{MAIN};main (app.py:30);a (app.py:12) {3 * MB}\n"  # c's MB were all freed
    # the CPU export is unchanged by memory stacks
    assert view("--collapsed", p).stdout == OURS_MAIN + OURS_CHILD


def test_speedscope_memory_profiles(tmp_path):
    p = edited(tmp_path, OURS, _with_memory)
    r = view("--speedscope", "-o", "-", p)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    by_name = {q["name"]: q for q in doc["profiles"]}
    alloc = [q for n, q in by_name.items() if n.startswith("pid 4242 main:") and n.endswith("(bytes allocated)")]
    live = [q for n, q in by_name.items() if n.startswith("pid 4242 main:") and n.endswith("(bytes live at the end)")]
    assert len(alloc) == 1 and len(live) == 1, list(by_name)
    assert alloc[0]["unit"] == "bytes" and alloc[0]["endValue"] == 4 * MB
    assert live[0]["endValue"] == 3 * MB
    assert sorted(stacks_of(doc, live[0])) == [(["main", "a"], 3 * MB)]
    cpu = [q for n, q in by_name.items() if n.startswith("pid 4242 main:") and "bytes" not in n]
    assert len(cpu) == 1 and cpu[0]["unit"] == "seconds"
    # the shell (4260) has neither CPU nor memory stacks: one (empty) CPU profile
    assert len(doc["profiles"]) == 3 + 2 + 2


def test_memory_scalene_shape(tmp_path):
    """Scalene's memory_stacks: [[frames], MB], no live MB."""
    def edit(doc):
        doc["memory_stacks"] = [[doc["combined_stacks"][0][0][:2], 2.5]]
    p = edited(tmp_path, SCAL, edit)
    r = view("--collapsed", "--memory", p)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"app.py -x;main (app.py:12);helper (app.py:30) {int(2.5 * MB)}\n"
    r = view("--collapsed", "--memory=live", p)
    assert r.returncode == 2 and r.stdout == ""
    assert "has no live MB" in r.stderr and r.stderr.count("\n") == 1
    s = json.loads(view("--speedscope", "-o", "-", p).stdout)
    assert [q["unit"] for q in s["profiles"]] == ["none", "bytes"]


def test_no_memory_stacks():
    r = view("--collapsed", "--memory", OURS)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"scalene: {OURS}: no memory stacks in this profile (run with --stacks, memory on)\n"
    r = view("--speedscope", "--memory", OURS)
    assert r.returncode == 2 and "--memory goes with --collapsed" in r.stderr
