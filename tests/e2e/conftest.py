# SPDX-License-Identifier: Apache-2.0
"""Shared helpers for the end-to-end tests: run the built `scalene` on a real
Python program and hand back its exit status, output and JSON report.

Environment:
  SCALENE_BUILD     the build directory (default: <repo>/build), holding
                    bin/scalene and lib/scalene/libscalene.so
  SCALENE_ASAN_LIB  set for the ASan build: the path of libasan.so, which must
                    be loaded into python before the (instrumented) runtime.
                    It goes in SCALENE_PRELOAD_FIRST, which the aggregator puts
                    ahead of the runtime in the program's LD_PRELOAD (setting
                    LD_PRELOAD itself would give runtime:libasan, the wrong
                    order, and would also preload libasan into the already
                    instrumented scalene binary).
"""
import json
import os
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PROGRAMS = os.path.join(HERE, "programs")
BUILD = os.path.abspath(os.environ.get("SCALENE_BUILD") or os.path.join(REPO, "build"))
SCALENE = os.path.join(BUILD, "bin", "scalene")
RUNTIME = os.path.join(BUILD, "lib", "scalene", "libscalene.so")
PYTHON = "/usr/bin/python3"
ASAN = bool(os.environ.get("SCALENE_ASAN_LIB"))

# A run of scalene that takes longer than this is a hang, not a slow machine.
RUN_TIMEOUT_SEC = 120


def pytest_collection_modifyitems(config, items):
    """A `timing` test asserts a statistical estimate (sampled CPU within a
    tolerance) on a 2-core machine it loads itself. Where pytest-rerunfailures
    is installed (Debian's python3-pytest-rerunfailures; make installs it), such
    a test that runs its own program gets two more tries: a real regression
    fails all three, a one-in-twenty estimate does not fail the suite. Tests
    whose program runs once per module (a module-scoped fixture) are not
    rerun, since a rerun would only re-read the same report."""
    if not config.pluginmanager.hasplugin("rerunfailures"):
        return
    for item in items:
        if item.get_closest_marker("timing") and not _uses_module_fixture(item):
            item.add_marker(pytest.mark.flaky(reruns=2))


def _uses_module_fixture(item):
    info = getattr(item, "_fixtureinfo", None)
    if not info:
        return False
    for name in info.names_closure:
        defs = info.name2fixturedefs.get(name)
        if defs and defs[-1].scope == "module":
            return True
    return False


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long test; `make check-asan` skips these (-m 'not slow')")
    config.addinivalue_line(
        "markers",
        "timing: asserts attribution accuracy under CPU contention; `make check-asan` skips these, since "
        "ASan slows the sampler itself several times and the run is there to catch memory errors",
    )


def program(name):
    """Absolute path of tests/e2e/programs/<name>."""
    return os.path.join(PROGRAMS, name)


def scalene_env(extra=None):
    """The environment for a scalene process (see the module docstring)."""
    env = dict(os.environ)
    env.pop("SCALENE_PRELOAD_FIRST", None)
    env.pop("LD_PRELOAD", None)
    asan = env.get("SCALENE_ASAN_LIB")
    if asan:
        env["SCALENE_PRELOAD_FIRST"] = asan
        # Python itself leaks by design, and an error must stop the run.
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=1")
    # The program's own output must not depend on a terminal or buffering.
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.pop("PYTHONSTARTUP", None)
    # scalene runs the python3 that PATH gives: the tests' programs are
    # written for PYTHON (Debian's, with its numpy and friends), so its
    # directory goes first; a test that means another passes its own PATH.
    env["PATH"] = os.path.dirname(PYTHON) + ":" + env.get("PATH", "/bin")
    env.pop("SCALENE_INVOKING_PYTHON", None)
    if extra:
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
    return env


def plain_env(extra=None):
    """The environment for running a program without the profiler."""
    env = dict(os.environ)
    for k in ("LD_PRELOAD", "SCALENE_SHM", "SCALENE_PRELOAD_FIRST"):
        env.pop(k, None)
    env.setdefault("PYTHONUNBUFFERED", "1")
    if extra:
        env.update(extra)
    return env


_IDLE_ZERO_D = ("n_cpu_percent_python", "n_cpu_percent_c", "n_sys_percent", "n_core_utilization")
_IDLE_GPU = ("n_gpu_percent", "n_gpu_avg_memory_mb", "n_gpu_peak_memory_mb")
_IDLE_MEM = ("n_peak_mb", "n_avg_mb", "n_growth_mb", "n_python_fraction", "n_usage_fraction", "n_copy_mb_s")


