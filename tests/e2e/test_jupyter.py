# SPDX-License-Identifier: Apache-2.0
"""`%load_ext scalene`, `%scrun` and `%%scalene` (tools/python/scalene/jupyter.py),
driven through IPython's own shells, not mocks: a terminal IPython
(`python3 -m IPython --simple-prompt`) fed through stdin, and an ipykernel
in-process kernel (a real kernel in this process) whose iopub messages are read.
The magics run the built binary, found from the built package
(build/lib/scalene/python), which goes on PYTHONPATH.
"""
import html
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from conftest import load_report, BUILD, PYTHON, pct, scalene_env

PKG = os.path.join(BUILD, "lib", "scalene", "python")

# The cell of the hot-line tests: line HOT spends nearly all the time (the
# list comprehension runs 40 steps per step of the loop on line HOT-1).
HOT_CELL = """\
def work(n):
    total = 0
    for i in range(n):
        total += sum([j * j for j in range(40)])  # hotline
    return total
print("result", work(400000))
"""
HOT = 4
HOT_RESULT = 400000 * sum(j * j for j in range(40))


def _importable(mod):
    """Whether PYTHON (the interpreter the terminal test runs) imports mod."""
    return subprocess.run([PYTHON, "-c", "import " + mod], capture_output=True).returncode == 0


needs_ipython = pytest.mark.skipif(not _importable("IPython"), reason="IPython is not installed for " + PYTHON)


def ipython(tmp_path, cells, env=None, cwd=None):
    """Runs a terminal IPython on cells (cell magics end with two empty lines,
    as the simple prompt needs); returns (stdout, stderr)."""
    extra = {"PYTHONPATH": PKG, "IPYTHONDIR": str(tmp_path / "ipython"), "COLUMNS": "120"}
    extra.update(env or {})
    src = "".join(c + ("\n\n\n" if c.startswith("%%") else "\n") for c in cells) + "exit\n"
    p = subprocess.run(
        [PYTHON, "-m", "IPython", "--simple-prompt", "--no-banner", "--colors=NoColor", "--no-autoindent",
         "--no-confirm-exit", "--TerminalInteractiveShell.term_title=False"],
        input=src, capture_output=True, text=True, cwd=str(cwd or tmp_path), env=scalene_env(extra), timeout=120)
    assert p.returncode == 0, "ipython failed: %s\n%s" % (p.stdout, p.stderr)
    return p.stdout, p.stderr


def cell_file(report):
    """The report's entry for the magic's temporary file (its only one there)."""
    names = [f for f in report["files"] if "/scalene-ipython-" in f]
    assert len(names) == 1, "files: %s" % sorted(report["files"])
    return names[0]


def test_import_is_cheap():
    """`import scalene` does not import IPython, yet has the extension's entry point."""
    code = "import sys, scalene; print('IPython' in sys.modules, callable(scalene.load_ipython_extension))"
    p = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, env=scalene_env({"PYTHONPATH": PKG}))
    assert p.stdout.split() == ["False", "True"], p.stdout + p.stderr


@needs_ipython
@pytest.mark.timing
def test_terminal_cell_magic_shows_hot_line(tmp_path):
    out_json = tmp_path / "cell.json"
    stdout, stderr = ipython(tmp_path, ["%load_ext scalene", "%%scalene -o " + shlex.quote(str(out_json)) + "\n" +
                                        HOT_CELL.rstrip("\n")])
    assert "Traceback" not in stdout + stderr, stdout + stderr
    # the program's own output comes through
    assert "result %d" % HOT_RESULT in stdout, stdout
    # the JSON (kept by -o): the marked line holds most of the time
    report = load_report(out_json)
    path = cell_file(report)
    rows = {r["lineno"]: r for r in report["files"][path]["lines"]}
    assert "# hotline" in rows[HOT]["line"]
    assert pct(rows[HOT]) >= 60, "hot line %.1f%% of the time: %s" % (pct(rows[HOT]), rows[HOT])
    # the temporary file and its directory are gone
    assert not os.path.exists(os.path.dirname(path))
    # the printed --cli view: the cell's table names the hot line, and its
    # Python column is the largest
    assert "Profile of " + path in stdout, stdout
    table = stdout[stdout.index(path + ": "):]
    table = table[:table.index("\n\n")]
    lines = table.splitlines()
    head = [l for l in lines if l.startswith("Line ")][0]
    cut = head.index("Python") + len("Python")  # the column's numbers end there
    pyc = {}
    for line in lines:
        m = re.match(r"\s*(\d+) ", line)
        if m and line[m.end():cut].strip():
            pyc[int(m.group(1))] = float(line[m.end():cut])
    assert re.search(r"^\s*%d .*# hotline$" % HOT, table, re.M), table
    assert max(pyc, key=pyc.get) == HOT, table
    assert pyc[HOT] == pytest.approx(rows[HOT]["n_cpu_percent_python"], abs=0.06), (table, rows[HOT])


