# SPDX-License-Identifier: Apache-2.0
"""Issue 11, item 5: Scalene's memory fields keep Scalene's meaning.

Scalene's threshold sampler records net growth: a line that churns objects it
frees at once reports ~0 MB, a line that keeps what it allocates reports it,
and a line that allocates 100 MB twice (freeing in between) reports 200 MB.
Our `n_malloc_mb` / `n_mallocs` / `n_peak_mb` / the leak rule measure that
growth (docs/MEMORY.md, "Growth"); the gross volume is `n_alloc_volume_mb`.
Timelines are thinned with min/max buckets, so a spike survives.

Ground truth is built into the programs (programs/mem_meaning.py,
programs/mem_spike.py; their docstrings), checked without the profiler first.
Sizes are MiB. Tolerances: KEPT's growth >= 0.8x (and <= 1.25x) what
tracemalloc says it keeps (~160 MiB at the default 1 MiB window: ~160
samples, sd ~8 %); CHURN's growth <= 10 % of KEPT's; CHURN's gross volume
within ±25 % of the getsizeof count (~180 samples); TWICE 2 x 95.4 MiB ±25 %
(two exact samples); the spike 190.7 MiB, >= 180 in every timeline that
covers it (one exact sample)."""
import json
import subprocess

import pytest

from conftest import PYTHON, line_row, marker_line, plain_env, process, program

MiB = float(2**20)
ALL_FILES = ["--cpu-percent-threshold", "0"]
MEANING = program("mem_meaning.py")
SPIKE = program("mem_spike.py")
RESULT = [1919995200028, 200000000, 8, 5242880]
TWICE_MB = 2 * 100_000_001 / MiB  # a bytearray's buffer is len + 1
SPIKE_MB = 200_000_001 / MiB
SPIKE_MIN_MB = 180.0


def last_json(stdout):
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError("no JSON line in %r" % stdout[-2000:])


def fields(row):
    keys = ("n_malloc_mb", "n_alloc_volume_mb", "n_mallocs", "n_peak_mb", "n_net_mb", "n_freed_mb")
    return {k: row.get(k) for k in keys}


def check_ok(run):
    assert run.rc == 0, "rc %d\nstdout %s\nstderr %s" % (run.rc, run.stdout[-2000:], run.stderr[-3000:])
    assert run.report is not None, run.stderr


@pytest.fixture(scope="module")
def truth():
    p = subprocess.run([PYTHON, MEANING, "trace"], capture_output=True, text=True, env=plain_env(), timeout=120)
    assert p.returncode == 0, p.stderr
    m = last_json(p.stdout)
    assert m["result"] == RESULT, m
    return m["truth"]


@pytest.fixture(scope="module")
def meaning(run_scalene_module):
    run = run_scalene_module(ALL_FILES + [MEANING])
    check_ok(run)
    assert run.program_json()["result"] == RESULT
    return run.report


def row(report, marker):
    return line_row(report, MEANING, marker_line(MEANING, marker))


def test_truth_without_profiler(truth):
    """KEPT keeps ~20 MiB a round (8 rounds: 160 MiB ±10 %); CHURN asks for
    ~24 MB a round of ints it frees at once."""
    assert abs(truth["kept"] / MiB - 160) <= 16, truth
    assert 150e6 <= truth["churn_volume"] <= 230e6, truth


def test_kept_outweighs_churn(meaning, truth):
    """The kept line's n_malloc_mb is what it keeps (>= 0.8x, <= 1.25x: its
    own churned loop ints do not count); the churn line's is at most 10 % of
    it; its gross volume (n_alloc_volume_mb) still shows the churn."""
    kept, churn = row(meaning, "KEPT"), row(meaning, "CHURN")
    want = truth["kept"] / MiB
    assert 0.8 * want <= kept["n_malloc_mb"] <= 1.25 * want, "KEPT %s, truth %.1f MiB" % (fields(kept), want)
    assert churn["n_malloc_mb"] <= 0.1 * kept["n_malloc_mb"], "CHURN %s vs KEPT %s" % (fields(churn), fields(kept))
    vol = truth["churn_volume"] / MiB
    assert abs(churn["n_alloc_volume_mb"] - vol) <= 0.25 * vol, "CHURN %s, volume truth %.1f MiB" % (fields(churn), vol)
    assert churn["n_alloc_volume_mb"] >= churn["n_malloc_mb"] and kept["n_alloc_volume_mb"] >= 0.8 * want


