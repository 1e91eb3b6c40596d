# SPDX-License-Identifier: Apache-2.0
"""5. Bad input is a user error: exit status 2, exactly one line on stderr
starting "scalene: ", nothing on stdout, and no report file."""
import os

import pytest

from conftest import program


def assert_user_error(run, outfile=None, mention=None):
    assert run.rc == 2, "exit status %d; stderr: %r" % (run.rc, run.stderr)
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and run.stderr.endswith("\n"), "want one stderr line, got %r" % run.stderr
    assert lines[0].startswith("scalene: "), lines[0]
    assert len(lines[0]) > len("scalene: ") + 5, lines[0]
    assert run.stdout == "", run.stdout
    if mention:
        assert mention in lines[0], "%r does not mention %r" % (lines[0], mention)
    if outfile is not None:
        assert not os.path.exists(outfile), "a report was written: %s" % outfile
        leftovers = [f for f in os.listdir(os.path.dirname(outfile)) if f.startswith(os.path.basename(outfile))]
        assert leftovers == [], "temporary report files left: %s" % leftovers


def test_missing_script(run_scalene, tmp_path):
    run = run_scalene(["run", "-o", tmp_path / "out.json", tmp_path / "nope.py"], outfile=None)
    assert_user_error(run, str(tmp_path / "out.json"), mention="nope.py")


def test_syntax_error(run_scalene, tmp_path):
    bad = tmp_path / "bad_syntax.py"
    bad.write_text("import os\n\ndef f(:\n    pass\n")
    run = run_scalene(["run", "-o", tmp_path / "out.json", bad], outfile=None)
    assert_user_error(run, str(tmp_path / "out.json"), mention="bad_syntax.py")
    assert "bad_syntax.py:3:" in run.stderr, "the line of the error is missing: %r" % run.stderr


@pytest.mark.parametrize("opt", ["--no-such-option", "-Z"])
def test_unknown_option(run_scalene, tmp_path, opt):
    run = run_scalene(["run", "-o", tmp_path / "out.json", opt, program("show_args.py")], outfile=None)
    assert_user_error(run, str(tmp_path / "out.json"), mention=opt)


def test_no_program(run_scalene, tmp_path):
    run = run_scalene(["run", "-o", tmp_path / "out.json"], outfile=None)
    assert_user_error(run, str(tmp_path / "out.json"))


def test_missing_python(run_scalene, tmp_path):
    run = run_scalene(
        ["run", "-o", tmp_path / "out.json", "--python", tmp_path / "no-python", program("show_args.py")], outfile=None
    )
    assert_user_error(run, str(tmp_path / "out.json"), mention="no-python")


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"files": {"a.py": ', b"", b"\x00\xff\xfe garbage", b"[1, 2, 3]"],
    ids=["corrupt", "truncated", "empty", "binary", "array"],
)
def test_view_corrupt_json(run_scalene, tmp_path, content):
    f = tmp_path / "corrupt.json"
    f.write_bytes(content)
    run = run_scalene(["view", "--cli", f])
    assert_user_error(run)


def test_view_missing_file(run_scalene, tmp_path):
    run = run_scalene(["view", "--cli", tmp_path / "none.json"])
    assert_user_error(run, mention="none.json")
