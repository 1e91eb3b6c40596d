# SPDX-License-Identifier: Apache-2.0
"""Issue 12: which interpreter runs the program, and which are refused.

- An interpreter the runtime cannot read (2.7, 3.6, any version outside
  record.h's REC_PY_MIN_HEX..REC_PY_MAX_HEX, a free-threaded build) is refused
  before the program runs: exit 2, one line naming its version and the
  versions that work; the program never starts (it would write a marker file
  as its first statement) and no report is written.
- Every pyenv CPython is tried: inside the range it is profiled (samples on
  the busy loop's line, the process's version and binary in the report),
  outside it is refused. The range comes from record.h, so this follows the
  runtime when the range widens.
- The default interpreter is PATH's python3 (no #!), `python -m scalene`
  runs the program under sys.executable, and the report records each
  process's interpreter binary (/proc/<pid>/exe) and version.
"""
import json
import os
import textwrap

import pytest

import pyversions
from conftest import BUILD, PYTHON, func_row, line_row, marker_line, pct, pct_to_sec, process, run_plain

VERSIONS = pyversions.pyenv_versions()

BUSY = textwrap.dedent(
    """\
    import json, os, sys, time
    open(os.environ["MARKER"], "w").write("ran")
    def busy():
        s = 0
        for i in range(6000000):
            s += i  # busy
        return s
    t0 = time.process_time()
    busy()
    print(json.dumps({"pid": os.getpid(), "executable": sys.executable, "prefix": sys.prefix,
                      "version": "%d.%d" % sys.version_info[:2], "busy_cpu": time.process_time() - t0,
                      "invoking": os.environ.get("SCALENE_INVOKING_PYTHON")}))
    """
)


def assert_busy_profiled(report, prog, busy_cpu):
    """busy()'s time in the report (virtual time: CPU only) against the CPU
    the program measured for it itself: within 40% (0.2-0.4 s sampled every
    ~10 ms; before issue 12 an unreadable interpreter gave 0), and its
    loop's line has samples of its own."""
    got = pct_to_sec(report, pct(func_row(report, str(prog), "busy")))
    assert 0.6 * busy_cpu <= got <= 1.4 * busy_cpu, (got, busy_cpu)
    assert line_row(report, str(prog), marker_line(str(prog), "busy"))["n_cpu_percent_python"] > 0


def write_prog(tmp_path, first_line=""):
    f = tmp_path / "prog.py"
    f.write_text((first_line + "\n" if first_line else "") + BUSY)
    os.chmod(f, 0o755)
    return f


