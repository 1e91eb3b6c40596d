# SPDX-License-Identifier: Apache-2.0
"""4. The program's exit status, stdin, stdout and arguments pass through
the profiler untouched, and the report is still written when the program
dies."""
import hashlib
import json
import os
import signal
import textwrap

import pytest

from conftest import ASAN, func_row, line_row, marker_line, pct, pct_to_sec, process, program

EXITS = program("exits.py")


@pytest.mark.parametrize(
    "how, rc, code, sig",
    [
        ("ok", 0, 0, None),
        ("raise", 1, 1, None),
        ("sys3", 3, 3, None),
        ("os5", 5, 5, None),
        ("kill9", 128 + signal.SIGKILL, None, signal.SIGKILL),
        ("segv", 128 + signal.SIGSEGV, None, signal.SIGSEGV),
    ],
)
def test_exit_status(run_scalene, how, rc, code, sig):
    env = None
    if ASAN and how == "segv":
        # ASan's own SIGSEGV handler would turn the signal into an abort.
        env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=1") + ":handle_segv=0"}
    run = run_scalene([EXITS, "---", how, "0.2"], env=env)
    assert run.rc == rc, "exit status %d, want %d; stderr: %s" % (run.rc, rc, run.stderr)
    assert run.report is not None, "no report written; stderr: %s" % run.stderr
    me = run.program_json()
    p = process(run.report, me["pid"])
    assert p["role"] == "main"
    assert p["exit_code"] == code and p["exit_signal"] == sig, p
    assert p["argv"][-2:] == [how, "0.2"], p
    # its samples are kept: the burn loop ran ~0.2 s (>= 0.05 s of it in the report)
    burn = func_row(run.report, EXITS, "burn")
    assert pct_to_sec(run.report, pct(burn)) >= 0.05, "the burn loop lost its samples: %s" % burn


def test_stdin_stdout_passthrough(run_scalene):
    prog = program("echo_stdin.py")
    data = bytes(range(256)) * 4096 + b"\n\x00tail without newline"  # 1 MiB and change
    run = run_scalene([prog], input=data, text=False)
    assert run.rc == 0, run.stderr
    assert run.stdout == data, "stdout differs: %d bytes back of %d" % (len(run.stdout), len(data))
    assert ("bytes=%d sha256=%s" % (len(data), hashlib.sha256(data).hexdigest())).encode() in run.stderr


def test_quiet_run_prints_nothing_of_its_own(run_scalene):
    """With -q the profiler adds nothing to stdout or stderr."""
    prog = program("show_args.py")
    run = run_scalene(["-q", prog, "---", "x"])
    assert run.rc == 0, run.stderr
    assert run.stderr == "", run.stderr
    assert len(run.stdout.splitlines()) == 1 and json.loads(run.stdout)["argv"][1:] == ["x"]


ODD_ARGS = ["a", "b c", "", "---", "-m", "--outfile", "-o", "x.json", "--bogus", "ünï çødé", "*", "$HOME", "'\""]


def test_script_args_after_triple_dash(run_scalene, tmp_path):
    prog = program("show_args.py")
    run = run_scalene([prog, "---"] + ODD_ARGS)
    assert run.rc == 0, run.stderr
    got = run.program_json()
    assert got["argv"] == [prog] + ODD_ARGS
    assert run.report["args"] == ODD_ARGS
    assert not (tmp_path / "x.json").exists()


def test_script_args_without_triple_dash(run_scalene):
    """After the script, words and options that are not scalene's belong to
    the program (`---` is optional): `scalene run prog.py --verbose x -n 3`."""
    prog = program("show_args.py")
    args = ["--verbose", "x", "-n", "3"]
    run = run_scalene([prog] + args)
    assert run.rc == 0, run.stderr
    assert run.program_json()["argv"] == [prog] + args
    assert run.report["args"] == args


def write_module(d, name):
    (d / (name + ".py")).write_text(
        textwrap.dedent(
            """\
            import json, os, sys
            print(json.dumps({"argv": sys.argv, "name": __name__, "pid": os.getpid()}))
            """
        )
    )


def test_module_args_from_cwd(run_scalene, tmp_path):
    write_module(tmp_path, "e2e_mod_cwd")
    args = ["a", "b c", "", "--flag", "-o", "y.json", "---"]
    run = run_scalene(["-m", "e2e_mod_cwd"] + args, cwd=tmp_path)
    assert run.rc == 0, run.stderr
    got = run.program_json()
    assert got["name"] == "__main__"
    assert got["argv"] == [str(tmp_path / "e2e_mod_cwd.py")] + args
    assert run.report["program"] == "-m e2e_mod_cwd"
    assert run.report["args"] == args
    assert process(run.report, got["pid"])["exit_code"] == 0
    assert not (tmp_path / "y.json").exists()


def test_module_on_pythonpath_with_triple_dash(run_scalene, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    write_module(lib, "e2e_mod_path")
    run = run_scalene(["-m", "e2e_mod_path", "---", "x", "--y"], env={"PYTHONPATH": str(lib)})
    assert run.rc == 0, run.stderr
    got = run.program_json()
    assert got["argv"] == [str(lib / "e2e_mod_path.py"), "x", "--y"]


@pytest.mark.timing  # the worker line's share of 0.3 CPU-s is a sampled estimate
def test_main_thread_exits_alone(run_scalene):
    """A main thread that leaves with pthread_exit while a worker runs: the
    process ends with the worker, status 0, as it does unprofiled (the
    sampler thread must not keep it alive: found by CPython's
    test_threading hanging under the profiler), and the worker's line holds
    its CPU although the process's id no longer names its memory."""
    prog = program("main_thread_exit.py")
    run = run_scalene([prog], timeout=30)
    assert run.rc == 0, run.stderr
    m = run.program_json()
    row = line_row(run.report, prog, marker_line(prog, "WORKER_LINE"))
    got = pct_to_sec(run.report, row["n_cpu_percent_python"] + row["n_cpu_percent_c"])
    assert got >= 0.5 * m["cpu"], (got, m)
