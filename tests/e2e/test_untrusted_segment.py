# SPDX-License-Identifier: Apache-2.0
"""Issue 13, item 2: the shared segment is untrusted input.

Every profiled process maps the segment read-write, so a child (or a C
extension with a stray pointer) can overwrite any of it. programs/
seg_scribble.py burns CPU on its BEFORE line, lets a child damage the
segment (MODE), burns CPU on AFTER and exits with status 7. Whatever the
child did, `scalene run` must end within seconds of the program (before the
fix: 0xFF bytes crashed the run with status 139, random bytes and a
scribbled slot position hung it at 100 % CPU until killed), return the
program's status and write a valid report that keeps what was drained
before the damage (BEFORE's samples) and counts what broke.
"""
import time

import pytest

from conftest import line_row, marker_line, process, program

# The program runs ~1.5 s (two 0.6 s burns, a 0.5 s pause, the child); a run
# that takes this much longer hung on the segment.
END_WITHIN_SEC = 30
SECONDS = "0.6"


def run_mode(run_scalene, mode):
    prog = program("seg_scribble.py")
    t0 = time.monotonic()
    run = run_scalene([prog, "---", mode, SECONDS], timeout=END_WITHIN_SEC + 30)
    took = time.monotonic() - t0
    assert took < END_WITHIN_SEC, "scalene run took %.1f s" % took
    assert run.rc == 7, "status %d (the program exits 7)\n%s" % (run.rc, run.stderr[-3000:])
    assert run.report is not None, "no report: %s" % run.stderr[-3000:]
    out = run.program_json()
    assert out["child_rc"] == 0, "the scribbling child failed: %s" % out["child_err"]
    rep = run.report
    main = process(rep, out["main_pid"])
    assert main["role"] == "main" and main["exit_code"] == 7, main
    # what the drain took before the damage is in the report
    before = line_row(rep, prog, marker_line(prog, "BEFORE"))
    assert before["n_cpu_percent_python"] > 5, before
    return rep, out, main


@pytest.mark.parametrize("mode", ["ff", "random"])
def test_whole_segment_overwritten(run_scalene, mode):
    """0xFF or random bytes over every byte of the segment, header included,
    by a profiled child whose own runtime keeps writing afterwards."""
    rep, out, main = run_mode(run_scalene, mode)
    assert out["child_rc"] == 0
    if mode == "random":
        # about half the 512 slots get a positive owner pid that is no
        # process, and a head out of [tail, tail + cap]: quarantined
        q = rep["scalene_c"]["slots_quarantined"]
        assert 100 <= q <= 512, q
    for p in rep["processes"]:
        assert p["records_invalid"] >= 0 and isinstance(p["ring_quarantined"], bool)
    # the segment's unslotted counter became 0xFFFFFFFF or noise: bounded
    # by the processes the run reaped (here at most the main and its child)
    assert 0 <= rep["scalene_c"]["unslotted_processes"] <= 2, rep["scalene_c"]


def test_slot_position_overwritten(run_scalene):
    """The main process's x_head set to 2**62 while it runs: its slot is
    quarantined and said so; before the fix the drain skipped 2**62 'torn'
    cells once the process died (the 12-minute spin of issue 13)."""
    rep, out, main = run_mode(run_scalene, "head")
    assert main["ring_quarantined"] is True, main
    assert rep["scalene_c"]["slots_quarantined"] >= 1
    # positions that break the ring's rules are not counted as records
    assert main["records_torn"] == 0 and main["records_written"] < 10**6, main


def test_garbage_records_counted(run_scalene):
    """An unprofiled child claims a free slot and publishes 40 correctly
    sequenced records that break the format (20 of an unknown kind, 20
    string chunks whose length runs past the record): each is refused,
    counted in that process's records_invalid, and charged nowhere."""
    rep, out, main = run_mode(run_scalene, "records")
    bad = process(rep, out["pid"])
    assert bad["records_invalid"] == 40, bad
    assert bad["records_written"] == 40 and bad["samples"] == 0, bad
    assert main["records_invalid"] == 0 and main["ring_quarantined"] is False, main
    assert rep["scalene_c"]["slots_quarantined"] == 0


def test_honest_run_has_nothing_invalid(run_scalene):
    """The checks never fire on what the runtime writes: forked and exec'd
    processes, memory records, call stacks (REC_STACK), strings."""
    run = run_scalene(["--stacks", program("nested_fork.py")], timeout=END_WITHIN_SEC + 30)
    assert run.rc == 0, run.stderr[-3000:]
    procs = run.report["processes"]
    assert len(procs) >= 3 and sum(p["records_written"] for p in procs) > 100, procs
    for p in procs:
        assert p["records_invalid"] == 0 and p["ring_quarantined"] is False, p
    assert run.report["scalene_c"]["slots_quarantined"] == 0
    assert run.report["combined_stacks"], "no stacks: the STACK records were not taken"