@needs_ipython
def test_terminal_line_magic_passes_options(tmp_path):
    """`%scrun --cpu-only --cpu-sampling-rate 0.005 -o F stmt`: the options reach
    scalene run (the value-taking --cpu-sampling-rate, known from the binary's
    --help-advanced, takes its value rather than starting the statement); the
    statement arrives verbatim ($x and {x} are not expanded); without
    --cpu-only, memory is on."""
    cpu, full = tmp_path / "cpu.json", tmp_path / "full.json"
    stmt = 'print("$mark {mark}", sum(i * i for i in range(2000000)))'
    stdout, stderr = ipython(tmp_path, [
        "%load_ext scalene",
        "mark = 'EXPANDED'",
        "%scrun --cpu-only --cpu-sampling-rate 0.005 -o {} {}".format(shlex.quote(str(cpu)), stmt),
        "%scrun -o {} -- {}".format(shlex.quote(str(full)), stmt),
    ])
    assert "Traceback" not in stdout + stderr and "Error" not in stderr, stdout + stderr
    want = "$mark {mark} %d" % sum(i * i for i in range(2000000))
    assert stdout.count(want) == 2, stdout
    r = load_report(cpu)
    assert r["memory"] is False and r["scalene_c"]["allocation_sampling_window"] == 0, r["scalene_c"]
    assert r["scalene_c"]["sampling_interval_sec"] == pytest.approx(0.005)
    assert r["files"][cell_file(r)]["lines"][0]["line"].startswith('print("$mark {mark}"')
    # the kernel's own interpreter ran the statement
    assert os.path.realpath(r["scalene_c"]["python"]) == os.path.realpath(PYTHON), r["scalene_c"]["python"]
    f = load_report(full)
    assert f["memory"] is True and f["scalene_c"]["allocation_sampling_window"] > 0
    assert f["scalene_c"]["sampling_interval_sec"] == pytest.approx(0.01)
    # the --cli views: memory columns only without --cpu-only
    views = stdout.split("Profile of ")
    assert len(views) == 3, stdout
    assert "Net MB" not in views[1] and "Net MB" in views[2], stdout


@needs_ipython
def test_terminal_errors_are_one_line(tmp_path):
    """A bad option, a syntax error, options the magics refuse and a missing
    binary each give one UsageError line (scalene's own message where it is
    scalene's) and no traceback; the session goes on."""
    stdout, stderr = ipython(tmp_path, [
        "%load_ext scalene",
        "%scrun --bogus-option 1",
        "%%scalene --cpu-only\nx = 1\ndef broken(:\n    pass",
        "%scrun -m json.tool",
        "%scrun --cpu-sampling-rate",
        "print('still', 6 * 7)",
    ])
    assert "Traceback" not in stdout + stderr, stdout + stderr
    errs = [l for l in stderr.splitlines() if l.strip()]
    assert len(errs) == 4, stderr
    assert errs[0] == "UsageError: scalene: unknown option '--bogus-option' (see scalene run --help)"
    assert re.fullmatch(r"UsageError: scalene: cell\d+\.py:2: SyntaxError: .*", errs[1]), errs[1]
    assert errs[2].startswith("UsageError: -m runs a module"), errs[2]
    assert errs[3] == "UsageError: --cpu-sampling-rate needs a value"
    assert "still 42" in stdout
    # no binary: the package alone, nothing on PATH
    pkg = tmp_path / "pkg" / "scalene"
    shutil.copytree(os.path.join(PKG, "scalene"), pkg)
    stdout, stderr = ipython(tmp_path, ["%load_ext scalene", "%scrun print(1)"],
                             env={"PYTHONPATH": str(pkg.parent), "PATH": str(tmp_path / "nothing")})
    assert "Traceback" not in stdout + stderr, stdout + stderr
    assert [l for l in stderr.splitlines() if l.strip()] == [
        "UsageError: scalene: cannot find the scalene binary (run `make`, or put it on PATH)"]


