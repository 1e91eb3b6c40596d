# SPDX-License-Identifier: Apache-2.0
"""Servers and test runners under `scalene run`: gunicorn (plain, --preload,
and a worker killed by gunicorn's --timeout), Django's runserver, and
`scalene run -m pytest`.

Each server binds 127.0.0.1 on a free port in a temporary directory that
holds its code (the working directory is in the default profile scope), gets
a bounded number of requests through urllib, and is stopped with SIGINT sent
to the scalene process, which forwards it to the program's process group.
Whatever happens, the server's process group and scalene are killed at the
end of the test (see `serving`).

Ground truth: every handler measures its own CPU time (time.thread_time) and
returns it with its pid; the test sums what the responses say.
CPU_TOL: relative tolerance of a handler's CPU in the report against that sum."""
import contextlib
import json
import os
import signal
import socket
import subprocess
import textwrap
import threading
import time
import urllib.request

import pytest

from conftest import SCALENE, func_row, line_row, marker_line, pct_to_sec, process, scalene_env

CPU_TOL = 0.20
START_TIMEOUT = 30  # seconds for a server to accept connections
STOP_TIMEOUT = 30  # seconds for scalene to write the report after SIGINT
GUNICORN = "/usr/bin/gunicorn"


def cpu_sec(report, row):
    return pct_to_sec(report, row["n_cpu_percent_python"] + row["n_cpu_percent_c"])


def pids_on(row):
    return {int(p) for p, v in (row.get("by_process") or {}).items() if v["n_cpu_percent_python"] + v["n_cpu_percent_c"] > 0}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path="/", timeout=10):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        return json.loads(r.read())


def program_group(scalene_pid):
    """The process group of the program scalene started (the program leads
    its own group; scalene's syntax-check child does not), or None."""
    try:
        with open("/proc/%d/task/%d/children" % (scalene_pid, scalene_pid)) as f:
            kids = [int(x) for x in f.read().split()]
    except OSError:
        return None
    for k in kids:
        with contextlib.suppress(OSError):
            if os.getpgid(k) == k:
                return k
    return None


class Server:
    """One `scalene run -o OUT ARGS` in cwd, its output in cwd/server.log."""

    def __init__(self, args, cwd, port):
        self.cwd, self.port = str(cwd), port
        self.out = os.path.join(self.cwd, "out.json")
        self.log_path = os.path.join(self.cwd, "server.log")
        self.log = open(self.log_path, "w")
        env = scalene_env({"PYTEST_ADDOPTS": None})
        self.proc = subprocess.Popen(
            [SCALENE, "run", "-o", self.out] + [str(a) for a in args],
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.program_pgid = None
        self.rc = None

    def logs(self):
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()[-4000:]

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "scalene exited (rc %s) before serving:\n%s" % (self.proc.returncode, self.logs())
            if self.program_pgid is None:
                self.program_pgid = program_group(self.proc.pid)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("no server on port %d after %d s:\n%s" % (self.port, START_TIMEOUT, self.logs()))

    def stop(self):
        """SIGINT to scalene, as a terminal's Ctrl-C would; returns
        (rc, report)."""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.rc = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError("scalene still running %d s after SIGINT:\n%s\n%s" % (STOP_TIMEOUT, self.logs(), self.where()))
        assert os.path.exists(self.out), "no report (rc %d):\n%s" % (self.rc, self.logs())
        with open(self.out) as f:
            return self.rc, json.load(f)

    def where(self):
        """What the process tree is doing, for a hang: each process's state
        and wait channel, and with gdb (if installed) every thread's stack."""
        out = []
        ps = subprocess.run(["ps", "-e", "-o", "pid,ppid,pgid,stat,wchan:24,args"], capture_output=True, text=True)
        mine = {str(self.proc.pid)}
        lines = ps.stdout.splitlines()
        for _ in range(4):  # descendants, a few levels down
            mine |= {l.split()[0] for l in lines[1:] if l.split()[1] in mine}
        out += [l for l in lines[1:] if l.split()[0] in mine]
        for pid in sorted(mine):
            with contextlib.suppress(Exception):
                bt = subprocess.run(["gdb", "-p", pid, "-batch", "-ex", "thread apply all bt 8"],
                                    capture_output=True, text=True, timeout=20)
                out += [l for l in bt.stdout.splitlines() if l.startswith(("#", "Thread"))]
        return "\n".join(out)

    def kill(self):
        if self.program_pgid is None and self.proc.poll() is None:
            self.program_pgid = program_group(self.proc.pid)
        if self.program_pgid:
            with contextlib.suppress(OSError):
                os.killpg(self.program_pgid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=10)
        self.log.close()


@contextlib.contextmanager
def serving(args, cwd, port):
    srv = Server(args, cwd, port)
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.kill()


# ---------------------------------------------------------------- gunicorn

APP = textwrap.dedent(
    '''\
    """A WSGI app: every request burns ~4 ms of CPU in burn(); /hang first
    writes its pid to hang.pid, blocks SIGABRT (so gunicorn's graceful abort
    cannot end it) and sleeps, until gunicorn's --timeout kills the worker."""
    import json
    import os
    import signal
    import time


    def burn(seconds):
        t0 = time.thread_time()
        x = 0
        while time.thread_time() - t0 < seconds:
            for i in range(1000):  # APP_BURN
                x += i * i % 7
        return time.thread_time() - t0


    def app(environ, start_response):
        if environ.get("PATH_INFO") == "/hang":
            with open("hang.pid", "w") as f:
                f.write(str(os.getpid()))
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGABRT})
            time.sleep(30)  # APP_HANG
        cpu = burn(0.004)
        body = json.dumps({"pid": os.getpid(), "cpu": cpu}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    '''
)
GUNICORN_REQUESTS = 300
REPLACEMENT_REQUESTS = 100  # after the replacement's first answer: enough CPU to be sampled


def write_app(d):
    path = d / "app.py"
    path.write_text(APP)
    return str(path)


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "preload"])
def gunicorn_run(request, tmp_path_factory):
    """gunicorn -w 2 (with --preload or not) serving a CPU-burning handler:
    300 requests, then SIGINT to scalene."""
    d = tmp_path_factory.mktemp("gunicorn")
    app = write_app(d)
    port = free_port()
    preload = ["--preload"] if request.param else []
    args = [GUNICORN, "---", "-w", "2", "-b", "127.0.0.1:%d" % port] + preload + ["app:app"]
    with serving(args, d, port) as srv:
        seen, want = {}, 0.0
        for _ in range(GUNICORN_REQUESTS):
            r = get(port)
            seen[r["pid"]] = seen.get(r["pid"], 0) + 1
            want += r["cpu"]
        rc, report = srv.stop()
        logs = srv.logs()
    return rc, report, logs, app, seen, want


