# SPDX-License-Identifier: Apache-2.0
"""GPU time and memory per line and per process from NVML (issue 7,
docs/GPU.md), against a fake NVML library (tests/fake_nvml/fake_nvml.c,
compiled here with gcc in its variants) that the aggregator loads instead of
libnvidia-ml.so.1 (--nvml-lib, or $SCALENE_NVML_LIB).

programs/gpu_phases.py "uses the GPU" by construction: while the file
$FAKE_NVML_DIR/<pid> holds "MIB 80" the fake reports that pid at 80 %
utilisation holding MIB MiB. Phase A (line GPU_A) has the file, phase B
(line GPU_B) not; a forked child then has its own phase A (line CHILD_GPU).
The program prints how long each phase A really lasted.

Truth and tolerances:
  n_gpu_percent    phase A's line 80 (the mean utilisation while it ran), B's 0,
                   +-15 points: a poll is ~15 ms and NVML's last per-process
                   sample is held for a few polls after the process goes idle
  GPU memory       phase A's line: mean ~MIB (+-15 %), peak = MIB
  gpu_sec          0.8 x the phase's real length (+-25 %): GPU-seconds
With several devices n_gpu_percent is their mean (Scalene's), gpu_sec their sum.
The paths without a GPU must leave `gpu` false and the run unharmed: no
library, a library whose nvmlInit fails, --cpu-only."""
import os
import subprocess

import pytest

from conftest import file_entry, func_row, line_row, marker_line, process, program

PROG = program("gpu_phases.py")
FAKE_SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fake_nvml", "fake_nvml.c")
UTIL = 80.0
PCT_TOL = 15.0
MEM_TOL = 0.15
SEC_TOL = 0.25
GPU_KEYS = ("n_gpu_percent", "n_gpu_avg_memory_mb", "n_gpu_peak_memory_mb")


@pytest.fixture(scope="module")
def fake_libs(tmp_path_factory):
    """The fake NVML in its three builds: "default" (current drivers: _v3 with
    24-byte entries), "cc32" (_v3 writing nvml.h 12.0's 32-byte entries, with
    nothing that says so) and "v1" (only the unversioned 16-byte call)."""
    d = tmp_path_factory.mktemp("fake_nvml")
    libs = {}
    for name, flags in (("default", []), ("cc32", ["-DFAKE_CC32"]), ("v1", ["-DFAKE_V1"])):
        out = str(d / ("libfake-nvml-%s.so" % name))
        subprocess.run(
            ["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-shared", "-fPIC", "-fvisibility=hidden"]
            + flags
            + ["-o", out, FAKE_SRC],
            check=True,
        )
        libs[name] = out
    return libs


def gpu_run(run, tmp, lib, args, env=None, opts=()):
    """Runs gpu_phases.py with the fake NVML; returns (Run, what the program measured)."""
    fake_dir = tmp / "gpu"
    fake_dir.mkdir(exist_ok=True)
    e = {"FAKE_NVML_DIR": str(fake_dir), "SCALENE_NVML_LIB": None}
    e.update(env or {})
    cmd = list(opts) + (["--nvml-lib", lib] if lib else []) + [PROG, "---"] + [str(a) for a in args]
    r = run(cmd, env=e)
    assert r.rc == 0, "rc=%d\nstdout=%s\nstderr=%s" % (r.rc, r.stdout, r.stderr)
    assert r.report is not None, r.stderr
    return r, r.program_json()


def gpu(row):
    return {k: round(row[k], 2) for k in GPU_KEYS}


def assert_pct(what, got, want):
    assert abs(got - want) <= PCT_TOL, "%s: n_gpu_percent %.1f, truth %.0f (+-%.0f)" % (what, got, want, PCT_TOL)


def assert_sec(what, got, want):
    assert abs(got - want) <= SEC_TOL * want, "%s: gpu_sec %.3f, truth %.3f (+-%d %%)" % (what, got, want, SEC_TOL * 100)


def assert_mem(what, row, mib):
    assert abs(row["n_gpu_avg_memory_mb"] - mib) <= MEM_TOL * mib and row["n_gpu_peak_memory_mb"] == pytest.approx(
        mib
    ), "%s: GPU memory %s, truth %d MiB" % (what, gpu(row), mib)