def assert_refused(run, marker, want_version, python):
    assert run.rc == 2, (run.rc, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    msg = lines[0]
    assert msg.startswith("scalene: " + python), msg
    assert want_version in msg, msg
    assert "CPython %s" % pyversions.supported_text() in msg, msg
    assert not os.path.exists(marker), "the program ran: " + msg
    assert run.report is None, "a report was written for a refused interpreter"


def pyenv_python(mm):
    if mm not in VERSIONS:
        pytest.skip(pyversions.missing(mm))
    return VERSIONS[mm]


@pytest.mark.parametrize("mm", [(2, 7), (3, 6)], ids=["2.7", "3.6"])
def test_old_python_refused(run_scalene, tmp_path, mm):
    """The issue's two: 2.7 never started (`Unknown option: -I`) and still
    exited 0; 3.6 ran and wrote an empty report."""
    full, exe = pyenv_python(mm)
    write_prog(tmp_path)
    marker = str(tmp_path / "marker")
    run = run_scalene(["--python", exe, "prog.py"], env={"MARKER": marker})
    assert_refused(run, marker, "is Python " + full, exe)


def test_refused_with_module_too(run_scalene, tmp_path):
    full, exe = pyenv_python((2, 7))
    (tmp_path / "mod_busy.py").write_text(BUSY)
    marker = str(tmp_path / "marker")
    run = run_scalene(["--python", exe, "-m", "mod_busy"], env={"MARKER": marker, "PYTHONPATH": str(tmp_path)})
    assert_refused(run, marker, "is Python " + full, exe)


def test_refused_by_shebang(run_scalene, tmp_path):
    """The #! line picks the interpreter: the refusal names it and says so."""
    full, exe = pyenv_python((3, 6))
    write_prog(tmp_path, "#!" + exe)
    marker = str(tmp_path / "marker")
    run = run_scalene(["./prog.py"], env={"MARKER": marker})
    assert_refused(run, marker, "is Python " + full, exe)
    assert "(the script's #! line)" in run.stderr, run.stderr


def _every_pyenv_version():
    return [pytest.param(mm, id="%d.%d" % mm) for mm in sorted(VERSIONS) if mm not in ((2, 7), (3, 6))] or [
        pytest.param((3, 12), id="none")
    ]


@pytest.mark.timing
@pytest.mark.parametrize("mm", _every_pyenv_version())
def test_each_pyenv_version_profiled_or_refused(run_scalene, tmp_path, mm):
    """Inside record.h's range: profiled. Outside: refused, never an empty
    report with a wrong explanation."""
    full, exe = pyenv_python(mm)
    prog = write_prog(tmp_path)
    marker = str(tmp_path / "marker")
    run = run_scalene(["--cpu-only", "--use-virtual-time", "--python", exe, "prog.py"], env={"MARKER": marker})
    if not pyversions.in_range(mm):
        assert_refused(run, marker, "is Python " + full, exe)
        return
    assert run.rc == 0, run.stderr
    got = run.program_json()
    assert got["version"] == "%d.%d" % mm
    p = process(run.report, got["pid"])
    assert p["python"] == "%d.%d" % mm, p
    assert p["executable"] == os.path.realpath(exe), p
    assert run.report["scalene_c"]["python_version"] == full, run.report["scalene_c"]
    assert_busy_profiled(run.report, prog, got["busy_cpu"])


def test_free_threaded_refused(run_scalene, tmp_path):
    """A free-threaded build has other object layouts: refused, whatever the
    range. No such build is at hand, so a wrapper runs pyenv's 3.13 (the
    first version with such builds; the probe asks sysconfig only from
    3.13) with a sysconfig that says Py_GIL_DISABLED=1, as a 3.13t's does."""
    full, exe = pyenv_python((3, 13))
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "sysconfig.py").write_text(
        "def get_config_var(name):\n    return 1 if name == 'Py_GIL_DISABLED' else None\n"
    )
    wrapper = tmp_path / "python3.13t"
    wrapper.write_text('#!/bin/sh\nPYTHONPATH=%s exec %s "$@"\n' % (fake, exe))
    os.chmod(wrapper, 0o755)
    write_prog(tmp_path)
    marker = str(tmp_path / "marker")
    run = run_scalene(["--python", str(wrapper), "prog.py"], env={"MARKER": marker})
    assert_refused(run, marker, "is Python %s, free-threaded" % full, str(wrapper))


def test_not_a_python_refused(run_scalene, tmp_path):
    write_prog(tmp_path)
    marker = str(tmp_path / "marker")
    run = run_scalene(["--python", "/bin/true", "prog.py"], env={"MARKER": marker})
    assert run.rc == 2 and run.stderr.strip().count("\n") == 0, run.stderr
    assert "'/bin/true' does not answer as a Python interpreter" in run.stderr, run.stderr
    assert not os.path.exists(marker)


def test_python_name_looked_up_in_path(run_scalene, tmp_path):
    """--python NAME is found in PATH, as a shell would."""
    d = tmp_path / "bin"
    d.mkdir()
    os.symlink(os.path.realpath(PYTHON), d / "python3-named")
    write_prog(tmp_path)
    run = run_scalene(["--python", "python3-named", "prog.py"],
                      env={"MARKER": str(tmp_path / "m"), "PATH": "%s:/usr/bin:/bin" % d})
    assert run.rc == 0, run.stderr
    assert run.program_json()["executable"] == str(d / "python3-named")
    missing = run_scalene(["--python", "python3-nowhere", "prog.py"], env={"MARKER": str(tmp_path / "m2")})
    assert missing.rc == 2 and "'python3-nowhere': not found on PATH" in missing.stderr, missing.stderr


@pytest.fixture
def path_python(tmp_path):
    """A directory with its own python3 (a link to Debian's), first on PATH."""
    d = tmp_path / "envbin"
    d.mkdir()
    os.symlink(os.path.realpath(PYTHON), d / "python3")
    return d


