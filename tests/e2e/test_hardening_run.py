# SPDX-License-Identifier: Apache-2.0
"""`scalene run` as a parent process that cannot lose the run (issue 13
items 3, 4, 5, 7, 8) and the Scalene flags it accepts (issue 11 item 6):
--json, --cli, --html, --web, --no-browser. Each test's program is written
here, into the test's directory, so that its name and behaviour are part of
the test (a file name that is not UTF-8, a program that ignores SIGTERM)."""
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import PYTHON, SCALENE, scalene_env

# A CPU-bound program: burns on one marked line for S seconds, then
# exits with the status it is given (both from argv).
BURN = """import sys, time
def burn(s):
    t = time.process_time()
    x = 0
    while time.process_time() - t < s: x += 1  # BURN
burn(float(sys.argv[1]))
print("burnt", flush=True)
sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
"""

# Counts the SIGINT/SIGTERM/SIGQUIT it gets in a file and goes on spinning:
# a program that will not be stopped by signals. Prints its pid first.
STUBBORN = """import os, signal, sys, time
got = {"INT": 0, "TERM": 0, "QUIT": 0}
def on(sig, frame):
    got[signal.Signals(sig).name[3:]] += 1
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(repr(got))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
    signal.signal(s, on)
print(os.getpid(), flush=True)
x = 0
while True: x += 1  # SPIN
"""

URL_RE = re.compile(r"http://127\.0\.0\.1:(\d+)/")


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def spawn(args, tmp_path, env=None):
    """`scalene run ARGS` in the background, stdout piped; stderr goes to
    tmp_path/stderr (a program that outlives scalene run keeps a pipe open,
    so reading one to its end would hang: see errors())."""
    with open(tmp_path / "stderr", "wb") as err:
        return subprocess.Popen([SCALENE, "run", *map(str, args)], cwd=str(tmp_path), env=scalene_env(env),
                                stdout=subprocess.PIPE, stderr=err)


def errors(tmp_path):
    return (tmp_path / "stderr").read_text(errors="replace")


def first_line(proc, timeout=60):
    """The first stdout line of proc (bytes, stripped), within timeout."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    out, deadline = b"", time.monotonic() + timeout
    while b"\n" not in out and time.monotonic() < deadline:
        if sel.select(timeout=max(0, deadline - time.monotonic())):
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            out += chunk
    sel.close()
    assert b"\n" in out, "no line from %r within %ss: %r" % (proc.args, timeout, out)
    return out.split(b"\n")[0].strip(), out


def alive(pid):
    """Whether pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_dead(pid, timeout):
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def burn_share(report, prog):
    """The BURN line's share of all profiled time, 0..100."""
    n = [i + 1 for i, l in enumerate(open(prog)) if "# BURN" in l][0]
    row = [r for r in report["files"][str(prog)]["lines"] if r["lineno"] == n][0]
    return row["n_cpu_percent_python"] + row["n_cpu_percent_c"] + row["n_sys_percent"]


# ---- issue 11 item 6: Scalene's output flags ----


def test_json_writes_the_report_at_outfile_and_nothing_else(run_scalene, tmp_path):
    """--json: the JSON report at -o (what always happens): no terminal
    view, no page. Before: 'unknown option', exit 2."""
    prog = write(tmp_path, "burn.py", BURN)
    out = tmp_path / "r.json"
    run = run_scalene(["--json", "--no-browser", "--outfile", out, prog, "---", "0.3"], outfile=str(out))
    assert run.rc == 0, run.stderr
    assert run.report is not None and burn_share(run.report, prog) >= 20, run.report["files"].keys()
    assert run.stdout == "burnt\n", run.stdout
    assert sorted(os.listdir(tmp_path)) == ["burn.py", "r.json"]


def test_cli_prints_the_terminal_view_after_the_run(run_scalene, tmp_path):
    """--cli: after the program's output, exactly what `scalene view --cli`
    prints for the same report."""
    prog = write(tmp_path, "burn.py", BURN)
    env = {"COLUMNS": "120"}
    run = run_scalene(["-q", "--cli", prog, "---", "0.3"], env=env)
    assert run.rc == 0, run.stderr
    assert run.stdout.startswith("burnt\n"), run.stdout[:200]
    view = run_scalene(["view", "--cli", run.outfile], env=env)
    assert view.rc == 0, view.stderr
    assert "# BURN" in view.stdout and str(prog) in view.stdout, view.stdout
    assert run.stdout == "burnt\n" + view.stdout