def test_churn_counts_no_growth_events(meaning):
    """n_mallocs counts growth events: the kept line has many, the churn line
    (hundreds of sampled ints, each freed at once) at most a tenth as many;
    the churn line's peak is no more than a tenth of the kept line's."""
    kept, churn = row(meaning, "KEPT"), row(meaning, "CHURN")
    assert kept["n_mallocs"] >= 8, fields(kept)
    assert churn["n_mallocs"] <= max(1, kept["n_mallocs"] // 10), (fields(churn), fields(kept))
    assert churn["n_peak_mb"] <= 0.1 * kept["n_peak_mb"], (fields(churn), fields(kept))


def test_alloc_free_alloc_is_growth(meaning):
    """TWICE: 100e6 bytes made and dropped on one line, twice: growth 190.7
    MiB (±25 %), nothing kept, peak one block."""
    r = row(meaning, "TWICE")
    assert abs(r["n_malloc_mb"] - TWICE_MB) <= 0.25 * TWICE_MB, fields(r)
    assert r["n_mallocs"] == 2 and r["n_net_mb"] <= 5, fields(r)
    assert abs(r["n_peak_mb"] - TWICE_MB / 2) <= 0.25 * TWICE_MB / 2, fields(r)


def test_usage_fraction_follows_growth(meaning):
    """n_usage_fraction is the line's share of all growth: the churn line's
    is below a tenth of the kept line's."""
    kept, churn = row(meaning, "KEPT"), row(meaning, "CHURN")
    assert kept["n_usage_fraction"] > 0.3, kept["n_usage_fraction"]
    assert churn["n_usage_fraction"] <= 0.1 * kept["n_usage_fraction"], (churn["n_usage_fraction"], kept["n_usage_fraction"])


def series_max(points):
    return max((mb for _, mb in points), default=0.0)


def test_spike_survives_thinning(run_scalene):
    """A 190.7 MiB block held ~50 ms between two ~1.5 s phases of churn
    (which keep the memory sampler busy, so every timeline is thinned): the
    run's `samples`, the process's `footprint_samples` and the spike line's
    `memory_samples` all reach >= 180 MiB; each stays bounded (<= 100
    points) and time-sorted, and the footprint is back near its base at the
    end (the trough after the spike survives as well)."""
    run = run_scalene(ALL_FILES + [SPIKE])
    check_ok(run)
    report, m = run.report, run.program_json()
    assert report["max_footprint_mb"] >= SPIKE_MIN_MB, report["max_footprint_mb"]
    spike_line = line_row(report, SPIKE, marker_line(SPIKE, "SPIKE"))
    series = {
        "samples": report["samples"],
        "footprint_samples": process(report, m["pid"])["footprint_samples"],
        "memory_samples": spike_line["memory_samples"],
    }
    for name, pts in series.items():
        assert 0 < len(pts) <= 100, (name, len(pts))
        assert all(a[0] < b[0] for a, b in zip(pts, pts[1:])), (name, pts)
        assert series_max(pts) >= SPIKE_MIN_MB, "%s tops out at %.1f MiB (spike %.1f): %s" % (
            name,
            series_max(pts),
            SPIKE_MB,
            pts,
        )
    peak_t = max(series["samples"], key=lambda p: p[1])[0]
    after = [mb for t, mb in series["samples"] if t > peak_t]
    assert after and min(after) <= SPIKE_MIN_MB / 4, ("no trough after the spike", series["samples"])
    assert abs(spike_line["n_malloc_mb"] - SPIKE_MB) <= 0.1 * SPIKE_MB, fields(spike_line)
