# SPDX-License-Identifier: Apache-2.0
"""Every file the tools write is safe from a planted symlink (issue 13, item 1).

Someone who can write to the output's directory (a shared /tmp, a project
folder) plants symlinks at every name the writer could open, pointing at a
file of the profiling user's. Before the fix, `scalene run` wrote
`<out>.tmp.<pid>` without O_EXCL/O_NOFOLLOW and so wrote the report through
the link into the victim. Each test fails if the victim's bytes change, if the
output is not a regular file holding what it should, or if a temporary file
is left behind."""
import json
import os
import subprocess
import time

from conftest import SCALENE, program, scalene_env

PROG = program("phases.py")
VICTIM_TEXT = "precious data, not a report\n"


def plant(d, name, victim):
    """Symlinks at `name` itself and at every predictable temporary name:
    name.tmp.PID for the pids the next runs can get, and name.tmp."""
    os.symlink(victim, d / name)
    os.symlink(victim, d / (name + ".tmp"))
    start = os.getpid()
    # pids are handed out in order: the next few thousand cover this run's
    # scalene process unless pid_max wraps under us, which a test can't rule
    # out but which only makes this weaker, never wrongly green
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    for pid in range(start, min(start + 3000, pid_max)):
        os.symlink(victim, d / ("%s.tmp.%d" % (name, pid)))


def victim_file(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text(VICTIM_TEXT)
    return victim


def leftovers(d, name):
    """Regular files the writer left beside name (its temporaries)."""
    return [f for f in os.listdir(d) if f.startswith(name + ".") and not os.path.islink(d / f)]


def check_written(d, name, victim):
    assert victim.read_text() == VICTIM_TEXT, "the write went through a planted symlink"
    out = d / name
    assert not os.path.islink(out) and out.is_file(), "the output is not a regular file"
    assert not leftovers(d, name), leftovers(d, name)
    return out.read_text()


def test_report_not_written_through_symlinks(tmp_path):
    victim = victim_file(tmp_path)
    d = tmp_path / "shared"
    d.mkdir()
    plant(d, "out.json", victim)
    p = subprocess.run([SCALENE, "run", "--cpu-only", "-o", str(d / "out.json"), PROG], cwd=str(tmp_path),
                       env=scalene_env(), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    report = json.loads(check_written(d, "out.json", victim))
    assert report["scalene_c"]["total_sec"] > 0


def test_interval_rewrites_not_written_through_symlinks(tmp_path):
    victim = victim_file(tmp_path)
    d = tmp_path / "shared"
    d.mkdir()
    plant(d, "out.json", victim)
    stop = tmp_path / "stop"
    proc = subprocess.Popen([SCALENE, "run", "--cpu-only", "--profile-interval", "0.2", "-o", str(d / "out.json"),
                             program("interval_long.py"), "---", str(stop)], cwd=str(tmp_path), env=scalene_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        rewrites = 0
        while time.monotonic() < deadline and rewrites < 3:
            if (d / "out.json").is_file() and not os.path.islink(d / "out.json"):
                rewrites += 1
                assert victim.read_text() == VICTIM_TEXT
                os.unlink(d / "out.json")  # each rewrite faces the link again
                os.symlink(victim, d / "out.json")
            time.sleep(0.1)
        assert rewrites >= 3, "intermediate reports seen: %d" % rewrites
    finally:
        stop.write_text("")
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    check_written(d, "out.json", victim)


def test_view_outputs_not_written_through_symlinks(tmp_path):
    victim = victim_file(tmp_path)
    rep = tmp_path / "r.json"
    p = subprocess.run([SCALENE, "run", "--cpu-only", "--stacks", "-o", str(rep), PROG], cwd=str(tmp_path),
                       env=scalene_env(), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    d = tmp_path / "shared"
    d.mkdir()
    for name, args in (("page.html", ["--html", "-o"]), ("s.speedscope.json", ["--speedscope", "-o"]),
                       ("s.folded", ["--collapsed", "-o"])):
        plant(d, name, victim)
        p = subprocess.run([SCALENE, "view"] + args + [str(d / name), str(rep)], cwd=str(tmp_path),
                           env=scalene_env(), capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, (name, p.stderr)
        text = check_written(d, name, victim)
        assert len(text) > 100, name
