# SPDX-License-Identifier: Apache-2.0
"""`scalene run -c FILE` / `--config FILE` (issue 6): a YAML mapping of
`option: value`. For every key, a file setting it changes the run the way
the option does, against one run without a file (the `base` fixture);
the command line wins over the file; `-c` stands anywhere among scalene's
options but never takes the program's own arguments; a bad file is one
line naming file, line and key, exit status 2, and the program never runs.

Keys whose option this build's `scalene run --help-advanced` does not list
yet (options other engineers are adding) are skipped, not failed."""
import functools
import os
import subprocess

import pytest

from conftest import PYTHON, SCALENE, line_row, marker_line, pct, program, scalene_env

PROG = program("cfg_work.py")
HELPER = program("cfg_helper.py")
SECONDS = "0.5"


@functools.lru_cache(maxsize=1)
def help_text():
    p = subprocess.run([SCALENE, "run", "--help-advanced"], capture_output=True, text=True, env=scalene_env(), timeout=30)
    return p.stdout


def needs(option):
    if "--" + option not in help_text():
        pytest.skip("this build's scalene run does not know --%s yet" % option)


def write_cfg(tmp_path, text, name="cfg.yaml"):
    f = tmp_path / name
    f.write_text(text)
    return str(f)


def files(report):
    return {os.path.basename(f) for f in report["files"]}


def main_proc(run):
    rows = [p for p in run.report["processes"] if p["role"] == "main"]
    assert len(rows) == 1, run.report["processes"]
    return rows[0]


@pytest.fixture(scope="module")
def base(run_scalene_module, tmp_path_factory):
    """The program run once without a config file."""
    marker = tmp_path_factory.mktemp("base") / "ran"
    run = run_scalene_module([PROG, "---", marker, SECONDS])
    assert run.rc == 0, run.stderr
    return run


@pytest.fixture
def with_cfg(run_scalene, tmp_path):
    """with_cfg(yaml_text, *options, **run_kw) -> Run: the program under
    `scalene run -c FILE [options]`, checked to have run."""

    def run(text, *options, **kw):
        marker = tmp_path / "ran"
        if marker.exists():
            marker.unlink()
        r = run_scalene(["-c", write_cfg(tmp_path, text)] + list(options) + [PROG, "---", marker, SECONDS], **kw)
        assert r.rc == 0, r.stderr
        assert marker.exists(), "the program did not run; stderr: %s" % r.stderr
        return r

    return run


# ---- each key changes what the option changes ----


def test_outfile(run_scalene, tmp_path):
    out = tmp_path / "sub" / "from-cfg.json"
    out.parent.mkdir()
    run = run_scalene(["-c", write_cfg(tmp_path, "outfile: %s\n" % out), PROG, "---", tmp_path / "ran", SECONDS], outfile=str(out))
    assert run.rc == 0, run.stderr
    assert run.report is not None and run.report["program"] == PROG, "no report at %s; stderr: %s" % (out, run.stderr)
    assert not (tmp_path / "scalene-profile.json").exists()  # where it would go without the key


def test_cpu_only(with_cfg, base):
    assert base.report["memory"] is True
    assert with_cfg("cpu-only: true\n").report["memory"] is False


def test_underscore_spelling_and_false(with_cfg):
    assert with_cfg("cpu_only: true\n").report["memory"] is False
    # false is the same as leaving the key out
    assert with_cfg("cpu-only: false\n").report["memory"] is True


def test_memory_after_cpu_only(with_cfg):
    """Keys apply in file order, like options: memory after cpu-only wins."""
    assert with_cfg("cpu-only: true\nmemory: true\n").report["memory"] is True


def test_off(with_cfg, base):
    assert base.report["scalene_c"]["total_sec"] > 0.2 and "cfg_work.py" in files(base.report)
    run = with_cfg("off: true\n")
    assert run.report["scalene_c"]["total_sec"] == 0 and run.report["files"] == {}, run.report["scalene_c"]


def test_on_after_off(with_cfg):
    run = with_cfg("off: true\non: true\n")
    assert run.report["scalene_c"]["total_sec"] > 0.2 and "cfg_work.py" in files(run.report)