def test_gunicorn_processes(gunicorn_run):
    """rc 0; the master (main) and both workers are listed, the workers with
    ppid = master, and the handler's burn line names only workers that
    answered."""
    rc, report, logs, app, seen, want = gunicorn_run
    assert rc == 0, logs
    master = [p for p in report["processes"] if p["role"] == "main"]
    assert len(master) == 1 and any("gunicorn" in a for a in master[0]["argv"]), report["processes"]
    master = master[0]
    workers = [p for p in report["processes"] if p["ppid"] == master["pid"]]
    assert len(workers) == 2, "workers of master %d: %s" % (master["pid"], report["processes"])
    assert len(report["processes"]) >= 3
    for w in workers:
        assert w["python"] == "3.11" and w["exit_signal"] is None and w["samples"] > 0, w
    assert set(seen) <= {w["pid"] for w in workers}, (seen, workers)
    hot = line_row(report, app, marker_line(app, "APP_BURN"))
    assert pids_on(hot) and pids_on(hot) <= set(seen), (hot.get("by_process"), seen)


@pytest.mark.timing
def test_gunicorn_handler_cpu(gunicorn_run):
    """The handler's burn function holds the CPU the responses report
    (±20 %)."""
    rc, report, logs, app, seen, want = gunicorn_run
    got = cpu_sec(report, func_row(report, app, "burn"))
    assert abs(got - want) <= CPU_TOL * want, "burn holds %.3f s, the handlers measured %.3f s" % (got, want)


