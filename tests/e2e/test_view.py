# SPDX-License-Identifier: Apache-2.0
"""`scalene view` (tools/view.c) on hand-written profiles in fixtures/.

scalene_format.json is Scalene 2.x's own format (scalene-internals.md section 5),
ours_multi.json this project's (docs/REPORT.md) with three processes; both
describe fixtures/prog_phases.py and fixtures/checks.py. Every number asserted
below is in the fixture by construction (total_sec = 10 s, so 1 s = 10 %).
"""
import json
import os
import pty
import re
import struct
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIX = Path(__file__).resolve().parent / "fixtures"
BUILD = Path(os.environ.get("SCALENE_BUILD", REPO / "build"))
BIN = BUILD / "bin" / "scalene"
SCALENE = FIX / "scalene_format.json"
OURS = FIX / "ours_multi.json"
PROG = "/srv/fixture/prog_phases.py"
CHECKS = "/srv/fixture/checks.py"
CORRUPT = ["truncated.json", "not_json.json", "empty.json", "array.json", "no_files.json",
           "wrong_types.json"]


@pytest.fixture(scope="module")
def scalene_bin():
    if not os.access(BIN, os.X_OK):
        pytest.skip(f"{BIN} is not built")
    return str(BIN)


def run(binary, *args, env=None, cwd=None, columns="200"):
    e = dict(os.environ)
    e.pop("NO_COLOR", None)
    e["COLUMNS"] = columns
    e.update(env or {})
    return subprocess.run([binary, "view", *map(str, args)], capture_output=True, text=True,
                          env=e, cwd=cwd, timeout=60)


def tables(out):
    """Parses every table: [{file, kind, rows: {marker-or-text: row}}]; a row is
    {lineno, Python, native, system[, Net MB, Mem Py%], text}, numbers as strings
    ('' when blank), cut by the header's column ends (columns are right-aligned)."""
    lines = out.splitlines()
    result, current_file = [], None
    for i, line in enumerate(lines):
        m = re.match(r"^(.*): [0-9.]+% of time$", line)
        if m:
            current_file = m.group(1)
            continue
        if not re.match(r"^\s*Line\s+Python\s+native\s+system", line):
            continue
        kind = "Function" if line.rstrip().endswith("Function") else "Source"
        labels = ["Line", "Python", "native", "system"] + \
            (["Net MB", "Mem Py%"] if "Net MB" in line else [])
        ends = [line.index(lab) + len(lab) for lab in labels]
        text_at = line.index(kind)
        rows = []
        for row in lines[i + 2:]:
            if not row.strip():
                break
            r, start = {}, 0
            for lab, end in zip(labels, ends):
                r[lab] = row[start:end].strip()
                start = end
            r["lineno"] = int(r.pop("Line"))
            r["text"] = row[text_at:]
            rows.append(r)
        result.append({"file": current_file, "kind": kind, "rows": rows})
    return result


def row_with(out, needle, kind="Source", file=None):
    found = [r for t in tables(out) if t["kind"] == kind and (file is None or t["file"] == file)
             for r in t["rows"] if needle in r["text"]]
    assert len(found) == 1, f"{needle!r}: {len(found)} rows in\n{out}"
    return found[0]


def has_row(out, needle):
    return any(needle in r["text"] for t in tables(out) for r in t["rows"])


def one_error_line(p):
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    err = p.stderr.splitlines()
    assert len(err) == 1 and err[0].startswith("scalene: "), p.stderr
    return err[0]


# --------------------------------------------------------------- fixtures


def test_fixture_profiles_carry_the_fixture_sources():
    for prof in (SCALENE, OURS):
        files = json.loads(prof.read_text())["files"]
        for name, path in ((PROG, FIX / "prog_phases.py"), (CHECKS, FIX / "checks.py")):
            src = path.read_text().splitlines()
            assert [l["line"].rstrip("\n") for l in files[name]["lines"]] == src
            assert [l["lineno"] for l in files[name]["lines"]] == list(range(1, len(src) + 1))