def test_python(with_cfg, base, tmp_path):
    alt = tmp_path / "python3-cfg"
    os.symlink(os.path.realpath(PYTHON), alt)
    assert main_proc(base)["argv"][0] == PYTHON
    run = with_cfg("python: %s\n" % alt)
    assert run.report["scalene_c"]["python"] == str(alt), run.report["scalene_c"]
    assert main_proc(run)["argv"][0] == str(alt)


@pytest.mark.timing
def test_cpu_sampling_rate(with_cfg):
    """0.002 s between samples instead of 0.01: about 5x the samples. Its
    own two runs, not `base`, so that a rerun repeats both."""
    slow = main_proc(with_cfg("quiet: true\n"))["samples"]
    run = with_cfg("cpu-sampling-rate: 0.002\n")
    assert run.report["scalene_c"]["sampling_interval_sec"] == 0.002
    fast = main_proc(run)["samples"]
    assert fast >= 2.5 * slow, "samples: %d at 0.002 s, %d at 0.01 s" % (fast, slow)


def test_use_virtual_time(with_cfg, base):
    """The sleeping line: a quarter of the wall-clock profile, nothing of the CPU one."""
    sleep = marker_line(PROG, "SLEEP")
    assert pct(line_row(base.report, PROG, sleep)) >= 10
    run = with_cfg("use-virtual-time: true\n")
    assert run.report["scalene_c"]["virtual_time"] is True
    assert pct(line_row(run.report, PROG, sleep)) <= 3


def test_profile_all(with_cfg, base):
    assert "difflib.py" not in files(base.report)
    assert "difflib.py" in files(with_cfg("profile-all: true\n").report)


def test_program_path(with_cfg, base, tmp_path):
    """A scope holding none of the program's files: none is reported."""
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    run = with_cfg("program-path: %s\n" % empty)
    assert "cfg_work.py" in files(base.report)
    assert run.report["files"] == {} and run.report["scalene_c"]["total_sec"] > 0.2, files(run.report)


def test_cpu_percent_threshold(with_cfg, base):
    """cfg_helper.py has a sixth of the time: kept at 1 %, dropped at 50 %.
    CPU only (both runs), so that no file is kept for what it allocated."""
    both = ["--cpu-only"]
    assert {"cfg_work.py", "cfg_helper.py"} <= files(with_cfg("quiet: false\n", *both).report)
    assert files(with_cfg("cpu-percent-threshold: 50\n", *both).report) == {"cfg_work.py"}


def test_allocation_sampling_window(with_cfg, base):
    assert base.report["scalene_c"]["allocation_sampling_window"] == 1048576
    run = with_cfg("allocation-sampling-window: 65536\n")
    assert run.report["scalene_c"]["allocation_sampling_window"] == 65536


def test_quiet(with_cfg, base):
    assert "profile written" in base.stderr
    assert with_cfg("quiet: true\n").stderr == ""


@pytest.mark.parametrize("value", ["[cfg_helper, no-such-file]", "cfg_helper,no-such-file", "\n  - cfg_helper\n  - no-such-file"],
                         ids=["flow-list", "string", "block-list"])
def test_profile_only(with_cfg, base, value):
    needs("profile-only")
    assert files(with_cfg("profile-only: %s\n" % value).report) == {"cfg_helper.py"}


def test_profile_exclude(with_cfg, base):
    needs("profile-exclude")
    assert "cfg_helper.py" in files(base.report)
    assert files(with_cfg("profile-exclude: [cfg_helper]\n").report) == {"cfg_work.py"}


def test_profile_system_libraries(with_cfg, base):
    needs("profile-system-libraries")
    assert "difflib.py" in files(with_cfg("profile-system-libraries: true\n").report)


def test_malloc_threshold(with_cfg):
    """No file has over 100 % of the time, so files are kept only for what
    they allocated, until no file has a billion allocation samples."""
    needs("malloc-threshold")
    assert "cfg_work.py" in files(with_cfg("quiet: true\n", "--cpu-percent-threshold", "101").report)
    assert with_cfg("malloc-threshold: 1000000000\n", "--cpu-percent-threshold", "101").report["files"] == {}


