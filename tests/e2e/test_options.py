# SPDX-License-Identifier: Apache-2.0
"""Scalene options that change the report or the program's environment,
beyond scope and thresholds (test_scope.py) and config (test_config.py):
--memory-leak-detector / --no-memory-leak-detector, --disable-jit,
--no-async / --async, --on after --off."""
import pytest

from conftest import marker_line, program

LEAK = program("mem_leak.py")
ALL_FILES = ["--cpu-percent-threshold", "0"]


def leak_lines(report):
    return {int(k) for f, d in report["files"].items() if f == LEAK for k in d["leaks"]}


@pytest.mark.timing
def test_leak_detector_on_by_default_and_off_on_request(run_scalene):
    """The growing list's line is a likely leak by default (and with
    --memory-leak-detector); --no-memory-leak-detector leaves every file's
    `leaks` empty while the memory numbers stay."""
    on = run_scalene(ALL_FILES + ["--memory-leak-detector", LEAK, "---", 2.0, 100])
    assert on.rc == 0, on.stderr
    assert marker_line(LEAK, "LEAK") in leak_lines(on.report), on.report["files"][LEAK]["leaks"]
    off = run_scalene(ALL_FILES + ["--no-memory-leak-detector", LEAK, "---", 2.0, 100])
    assert off.rc == 0, off.stderr
    assert all(d["leaks"] == {} for d in off.report["files"].values())
    row = [l for l in off.report["files"][LEAK]["lines"] if l["lineno"] == marker_line(LEAK, "LEAK")][0]
    assert row["n_malloc_mb"] > 50, row["n_malloc_mb"]


def test_disable_jit_sets_the_switches(run_scalene, tmp_path):
    prog = tmp_path / "env.py"
    prog.write_text("import json, os\nprint(json.dumps([os.environ.get('JAX_DISABLE_JIT'), os.environ.get('PYTORCH_JIT')]))\n")
    plain = run_scalene([prog], env={"PYTORCH_JIT": "1"})
    assert plain.rc == 0 and plain.stdout.strip().splitlines()[-1] == '[null, "1"]', plain.stdout
    run = run_scalene(["--disable-jit", prog], env={"PYTORCH_JIT": "1"})
    assert run.rc == 0 and run.stdout.strip().splitlines()[-1] == '["1", "0"]', run.stdout


def test_async_options(run_scalene, tmp_path):
    prog = tmp_path / "p.py"
    prog.write_text("print('ran')\n")
    ok = run_scalene(["--no-async", prog])
    assert ok.rc == 0 and "ran" in ok.stdout and ok.report["async_profile"] is False
    bad = run_scalene(["--async", prog], outfile=None)
    assert bad.rc == 2 and "ran" not in bad.stdout
    assert bad.stderr.count("\n") == 1 and "--async" in bad.stderr, bad.stderr


def test_on_after_off(run_scalene, tmp_path):
    """--on after --off (say, after a config file's off: true) starts on."""
    prog = tmp_path / "burn.py"
    prog.write_text("import time\nt=time.thread_time()\nwhile time.thread_time()-t < 0.3:\n    pass\n")
    off = run_scalene(["--off", prog])
    on = run_scalene(["--off", "--on", prog])
    assert off.rc == 0 and on.rc == 0
    assert off.report["scalene_c"]["total_sec"] < 0.05, off.report["scalene_c"]
    assert on.report["scalene_c"]["total_sec"] > 0.2, on.report["scalene_c"]


def test_every_value_option_takes_the_equals_spelling(run_scalene, tmp_path):
    """--name=VALUE works for every option that takes a value (as in
    argparse, which Scalene uses); the program's own --x=1 is left alone."""
    prog = tmp_path / "args.py"
    prog.write_text("import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    out = tmp_path / "eq.json"
    run = run_scalene(["--cpu-sampling-rate=0.005", "--python=/usr/bin/python3", "--outfile=%s" % out,
                       "--cpu-percent-threshold=0", "--malloc-threshold=5", prog, "--x=1"], outfile=None)
    assert run.rc == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == '["--x=1"]', run.stdout
    import json
    with open(out) as f:
        report = json.load(f)
    assert report["scalene_c"]["sampling_interval_sec"] == 0.005
    assert report["scalene_c"]["python"] == "/usr/bin/python3"
    bad = run_scalene(["--stacks=1", prog], outfile=None)
    assert bad.rc == 2 and "--stacks=1" in bad.stderr