def _idle_row(lineno, text):
    o = {"lineno": lineno, "line": text}
    o.update({k: 0.0 for k in _IDLE_ZERO_D})
    o["cpu_samples_list"] = []
    o.update({k: 0.0 for k in _IDLE_GPU})
    o.update({"n_malloc_mb": 0.0, "n_mallocs": 0})
    o.update({k: 0.0 for k in _IDLE_MEM})
    o.update({"memory_samples": [], "n_net_mb": 0.0, "n_freed_mb": 0.0, "n_async_await_percent": 0,
              "n_async_concurrency_mean": 0, "n_async_concurrency_peak": 0, "async_task_names": [],
              "is_coroutine": False})
    o.update({k: lineno for k in ("start_region_line", "end_region_line", "start_outermost_loop",
                                   "end_outermost_loop")})
    o.update({"start_function_line": 0, "end_function_line": 0})
    return o


def expand_report(d):
    """A compact report (issue 16, docs/REPORT.md "Compact reports") in the
    full form, by the documented rule, so a test reads every line and every
    stack as before: a file's `source` gives the idle lines (all numbers 0);
    `stack_frames` resolves the frame indexes of processes[].stacks and of
    the memory stacks (top level and per process), and
    combined_stacks / stacks are derived from them (hottest first). A full
    report is returned as it is. Modifies and returns d."""
    if not isinstance(d, dict):
        return d
    for fo in (d.get("files") or {}).values():
        src = fo.get("source") if isinstance(fo, dict) else None
        if not isinstance(src, list):
            continue
        rows, out, k = fo.get("lines") or [], [], 0
        for i in range(1, len(src) + 1):
            while k < len(rows) and rows[k]["lineno"] < i:
                out.append(rows[k])
                k += 1
            if k < len(rows) and rows[k]["lineno"] == i:
                out.append(rows[k])
                k += 1
            else:
                out.append(_idle_row(i, src[i - 1]))
        out.extend(rows[k:])
        fo["lines"] = out
        del fo["source"]
    frames = d.get("stack_frames")
    if isinstance(frames, list):
        # memory stacks ([[frame index, ...], MB allocated, MB live]) likewise
        for ms in [d.get("memory_stacks")] + [p.get("memory_stacks") for p in d.get("processes") or []]:
            for e in ms or []:
                e[0] = [frames[i] if isinstance(i, int) else i for i in e[0]]
        merged = {}
        for p in d.get("processes") or []:
            for e in p.get("stacks") or []:
                e[0] = [frames[i] for i in e[0]]
                key = json.dumps(e[0], sort_keys=True)
                m = merged.setdefault(key, [e[0], 0, 0.0, 0.0])
                m[1] += e[1]["count"]
                m[2] += e[1]["python_sec"]
                m[3] += e[1]["native_sec"] + e[1]["system_sec"]
        tot = sum(m[2] + m[3] for m in merged.values())
        cnt = sum(m[1] for m in merged.values())
        hot = sorted(merged.values(), key=lambda m: -m[1])
        d["combined_stacks"] = [[m[0], m[1]] for m in hot]
        d["stacks"] = [[["%s %s:%s;" % (f.get("filename_or_module"), f.get("display_name"), f.get("line") or 0)
                         for f in m[0]],
                        {"count": m[1], "python_time": m[2] / tot if tot else 0.0,
                         "c_time": m[3] / tot if tot else 0.0, "cpu_samples": m[1] / cnt if cnt else 0.0}]
                       for m in hot]
        del d["stack_frames"]
    return d


def load_report(path):
    """The report at path, in the full form (expand_report)."""
    with open(path, "rb") as f:
        return expand_report(json.loads(f.read()))


class Run:
    """The result of one `scalene` invocation. Unpacks as
    (rc, stdout, stderr, report). report is the full form (expand_report);
    raw_report the JSON as written."""

    def __init__(self, rc, stdout, stderr, report, outfile, raw_report=None):
        self.rc, self.stdout, self.stderr, self.report, self.outfile = rc, stdout, stderr, report, outfile
        self.raw_report = raw_report

    def __iter__(self):
        return iter((self.rc, self.stdout, self.stderr, self.report))

    def program_json(self):
        """The last stdout line that is a JSON object: what the program
        measured itself."""
        for line in reversed(self.stdout.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)
        raise AssertionError("program printed no JSON line; stdout=%r stderr=%r" % (self.stdout, self.stderr))


def _run(args, tmp_path, outfile="auto", input=None, cwd=None, env=None, timeout=RUN_TIMEOUT_SEC, text=True):
    args = [str(a) for a in args]
    if args and args[0] == "view":
        cmd = [SCALENE] + args
        outfile = None
    else:
        cmd = [SCALENE] + (args if args and args[0] == "run" else ["run"] + args)
        if outfile == "auto":
            outfile = str(tmp_path / "out.json")
            cmd[2:2] = ["-o", outfile]
    p = subprocess.run(
        cmd,
        input=input,
        capture_output=True,
        cwd=str(cwd or tmp_path),
        env=scalene_env(env),
        timeout=timeout,
        text=text,
    )
    report = raw_report = None
    if outfile and os.path.exists(outfile):
        with open(outfile, "rb") as f:
            raw = f.read()
        try:
            raw_report = json.loads(raw)
            report = expand_report(json.loads(raw))
        except ValueError as e:
            raise AssertionError("report %s is not valid JSON: %s\n%r" % (outfile, e, raw[:2000]))
    return Run(p.returncode, p.stdout, p.stderr, report, outfile, raw_report)