def test_no_shebang_follows_path(run_scalene, tmp_path, path_python):
    """No #!: the python3 PATH gives (an active venv's), not /usr/bin/python3."""
    write_prog(tmp_path)
    run = run_scalene(["prog.py"], env={"MARKER": str(tmp_path / "m"), "PATH": "%s:/usr/bin:/bin" % path_python})
    assert run.rc == 0, run.stderr
    got = run.program_json()
    assert got["executable"] == str(path_python / "python3"), got
    assert run.report["scalene_c"]["python"] == str(path_python / "python3")
    p = process(run.report, got["pid"])
    assert p["argv"][0] == str(path_python / "python3") and p["executable"] == os.path.realpath(PYTHON), p


def test_env_shebang_follows_path(run_scalene, tmp_path, path_python):
    write_prog(tmp_path, "#!/usr/bin/env python3")
    run = run_scalene(["./prog.py"], env={"MARKER": str(tmp_path / "m"), "PATH": "%s:/usr/bin:/bin" % path_python})
    assert run.rc == 0, run.stderr
    assert run.program_json()["executable"] == str(path_python / "python3")


def _python_m_scalene(python, args, cwd, extra_env):
    """`python -m scalene ARGS` with the build's package importable."""
    import subprocess

    from conftest import scalene_env

    env = scalene_env(extra_env)
    env["PYTHONPATH"] = os.path.join(BUILD, "lib", "scalene", "python")
    return subprocess.run([python, "-m", "scalene"] + args, capture_output=True, text=True, cwd=str(cwd),
                          env=env, timeout=120)


def test_python_m_scalene_runs_sys_executable(tmp_path):
    """`X -m scalene run prog.py` runs the program with X, also when PATH's
    python3 and the #! line name others; --python still wins; the variable
    that carries X never reaches the program."""
    d = tmp_path / "alt"
    d.mkdir()
    alt = d / "python3-host"
    os.symlink(os.path.realpath(PYTHON), alt)
    write_prog(tmp_path, "#!/usr/bin/python3")
    out = tmp_path / "o.json"
    p = _python_m_scalene(str(alt), ["run", "-o", str(out), "prog.py"], tmp_path, {"MARKER": str(tmp_path / "m")})
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["executable"] == str(alt), got
    assert got["invoking"] is None, got
    with open(out) as f:
        assert json.load(f)["scalene_c"]["python"] == str(alt)
    p = _python_m_scalene(str(alt), ["run", "-o", str(out), "--python", PYTHON, "prog.py"], tmp_path,
                          {"MARKER": str(tmp_path / "m")})
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1])["executable"] == PYTHON


def test_python_m_scalene_refuses_its_own_old_python(tmp_path):
    """An unsupported interpreter running `python -m scalene` (3.6 can still
    import the thin package) is refused like any other."""
    full, exe = pyenv_python((3, 6))
    write_prog(tmp_path)
    marker = tmp_path / "marker"
    p = _python_m_scalene(exe, ["run", "-o", str(tmp_path / "o.json"), "prog.py"], tmp_path, {"MARKER": str(marker)})
    assert p.returncode == 2, p.stderr
    assert "is Python " + full in p.stderr and "(the interpreter of python -m scalene)" in p.stderr, p.stderr
    assert not marker.exists()


CHILD = textwrap.dedent(
    """\
    import json, os, subprocess, sys
    kid = subprocess.run([sys.argv[1], "-c", "import os, sys; print(os.getpid())"],
                         capture_output=True, text=True, check=True)
    print(json.dumps({"pid": os.getpid(), "child": int(kid.stdout)}))
    """
)


def test_report_records_each_process_interpreter(run_scalene, tmp_path):
    """processes[] names every process's binary and version: the main one
    run through a link, a child run by another path."""
    d = tmp_path / "bin"
    d.mkdir()
    link = d / "py-link"
    os.symlink(os.path.realpath(PYTHON), link)
    (tmp_path / "parent.py").write_text(CHILD)
    run = run_scalene(["--python", str(link), "parent.py", PYTHON])
    assert run.rc == 0, run.stderr
    got = run.program_json()
    main, child = process(run.report, got["pid"]), process(run.report, got["child"])
    want = "%d.%d" % tuple(int(x) for x in run_plain([PYTHON, "-c", "import sys; print(*sys.version_info[:2])"])
                           .stdout.split())
    for p, argv0 in ((main, str(link)), (child, PYTHON)):
        assert p["python"] == want, p
        assert p["executable"] == os.path.realpath(PYTHON), p
        assert p["argv"][0] == argv0, p
