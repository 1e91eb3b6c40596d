"""IPython / Jupyter magics: ``%load_ext scalene``, then ``%scrun`` and ``%%scalene``.

The magics profile with the real ``scalene`` binary: the statement or cell is
written to a temporary ``.py`` file, ``scalene run`` runs it in a fresh Python
process (so names defined in earlier cells are not visible), and the report is
shown: the self-contained web page in a notebook, ``scalene view --cli`` in a
terminal IPython. Python is only the host here; nothing is profiled in the
kernel itself. Imported only by ``%load_ext scalene`` (``scalene.__init__``).
"""

import codecs
import functools
import html
import os
import re
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.display import display

from scalene.__main__ import _find

# The binary's own error and warning lines start with this (tools/cli.c bad(),
# aggregator/agg.c user_error()); the magics lift them out of the program's stderr.
_PREFIX = "scalene: "

# An option line of `scalene run --help-advanced`: "  -c, --config FILE   ...",
# "  --allocation-sampling-window BYTES", "  --cpu-only   ..."; the metavar is
# upper case, a description word is not ("--profile-system-libraries also ...").
# Continuation lines are indented much deeper, so at most 4 spaces.
_HELP_OPT = re.compile(r"^ {1,4}(-[^\s,]+(?:, -[^\s,]+)*)(?: ([A-Z][A-Z0-9_,.]*))?(?=\s|$)")

# One shell-like word: unquoted characters, backslash escapes, quoted strings.
_WORD = re.compile(r"""(?:[^\s'"\\]|\\.|'[^']*'|"(?:[^"\\]|\\.)*")+""")
_SPACE = re.compile(r"\s*")
_OPTION = re.compile(r"---$|--?[A-Za-z]")

# Options that make no sense here: the target is always the cell's file.
_REFUSED = {"-m": "-m runs a module: put `import mod; mod.main()` in the cell instead",
            "---": "--- passes arguments to a program; the magics run the cell without any"}
_HELP = ("-h", "--help", "--help-advanced")


def load_ipython_extension(ipython):
    """Registers %scrun and %%scalene (called by ``%load_ext scalene``)."""
    ipython.register_magics(ScaleneMagics)


def _binary():
    path = _find()
    if not path:
        raise UsageError(_PREFIX + "cannot find the scalene binary (run `make`, or put it on PATH)")
    return path


