# SPDX-License-Identifier: Apache-2.0
"""--stacks: call stacks per sample, checked against programs whose true
stack shares are built in (programs/stack_truth.py).

Tolerances: a stack's share of its process's stack time is within ±10
points of the truth (0.7 / 0.3 CPU-s on two call paths to one helper);
sampling at 0.01 s gives ~100 samples, so a share's standard error is ~5
points on an idle machine."""
import os

import pytest

from conftest import marker_line, program

PROG = program("stack_truth.py")


def proc(run, pid):
    rows = [p for p in run.report["processes"] if p["pid"] == pid]
    assert len(rows) == 1, run.report["processes"]
    return rows[0]


def names(stack):
    """(function, line) pairs of one stack, outermost first."""
    return [(f["display_name"], f["line"]) for f in stack[0]]


def share(stacks, pred):
    """Fraction of all stack time (cpu_sec) on stacks for which pred holds."""
    total = sum(s[1]["cpu_sec"] for s in stacks)
    assert total > 0, stacks
    return sum(s[1]["cpu_sec"] for s in stacks if pred(names(s))) / total


def through(*funcs):
    """A predicate: the stack passes through these functions in this order
    (not necessarily adjacent)."""

    def pred(ns):
        it = iter(f for f, _ in ns)
        return all(any(f == g for g in it) for f in funcs)

    return pred


def on_line(func, line):
    return lambda ns: (func, line) in ns


@pytest.fixture(scope="module")
def split(run_scalene_module):
    run = run_scalene_module(["--stacks", PROG, "---", "split"])
    assert run.rc == 0, run.stderr
    return run


@pytest.mark.timing
def test_split_shares(split):
    """outer;inner;spin holds 70 % and side;spin 30 % (±10 points) of the
    main process's stack time, though both end in the same spin line."""
    st = proc(split, split.program_json()["main"])["stacks"]
    inner = share(st, through("main", "outer", "inner", "spin"))
    side = share(st, through("main", "side", "spin"))
    assert abs(inner - 0.7) <= 0.10, (inner, side)
    assert abs(side - 0.3) <= 0.10, (inner, side)


def test_frames_name_the_calling_lines(split):
    """Every frame names the line executing in it: the call site in callers,
    the spinning line in the leaf; outermost first."""
    st = proc(split, split.program_json()["main"])["stacks"]
    spin = marker_line(PROG, "SPIN_LINE")
    hot = max(st, key=lambda s: s[1]["cpu_sec"])
    ns = names(hot)
    assert ns[0][0] == "<module>", ns
    assert ("outer", marker_line(PROG, "OUTER_LINE")) in ns, ns
    assert ("inner", marker_line(PROG, "INNER_LINE")) in ns, ns
    # the leaf is the spin loop: its body (about 55 % of it) or its `for` line (40 %), which a
    # run of ~70 samples ranks first now and then
    assert ns[-1] in (("spin", spin), ("spin", spin - 1)), ns
    assert any(names(s)[:-1] == ns[:-1] and names(s)[-1] == ("spin", spin) for s in st), ns
    assert all(f["kind"] == "py" and f["filename_or_module"] == PROG and f["ip"] is None for f in hot[0]), hot[0]


def test_stack_times_match_line_table(split):
    """A stack's time is what the line table charged for the same samples:
    the stacks ending on SPIN_LINE sum to the line's CPU time (±5 %)."""
    pid = split.program_json()["main"]
    st = proc(split, pid)["stacks"]
    spin_line = marker_line(PROG, "SPIN_LINE")
    on_spin = sum(s[1]["cpu_sec"] for s in st if names(s)[-1] == ("spin", spin_line))
    row = [l for l in split.report["files"][PROG]["lines"] if l["lineno"] == spin_line][0]
    elapsed = split.report["elapsed_time_sec"]
    line_sec = (row["n_cpu_percent_python"] + row["n_cpu_percent_c"] + row["n_sys_percent"]) / 100.0 * split.report["scalene_c"]["total_sec"]
    assert on_spin == pytest.approx(line_sec, rel=0.05), (on_spin, line_sec, elapsed)


def test_merged_scalene_shapes(split):
    """Top level: Scalene's `stacks` ("file func:line;" strings, fractions)
    and `combined_stacks` ([frames, hits]), hottest first."""
    r = split.report
    assert r["stacks"] and r["combined_stacks"]
    frames, fields = r["stacks"][0]
    assert all(isinstance(x, str) and x.endswith(";") for x in frames), frames
    assert "%s inner:%d;" % (PROG, marker_line(PROG, "INNER_LINE")) in frames, frames
    assert set(fields) == {"count", "python_time", "c_time", "cpu_samples"}
    assert 0 < fields["python_time"] + fields["c_time"] <= 1.0
    assert abs(sum(s[1]["cpu_samples"] for s in r["stacks"]) - 1.0) < 1e-6
    hits = [c[1] for c in r["combined_stacks"]]
    assert all(isinstance(h, int) and h > 0 for h in hits)
    assert r["scalene_c"]["stacks"] is True and r["scalene_c"]["stack_samples_lost"] <= 2


def test_off_by_default(run_scalene):
    run = run_scalene([PROG, "---", "thread"])
    assert run.rc == 0, run.stderr
    assert run.report["stacks"] == [] and run.report["combined_stacks"] == []
    assert all("stacks" not in p for p in run.report["processes"])
    assert run.report["scalene_c"]["stacks"] is False