def assert_no_gpu(report):
    assert report["gpu"] is False and report["gpu_device"] == "" and report["gpu_devices"] == []
    for f in report["files"].values():
        for row in f["lines"] + f["functions"]:
            assert all(row[k] == 0 for k in GPU_KEYS), gpu(row)
    for p in report["processes"]:
        assert p["gpu_sec"] == 0 and p["peak_gpu_memory_mb"] == 0, p


@pytest.fixture(scope="module")
def main_run(run_scalene_module, tmp_path_factory, fake_libs):
    """One run: phases of 1 s, 256 MiB in the parent, 512 MiB in its child."""
    return gpu_run(run_scalene_module, tmp_path_factory.mktemp("main"), fake_libs["default"], [1.0, 256, "child"])


def test_devices(main_run):
    r, _ = main_run
    rep = r.report
    assert rep["gpu"] is True and rep["gpu_device"] == "GPU", (rep["gpu"], rep["gpu_device"], rep["scalene_c"])
    (d,) = rep["gpu_devices"]
    assert d["index"] == 0 and d["name"] == "Fake NVIDIA GPU 0" and d["total_memory_mb"] == 16384, d
    assert d["utilization_source"] == "process", d
    # the fake's foreign process (100 MiB) plus the child's 512 MiB at its peak
    assert d["peak_memory_mb"] == pytest.approx(612), d
    sc = rep["scalene_c"]
    assert sc["gpu_status"] == "ok" and sc["gpu_polls"] > 100 and sc["gpu_samples_lost"] == 0, sc


@pytest.mark.timing
def test_phase_lines(main_run):
    """Phase A's line runs at 80 % holding 256 MiB; phase B's line is idle."""
    r, _ = main_run
    a = line_row(r.report, PROG, marker_line(PROG, "GPU_A"))
    b = line_row(r.report, PROG, marker_line(PROG, "GPU_B"))
    assert_pct("phase A", a["n_gpu_percent"], UTIL)
    assert_pct("phase B", b["n_gpu_percent"], 0.0)
    assert_mem("phase A", a, 256)
    assert b["n_gpu_avg_memory_mb"] <= MEM_TOL * 256, gpu(b)
    pid = str(r.program_json()["pid"])
    assert list(a["by_process"]) == [pid] and gpu(a["by_process"][pid]) == gpu(a), a["by_process"]
    assert_pct("function phase_a", func_row(r.report, PROG, "phase_a")["n_gpu_percent"], UTIL)
    assert_pct("function phase_b", func_row(r.report, PROG, "phase_b")["n_gpu_percent"], 0.0)


@pytest.mark.timing
def test_process_gpu_sec(main_run):
    """gpu_sec: GPU-seconds, 0.8 x the time the phase really lasted."""
    r, got = main_run
    parent, child = process(r.report, got["pid"]), process(r.report, got["child"])
    assert_sec("parent", parent["gpu_sec"], UTIL / 100 * got["a_sec"])
    assert_sec("child", child["gpu_sec"], UTIL / 100 * got["child_a_sec"])
    assert parent["peak_gpu_memory_mb"] == pytest.approx(256) and child["peak_gpu_memory_mb"] == pytest.approx(512)


@pytest.mark.timing
def test_child_line(main_run):
    """The forked child's own line, under the child's pid: the parent is
    waiting meanwhile, and its wait line gets no GPU time."""
    r, got = main_run
    c = line_row(r.report, PROG, marker_line(PROG, "CHILD_GPU"))
    key = str(got["child"])
    assert list(c["by_process"]) == [key], c["by_process"]
    assert_pct("child's line", c["by_process"][key]["n_gpu_percent"], UTIL)
    assert_mem("child's line", c["by_process"][key], 512)
    w = line_row(r.report, PROG, marker_line(PROG, "PARENT_WAIT"))
    assert w["n_gpu_percent"] <= PCT_TOL, gpu(w)


