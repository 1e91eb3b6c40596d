"""Which files and lines the report keeps (issue 6): --profile-only,
--profile-exclude, --profile-system-libraries, --profile-all decide which
files are profiled at all (in every process: the runtime reads them from
the shared segment); --reduced-profile, --cpu-percent-threshold and
--malloc-threshold decide which lines and files the report keeps."""
import json

import pytest

from conftest import line_row, marker_line, pct, program

PROG = program("scope_json.py")
ENCODER = json.encoder.__file__


def files(report):
    return set(report["files"])


def run_ok(run_scalene, *opts, seconds="0.6"):
    run = run_scalene(list(opts) + [PROG, "---", seconds])
    assert run.rc == 0, run.stderr
    return run.report


def test_default_scope_is_the_program(run_scalene):
    r = run_ok(run_scalene)
    assert PROG in files(r) and ENCODER not in files(r), files(r)
    # the encoder's time lands on the line that called it: the hottest line but for the
    # allocating one (its 80 MB of 4 KiB blocks cost CPU too, under ASan more than 0.6 s of JSON)
    alloc = marker_line(PROG, "ALLOC_ONLY")
    hot = max((row for row in r["files"][PROG]["lines"] if row["lineno"] != alloc), key=pct)
    assert hot["lineno"] == marker_line(PROG, "CALLS_JSON"), hot


def test_profile_only_a_library_file(run_scalene):
    r = run_ok(run_scalene, "--profile-only", "json/encoder")
    assert files(r) == {ENCODER}, files(r)


def test_profile_only_several(run_scalene):
    r = run_ok(run_scalene, "--profile-only", "json/encoder,scope_json")
    assert {ENCODER, PROG} <= files(r), files(r)
    # the encoder has its own lines now: they hold more than the calling line
    enc = sum(pct(row) for row in r["files"][ENCODER]["lines"])
    assert enc > pct(line_row(r, PROG, marker_line(PROG, "CALLS_JSON"))), enc


def test_profile_exclude(run_scalene):
    r = run_ok(run_scalene, "--profile-all", "--profile-exclude", "json/")
    assert PROG in files(r)
    assert not [f for f in files(r) if "/json/" in f], files(r)


@pytest.mark.parametrize("opt", ["--profile-system-libraries", "--profile-all"])
def test_system_libraries(run_scalene, opt):
    r = run_ok(run_scalene, opt)
    assert {ENCODER, PROG} <= files(r), files(r)


def test_reduced_profile_keeps_active_lines(run_scalene):
    full = run_ok(run_scalene)
    red = run_ok(run_scalene, "--reduced-profile")
    n_full, n_red = len(full["files"][PROG]["lines"]), len(red["files"][PROG]["lines"])
    with open(PROG) as f:
        assert n_full == len(f.read().splitlines())  # every source line without the option
    kept = {row["lineno"] for row in red["files"][PROG]["lines"]}
    assert marker_line(PROG, "CALLS_JSON") in kept and marker_line(PROG, "ALLOC_ONLY") in kept, kept
    assert n_red < n_full / 2, (n_red, n_full)
    for row in red["files"][PROG]["functions"]:
        assert pct(row) > 0 or row["n_mallocs"] >= 1, row


def test_malloc_threshold_drops_memory_only_lines(run_scalene):
    r = run_ok(run_scalene, "--reduced-profile", "--malloc-threshold", "1000000")
    kept = {row["lineno"] for row in r["files"][PROG]["lines"]}
    assert marker_line(PROG, "CALLS_JSON") in kept
    assert marker_line(PROG, "ALLOC_ONLY") not in kept or pct(line_row(r, PROG, marker_line(PROG, "ALLOC_ONLY"))) >= 1


def test_cpu_percent_threshold_drops_files(run_scalene):
    # CPU only, so that no file is kept for what it allocated
    r = run_ok(run_scalene, "--cpu-only", "--profile-system-libraries", "--cpu-percent-threshold", "101")
    assert files(r) == set(), files(r)  # no file has more than 100% of the time
    r = run_ok(run_scalene, "--cpu-only", "--profile-system-libraries", "--cpu-percent-threshold", "0")
    assert {ENCODER, PROG} <= files(r), files(r)


def test_malloc_threshold_drops_memory_only_files(run_scalene):
    r = run_ok(run_scalene, "--profile-system-libraries", "--cpu-percent-threshold", "101")
    assert ENCODER in files(r)  # kept for what it allocated
    r = run_ok(run_scalene, "--profile-system-libraries", "--cpu-percent-threshold", "101",
               "--malloc-threshold", "1000000000")
    assert files(r) == set(), files(r)


@pytest.mark.parametrize("args", [["--profile-only"], ["--profile-only", ""], ["--malloc-threshold", "-1"],
                                  ["--malloc-threshold", "2.5"], ["--malloc-threshold", "x"]])
def test_bad_values(run_scalene, args):
    run = run_scalene(args + [PROG], outfile=None)
    assert run.rc == 2 and len(run.stderr.strip().splitlines()) == 1, (run.rc, run.stderr)