@pytest.mark.timing
def test_forked_child_has_its_own_stacks(run_scalene):
    """The child's stacks are under its pid (its numbers are its own, though
    it inherited the parent's table) and hold its 0.5 CPU-s on
    child_work;spin; the parent's stacks do not include child_work."""
    run = run_scalene(["--stacks", PROG, "---", "fork"])
    assert run.rc == 0, run.stderr
    m = run.program_json()
    child = proc(run, m["child"])["stacks"]
    assert share(child, through("main", "child_work", "spin")) >= 0.8, [names(s) for s in child][:5]
    parent = proc(run, m["main"])["stacks"]
    assert share(parent, through("child_work")) == 0
    # the parent's wait in waitpid is its (system) time too: compare its two paths
    inner, side = share(parent, through("outer", "inner")), share(parent, through("side"))
    assert abs(inner / (inner + side) - 0.7) <= 0.1, (inner, side)
    # merged: the child's tower is there too
    assert any(any(f["display_name"] == "child_work" for f in c[0]) for c in run.report["combined_stacks"])


def test_deep_recursion_is_cut_at_the_root(run_scalene):
    """300 nested calls: the stack keeps the leaf end (spin under recurse)
    and marks the cut with a "..." frame outermost."""
    run = run_scalene(["--stacks", PROG, "---", "deep"])
    assert run.rc == 0, run.stderr
    st = proc(run, run.program_json()["main"])["stacks"]
    bottom = marker_line(PROG, "BOTTOM_LINE")
    deep = [s for s in st if ("recurse", bottom) in names(s)]
    assert deep, [names(s)[-3:] for s in st]
    hot = max(deep, key=lambda s: s[1]["cpu_sec"])
    ns = names(hot)
    assert ns[0][0] == "...", ns[:3]
    assert ns[-1][0] == "spin" and 200 <= len(ns) <= 260, (len(ns), ns[-3:])
    assert share(st, on_line("recurse", bottom)) >= 0.6


@pytest.mark.timing
def test_thread_stack(run_scalene):
    """A thread's stacks start in threading's bootstrap and reach worker;spin
    (0.5 CPU-s), and they are the process's main stack time."""
    run = run_scalene(["--stacks", PROG, "---", "thread"])
    assert run.rc == 0, run.stderr
    st = proc(run, run.program_json()["main"])["stacks"]
    w = [s for s in st if through("worker", "spin")(names(s))]
    assert w, [names(s) for s in st][:5]
    assert all(names(s)[0][0] == "Thread._bootstrap" for s in w), [names(s)[:2] for s in w]
    assert sum(s[1]["cpu_sec"] for s in w) == pytest.approx(0.5, rel=0.25)


# ---- --native: C frames under the Python leaf ----

NPROG = program("native_truth.py")


def native_modules(stack):
    return [os.path.basename(f["filename_or_module"]) for f in stack[0] if f["kind"] == "native"]


@pytest.fixture(scope="module")
def libs(run_scalene_module):
    run = run_scalene_module(["--native", NPROG, "---", "libs"])
    assert run.rc == 0, run.stderr
    return run


def test_native_frames_under_the_python_line(libs):
    """Most of the zlib line's stack time has libz frames under it, and the
    sha256 line's has libcrypto's; C frames come after every Python frame."""
    st = proc(libs, libs.program_json()["main"])["stacks"]
    zl, sl = marker_line(NPROG, "ZLIB_LINE"), marker_line(NPROG, "SHA_LINE")
    z = [s for s in st if on_line("compress", zl)(names(s))]
    h = [s for s in st if on_line("digest", sl)(names(s))]
    zt = sum(s[1]["cpu_sec"] for s in z)
    ht = sum(s[1]["cpu_sec"] for s in h)
    z_lib = sum(s[1]["cpu_sec"] for s in z if any(m.startswith("libz.so") for m in native_modules(s)))
    h_lib = sum(s[1]["cpu_sec"] for s in h if any(m.startswith("libcrypto.so") for m in native_modules(s)))
    assert zt > 0.3 and z_lib >= 0.6 * zt, (z_lib, zt)
    assert ht > 0.2 and h_lib >= 0.6 * ht, (h_lib, ht)
    for s in st:
        kinds = [f["kind"] for f in s[0]]
        assert kinds == sorted(kinds, key=lambda k: k == "native"), kinds
    f = next(f for s in z for f in s[0] if f["kind"] == "native" and f["display_name"] == "deflate")
    assert f["line"] is None and isinstance(f["offset"], int) and f["offset"] > 0, f
    assert libs.report["scalene_c"]["native_stacks"] is True


def test_native_needs_no_python_frames_of_its_own(libs):
    """No C frame of CPython's eval loop is kept: the Python frames above
    stand for it (the walk stops at _PyEval_EvalFrameDefault)."""
    for s in libs.report["combined_stacks"]:
        assert all(f["display_name"] != "_PyEval_EvalFrameDefault" for f in s[0]), s[0]


@pytest.mark.timing  # a rate: the check-to-signal window widens under ASan and load (7 once there)
def test_blocked_threads_are_not_signalled(run_scalene):
    """600 sleeps inside C (usleep, nanosleep through ctypes, which does not
    retry), sampled every 2 ms: a thread inside a system call is never
    signalled, so EINTR comes only from the few microseconds between the
    check and the signal: at most 1 % of the calls (measured 0-8, mean 4.5,
    over 8 idle runs: a rate, hence `timing`; signalling every thread in C
    code instead gave 247)."""
    run = run_scalene(["--native", "--cpu-sampling-rate", "0.002", NPROG, "---", "sleepy"])
    assert run.rc == 0, run.stderr
    assert run.program_json()["eintr"] <= 6


def test_program_owns_its_signals(run_scalene):
    """A program that takes every real-time signal we might use for itself
    never sees one from us, and still runs to its end."""
    run = run_scalene(["--native", NPROG, "---", "takeover"])
    assert run.rc == 0, run.stderr
    assert run.program_json()["handler_calls"] == 0
