"""@profile with no import (issue 6): `scalene run` defines builtins.profile
through a sitecustomize on the program's path, in every Python process of
the run; a decorated function is announced to the profiler and the report
keeps only the decorated functions' lines (and their files)."""
import os
import subprocess

from conftest import BUILD, PYTHON, marker_line, pct, program

PROG = program("prof_decorated.py")


def test_only_decorated_functions(run_scalene):
    run = run_scalene([PROG])
    assert run.rc == 0, run.stderr
    assert run.program_json()["child_exit"] == 0
    r = run.report
    assert set(r["files"]) == {PROG}, set(r["files"])
    lines = {row["lineno"]: row for row in r["files"][PROG]["lines"]}
    assert marker_line(PROG, "UNDECORATED_BURN") not in lines, sorted(lines)
    assert marker_line(PROG, "DECORATED_BURN") in lines and marker_line(PROG, "CHILD_DECORATED") in lines
    assert pct(lines[marker_line(PROG, "DECORATED_BURN")]) > 5
    # the spawned child's decorated function, under the child's pid
    child = lines[marker_line(PROG, "CHILD_DECORATED")]
    main_pid = [p["pid"] for p in r["processes"] if p["role"] == "main"][0]
    assert pct(child) > 5, child
    assert str(main_pid) not in child["by_process"] and len(child["by_process"]) == 1, child["by_process"].keys()
    assert {f["line"] for f in r["files"][PROG]["functions"]} == {"hot", "child_work"}
    # every kept line lies in a decorated function
    with open(PROG) as f:
        src = f.read().splitlines()
    for n in lines:
        assert not src[n - 1].lstrip().startswith("def burn") and n != marker_line(PROG, "UNDECORATED_BURN")


def test_without_decorators_everything_is_kept(run_scalene):
    run = run_scalene([program("phases.py"), "---", "0.3"])
    assert run.rc == 0, run.stderr
    with open(program("phases.py")) as f:
        n = len(f.read().splitlines())
    assert len(run.report["files"][program("phases.py")]["lines"]) == n


def test_profile_not_defined_outside_scalene():
    """Plain Python with our package on the path: no builtins.profile (the
    program's own NameError is Python's business, not ours)."""
    env = dict(os.environ, PYTHONPATH=os.path.join(BUILD, "lib", "scalene", "python"))
    for k in ("LD_PRELOAD", "SCALENE_SHM"):
        env.pop(k, None)
    p = subprocess.run([PYTHON, "-c", "import builtins; print(hasattr(builtins, 'profile'))"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert p.stdout.strip() == "False", p.stdout + p.stderr


def test_debian_sitecustomize_still_runs(run_scalene, tmp_path):
    """Ours shadows the sitecustomize further down the path; it must run it."""
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "sitecustomize.py").write_text("import builtins\nbuiltins.CHAINED = True\n")
    prog = tmp_path / "p.py"
    prog.write_text("import builtins, json\nprint(json.dumps({'chained': getattr(builtins, 'CHAINED', False)}))\n")
    run = run_scalene([prog], env={"PYTHONPATH": str(extra)})
    assert run.rc == 0, run.stderr
    assert run.program_json()["chained"] is True