def test_ours_multi_by_process_adds_up_to_merged():
    files = json.loads(OURS.read_text())["files"]
    n = 0
    for f in files.values():
        for row in f["lines"] + f["functions"]:
            for key in ("n_cpu_percent_python", "n_cpu_percent_c", "n_sys_percent"):
                share = sum(v[key] for v in row.get("by_process", {}).values())
                assert share == pytest.approx(row[key]), (row["line"], key)
            n += len(row.get("by_process", {})) > 1
    assert n >= 3  # lines that several processes share


# ------------------------------------------------------------- good input


def test_scalene_format_shows_its_numbers(scalene_bin):
    p = run(scalene_bin, "--cli", SCALENE)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    out = p.stdout
    assert "Profile of /srv/fixture/prog_phases.py --fast" in out
    assert "elapsed 4.25 s" in out
    assert "Python 2.92 s (68.7%)" in out and "native 0.86 s (20.3%)" in out
    assert "system 0.41 s (9.7%)" in out
    hot = row_with(out, "total += i * i  # MARK_PY_HOT")
    assert (hot["lineno"], hot["Python"], hot["native"], hot["system"]) == (12, "60.0", "1.1", "")
    nat = row_with(out, "data.sort()  # MARK_NATIVE")
    assert (nat["Python"], nat["native"], nat["system"]) == ("0.3", "18.6", "0.1")
    alloc = row_with(out, "# MARK_ALLOC")
    assert (alloc["Net MB"], alloc["Mem Py%"]) == ("38.5", "92.0")
    assert row_with(out, "time.sleep(sec)  # MARK_SLEEP")["system"] == "9.6"
    idle = row_with(out, "# MARK_IDLE")  # without -r every line is shown, blank
    assert idle["text"] == '    print("done" if 1 < 2 else "never")  # MARK_IDLE'  # \u003c decoded
    assert (idle["Python"], idle["native"], idle["system"]) == ("", "", "")
    assert "return sum(data) & 0xFFFF" in row_with(out, "MARK_UTIL", file=CHECKS)["text"]
    busy = row_with(out, "busy_python", kind="Function")
    assert (busy["lineno"], busy["Python"], busy["native"]) == (9, "65.2", "1.1")


def test_ours_merged_view_and_hottest_file_first(scalene_bin):
    assert list(json.loads(OURS.read_text())["files"]) == [CHECKS, PROG]  # JSON order: cold first
    p = run(scalene_bin, "--cli", OURS)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "3 processes" in out
    assert "Python 6.60 s (66.0%)" in out and "native 2.40 s (24.0%)" in out
    assert "system 1.00 s (10.0%)" in out
    for pid in ("4100", "4101", "4102"):  # header lists processes when there are several
        assert re.search(rf"^\s*pid {pid}\b", out, re.M), out
    assert out.index(f"{PROG}: 70.0% of time") < out.index(f"{CHECKS}: 10.0% of time")
    hot = row_with(out, "# MARK_PY_HOT")
    assert (hot["Python"], hot["native"], hot["system"]) == ("39.0", "1.5", "")
    assert row_with(out, "# MARK_SLEEP")["system"] == "7.0"
    assert row_with(out, "# MARK_NATIVE")["native"] == "15.0"
    assert "Net MB" not in out  # memory is false in this profile


@pytest.mark.parametrize("prof", [SCALENE, OURS], ids=["scalene", "ours"])
def test_reduced_hides_inactive_lines(scalene_bin, prof):
    full = run(scalene_bin, "--cli", prof).stdout
    red = run(scalene_bin, "--cli", "-r", prof)
    assert red.returncode == 0, red.stderr
    for inactive in ("# MARK_IDLE", "# MARK_FORK", "import os", "def busy_python(n):"):
        assert has_row(full, inactive)
        assert not has_row(red.stdout, inactive), inactive
    for active in ("# MARK_PY_HOT", "# MARK_NATIVE", "# MARK_SLEEP", "# MARK_ALLOC"):
        assert has_row(red.stdout, active), active
    assert not has_row(red.stdout, "main")  # function main has no samples
    assert row_with(red.stdout, "busy_python", kind="Function")["Python"] != ""
    assert run(scalene_bin, "--reduced", prof).stdout == red.stdout


