"""--profile-interval N (issue 6): the report is rewritten every N seconds
while the program runs, atomically (a temporary file renamed into place),
so a reader polling it never sees half a file, and a long-running server
can be looked at without stopping it."""
import json
import os
import subprocess
import time

from conftest import SCALENE, line_row, marker_line, pct, program, scalene_env

PROG = program("interval_long.py")


def test_report_rewritten_while_running(tmp_path):
    out, stop = tmp_path / "out.json", tmp_path / "stop"
    proc = subprocess.Popen([SCALENE, "run", "--profile-interval", "0.2", "-o", str(out), PROG, "---", str(stop)],
                            cwd=str(tmp_path), env=scalene_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    seen, reads, deadline = [], 0, time.monotonic() + 20
    try:
        while time.monotonic() < deadline and len(seen) < 4:
            if out.exists():
                text = out.read_text()
                reads += 1
                report = json.loads(text)  # never half a file
                total = report["scalene_c"]["total_sec"]
                if not seen or total > seen[-1]:
                    seen.append(total)
            time.sleep(0.05)
        assert proc.poll() is None, "the program ended before the test stopped it"
    finally:
        stop.write_text("")
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert len(seen) >= 4, "intermediate reports with growing totals: %s (%d reads)" % (seen, reads)
    final = json.loads(out.read_text())
    assert final["scalene_c"]["total_sec"] >= seen[-1]
    assert pct(line_row(final, PROG, marker_line(PROG, "BURN"))) >= 80
    assert not [f for f in os.listdir(tmp_path) if f.startswith("out.json.") or f.endswith(".tmp")], os.listdir(tmp_path)


def test_without_interval_no_report_until_the_end(tmp_path):
    out, stop = tmp_path / "out.json", tmp_path / "stop"
    proc = subprocess.Popen([SCALENE, "run", "-o", str(out), PROG, "---", str(stop)], cwd=str(tmp_path),
                            env=scalene_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        assert not out.exists()
    finally:
        stop.write_text("")
        proc.communicate(timeout=60)
    assert out.exists()


def test_bad_interval():
    p = subprocess.run([SCALENE, "run", "--profile-interval", "0", PROG], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