@pytest.mark.timing
def test_device_utilization_fallback(run_scalene, tmp_path, fake_libs):
    """No per-process utilisation (NOT_SUPPORTED) on a 2-GPU machine: a pid
    gets the utilisation of the devices where it holds a context; the line's
    percentage is the mean over both devices (80 / 2), gpu_sec their sum.
    The cc32 build also makes the reader find the 32-byte process entries
    itself: a wrong stride would lose the memory."""
    r, got = gpu_run(
        run_scalene,
        tmp_path,
        fake_libs["cc32"],
        [0.6, 300],
        env={"FAKE_NVML_NO_PROC_UTIL": "1", "FAKE_NVML_DEVICES": "2"},
    )
    rep = r.report
    assert [d["utilization_source"] for d in rep["gpu_devices"]] == ["device", "device"], rep["gpu_devices"]
    a = line_row(rep, PROG, marker_line(PROG, "GPU_A"))
    b = line_row(rep, PROG, marker_line(PROG, "GPU_B"))
    assert_pct("phase A, 2 devices", a["n_gpu_percent"], UTIL / 2)
    assert_pct("phase B, 2 devices", b["n_gpu_percent"], 0.0)
    assert_mem("phase A", a, 300)
    assert_sec("process", process(rep, got["pid"])["gpu_sec"], UTIL / 100 * got["a_sec"])


@pytest.mark.timing
def test_v1_library_from_env(run_scalene, tmp_path, fake_libs):
    """An old NVML (only the v1 process call), named by $SCALENE_NVML_LIB."""
    r, got = gpu_run(run_scalene, tmp_path, None, [0.6, 300], env={"SCALENE_NVML_LIB": fake_libs["v1"]})
    a = line_row(r.report, PROG, marker_line(PROG, "GPU_A"))
    assert r.report["gpu"] is True
    assert_pct("phase A", a["n_gpu_percent"], UTIL)
    assert_mem("phase A", a, 300)


def test_no_library(run_scalene, tmp_path):
    """No NVML at all (the library is missing): gpu false, the run is fine."""
    r, got = gpu_run(run_scalene, tmp_path, None, [0.3, 64], env={"SCALENE_NVML_LIB": str(tmp_path / "missing.so")})
    assert_no_gpu(r.report)
    assert "cannot load NVML" in r.report["scalene_c"]["gpu_status"], r.report["scalene_c"]
    # no GPU is no news unless --gpu asked for one
    assert "no GPU sampled" not in r.stderr and "scalene: GPU" not in r.stderr, r.stderr
    assert file_entry(r.report, PROG)["percent_cpu_time"] > 50


def test_broken_library(run_scalene, tmp_path, fake_libs):
    """An NVML whose nvmlInit_v2 fails: gpu false, the run is fine."""
    r, _ = gpu_run(run_scalene, tmp_path, fake_libs["default"], [0.3, 64], env={"FAKE_NVML_INIT_FAIL": "1"})
    assert_no_gpu(r.report)
    assert r.report["scalene_c"]["gpu_status"].startswith("nvmlInit_v2 failed: 9"), r.report["scalene_c"]


def test_cpu_only(run_scalene, tmp_path, fake_libs):
    """--cpu-only turns GPU sampling off, though a GPU is busy."""
    r, _ = gpu_run(run_scalene, tmp_path, fake_libs["default"], [0.3, 64], opts=["--cpu-only"])
    assert_no_gpu(r.report)
    assert r.report["memory"] is False and r.report["scalene_c"]["gpu_status"] == "off (--cpu-only)"


def test_cpu_only_with_gpu(run_scalene, tmp_path, fake_libs):
    """--cpu-only --gpu: CPU and GPU, no memory."""
    r, _ = gpu_run(run_scalene, tmp_path, fake_libs["default"], [0.3, 64], opts=["--cpu-only", "--gpu"])
    assert r.report["gpu"] is True and r.report["memory"] is False
    a = line_row(r.report, PROG, marker_line(PROG, "GPU_A"))
    assert a["n_gpu_peak_memory_mb"] == pytest.approx(64), gpu(a)


def test_gpu_asked_but_missing(run_scalene, tmp_path):
    """--gpu with no NVML: one line says why, the run goes on."""
    r, _ = gpu_run(run_scalene, tmp_path, str(tmp_path / "missing.so"), [0.1, 64], opts=["--gpu"])
    assert_no_gpu(r.report)
    lines = [l for l in r.stderr.splitlines() if "--gpu" in l]
    assert len(lines) == 1 and "no GPU sampled" in lines[0] and "cannot load NVML" in lines[0], r.stderr
