# SPDX-License-Identifier: Apache-2.0
"""6. Which interpreter runs the program: the script's #! line when it
names a Python, --python when given (it wins over #!), else the python3
that PATH gives (conftest puts /usr/bin first; test_interpreters.py covers
PATH, python -m scalene and refusals). The report's scalene_c.python, the
process's argv[0] and the program's own sys.executable must all say the same.

/usr/bin/python3 is also the default, so to tell the cases apart the tests
use a second name for the same interpreter: a symlink tmp/bin/python3-e2e."""
import os
import textwrap

import pytest

from conftest import PYTHON


@pytest.fixture
def alt_python(tmp_path):
    d = tmp_path / "bin"
    d.mkdir()
    p = d / "python3-e2e"
    os.symlink(os.path.realpath(PYTHON), p)
    return str(p)


def script(tmp_path, first_line, name="prog.py"):
    f = tmp_path / name
    f.write_text(
        first_line
        + "\n"
        + textwrap.dedent(
            """\
            import json, os, sys
            print(json.dumps({"executable": sys.executable, "pid": os.getpid()}))
            """
        )
    )
    os.chmod(f, 0o755)
    return f


def check(run, want):
    assert run.rc == 0, run.stderr
    got = run.program_json()
    assert run.report["scalene_c"]["python"] == want, run.report["scalene_c"]
    assert got["executable"] == want, got
    main = [p for p in run.report["processes"] if p["pid"] == got["pid"]]
    assert len(main) == 1 and main[0]["argv"][0] == want and main[0]["python"] == "3.11", run.report["processes"]


def test_shebang_usr_bin_python3_by_path(run_scalene, tmp_path):
    script(tmp_path, "#!/usr/bin/python3")
    check(run_scalene(["./prog.py"], cwd=tmp_path), "/usr/bin/python3")


def test_shebang_other_python(run_scalene, tmp_path, alt_python):
    script(tmp_path, "#!" + alt_python)
    check(run_scalene(["./prog.py"], cwd=tmp_path), alt_python)


def test_shebang_env_python(run_scalene, tmp_path, alt_python):
    script(tmp_path, "#!/usr/bin/env python3-e2e")
    path = os.path.dirname(alt_python) + ":" + os.environ.get("PATH", "/usr/bin:/bin")
    check(run_scalene(["./prog.py"], cwd=tmp_path, env={"PATH": path}), alt_python)


def test_explicit_python_wins_over_shebang(run_scalene, tmp_path, alt_python):
    script(tmp_path, "#!" + alt_python)
    check(run_scalene(["--python", "/usr/bin/python3", "./prog.py"], cwd=tmp_path), "/usr/bin/python3")


def test_explicit_python_without_shebang(run_scalene, tmp_path, alt_python):
    script(tmp_path, "# no shebang")
    check(run_scalene(["--python", alt_python, "prog.py"], cwd=tmp_path), alt_python)


def test_non_python_shebang_uses_default(run_scalene, tmp_path):
    script(tmp_path, "#!/bin/sh")
    check(run_scalene(["prog.py"], cwd=tmp_path), "/usr/bin/python3")