def test_gunicorn_timeout_replaces_worker(tmp_path):
    """gunicorn -w 1 --timeout 2: a request hangs with SIGABRT blocked, so
    gunicorn SIGKILLs the worker and forks a replacement, which serves the
    next 100 requests. The killed worker is listed with exit_signal (SIGKILL, or
    SIGABRT), the replacement with ppid = master, and the handler's burn line
    names the replacement's pid."""
    app = write_app(tmp_path)
    port = free_port()
    args = [GUNICORN, "---", "-w", "1", "--timeout", "2", "-b", "127.0.0.1:%d" % port, "app:app"]
    with serving(args, tmp_path, port) as srv:
        first = get(port)
        hang = {}

        def hang_request():
            try:
                hang["reply"] = get(port, "/hang", timeout=25)
            except Exception as e:  # the worker dies under it
                hang["error"] = repr(e)

        t = threading.Thread(target=hang_request, daemon=True)
        t.start()
        deadline = time.monotonic() + 25
        while not (tmp_path / "hang.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        after = None
        while after is None and time.monotonic() < deadline:
            try:
                d = get(port, timeout=25)
                if d["pid"] != first["pid"]:
                    after = d
            except OSError:
                time.sleep(0.2)
        t.join(timeout=25)
        served = [get(port)["pid"] for _ in range(REPLACEMENT_REQUESTS)] if after else []
        rc, report = srv.stop()
        logs = srv.logs()
    assert after is not None, "no replacement worker answered:\n%s" % logs
    assert set(served) == {after["pid"]}, served
    assert "reply" not in hang, hang
    killed_pid = int((tmp_path / "hang.pid").read_text())
    assert killed_pid == first["pid"], (killed_pid, first)
    assert rc == 0, logs
    master = process(report, [p for p in report["processes"] if p["role"] == "main"][0]["pid"])
    killed, repl = process(report, killed_pid), process(report, after["pid"])
    assert killed["exit_signal"] in (signal.SIGKILL, signal.SIGABRT) and killed["exit_code"] is None, killed
    assert killed["ppid"] == master["pid"] and repl["ppid"] == master["pid"], (killed, repl)
    assert repl["start_sec"] > killed["start_sec"] and repl["exit_signal"] is None, (killed, repl)
    hot = line_row(report, app, marker_line(app, "APP_BURN"))
    assert after["pid"] in pids_on(hot), hot.get("by_process")


# ---------------------------------------------------------------- Django

DJANGO_FILES = {
    "manage.py": """\
        import os
        import sys

        if __name__ == "__main__":
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
            from django.core.management import execute_from_command_line

            execute_from_command_line(sys.argv)
        """,
    "mysite/__init__.py": "",
    "mysite/settings.py": """\
        SECRET_KEY = "e2e-test-only"
        DEBUG = True
        ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
        ROOT_URLCONF = "mysite.urls"
        INSTALLED_APPS = []
        MIDDLEWARE = []
        DATABASES = {}
        USE_TZ = True
        """,
    "mysite/urls.py": """\
        from django.urls import path

        from . import views

        urlpatterns = [path("", views.burn)]
        """,
    "mysite/views.py": """\
        import os
        import time

        from django.http import JsonResponse


        def burn(request):
            t0 = time.thread_time()
            x = 0
            while time.thread_time() - t0 < 0.004:
                for i in range(1000):  # VIEW_BURN
                    x += i * i % 7
            return JsonResponse({"pid": os.getpid(), "cpu": time.thread_time() - t0})
        """,
}
DJANGO_REQUESTS = 200


@pytest.fixture(scope="module")
def django_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("django")
    for name, text in DJANGO_FILES.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(textwrap.dedent(text))
    port = free_port()
    with serving(["manage.py", "---", "runserver", "--noreload", "127.0.0.1:%d" % port], d, port) as srv:
        want, pids = 0.0, set()
        for _ in range(DJANGO_REQUESTS):
            r = get(port)
            want += r["cpu"]
            pids.add(r["pid"])
        rc, report = srv.stop()
        logs = srv.logs()
    return rc, report, logs, str(d / "mysite" / "views.py"), want, pids


def test_django_runserver_view_line(django_run):
    """`scalene run manage.py --- runserver --noreload`, 200 requests, SIGINT:
    rc 0, one process, and the view's burn line is in the report with CPU
    under the server's pid."""
    rc, report, logs, views, want, pids = django_run
    assert rc == 0, logs
    assert len(pids) == 1 and [p["pid"] for p in report["processes"]] == list(pids), (pids, report["processes"])
    hot = line_row(report, views, marker_line(views, "VIEW_BURN"))
    assert pids_on(hot) == pids, hot


@pytest.mark.timing
def test_django_runserver_view_cpu(django_run):
    """The view function holds the CPU the view measured (±20 %). runserver
    serves each request on a new thread that lives a few milliseconds."""
    rc, report, logs, views, want, pids = django_run
    got = cpu_sec(report, func_row(report, views, "burn"))
    assert abs(got - want) <= CPU_TOL * want, "the view holds %.3f s, it measured %.3f s; threads: %s" % (
        got,
        want,
        len(report["threads"]),
    )


# ---------------------------------------------------------------- pytest

PYTEST_SUITE = '''\
import time


def burn(seconds):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:
        for i in range(5000):  # PYTEST_BURN
            x += i * i % 7
    return time.thread_time() - t0


def test_burn():
    assert burn(0.8) {op} 0
'''


@pytest.mark.parametrize("passing", [True, False], ids=["passing", "failing"])
def test_pytest_module(run_scalene, tmp_path, passing):
    """`scalene run -m pytest <dir>/tests -q`: pytest's exit status passes
    through (0, or 1 for a failing test) and the test's burn lines hold its
    ~0.8 s of CPU (±20 %) under the main pid."""
    (tmp_path / "tests").mkdir()
    suite = tmp_path / "tests" / "test_burn.py"
    suite.write_text(PYTEST_SUITE.format(op=">" if passing else "<"))
    run = run_scalene(
        ["-m", "pytest", str(tmp_path / "tests"), "-q", "-p", "no:cacheprovider"], env={"PYTEST_ADDOPTS": None}
    )
    assert run.rc == (0 if passing else 1), "rc %d\n%s\n%s" % (run.rc, run.stdout[-3000:], run.stderr[-2000:])
    assert ("1 passed" if passing else "1 failed") in run.stdout, run.stdout
    report = run.report
    assert report is not None
    main = [p for p in report["processes"] if p["role"] == "main"]
    assert len(main) == 1 and main[0]["exit_code"] == run.rc, report["processes"]
    hot = marker_line(str(suite), "PYTEST_BURN")
    rows = [line_row(report, str(suite), n) for n in (hot, hot + 1)]
    got = sum(cpu_sec(report, r) for r in rows)
    assert abs(got - 0.8) <= CPU_TOL * 0.8, "burn lines hold %.3f s of 0.8 s" % got
    assert pids_on(rows[1]) == {main[0]["pid"]}, rows[1].get("by_process")