def test_cli_from_the_config_file(run_scalene, tmp_path):
    prog = write(tmp_path, "burn.py", BURN)
    cfg = write(tmp_path, "s.yaml", "cli: true\nquiet: true\n")
    run = run_scalene(["-c", cfg, prog, "---", "0.3"], env={"COLUMNS": "160"})
    assert run.rc == 0, run.stderr
    assert "# BURN" in run.stdout and "Profile of" in run.stdout, run.stdout


def test_html_writes_the_page_beside_the_report(run_scalene, tmp_path):
    """--html: the page of `scalene view --html` (scalene-profile.html in
    the report's directory), holding this run's profile; no browser. The
    program's status stays the exit status."""
    prog = write(tmp_path, "burn.py", BURN)
    (tmp_path / "d").mkdir()
    called = tmp_path / "called"
    rec = write(tmp_path, "rec.sh", "#!/bin/sh\necho \"$@\" > %s\n" % called)
    rec.chmod(0o755)
    out = tmp_path / "d" / "r.json"
    run = run_scalene(["-q", "--html", "-o", out, prog, "---", "0.3", "3"], outfile=str(out),
                      env={"BROWSER": str(rec), "DISPLAY": ":0"})
    assert run.rc == 3, run.stderr
    page = (tmp_path / "d" / "scalene-profile.html").read_text()
    assert '<script id="scalene-data" type="application/json">' in page
    assert str(prog) in page and "x += 1  # BURN" in page
    assert "Wrote %s" % (tmp_path / "d" / "scalene-profile.html") in run.stdout
    time.sleep(0.3)
    assert not called.exists()


def _serve(tmp_path, args, env):
    """Runs `scalene run ... --web` and returns (proc, url, page) once the
    page is served."""
    prog = write(tmp_path, "burn.py", BURN)
    proc = spawn(["-q", *args, prog, "---", "0.3", "5"], tmp_path, env)
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        out, deadline = b"", time.monotonic() + 60
        while not URL_RE.search(out.decode(errors="replace")) and time.monotonic() < deadline:
            if sel.select(timeout=max(0, deadline - time.monotonic())):
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
        sel.close()
        m = URL_RE.search(out.decode(errors="replace"))
        assert m, "no URL: %r %r" % (out, errors(tmp_path))
        assert out.startswith(b"burnt\n"), out  # served after the run, not during it
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(m.group(0), timeout=20) as r:
            page = r.read().decode()
        return proc, m.group(0), page, prog
    except BaseException:
        proc.kill()
        proc.wait()
        raise


