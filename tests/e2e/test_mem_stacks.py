# SPDX-License-Identifier: Apache-2.0
"""Memory stacks (issue 14, part 1): with --stacks each allocation sample
carries its Python call stack (the numbers the CPU samples use), and the
report has `memory_stacks` ([[frame, ...], MB allocated, MB live at the
end]) merged over processes and per process.

Ground truth: programs/mem_stacks.py keeps 120 MB via a() -> helper() and
40 MB via b() -> helper(), in 128 KiB blocks (sampled, ~160 samples at the
default 1 MB window: the share's standard error is ~3.5 points); with
"fork", a child keeps 30 MB via child_alloc() -> helper()."""
import pytest

from conftest import ASAN, marker_line, program

PROG = program("mem_stacks.py")
TOL = 10.0  # points


def names(frames):
    return [f["display_name"] for f in frames]


def through(frames, *path):
    n = names(frames)
    return any(n[i:i + len(path)] == list(path) for i in range(len(n)))


def split(stacks):
    a = sum(mb for f, mb, live in stacks if through(f, "a", "helper"))
    b = sum(mb for f, mb, live in stacks if through(f, "b", "helper"))
    return a, b


@pytest.fixture(scope="module")
def forked(run_scalene_module):
    r = run_scalene_module(["run", "--stacks", PROG, "---", "fork"])
    assert r.rc == 0, r.stderr
    return r.program_json(), r.report


def test_split_75_25(forked):
    m, rep = forked
    ms = rep["memory_stacks"]
    assert ms and all(len(e) == 3 for e in ms), ms[:2]
    a, b = split(ms)
    share = 100 * a / (a + b)
    assert abs(share - 75) <= TOL, (a, b, share)
    # of everything the run allocated in stacks, a and b hold the most
    total = sum(mb for _, mb, _ in ms)
    assert a + b >= 0.6 * total, (a, b, total)
    # kept: live MB equals allocated MB on those stacks
    for f, mb, live in ms:
        if through(f, "a", "helper") or through(f, "b", "helper"):
            assert live == pytest.approx(mb, abs=2.0), (names(f), mb, live)


def test_freed_memory_is_not_live(forked):
    """c() allocates 40 MB through helper() and frees each block at once:
    its stacks hold the allocation, and nothing live at the end."""
    m, rep = forked
    c = [(mb, live) for f, mb, live in rep["memory_stacks"] if through(f, "c", "helper")]
    # ~40 samples of 1 MB: a count, Poisson-like (sd ~6); half of it is plenty for the check
    assert sum(mb for mb, _ in c) >= 20, c
    assert sum(live for _, live in c) <= 2.0, c


def test_heaviest_ends_on_the_keeping_line(forked):
    m, rep = forked
    f, mb, live = max(rep["memory_stacks"], key=lambda e: e[1])
    assert names(f)[-2:] == ["a", "helper"], names(f)
    assert f[-1]["line"] == marker_line(PROG, "KEEP_LINE")
    assert f[-2]["line"] == marker_line(PROG, "A_CALL")
    # the frame objects are combined_stacks'
    assert set(f[-1]) == {"kind", "display_name", "filename_or_module", "line", "ip", "offset"}


def test_forked_child_under_its_pid(forked):
    m, rep = forked
    procs = {p["pid"]: p for p in rep["processes"]}
    child, main = procs[m["child"]], procs[m["main"]]
    cs = child["memory_stacks"]
    mine = sum(mb for f, mb, _ in cs if through(f, "child_alloc"))
    assert mine >= 20, cs[:3]  # ~30 MB
    assert not any(through(f, "a", "helper") or through(f, "b", "helper") for f, _, _ in cs)
    assert not any(through(f, "child_alloc") for f, _, _ in main["memory_stacks"])
    a, b = split(main["memory_stacks"])
    assert abs(100 * a / (a + b) - 75) <= TOL
    # merged = the sum over processes
    merged = sum(mb for _, mb, _ in rep["memory_stacks"])
    per = sum(mb for p in rep["processes"] for _, mb, _ in p.get("memory_stacks", []))
    assert merged == pytest.approx(per, rel=0.01)


def test_without_stacks_none(run_scalene):
    r = run_scalene(["run", PROG])
    assert r.rc == 0, r.stderr
    assert r.report["memory_stacks"] == []
    assert all("memory_stacks" not in p for p in r.report["processes"])


# ---- --native: the C frames of an allocation made in C ----

NPROG = program("mem_native_stacks.py")


def native_modules(frames):
    return [f["filename_or_module"].rsplit("/", 1)[-1] for f in frames if f["kind"] == "native"]


def test_native_allocation_frames(run_scalene):
    """With --native, an allocation made by C code the Python line called
    has that code's frames after the Python ones: numpy's buffers name
    numpy's extension module, a bytearray's the interpreter's resize; no
    frame of ours (the allocation hook) and none of the eval loop."""
    r = run_scalene(["run", "--stacks", "--native", NPROG])
    assert r.rc == 0, r.stderr
    ms = r.report["memory_stacks"]
    np_mb = [(f, mb) for f, mb, _ in ms if "numpy_keep" in names(f)]
    by_mb = [(f, mb) for f, mb, _ in ms if "bytes_keep" in names(f)]
    np_total, by_total = sum(mb for _, mb in np_mb), sum(mb for _, mb in by_mb)
    # 96 and 32 samples of 1 MB, less any taken while the sampler numbered a stack: at least half
    assert by_total >= 16, by_total
    if not ASAN:  # ASan's runtime owns malloc: numpy's calls bypass our hooks (the interpreter's do not)
        assert np_total >= 48, np_total
        np_lib = sum(mb for f, mb in np_mb if any(m.startswith("_multiarray_umath") for m in native_modules(f)))
        assert np_lib >= 0.9 * np_total, [(names(f), mb) for f, mb in np_mb]
        line = marker_line(NPROG, "NUMPY_LINE")
        assert any(x["kind"] == "py" and x["line"] == line for f, _ in np_mb for x in f), line
    by_c = sum(mb for f, mb in by_mb if "PyByteArray_Resize" in names(f))
    assert by_c >= 0.9 * by_total, [(names(f), mb) for f, mb in by_mb]
    for f, _, _ in ms:
        kinds = [x["kind"] for x in f]
        assert kinds == sorted(kinds, key=lambda k: k == "native"), kinds  # C frames after Python's
        assert not [n for n in names(f) if n in ("_PyEval_EvalFrameDefault", "malloc", "calloc", "realloc")], names(f)


def test_no_native_allocation_frames_without_native(run_scalene):
    r = run_scalene(["run", "--stacks", NPROG])
    assert r.rc == 0, r.stderr
    ms = r.report["memory_stacks"]
    assert ms and not [f for f, _, _ in ms if native_modules(f)], [names(f) for f, _, _ in ms][:3]