@pytest.mark.skipif(importlib.util.find_spec("ipykernel") is None, reason="ipykernel is not installed")
def test_kernel_displays_the_page(tmp_path, monkeypatch):
    """An in-process ipykernel: %%scalene publishes a display_data message whose
    text/html is an iframe holding the standalone page (with the cell's source)
    and whose text/plain is the --cli view; the program's output is a stream
    message; a module in the working directory imports; a name defined in the
    kernel is not visible (a fresh process), which the program's traceback
    says, and the profile is still shown."""
    from ipykernel.inprocess.manager import InProcessKernelManager

    monkeypatch.syspath_prepend(PKG)
    env = scalene_env({"IPYTHONDIR": str(tmp_path / "ipython"), "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    for k in list(os.environ):
        if k not in env:
            monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "usermod_kernel.py").write_text("def answer():\n    return 6 * 7\n")

    km = InProcessKernelManager()
    km.start_kernel()
    kc = km.client()
    kc.start_channels()

    def execute(code):
        msg_id = kc.execute(code)
        reply = kc.get_shell_msg(timeout=120)
        msgs = []
        while True:
            m = kc.get_iopub_msg(timeout=120)
            # the in-process kernel's stream messages carry no parent header;
            # execution is synchronous, so they are this request's
            if m["parent_header"].get("msg_id", msg_id) != msg_id:
                continue
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                return reply["content"], msgs
            msgs.append(m)

    def streams(msgs, name):
        return "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream" and m["content"]["name"] == name)

    try:
        reply, _ = execute("%load_ext scalene")
        assert reply["status"] == "ok", reply
        # long enough (~0.2 s) for the cell's file to pass the 1% threshold
        # whatever the interpreter's start-up costs
        cell = ("import usermod_kernel\n"
                "def kernelmarker(n):\n"
                "    return sum(i * i for i in range(n))\n"
                "print('from the cell', usermod_kernel.answer(), kernelmarker(2000000))\n")
        reply, msgs = execute("%%scalene --cpu-only\n" + cell)
        assert reply["status"] == "ok", reply
        assert "from the cell 42 %d" % sum(i * i for i in range(2000000)) in streams(msgs, "stdout"), msgs
        shown = [m["content"]["data"] for m in msgs if m["msg_type"] == "display_data"]
        assert len(shown) == 1, [m["msg_type"] for m in msgs]
        data = shown[0]
        m = re.fullmatch(r'<iframe srcdoc="([^"]*)" sandbox="allow-scripts"[^>]*></iframe>', data["text/html"])
        assert m, data["text/html"][:300]
        page = html.unescape(m.group(1))
        assert page.lstrip().lower().startswith("<!doctype html>") and "<html" in page, page[:200]
        assert "def kernelmarker(n):" in page and "Content-Security-Policy" in page
        assert data["text/plain"].startswith("Profile of ") and "def kernelmarker(n):" in data["text/plain"]

        # a fresh process: the kernel's names are not there
        reply, _ = execute("kernel_only = 5")
        reply, msgs = execute("%%scalene --cpu-only\nprint('before')\nprint(kernel_only)\n")
        assert reply["status"] == "ok", reply
        err = streams(msgs, "stderr")
        assert "NameError: name 'kernel_only' is not defined" in err, err
        assert "scalene: the program exited with status 1" in err, err
        assert "before" in streams(msgs, "stdout")
        assert [m for m in msgs if m["msg_type"] == "display_data"], "no profile shown"

        # an error: a UsageError reply carrying scalene's line, no traceback
        reply, msgs = execute("%scrun --bogus-option 1")
        assert reply["status"] == "error" and reply["ename"] == "UsageError", reply
        assert reply["evalue"] == "scalene: unknown option '--bogus-option' (see scalene run --help)"
        assert not [m for m in msgs if m["msg_type"] in ("error", "display_data")], msgs
    finally:
        kc.stop_channels()
        km.shutdown_kernel()
        # the package came from PKG for this test only
        for name in [n for n in sys.modules if n == "scalene" or n.startswith("scalene.")]:
            del sys.modules[name]