@pytest.mark.parametrize("browser", [True, False], ids=["browser", "no-browser"])
def test_web_serves_the_page_until_sigint(tmp_path, browser):
    """--web: the page served on 127.0.0.1 after the run (as `scalene
    view`), a browser started with its URL, unless --no-browser; Ctrl-C
    ends it with the program's status."""
    called = tmp_path / "called"
    rec = write(tmp_path, "rec.sh", "#!/bin/sh\necho \"$@\" > %s\n" % called)
    rec.chmod(0o755)
    env = {"BROWSER": str(rec), "DISPLAY": None, "WAYLAND_DISPLAY": None}
    proc, url, page, prog = _serve(tmp_path, ["--web"] + ([] if browser else ["--no-browser"]), env)
    try:
        assert str(prog) in page and "x += 1  # BURN" in page
        deadline = time.monotonic() + 5
        while browser and not called.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if browser:
            assert called.read_text().strip() == url
        else:
            time.sleep(0.5)
            assert not called.exists()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 5, errors(tmp_path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---- item 3: text that is not UTF-8 ----


def test_names_that_are_not_utf8_give_strict_json(tmp_path):
    """A script name and arguments with bytes that are not UTF-8: the
    report is UTF-8 and loads with Python's json (and jq); the bytes come
    back with surrogateescape, as Python's own os.fsencode gives them."""
    name = bytes(tmp_path) + b"/caf\xe9_\xff.py"
    with open(name, "wb") as f:
        f.write(BURN.encode())
    out = tmp_path / "r.json"
    args = [b"0.2", b"0", b"\xfe\xfd", b"ok\xc3", b"\xed\xa0\x80"]  # the last: an encoded surrogate
    p = subprocess.run([SCALENE.encode(), b"run", b"-q", b"-o", bytes(out), name, b"---", *args],
                       capture_output=True, env=scalene_env(), timeout=120)
    assert p.returncode == 0, p.stderr
    raw = out.read_bytes()
    text = raw.decode("utf-8")  # strict: fails on the raw bytes of before
    r = json.loads(text)
    assert os.fsencode(r["program"]) == name
    argv = [a for pr in r["processes"] for a in pr["argv"]]
    assert os.fsdecode(name) in argv
    assert [os.fsencode(a) for a in r["args"]] == args
    assert "\\udcff" in text and "\\udced\\udca0\\udc80" in text
    if shutil.which("jq"):
        q = subprocess.run(["jq", "-e", ".program", str(out)], capture_output=True, timeout=30)
        assert q.returncode == 0, q.stderr


# ---- item 4: a bad -o, before the program runs ----


def _bad_outs(tmp_path):
    (tmp_path / "adir").mkdir()
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    cases = [("missing dir", tmp_path / "nodir" / "r.json"), ("a directory", tmp_path / "adir")]
    if os.geteuid() != 0:  # root writes anywhere
        cases.append(("unwritable", ro / "r.json"))
    return cases


def test_bad_outfile_is_refused_before_the_program_runs(tmp_path):
    marker = tmp_path / "ran"
    prog = write(tmp_path, "mark.py", "import sys\nopen(sys.argv[1], 'w').write('ran')\n")
    for what, out in _bad_outs(tmp_path):
        t = time.monotonic()
        p = subprocess.run([SCALENE, "run", "-o", str(out), str(prog), "---", str(marker)], capture_output=True,
                           text=True, env=scalene_env(), cwd=str(tmp_path), timeout=60)
        assert p.returncode == 2, (what, p.returncode, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1 and str(out) in p.stderr, (what, p.stderr)
        assert not marker.exists(), "%s: the program ran" % what
        assert time.monotonic() - t < 10
    assert sorted(os.listdir(tmp_path / "adir")) == [] and os.listdir(tmp_path / "ro") == []


# ---- item 5: a program that ignores the signals ----


def _counts(path):
    return eval(path.read_text()) if path.exists() else {"INT": 0, "TERM": 0, "QUIT": 0}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_third_signal_stops_the_wait_with_a_report(tmp_path, sig):
    """Two SIGTERMs are forwarded and the program goes on; the third within
    5 s is forwarded too, then `scalene run` writes the report and exits
    128+N. The program (which ignored them all) is not killed by us: it
    gets the SIGTERM of our death, which it ignores too. Before: every
    signal forwarded, scalene run never exits."""
    counts = tmp_path / "counts"
    prog = write(tmp_path, "stubborn.py", STUBBORN)
    out = tmp_path / "r.json"
    proc = spawn(["-o", out, prog, "---", counts], tmp_path)
    pid = None
    try:
        pid = int(first_line(proc)[0])
        time.sleep(0.5)
        name = signal.Signals(sig).name[3:]
        for i in (1, 2):
            proc.send_signal(sig)
            deadline = time.monotonic() + 10
            while _counts(counts)[name] < i and time.monotonic() < deadline:
                time.sleep(0.02)
            assert _counts(counts)[name] == i, "signal %d not forwarded: %s" % (i, _counts(counts))
        time.sleep(0.3)
        assert proc.poll() is None, "stopped after two signals"
        proc.send_signal(sig)
        rc = proc.wait(timeout=20)
        stderr = errors(tmp_path)
        assert rc == 128 + sig, (rc, stderr)
        r = json.loads(out.read_text())
        assert "third" in r["scalene_c"]["stopped"], r["scalene_c"]["stopped"]
        rows = r["files"][str(prog)]["lines"]
        spin = [x for x in rows if "# SPIN" in x["line"]][0]
        assert spin["n_cpu_percent_python"] + spin["n_cpu_percent_c"] + spin["n_sys_percent"] >= 50, spin
        assert "stopped by" in stderr
        time.sleep(0.3)
        assert alive(pid), "the program was killed"
        # the three forwarded, and the SIGTERM of PR_SET_PDEATHSIG when
        # scalene run exited (merged with a pending SIGTERM, or not)
        c = _counts(counts)
        if name == "INT":
            assert c["INT"] == 3 and c["TERM"] == 1, c
        else:
            assert c["TERM"] in (3, 4) and c["INT"] == 0, c
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if pid and alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_sigquit_stops_the_wait_at_once(tmp_path):
    counts = tmp_path / "counts"
    prog = write(tmp_path, "stubborn.py", STUBBORN)
    out = tmp_path / "r.json"
    proc = spawn(["-o", out, prog, "---", counts], tmp_path)
    pid = None
    try:
        pid = int(first_line(proc)[0])
        time.sleep(0.5)
        proc.send_signal(signal.SIGQUIT)
        assert proc.wait(timeout=20) == 128 + signal.SIGQUIT
        r = json.loads(out.read_text())
        assert "SIGQUIT" in r["scalene_c"]["stopped"]
        time.sleep(0.3)
        assert _counts(counts)["QUIT"] == 0, "SIGQUIT was forwarded"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if pid and alive(pid):
            os.kill(pid, signal.SIGKILL)


# ---- item 8: a SIGKILLed scalene run takes the program with it ----


def test_sigkilled_run_takes_the_program_down(tmp_path):
    prog = write(tmp_path, "sleeper.py", "import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(120)\n")
    proc = spawn(["-q", "-o", tmp_path / "r.json", prog], tmp_path)
    pid = None
    try:
        pid = int(first_line(proc)[0])
        assert alive(pid)
        proc.kill()
        proc.wait(timeout=10)
        assert wait_dead(pid, 10), "the program outlived scalene run"
    finally:
        if pid and alive(pid):
            os.kill(pid, signal.SIGKILL)


# ---- item 7: control takes the pid of scalene run ----


def test_control_with_the_pid_of_scalene_run(tmp_path):
    """`scalene run --off prog.py &` then `scalene control on $!`: $! is
    scalene run's pid, not the program's."""
    go = tmp_path / "go"
    prog = write(tmp_path, "waiter.py", """import os, sys, time
print(os.getpid(), flush=True)
x = 0
while not os.path.exists(sys.argv[1]): x += 1  # WAIT_OFF
t = time.process_time()
while time.process_time() - t < 0.5: x += 1  # ON
""")
    out = tmp_path / "r.json"
    proc = spawn(["-q", "--off", "-o", out, prog, "---", go], tmp_path)
    pid = None
    try:
        pid = int(first_line(proc)[0])
        assert pid != proc.pid
        time.sleep(0.3)
        c = subprocess.run([SCALENE, "control", "on", str(proc.pid)], capture_output=True, text=True, timeout=30)
        assert c.returncode == 0, c.stderr
        assert "scalene run" in c.stderr and str(proc.pid) in c.stderr, c.stderr
        go.write_text("")
        assert proc.wait(timeout=60) == 0, errors(tmp_path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if pid and alive(pid):
            os.kill(pid, signal.SIGKILL)
    r = json.loads(out.read_text())
    rows = {x["line"].split("# ")[-1].strip(): x for x in r["files"][str(prog)]["lines"] if "# " in x["line"]}
    on = rows["ON"]["n_cpu_percent_python"] + rows["ON"]["n_cpu_percent_c"] + rows["ON"]["n_sys_percent"]
    assert on >= 80, rows


def test_control_says_what_it_saw(tmp_path):
    """A process outside any run: the message names it and what it lacks."""
    p = subprocess.run([SCALENE, "control", "on", str(os.getpid())], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    line = p.stderr.strip()
    assert len(line.splitlines()) == 1 and "not running under scalene" in line and "SCALENE_SHM" in line, line


# ---- item 8: nesting, children without the runtime, the summary ----


def test_deeply_nested_config_is_refused_quickly(tmp_path):
    """40,000 nested '[': one line, exit 2, well under a second (before:
    7 s in libyaml, quadratic in the depth)."""
    for text in ("a: " + "[" * 40000 + "]" * 40000 + "\n", "outfile: " + "{a: " * 20000 + "1" + "}" * 20000 + "\n"):
        cfg = write(tmp_path, "deep.yaml", text)
        t = time.monotonic()
        p = subprocess.run([SCALENE, "run", "-c", str(cfg), "none.py"], capture_output=True, text=True,
                           env=scalene_env(), cwd=str(tmp_path), timeout=60)
        took = time.monotonic() - t
        assert p.returncode == 2 and "nested deeper than" in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1
        assert took < 1.5, "took %.1f s" % took


def test_child_with_an_empty_environment_is_named(run_scalene, tmp_path):
    """subprocess.run(..., env={}) starts a Python the runtime never sees:
    the report names it (scalene_c.children_unprofiled) and the summary
    says so; a non-Python child (/bin/true) is neither in `processes` nor
    counted by the summary."""
    prog = write(tmp_path, "parent.py", """import subprocess, sys
subprocess.run([sys.executable, "-c", "import time\\nt = time.time()\\nwhile time.time() - t < 1.0: pass  # EMPTY_ENV_CHILD"], env={})
subprocess.run(["/bin/true"])
""")
    run = run_scalene([prog])
    assert run.rc == 0, run.stderr
    unp = run.report["scalene_c"]["children_unprofiled"]
    assert len(unp) == 1, unp
    assert any("EMPTY_ENV_CHILD" in a for a in unp[0]["argv"]) and "empty environment" in unp[0]["why"], unp
    pids = [p["pid"] for p in run.report["processes"]]
    assert unp[0]["ppid"] in pids and unp[0]["pid"] not in pids
    assert len(pids) == 1, run.report["processes"]
    assert "(1 process," in run.stderr, run.stderr
    assert "Python process %d (child of %d) was not profiled" % (unp[0]["pid"], unp[0]["ppid"]) in run.stderr