def test_pid_shows_that_process_share(scalene_bin):
    merged = row_with(run(scalene_bin, "--cli", OURS).stdout, "# MARK_PY_HOT")
    p = run(scalene_bin, "--cli", "--pid", "4101", OURS)
    assert p.returncode == 0, p.stderr
    assert "Showing pid 4101 only (child)" in p.stdout
    hot = row_with(p.stdout, "# MARK_PY_HOT")
    assert (hot["Python"], hot["native"]) == ("9.0", "0.5")
    assert (hot["Python"], hot["native"]) != (merged["Python"], merged["native"])
    sleep = row_with(p.stdout, "# MARK_SLEEP")  # 4101 never slept: inactive
    assert (sleep["Python"], sleep["native"], sleep["system"]) == ("", "", "")
    assert row_with(p.stdout, "MARK_UTIL", file=CHECKS)["Python"] == "2.0"
    assert f"{PROG}: 10.5% of time" in p.stdout

    q = run(scalene_bin, "-r", "--pid=4102", OURS)
    assert q.returncode == 0, q.stderr
    assert row_with(q.stdout, "# MARK_SLEEP")["system"] == "2.0"
    assert not has_row(q.stdout, "# MARK_PY_HOT")
    assert CHECKS not in q.stdout.split("Showing pid")[1]  # 4102 never ran checks.py


@pytest.mark.parametrize("prof,pid", [(OURS, "999"), (OURS, "abc"), (SCALENE, "4100")])
def test_pid_not_in_profile(scalene_bin, prof, pid):
    line = one_error_line(run(scalene_bin, "--pid", pid, prof))
    assert pid in line
    assert "--pid" in line or "not in this profile" in line


def test_processes_table(scalene_bin):
    p = run(scalene_bin, "--processes", OURS)
    assert p.returncode == 0, p.stderr
    rows = {int(l.split()[0]): l.split() for l in p.stdout.splitlines()[1:]}
    assert sorted(rows) == [4100, 4101, 4102]
    assert p.stdout.splitlines()[0].split()[:3] == ["PID", "PPID", "role"]
    assert rows[4100][1:4] == ["4000", "main", "7.00"]
    assert rows[4101][1:3] == ["4100", "child"] and rows[4101][8] == "2"  # dropped
    assert rows[4102][9] == "SIGKILL" and rows[4102][7] == "50"
    assert rows[4100][3:7] == ["7.00", "5.00", "2.00", "0.70"]
    assert "MARK_PY_HOT" not in p.stdout
    one_error_line(run(scalene_bin, "--processes", SCALENE))  # Scalene's has no table


# -------------------------------------------------------------- bad input


@pytest.mark.parametrize("name", CORRUPT)
def test_corrupt_profile_is_one_line_and_exit_2(scalene_bin, name):
    p = run(scalene_bin, "--cli", FIX / name)
    line = one_error_line(p)
    assert p.stdout == ""
    assert name in line
    expect = {"truncated.json": "not valid JSON (unexpected end of data at byte 1500",
              "not_json.json": "not valid JSON", "empty.json": "empty",
              "array.json": "not a profile", "no_files.json": 'no "files" object',
              "wrong_types.json": "n_cpu_percent_python is a string, expected a number"}[name]
    assert expect in line


def test_missing_file_and_default_name(scalene_bin, tmp_path):
    line = one_error_line(run(scalene_bin, "--cli", tmp_path / "nope.json"))
    assert "nope.json" in line and "No such file" in line
    line = one_error_line(run(scalene_bin, "--cli", cwd=tmp_path))
    assert "scalene-profile.json" in line
    (tmp_path / "scalene-profile.json").write_bytes(OURS.read_bytes())
    p = run(scalene_bin, "--cli", cwd=tmp_path)
    assert p.returncode == 0 and has_row(p.stdout, "# MARK_PY_HOT")