def test_reduced_profile(with_cfg, base):
    needs("reduced-profile")
    with open(PROG) as f:
        n_src = len(f.read().splitlines())
    assert len(base.report["files"][PROG]["lines"]) == n_src
    lines = with_cfg("reduced-profile: true\n").report["files"][PROG]["lines"]
    assert len(lines) < n_src / 2 and marker_line(PROG, "BURN") in {r["lineno"] for r in lines}


def test_profile_interval(with_cfg, base, tmp_path):
    """The report exists before the program ends (the program looks)."""
    needs("profile-interval")
    assert base.program_json()["watch_seen"] is False
    out = str(tmp_path / "out.json")
    run = with_cfg("profile-interval: 0.1\n", env={"CFG_WATCH": out})
    assert run.program_json()["watch_seen"] is True


def test_stacks(with_cfg, base):
    """stacks: true puts call stacks in the report; no-stacks: true after it
    on the command line (the command line wins) takes them out again."""
    needs("stacks")
    assert base.report["combined_stacks"] == [] and "stacks" not in main_proc(base)
    run = with_cfg("stacks: true\n")
    assert any(f["display_name"] == "burn" for s in main_proc(run)["stacks"] for f in s[0]), main_proc(run)["stacks"][:3]
    assert with_cfg("stacks: true\n", "--no-stacks").report["combined_stacks"] == []


def test_no_stacks(with_cfg):
    needs("no-stacks")
    assert with_cfg("no-stacks: true\n", "--stacks").report["combined_stacks"] != []


def test_native(with_cfg):
    """native: true records stacks (it implies stacks) with C frames where a
    line runs C code (the program's difflib and burn lines mostly do not, so
    only the flag in the report is certain)."""
    needs("native")
    run = with_cfg("native: true\n")
    assert run.report["scalene_c"]["native_stacks"] is True and main_proc(run)["stacks"]


def test_disable_jit(with_cfg, base):
    needs("disable-jit")
    assert base.program_json()["jit"] == [None, None]
    assert with_cfg("disable-jit: true\n").program_json()["jit"] == ["1", "0"]


def test_memory_leak_detector_keys(with_cfg):
    """Both spellings are keys; the leak rule itself is tested on a leaking
    program in test_options.py (this program does not leak)."""
    needs("no-memory-leak-detector")
    with_cfg("no-memory-leak-detector: true\n")
    with_cfg("memory-leak-detector: true\n")


def test_async_keys(with_cfg, run_scalene, tmp_path):
    """no-async is what this profiler does; async: true is refused by name."""
    needs("no-async")
    with_cfg("no-async: true\n")
    run = run_scalene(["-c", write_cfg(tmp_path, "async: true\n"), PROG], outfile=None)
    assert run.rc == 2 and "--async" in run.stderr and "not supported" in run.stderr, run.stderr


def test_gpu(with_cfg):
    """--cpu-only turns the GPU sampler off; gpu: true turns it back on
    (whether or not this machine has a GPU to find)."""
    needs("gpu")
    assert with_cfg("quiet: true\n", "--cpu-only").report["scalene_c"]["gpu_status"] == "off (--cpu-only)"
    assert with_cfg("gpu: true\nquiet: true\n", "--cpu-only").report["scalene_c"]["gpu_status"] != "off (--cpu-only)"


def test_no_gpu(with_cfg):
    needs("no-gpu")
    assert with_cfg("no-gpu: true\n").report["scalene_c"]["gpu_status"] == "off (--no-gpu)"


def test_nvml_lib(with_cfg, tmp_path):
    needs("nvml-lib")
    lib = str(tmp_path / "no-libnvidia-ml.so")
    run = with_cfg("gpu: true\nquiet: true\nnvml-lib: %s\n" % lib)
    assert lib in run.report["scalene_c"]["gpu_status"], run.report["scalene_c"]