@pytest.fixture(scope="session", autouse=True)
def _built():
    for f in (SCALENE, RUNTIME):
        if not os.access(f, os.R_OK):
            pytest.exit("not built: %s (run make, or set SCALENE_BUILD)" % f, returncode=1)


@pytest.fixture
def run_scalene(tmp_path):
    """run_scalene(args, outfile="auto", input=None, cwd=None, env=None,
    timeout=..., text=True) -> Run, which unpacks as (rc, stdout, stderr,
    report).

    args are scalene's arguments with or without the leading "run" ("view"
    runs `scalene view`). With outfile="auto" the report goes to
    tmp_path/out.json via `-o`; pass outfile=<path> when args already name
    one, or None for none. report is the parsed JSON, or None when no file
    was written. env entries are added to (None: removed from) scalene_env().
    The working directory defaults to tmp_path."""

    def run(args, **kw):
        return _run(args, tmp_path, **kw)

    return run


@pytest.fixture(scope="module")
def run_scalene_module(tmp_path_factory):
    """Like run_scalene, for module-scoped fixtures that share one run."""
    d = tmp_path_factory.mktemp("run")

    def run(args, **kw):
        return _run(args, d, **kw)

    return run


def run_plain(argv, cwd=None, timeout=RUN_TIMEOUT_SEC, input=None):
    """Runs a command without the profiler; returns CompletedProcess."""
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, cwd=cwd, env=plain_env(), timeout=timeout, input=input
    )


# ---- reading a report ----


def page_eval(html, expr, timeout=180):
    """Opens the page file html in Chromium (playwright-core from
    gui/node_modules, through tests/gui/helpers.mjs, as the gui tests do) and
    evaluates the JavaScript expression expr in it. Returns {"value": its
    JSON value, "errors": the page's errors, "load": ms to load}."""
    script = (
        "const h = await import(process.env.HELPERS);"
        "const b = await h.launchBrowser();"
        "try { const p = await h.openPage(b, process.argv[1]);"
        "const v = await p.page.evaluate(process.argv[2]);"
        "console.log(JSON.stringify({value: v, errors: p.errors, load: p.loadMs})); } finally { await b.close(); }")
    env = dict(os.environ, HELPERS=os.path.join(REPO, "tests", "gui", "helpers.mjs"))
    p = subprocess.run(["node", "--input-type=module", "-e", script, str(html), expr], capture_output=True, text=True,
                       timeout=timeout, env=env)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def marker_line(path, marker):
    """1-based line number of the only line of path containing `# <marker>`."""
    with open(path) as f:
        hits = [i + 1 for i, l in enumerate(f) if ("# " + marker) in l]
    assert len(hits) == 1, "marker %r found %d times in %s" % (marker, len(hits), path)
    return hits[0]


def file_entry(report, path):
    files = report["files"]
    assert path in files, "%s not in the report's files: %s" % (path, sorted(files))
    return files[path]


def line_row(report, path, lineno):
    for row in file_entry(report, path)["lines"]:
        if row["lineno"] == lineno:
            return row
    raise AssertionError("line %d of %s not in the report" % (lineno, path))


def func_row(report, path, name):
    rows = [r for r in file_entry(report, path)["functions"] if r["line"] == name]
    assert len(rows) == 1, "function %r: %d rows in %s (functions: %s)" % (
        name,
        len(rows),
        path,
        [r["line"] for r in file_entry(report, path)["functions"]],
    )
    return rows[0]


def pct(row):
    """A row's total: Python + native + system percent."""
    return row["n_cpu_percent_python"] + row["n_cpu_percent_c"] + row["n_sys_percent"]


def pct_to_sec(report, p):
    """Seconds that p percent of the report's total stands for."""
    return p / 100.0 * report["scalene_c"]["total_sec"]


def process(report, pid):
    rows = [p for p in report["processes"] if p["pid"] == pid]
    assert len(rows) == 1, "pid %d: %d rows in processes %s" % (pid, len(rows), report["processes"])
    return rows[0]


def thread(report, tid):
    """The thread object for tid, or None when the report has none."""
    rows = [t for t in report["threads"] if t["tid"] == tid]
    assert len(rows) <= 1, "tid %d listed %d times" % (tid, len(rows))
    return rows[0] if rows else None