def test_missing_optional_keys_read_as_zero(scalene_bin, tmp_path):
    f = tmp_path / "min.json"
    f.write_text('{"files": {"a.py": {"lines": [{"lineno": 1, "line": "x = 1",'
                 ' "n_cpu_percent_python": 12.5}, {"lineno": 2}]}}}')
    p = run(scalene_bin, "--cli", f)
    assert p.returncode == 0, p.stderr
    assert row_with(p.stdout, "x = 1")["Python"] == "12.5"
    assert "a.py: 12.5% of time" in p.stdout  # no percent_cpu_time: the lines' sum


def test_profile_text_cannot_reach_the_terminal_raw(scalene_bin, tmp_path):
    d = json.loads(OURS.read_text())
    d["files"][PROG]["lines"][11]["line"] = "x = 1  # \x1b]0;owned\x07\x1b[31m MARK_EVIL\n"
    f = tmp_path / "evil.json"
    f.write_text(json.dumps(d))
    p = run(scalene_bin, "--cli", f)
    assert p.returncode == 0, p.stderr
    assert "\x1b" not in p.stdout and "\x07" not in p.stdout
    assert "?]0;owned??[31m MARK_EVIL" in row_with(p.stdout, "MARK_EVIL")["text"]


def test_help_lists_every_option(scalene_bin):
    p = run(scalene_bin, "--help")
    assert p.returncode == 0 and p.stdout.startswith("usage: scalene view")
    for opt in ("--cli", "-r", "--reduced", "--pid", "--processes", "--html", "--standalone",
                "-o", "--outfile", "--no-browser", "-h", "--help"):
        assert re.search(rf"(^|\s){re.escape(opt)}\b", p.stdout), opt
    assert run(scalene_bin, "-h").stdout == p.stdout
    assert one_error_line(run(scalene_bin, "--bogus", OURS)).find("--bogus") > 0


# ----------------------------------------------------------------- output


def test_width_fits_columns(scalene_bin):
    p = run(scalene_bin, "--cli", SCALENE, columns="72")
    assert p.returncode == 0
    rows = [r for t in tables(p.stdout) for r in t["rows"]]
    table_lines = [l for l in p.stdout.splitlines() if re.match(r"^\s*\d+ ", l)]
    assert len(table_lines) == len(rows) > 40
    assert max(len(l) for l in table_lines) == 72  # the long comment is cut to fit
    cut = row_with(p.stdout, "# Fixture program")
    assert cut["text"].endswith("\u2026")
    wide = run(scalene_bin, "--cli", SCALENE, columns="300").stdout
    assert "\u2026" not in row_with(wide, "# Fixture program")["text"]


def _run_on_pty(binary, env):
    import fcntl
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    e = dict(os.environ)
    e.pop("NO_COLOR", None)
    e["TERM"] = "xterm"
    e.update(env)
    p = subprocess.Popen([binary, "view", "-r", str(OURS)], stdout=slave, stderr=subprocess.PIPE,
                         env=e)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the pty
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert p.wait(timeout=60) == 0
    return out.decode()


def test_colour_only_on_a_tty_without_no_color(scalene_bin):
    piped = run(scalene_bin, "--cli", OURS)
    assert piped.returncode == 0 and "\x1b" not in piped.stdout
    tty = _run_on_pty(scalene_bin, {})
    assert "\x1b[" in tty  # so the two checks below can fail
    hot = [l for l in tty.splitlines() if "MARK_PY_HOT" in l]
    assert hot and hot[0].startswith("\x1b[1;31m")  # 40.5 % >= 10 %: highlighted
    assert "\x1b[" not in _run_on_pty(scalene_bin, {"NO_COLOR": "1"})