def test_every_help_option_has_a_key(run_scalene, tmp_path):
    """Each option of --help-advanced is a key the file accepts (its value
    may still be wrong: only "unknown key" would be a gap in the table)."""
    import re

    opts = sorted(set(re.findall(r"--([a-z][a-z-]+)", help_text())) - {"help", "help-advanced", "config"})
    assert len(opts) >= 13, opts
    for o in opts:
        run = run_scalene(["-c", write_cfg(tmp_path, "%s: true\n" % o), tmp_path / "none.py"], outfile=None)
        assert run.rc == 2 and "unknown key" not in run.stderr, (o, run.stderr)


# ---- the command line wins; -c among scalene's options only ----


def test_command_line_wins(run_scalene, tmp_path):
    cfg = write_cfg(tmp_path, "cpu-only: true\noutfile: %s\n" % (tmp_path / "a.json"))
    b = tmp_path / "b.json"
    run = run_scalene(["-c", cfg, "--memory", "-o", b, PROG, "---", tmp_path / "ran", SECONDS], outfile=str(b))
    assert run.rc == 0, run.stderr
    assert run.report is not None and run.report["memory"] is True
    assert not (tmp_path / "a.json").exists()


def test_command_line_wins_even_before_c(run_scalene, tmp_path):
    """The file's options go ahead of all the command line's, wherever -c is."""
    cfg = write_cfg(tmp_path, "cpu-only: true\nquiet: true\n")
    run = run_scalene(["--memory", "-c", cfg, PROG, "---", tmp_path / "ran", SECONDS])
    assert run.rc == 0 and run.stderr == "", run.stderr
    assert run.report["memory"] is True


@pytest.mark.parametrize(
    "where",
    ["--config FILE PROG", "--config=FILE PROG", "-q -c FILE PROG", "PROG -c FILE", "-c NONE -c FILE PROG"],
)
def test_c_anywhere_among_options(run_scalene, tmp_path, where):
    """Before, between and after scalene's options, the long forms, and two
    files (the later one wins); the program's own `-c` is left alone."""
    cfg = write_cfg(tmp_path, "cpu-only: true\nquiet: true\n")
    none = write_cfg(tmp_path, "memory: true\n", name="none.yaml")
    words = []
    for w in where.split():
        words += {"FILE": [cfg], "NONE": [none], "PROG": [PROG], "--config=FILE": ["--config=" + cfg]}.get(w, [w])
    marker = tmp_path / "ran"
    run = run_scalene(words + ["---", marker, "0.2", "-c", "x", "--config", "y"])
    assert run.rc == 0 and run.stderr == "", run.stderr
    assert run.report["memory"] is False
    assert run.program_json()["argv"] == [PROG, str(marker), "0.2", "-c", "x", "--config", "y"]


def test_program_arguments_untouched(run_scalene, tmp_path):
    """After the program's first argument everything is the program's,
    `-c` included, with or without `---`."""
    cfg = write_cfg(tmp_path, "quiet: true\n")
    marker = tmp_path / "ran"
    run = run_scalene(["-c", cfg, PROG, marker, "0.2", "-c", "nope.yaml"])
    assert run.rc == 0 and run.stderr == "", run.stderr
    assert run.program_json()["argv"] == [PROG, str(marker), "0.2", "-c", "nope.yaml"]


def test_module_arguments_untouched(run_scalene, tmp_path):
    cfg = write_cfg(tmp_path, "quiet: true\n")
    marker = tmp_path / "ran"
    run = run_scalene(["-c", cfg, "-m", "cfg_work", marker, "0.2", "-c", "x"], cwd=os.path.dirname(PROG))
    assert run.rc == 0 and run.stderr == "", run.stderr
    assert run.program_json()["argv"][1:] == [str(marker), "0.2", "-c", "x"]


def test_help_lists_config():
    p = subprocess.run([SCALENE, "run", "--help"], capture_output=True, text=True, env=scalene_env(), timeout=30)
    assert "-c, --config FILE" in p.stdout, p.stdout


# ---- a bad file: one line naming file, line and key; exit 2; the program never runs ----

