"""Profiling switched on and off while the program runs (issue 6, the
control part): `scalene run --off`, then scalene_profiler.start()/stop()
and enable_profiling() inside the program, or `scalene control on PID` /
`python3 -m scalene.profile --on --pid PID` from outside. The switch is a
flag in the run's shared segment, so it reaches every process of the run
and no signal is stolen from the program."""
import os
import subprocess
import sys
import time

import pytest

from conftest import BUILD, PYTHON, SCALENE, line_row, load_report, marker_line, pct, program, scalene_env

START_STOP = program("ctl_start_stop.py")
EXTERNAL = program("ctl_external.py")


def share(report, prog, marker):
    """A marker line's share of all profiled time (0..1)."""
    return pct(line_row(report, prog, marker_line(prog, marker))) / 100.0


def test_start_stop_in_the_program(run_scalene):
    run = run_scalene(["--off", START_STOP, "---", "0.4"])
    assert run.rc == 0, run.stderr
    m = run.program_json()
    assert m["profiling_at_end"] is False, m
    r = run.report
    on = share(r, START_STOP, "PHASE_DURING") + share(r, START_STOP, "PHASE_WITH")
    assert on >= 0.9, "the two switched-on phases hold %.0f%% of the profile" % (100 * on)
    for k in ("PHASE_BEFORE", "PHASE_OFF_AGAIN", "PHASE_LAST"):
        assert share(r, START_STOP, k) <= 0.02, "%s profiled while off: %.1f%%" % (k, 100 * share(r, START_STOP, k))
    # each on-phase is about half of what was profiled (equal CPU by construction)
    for k in ("PHASE_DURING", "PHASE_WITH"):
        assert 0.25 <= share(r, START_STOP, k) <= 0.75, (k, share(r, START_STOP, k))


def test_without_off_everything_is_profiled(run_scalene):
    """Without --off, start() changes nothing and stop() really stops."""
    run = run_scalene([START_STOP, "---", "0.3"])
    assert run.rc == 0, run.stderr
    r = run.report
    assert share(r, START_STOP, "PHASE_BEFORE") >= 0.15
    assert share(r, START_STOP, "PHASE_OFF_AGAIN") <= 0.02


def test_start_stop_outside_scalene_do_nothing():
    """Run by plain Python (the package on the path), the calls are no-ops."""
    env = dict(os.environ)
    for k in ("LD_PRELOAD", "SCALENE_SHM"):
        env.pop(k, None)
    env["PYTHONPATH"] = os.path.join(BUILD, "lib", "scalene", "python")
    p = subprocess.run([PYTHON, START_STOP, "0.05"], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert '"profiling_at_end": false' in p.stdout


@pytest.mark.parametrize("how", ["control", "module"])
def test_switched_on_from_outside(tmp_path, how):
    go = tmp_path / "go"
    out = tmp_path / "out.json"
    proc = subprocess.Popen(
        [SCALENE, "run", "--off", "-o", str(out), EXTERNAL, "---", str(go), "0.5"],
        cwd=str(tmp_path), env=scalene_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        pid = int(proc.stdout.readline())
        time.sleep(0.3)  # the program spins on WAIT_OFF, unprofiled
        if how == "control":
            cmd = [SCALENE, "control", "on", str(pid)]
            env = None
        else:
            cmd = [PYTHON, "-m", "scalene.profile", "--on", "--pid", str(pid)]
            env = dict(os.environ, PYTHONPATH=os.path.join(BUILD, "lib", "scalene", "python"))
        c = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30)
        assert c.returncode == 0, c.stderr
        go.write_text("")
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    r = load_report(str(out))  # compact: idle lines (the switched-off wait) put back
    wait = share(r, EXTERNAL, "WAIT_OFF")
    assert wait <= 0.1, "the switched-off wait holds %.0f%%" % (100 * wait)
    main_on, child_on = share(r, EXTERNAL, "MAIN_ON"), share(r, EXTERNAL, "CHILD_ON")
    assert main_on >= 0.25 and child_on >= 0.25, (main_on, child_on)
    pids = {p["pid"] for p in r["processes"]}
    assert pid in pids and len(pids) == 2, r["processes"]


def test_control_errors(tmp_path):
    """Bad input: one line on stderr, exit status 2."""
    cases = [
        ["control"],
        ["control", "maybe", "1"],
        ["control", "on", "notapid"],
        ["control", "on", "999999999"],
        ["control", "on", str(os.getpid())],  # pytest itself: not under scalene
    ]
    for args in cases:
        p = subprocess.run([SCALENE] + args, capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