@functools.lru_cache(maxsize=4)
def _value_options(binary):
    """The options of `scalene run` that take a value, read from the binary's
    own --help-advanced (which prints --help's options too)."""
    try:
        p = subprocess.run([binary, "run", "--help-advanced"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        raise UsageError("%scannot run %s: %s" % (_PREFIX, binary, e))
    takes = set()
    for line in p.stdout.splitlines():
        m = _HELP_OPT.match(line)
        if m and m.group(2):
            takes.update(n.strip() for n in m.group(1).split(","))
    if p.returncode != 0 or not takes:
        raise UsageError("%s%s run --help-advanced listed no options" % (_PREFIX, binary))
    return frozenset(takes)


def _unquote(word):
    try:
        parts = shlex.split(word)
    except ValueError as e:
        raise UsageError("bad quoting in %r: %s" % (word, e))
    return parts[0] if parts else ""


def _split_line(line, takes):
    """%scrun's line -> (options, statement). Options come first; one that
    takes a value consumes the next word; the statement starts at the first
    word that is not an option, or after `--`. The statement is kept verbatim."""
    opts, pos, need = [], 0, None
    while True:
        pos = _SPACE.match(line, pos).end()
        if pos == len(line):
            break
        m = _WORD.match(line, pos)
        if need:
            if not m:
                raise UsageError("bad quoting in the value of %s" % need)
            opts.append(_unquote(m.group()))
            need, pos = None, m.end()
            continue
        if m and m.group() == "--":
            return opts, line[m.end():].strip()
        if not m or not _OPTION.match(m.group()):
            return opts, line[pos:].strip()
        word = _unquote(m.group())
        opts.append(word)
        if word in takes:
            need = word
        pos = m.end()
    if need:
        raise UsageError("%s needs a value" % need)
    return opts, ""


def _cell_options(line, takes):
    """%%scalene's line: options only (the code is the cell)."""
    try:
        words = shlex.split(line)
    except ValueError as e:
        raise UsageError("bad quoting in %r: %s" % (line, e))
    opts, i = [], 0
    while i < len(words):
        w = words[i]
        if w == "--" and i == len(words) - 1:
            break
        if not _OPTION.match(w):
            raise UsageError("%%%%scalene takes only options on its line; the code is the cell (got %r)" % w)
        opts.append(w)
        if w in takes:
            if i + 1 == len(words):
                raise UsageError("%s needs a value" % w)
            opts.append(words[i + 1])
            i += 1
        i += 1
    return opts


def _outfile(opts, takes):
    """The report path the user asked for with -o/--outfile, or None."""
    out, i = None, 0
    while i < len(opts):
        w = opts[i]
        if w in ("-o", "--outfile"):
            out = opts[i + 1]
        elif w.startswith("--outfile="):
            out = w[len("--outfile="):]
        i += 2 if w in takes else 1
    return out


def _check_options(opts, takes):
    i = 0
    while i < len(opts):
        if opts[i] in _REFUSED:
            raise UsageError(_REFUSED[opts[i]])
        i += 2 if opts[i] in takes else 1


def _stamp(path):
    try:
        st = os.stat(path)
        return (st.st_ino, st.st_mtime_ns, st.st_size)
    except OSError:
        return None


class _Stderr:
    """The run's stderr, passed on as it comes, except whole lines that
    start with "scalene: ": those are held, to become the magic's error
    message or to follow the program's output."""

    def __init__(self):
        self.held, self.buf, self.mid_line = [], "", False

    def feed(self, text):
        self.buf += text
        while self.buf:
            if self.mid_line:  # the rest of a line already passed on
                nl = self.buf.find("\n")
                chunk = self.buf if nl < 0 else self.buf[:nl + 1]
                _write(sys.stderr, chunk)
                self.buf = self.buf[len(chunk):]
                self.mid_line = nl < 0
                continue
            nl = self.buf.find("\n")
            if self.buf.startswith(_PREFIX):
                if nl < 0:
                    return  # wait for the end of the line
                self.held.append(self.buf[:nl])
                self.buf = self.buf[nl + 1:]
            elif nl < 0 and _PREFIX.startswith(self.buf):
                return  # may yet become "scalene: "
            else:
                self.mid_line = True

    def close(self):
        if self.buf.startswith(_PREFIX) and not self.mid_line:
            self.held.append(self.buf)
        elif self.buf:
            _write(sys.stderr, self.buf)
        self.buf = ""


def _write(stream, text):
    stream.write(text)
    stream.flush()


def _run(argv, env):
    """Runs `scalene run`, passing the program's stdout and stderr on as they
    come. Returns (exit status, held "scalene:" lines, interrupted)."""
    # Its own session: a terminal's Ctrl-C reaches only IPython, which
    # forwards one SIGINT (scalene passes it on to the program).
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, start_new_session=True)
    err = _Stderr()
    dec = {proc.stdout.fileno(): codecs.getincrementaldecoder("utf-8")("replace"),
           proc.stderr.fileno(): codecs.getincrementaldecoder("utf-8")("replace")}
    sel = selectors.DefaultSelector()
    for f in (proc.stdout, proc.stderr):
        sel.register(f, selectors.EVENT_READ)
    interrupted = False
    try:
        while sel.get_map():
            try:
                ready = sel.select()
            except KeyboardInterrupt:
                if interrupted:
                    os.killpg(proc.pid, signal.SIGKILL)
                    raise
                interrupted = True
                proc.send_signal(signal.SIGINT)
                continue
            for key, _ in ready:
                data = os.read(key.fd, 65536)
                text = dec[key.fd].decode(data, final=not data)
                if not data:
                    sel.unregister(key.fileobj)
                if key.fileobj is proc.stdout:
                    if text:
                        _write(sys.stdout, text)
                else:
                    err.feed(text)
        err.close()
        return proc.wait(), err.held, interrupted
    finally:
        sel.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def _view(binary, args, env):
    p = subprocess.run([binary, "view"] + args, capture_output=True, text=True, errors="replace", env=env)
    if p.returncode != 0:
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        raise UsageError(lines[-1] if lines else "%sscalene view exited with status %d" % (_PREFIX, p.returncode))
    return p.stdout


def _rich(shell):
    """A notebook kernel (ipykernel, and shells built on it) shows HTML; a
    terminal IPython shows text only."""
    return any(c.__name__ == "ZMQInteractiveShell" for c in type(shell).__mro__)


def _iframe(page):
    # srcdoc: no server and no file; the sandbox keeps the page's scripts out
    # of the notebook's origin (the page makes no request and stores nothing).
    return ('<iframe srcdoc="%s" sandbox="allow-scripts" title="Scalene profile" '
            'style="width:100%%;height:640px;border:1px solid #d9dee5;resize:vertical"></iframe>'
            % html.escape(page, quote=True))


def _profile(shell, opts, code):
    binary = _binary()
    takes = _value_options(binary)
    if any(o in _HELP for o in opts):
        _write(sys.stdout, _help(binary, "--help-advanced" if "--help-advanced" in opts else "--help"))
        return
    _check_options(opts, takes)
    wanted = _outfile(opts, takes)
    cwd = os.getcwd()
    env = dict(os.environ)
    # The script's directory is the temporary one: the working directory goes
    # on the path too, so the user's own modules import as in the notebook.
    env["PYTHONPATH"] = cwd + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with tempfile.TemporaryDirectory(prefix="scalene-ipython-") as tmp:
        src = os.path.join(tmp, "cell%d.py" % (getattr(shell, "execution_count", 0) or 0))
        with open(src, "w", encoding="utf-8") as f:
            f.write(code.rstrip() + "\n")
        report = os.path.join(cwd, wanted) if wanted else os.path.join(tmp, "profile.json")
        before = _stamp(report)
        argv = [binary, "run", "-q"]
        # The kernel's own interpreter runs the cell (its packages, its venv),
        # unless --python or a config file (-c) says otherwise.
        user_python = any(o in ("--python", "-c", "--config") for o in opts)
        if not user_python and sys.executable and os.access(sys.executable, os.X_OK):
            argv += ["--python", sys.executable]
        if not wanted:
            argv += ["-o", report]
        argv += opts + ["---", src]
        rc, held, interrupted = _run(argv, env)
        after = _stamp(report)
        # The file is gone after the magic: its name alone says which cell.
        held = [l.replace(src, os.path.basename(src)) for l in held]
        if after is None or after == before:
            if interrupted:
                _write(sys.stderr, "".join(l + "\n" for l in held) + _PREFIX + "interrupted; no report\n")
                return
            raise UsageError("\n".join(held) or "%sscalene run exited with status %d and wrote no report" %
                             (_PREFIX, rc))
        if held:
            _write(sys.stderr, "".join(l + "\n" for l in held))
        if rc != 0 and not interrupted:
            _write(sys.stderr, "%sthe program exited with status %d\n" % (_PREFIX, rc))
        # the --cli view fits $COLUMNS: the terminal's, or a notebook's width
        cols = os.environ.get("COLUMNS") or ("120" if _rich(shell) else str(shutil.get_terminal_size().columns))
        text = _view(binary, ["--cli", report], dict(env, COLUMNS=cols))
        if _rich(shell):
            page = _view(binary, ["--standalone", "-o", "-", report], env)
            display({"text/html": _iframe(page), "text/plain": text}, raw=True)
        else:
            _write(sys.stdout, text)


def _help(binary, which):
    p = subprocess.run([binary, "run", which], capture_output=True, text=True)
    return ("%scrun [options] statement  /  %%scalene [options] + cell: the options are scalene run's;\n"
            "-o FILE keeps the report.\n\n" + p.stdout)


@magics_class
class ScaleneMagics(Magics):
    """%scrun and %%scalene: profile a statement or a cell with scalene run."""

    @line_magic
    @no_var_expand
    def scrun(self, line):
        """Profile one statement with scalene: %scrun [options] [--] statement

        The statement runs in a FRESH Python process (the notebook's
        interpreter, working directory and environment, with the working
        directory on PYTHONPATH): names defined in earlier cells are not
        visible, so define or import what it needs in the statement itself
        (%%scalene profiles a whole cell). Options are scalene run's
        (%scrun --help lists them) and go to it unchanged, e.g.
        %scrun --cpu-only --reduced-profile f(10); an option that takes a
        value takes the next word; `--` ends the options. -o FILE keeps the
        JSON report. The report is shown as the web view in a notebook and as
        `scalene view --cli` in a terminal. The statement is not expanded
        ($var, {expr}) and must be plain Python (no %magics or !commands).
        """
        takes = _value_options(_binary())
        opts, stmt = _split_line(line, takes)
        _check_options(opts, takes)
        if not stmt and not any(o in _HELP for o in opts):
            raise UsageError("usage: %scrun [options] [--] statement  (%scrun --help lists the options)")
        _profile(self.shell, opts, stmt)

    @cell_magic
    def scalene(self, line, cell):
        """Profile a cell with scalene: %%scalene [options]

        The cell runs in a FRESH Python process (the notebook's interpreter,
        working directory and environment, with the working directory on
        PYTHONPATH): names defined in earlier cells are not visible, so the
        cell must define or import everything it uses. Options are scalene
        run's (%%scalene --help lists them) and go to it unchanged, e.g.
        %%scalene --cpu-only --cpu-sampling-rate 0.005; -o FILE keeps the
        JSON report. The report is shown as the web view in a notebook and as
        `scalene view --cli` in a terminal. The cell must be plain Python
        (no %magics or !commands); its line N is line N in the report.
        """
        takes = _value_options(_binary())
        opts = _cell_options(line, takes)
        _check_options(opts, takes)
        if not cell.strip() and not any(o in _HELP for o in opts):
            raise UsageError("%%scalene: the cell has no code")
        _profile(self.shell, opts, cell)