BAD = [
    # (id, file text, line, words the error must name)
    ("unknown-key", "quiet: true\ncpu-onyl: true\n", 2, ["cpu-onyl"]),
    ("string-for-bool", 'quiet: true\ncpu-only: "true"\n', 2, ["cpu-only"]),
    ("word-for-bool", "quiet: maybe\n", 1, ["quiet", "maybe"]),
    ("mapping-for-string", "outfile:\n  name: a.json\n", 2, ["outfile", "mapping"]),
    ("list-for-bool", "profile-all: [true]\n", 1, ["profile-all"]),
    ("negative-window", "cpu-only: false\nallocation-sampling-window: -4096\n", 2, ["allocation-sampling-window", "-4096"]),
    ("zero-window", "allocation-sampling-window: 0\n", 1, ["allocation-sampling-window"]),
    ("float-for-int", "malloc-threshold: 2.5\n", 1, ["malloc-threshold"]),
    ("word-for-float", "cpu-sampling-rate: fast\n", 1, ["cpu-sampling-rate", "fast"]),
    ("rate-too-small", "cpu-sampling-rate: 0\n", 1, ["cpu-sampling-rate"]),
    ("nan", "cpu-percent-threshold: .nan\n", 1, ["cpu-percent-threshold"]),
    ("null-for-string", "quiet: true\npython:\n", 2, ["python"]),
    ("mapping-in-list", "profile-only:\n  - cfg_helper\n  - {a: 1}\n", 3, ["profile-only"]),
    ("comma-in-list-item", "profile-exclude: [a, 'b,c']\n", 1, ["profile-exclude"]),
    ("duplicate", "cpu-only: true\nquiet: true\ncpu_only: true\n", 3, ["cpu_only", "line 1"]),
    ("top-level-list", "- cpu-only\n- quiet\n", 1, ["mapping"]),
    ("nested-key", "? [cpu-only]\n: true\n", 1, ["key"]),
    ("two-documents", "quiet: true\n---\ncpu-only: true\n", 3, ["document"]),
    ("syntax-indent", "quiet: true\n  cpu-only: true\n", 2, ["syntax"]),
    ("syntax-unclosed", "quiet: true\nprofile-only: [a, b\n", 3, ["syntax", "line 2"]),
    ("syntax-tab", "quiet: true\n\tcpu-only: true\n", 2, ["syntax"]),
]


def assert_refused(run, tmp_path, mention):
    assert run.rc == 2, "exit status %d; stderr: %r" % (run.rc, run.stderr)
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and run.stderr.endswith("\n"), "want one stderr line, got %r" % run.stderr
    assert lines[0].startswith("scalene: "), lines[0]
    for m in mention:
        assert m in lines[0], "%r does not mention %r" % (lines[0], m)
    assert run.stdout == "", run.stdout
    assert not (tmp_path / "ran").exists(), "the program ran"
    assert not (tmp_path / "out.json").exists(), "a report was written"


@pytest.mark.parametrize("text,line,words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_file(run_scalene, tmp_path, text, line, words):
    cfg = write_cfg(tmp_path, text, name="bad.yaml")
    run = run_scalene(["-c", cfg, PROG, "---", tmp_path / "ran", SECONDS])
    assert_refused(run, tmp_path, ["%s:%d:" % (cfg, line)] + words)


def test_missing_file(run_scalene, tmp_path):
    cfg = str(tmp_path / "nope.yaml")
    run = run_scalene(["-c", cfg, PROG, "---", tmp_path / "ran", SECONDS])
    assert_refused(run, tmp_path, [cfg, "No such file"])


def test_directory(run_scalene, tmp_path):
    run = run_scalene(["--config", tmp_path, PROG, "---", tmp_path / "ran", SECONDS])
    assert_refused(run, tmp_path, [str(tmp_path), "directory"])


def test_bad_utf8(run_scalene, tmp_path):
    f = tmp_path / "bin.yaml"
    f.write_bytes(b"quiet: \xff\xfe\n")
    run = run_scalene(["-c", f, PROG, "---", tmp_path / "ran", SECONDS])
    assert_refused(run, tmp_path, [str(f)])


def test_c_without_file(run_scalene, tmp_path):
    run = run_scalene(["-q", "-c"])
    assert_refused(run, tmp_path, ["-c"])


def test_empty_file_changes_nothing(with_cfg, tmp_path):
    run = with_cfg("# nothing set\n")
    assert run.report["memory"] is True and "profile written" in run.stderr
