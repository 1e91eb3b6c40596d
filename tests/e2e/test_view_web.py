# SPDX-License-Identifier: Apache-2.0
"""`scalene view`'s web modes (tools/gui.c, tools/view.c) and the terminal
view's colours and widths, on the hand-written profiles in fixtures/.

The page is the viewer's template (gui/dist/index.html, installed in
<build>/lib/scalene/gui/) with its three markers replaced by the style, the
script and the profile. The tests use the built viewer when the build has it;
before gui/ has a build script they use a stand-in with the same markers, so
that what the C side does (inline, escape, write, serve) is checked either way.
"""
import html.parser
import json
import os
import pty
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIX = Path(__file__).resolve().parent / "fixtures"
BUILD = Path(os.environ.get("SCALENE_BUILD", REPO / "build"))
BIN = BUILD / "bin" / "scalene"
BUILT_GUI = BUILD / "lib" / "scalene" / "gui"
SCALENE = FIX / "scalene_format.json"
OURS = FIX / "ours_multi.json"
CORRUPT = ["truncated.json", "not_json.json", "empty.json", "array.json", "no_files.json",
           "wrong_types.json"]
ASSETS = ("index.html", "scalene-gui.js", "scalene-gui.css")
MARKERS = ("<!--SCALENE:CSS-->", "<!--SCALENE:JS-->", "<!--SCALENE:DATA-->")
URL_RE = re.compile(r"http://127\.0\.0\.1:(\d+)/")
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
SERVE_START_SEC = 30  # generous for the ASan build

# A stand-in for gui/dist that keeps the contract: markers on lines of their
# own, a script with "</script" and "<!--" in it, a style with "</style".
STAND_IN = {
    "index.html": "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Scalene</title>\n"
                  "<!--SCALENE:CSS-->\n</head><body><div id=\"app\"></div>\n"
                  "<!--SCALENE:DATA-->\n<!--SCALENE:JS-->\n</body></html>\n",
    "scalene-gui.js": "const d = JSON.parse(document.getElementById('scalene-data').textContent);\n"
                      "document.getElementById('app').textContent = '</SCRIPT> <!-- ' + Object.keys(d);\n",
    "scalene-gui.css": "body { color: #222 }\n#app::after { content: \"</style>\" }\n",
}


@pytest.fixture(scope="module")
def viewer(tmp_path_factory):
    """(scalene binary, its gui/ directory): the build's when it has the
    viewer, else a copy of the binary in a prefix with the stand-in."""
    if not os.access(BIN, os.X_OK):
        pytest.skip(f"{BIN} is not built")
    if (BUILT_GUI / "index.html").exists():
        return str(BIN), BUILT_GUI
    prefix = tmp_path_factory.mktemp("prefix")
    gui = prefix / "lib" / "scalene" / "gui"
    gui.mkdir(parents=True)
    for name, text in STAND_IN.items():
        (gui / name).write_text(text)
    (prefix / "bin").mkdir()
    shutil.copy2(BIN, prefix / "bin" / "scalene")
    return str(prefix / "bin" / "scalene"), gui


@pytest.fixture
def bare_bin(tmp_path):
    """The binary in a prefix without lib/scalene/gui."""
    if not os.access(BIN, os.X_OK):
        pytest.skip(f"{BIN} is not built")
    (tmp_path / "bare" / "bin").mkdir(parents=True)
    shutil.copy2(BIN, tmp_path / "bare" / "bin" / "scalene")
    return tmp_path / "bare"


def env_of(extra=None):
    e = dict(os.environ)
    for k in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY", "NO_COLOR", "http_proxy", "HTTP_PROXY"):
        e.pop(k, None)
    e.update(extra or {})
    return e


def view(binary, *args, env=None, cwd=None):
    return subprocess.run([binary, "view", *map(str, args)], capture_output=True, text=True,
                          env=env_of(env), cwd=cwd, timeout=60)


def one_error_line(p):
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    err = p.stderr.splitlines()
    assert len(err) == 1 and err[0].startswith("scalene: "), p.stderr
    return err[0]


class Page(html.parser.HTMLParser):
    """The elements that matter: every start tag with its attributes, and
    the text of every <script> and <style> (the parser, like a browser's,
    ends them at the first "</script" / "</style")."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags, self.scripts, self.styles, self._in = [], [], [], None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in = (tag, dict(attrs), [])

    def handle_data(self, data):
        if self._in:
            self._in[2].append(data)

    def handle_endtag(self, tag):
        if self._in and tag == self._in[0]:
            kind, attrs, parts = self._in
            (self.scripts if kind == "script" else self.styles).append((attrs, "".join(parts)))
            self._in = None

    def data_block(self):
        blocks = [t for a, t in self.scripts if a.get("id") == "scalene-data"]
        assert len(blocks) == 1, [a for a, _ in self.scripts]
        return blocks[0]

    def data(self):
        raw = self.data_block()
        assert "</" not in raw and "<!--" not in raw  # nothing that could end the block
        data = json.loads(raw)  # "\/" is a JSON escape: the page's JSON.parse needs no help
        assert json.loads(raw.replace("<\\/", "</")) == data
        return data


def assert_self_contained(page_text, gui_dir):
    page = Page(page_text)
    for tag, attrs in page.tags:
        assert tag != "link", attrs  # no stylesheet, icon or preload from elsewhere
        assert not (tag == "script" and "src" in attrs), attrs
        for name in ("src", "href", "srcset", "action", "poster", "data", "formaction"):
            v = (attrs.get(name) or "").strip().lower()
            assert not v.startswith(("http:", "https:", "//")), (tag, attrs)
    for _, css in page.styles:
        assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", css), css[:200]
    # the viewer's own script and style, inlined whole (escaped as gui.h says), no marker left
    js = (gui_dir / "scalene-gui.js").read_text()
    css = (gui_dir / "scalene-gui.css").read_text()
    js = re.sub(r"(?i)</(?=script)", r"<\\/", js).replace("<!--", "<\\!--")
    css = re.sub(r"(?i)</(?=style)", r"<\\/", css)
    assert js in [t for a, t in page.scripts if not a]
    assert css in [t for _, t in page.styles]
    for m in MARKERS:
        assert m not in page_text
    return page


def profile_copy(tmp_path, src, name="p.json", subdir=None):
    d = tmp_path / subdir if subdir else tmp_path
    d.mkdir(parents=True, exist_ok=True)
    f = d / name
    f.write_bytes(Path(src).read_bytes())
    return f


# --------------------------------------------------------------- the build


def test_build_installed_the_viewer():
    """Once gui/ has its build script, `make` builds the page and installs it."""
    if not (REPO / "gui" / "build.mjs").exists():
        pytest.skip("gui/build.mjs does not exist yet")
    for name in ASSETS:
        assert (BUILT_GUI / name).is_file(), f"make did not install {BUILT_GUI / name}"
    lines = (BUILT_GUI / "index.html").read_text().splitlines()
    for m in MARKERS:  # the contract: each marker on a line of its own
        assert sum(l.strip() == m for l in lines) == 1, m


# --------------------------------------------------------- --standalone/--html


@pytest.mark.parametrize("src", [OURS, SCALENE], ids=["ours", "scalene"])
def test_standalone_is_one_self_contained_file(viewer, tmp_path, src):
    binary, gui = viewer
    prof = profile_copy(tmp_path, src)
    p = view(binary, "--standalone", prof, cwd=tmp_path)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    out = tmp_path / "scalene-profile.html"
    assert sorted(os.listdir(tmp_path)) == ["p.json", "scalene-profile.html"]  # one file, no temporary left
    assert str(out) in p.stdout
    text = out.read_text()
    page = assert_self_contained(text, gui)
    assert page.data() == json.loads(src.read_text())  # the data round-trips
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask  # like any file the user writes


def test_html_writes_the_same_page_next_to_the_profile_and_starts_no_browser(viewer, tmp_path):
    binary, _ = viewer
    prof = profile_copy(tmp_path, OURS, subdir="runs")
    called = tmp_path / "browser-called"
    rec = tmp_path / "rec.sh"
    rec.write_text(f'#!/bin/sh\necho "$@" > {called}\n')
    rec.chmod(0o755)
    env = {"BROWSER": str(rec), "DISPLAY": ":0"}
    p = view(binary, "--html", prof, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    html_page = (tmp_path / "runs" / "scalene-profile.html").read_bytes()
    assert not (tmp_path / "scalene-profile.html").exists()
    q = view(binary, "--standalone", "-o", tmp_path / "s.html", prof, env=env)
    assert q.returncode == 0, q.stderr
    assert (tmp_path / "s.html").read_bytes() == html_page
    r = subprocess.run([binary, "view", "--html", "-o", "-", str(prof)], capture_output=True,
                       env=env_of(env), timeout=60)
    assert r.returncode == 0 and r.stdout == html_page
    # relative to the working directory, and the default profile name
    (tmp_path / "scalene-profile.json").write_bytes(OURS.read_bytes())
    s = view(binary, "--html", env=env, cwd=tmp_path)
    assert s.returncode == 0, s.stderr
    assert (tmp_path / "scalene-profile.html").read_bytes() == html_page
    time.sleep(0.3)
    assert not called.exists()


def test_profile_text_cannot_end_the_data_block(viewer, tmp_path):
    binary, gui = viewer
    d = json.loads(OURS.read_text())
    evil = "/srv/</script><script>alert(1)</script>.py"
    d["files"][evil] = d["files"].pop("/srv/fixture/checks.py")
    d["args"] = ["</SCRIPT >", "<!--<script>", "</style>", "a\u2028b\u2029c", "<\\/x", "-->"]
    d["files"][evil]["lines"][0]["line"] = "x = '</script>'  # <!-- <script> \n"
    prof = tmp_path / "evil.json"
    prof.write_text(json.dumps(d))
    p = view(binary, "--standalone", prof)
    assert p.returncode == 0, p.stderr
    text = (tmp_path / "scalene-profile.html").read_text()
    page = assert_self_contained(text, gui)
    assert page.data() == d
    assert sum("alert(1)" in t for _, t in page.scripts) == 1  # only inside the data block
    assert "alert(1)" in page.data_block()
    n_template = (gui / "index.html").read_text().lower().count("<script")
    assert len(page.scripts) == n_template + 2  # the template's, the viewer's, the data


def test_non_finite_numbers_become_null(viewer, tmp_path):
    """Python's json writes NaN and Infinity, which JSON.parse refuses."""
    binary, _ = viewer
    prof = tmp_path / "nan.json"
    prof.write_text('{"files": {}, "elapsed_time_sec": NaN, "x": [Infinity, -Infinity, 1.5]}')
    p = view(binary, "--standalone", prof)
    assert p.returncode == 0, p.stderr
    data = Page((tmp_path / "scalene-profile.html").read_text()).data_block()
    assert "NaN" not in data and "Infinity" not in data
    assert json.loads(data) == {"files": {}, "elapsed_time_sec": None, "x": [None, None, 1.5]}


@pytest.mark.parametrize("name", CORRUPT)
@pytest.mark.parametrize("mode", ["--standalone", "--html"])
def test_corrupt_profile_writes_nothing(viewer, tmp_path, name, mode):
    binary, _ = viewer
    prof = profile_copy(tmp_path, FIX / name, name=name)
    p = view(binary, mode, prof, cwd=tmp_path)
    line = one_error_line(p)
    assert name in line and p.stdout == ""
    # the same message as the terminal view's
    assert line == one_error_line(view(binary, "--cli", prof, cwd=tmp_path))
    assert os.listdir(tmp_path) == [name]


def test_unwritable_destination(viewer, tmp_path):
    binary, _ = viewer
    line = one_error_line(view(binary, "--html", "-o", tmp_path / "no" / "such" / "x.html", OURS))
    assert "cannot write" in line and "x.html" in line


@pytest.mark.parametrize("args,needle", [
    (["--html", "-r", "P"], "-r"),
    (["--standalone", "--pid", "4100", "P"], "--pid"),
    (["--cli", "--html", "P"], "--cli"),
    (["-o", "x.html", "P"], "--html"),
    (["--cli", "-o", "x.html", "P"], "--html"),
    (["--html", "P", "-o"], "-o"),
    (["--html", "P", "P"], "one profile at a time"),
])
def test_mode_usage_errors(viewer, tmp_path, args, needle):
    binary, _ = viewer
    line = one_error_line(view(binary, *[OURS if a == "P" else a for a in args], cwd=tmp_path))
    assert needle in line
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------- missing assets


def test_missing_assets_is_one_clear_line_and_cli_still_works(bare_bin, tmp_path):
    binary = str(bare_bin / "bin" / "scalene")
    for args in (["--standalone"], ["--html"], []):
        p = subprocess.run([binary, "view", *args, str(OURS)], capture_output=True, text=True,
                           env=env_of(), cwd=tmp_path, timeout=20)
        line = one_error_line(p)
        assert "web view" in line and "build with make" in line, line
        assert str(bare_bin / "lib" / "scalene" / "gui") in line
        assert p.stdout == "" and not (tmp_path / "scalene-profile.html").exists()
    p = subprocess.run([binary, "view", "--cli", str(OURS)], capture_output=True, text=True,
                       env=env_of(), timeout=20)
    assert p.returncode == 0 and "MARK_PY_HOT" in p.stdout


def test_template_without_markers_is_refused(bare_bin, tmp_path):
    gui = bare_bin / "lib" / "scalene" / "gui"
    gui.mkdir(parents=True)
    for name, text in STAND_IN.items():
        (gui / name).write_text(text.replace("<!--SCALENE:DATA-->", ""))
    line = one_error_line(view(str(bare_bin / "bin" / "scalene"), "--standalone", OURS, cwd=tmp_path))
    assert "<!--SCALENE:DATA-->" in line and "index.html" in line


# ------------------------------------------------------------------ serving


class Server:
    """`scalene view ARGS` in the background; .url once it printed it."""

    def __init__(self, binary, *args, env=None, cwd=None):
        self.p = subprocess.Popen([binary, "view", *map(str, args)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env_of(env), cwd=cwd)
        self.out = b""
        sel = selectors.DefaultSelector()
        sel.register(self.p.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + SERVE_START_SEC
        while b"\n" not in self.out and time.monotonic() < deadline:
            if sel.select(timeout=deadline - time.monotonic()):
                chunk = os.read(self.p.stdout.fileno(), 4096)
                if not chunk:
                    break
                self.out += chunk
        sel.close()
        m = URL_RE.search(self.out.decode())
        if not m:
            self.stop(signal.SIGKILL)
            raise AssertionError(f"no URL printed: stdout={self.out!r} stderr={self.p.stderr.read()!r}")
        self.url, self.port = m.group(0), int(m.group(1))

    def stop(self, sig=signal.SIGINT):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            rc = self.p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
            raise AssertionError(f"{sig!r} did not stop the server")
        self.err = self.p.stderr.read().decode()
        self.p.stdout.close()
        self.p.stderr.close()
        return rc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url, host=None):
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with _NO_PROXY.open(req, timeout=20) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def listeners(port):
    """(local address hex, family) of every TCP socket listening on port."""
    found = []
    for fam in ("tcp", "tcp6"):
        with open(f"/proc/net/{fam}") as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                addr, p = parts[1].split(":")
                if int(p, 16) == port and parts[3] == "0A":
                    found.append((addr, fam))
    return found


@pytest.mark.parametrize("src", [OURS, SCALENE], ids=["ours", "scalene"])
def test_serves_the_page_on_loopback_until_sigint(viewer, tmp_path, src):
    binary, gui = viewer
    prof = profile_copy(tmp_path, src)
    assert view(binary, "--standalone", prof).returncode == 0
    standalone = (tmp_path / "scalene-profile.html").read_bytes()
    with Server(binary, prof) as s:
        status, headers, body = get(s.url)
        assert status == 200 and headers["Content-Type"].startswith("text/html"), (status, headers)
        # the page that is served is the page that is written, but for what
        # the proposal endpoint adds (issue 15, docs/AI.md): its token block
        # and connect-src 'self' in the CSP
        ai = re.search(rb'<script id="scalene-ai" type="application/json">[^<]*</script>', body)
        assert ai and b"connect-src 'self'; " in body
        assert body.replace(ai.group(0), b"").replace(b"connect-src 'self'; ", b"", 1) == standalone
        page = assert_self_contained(body.decode(), gui)
        assert page.data() == json.loads(src.read_text())
        status, headers, body = get(s.url + "profile.json")
        assert status == 200 and json.loads(body) == json.loads(src.read_text())
        assert get(s.url + "nope")[0] == 404
        assert get(f"http://localhost:{s.port}/")[0] == 200
        # another site's name for 127.0.0.1 (DNS rebinding) gets nothing
        status, _, body = get(s.url, host=f"evil.example:{s.port}")
        assert status == 403 and b"scalene" not in body
        # bound to 127.0.0.1 only: not 0.0.0.0, not IPv6, not another loopback address
        assert listeners(s.port) == [("0100007F", "tcp")]
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.2", s.port), timeout=5).close()
        assert s.p.poll() is None
        assert s.stop(signal.SIGINT) == 0
        assert s.err == ""
        assert listeners(s.port) == []


def test_sigterm_stops_it_too(viewer, tmp_path):
    binary, _ = viewer
    with Server(binary, OURS) as s:
        assert get(s.url)[0] == 200
        assert s.stop(signal.SIGTERM) == 0


def test_default_profile_name(viewer, tmp_path):
    binary, _ = viewer
    (tmp_path / "scalene-profile.json").write_bytes(SCALENE.read_bytes())
    with Server(binary, cwd=tmp_path) as s:
        assert Page(get(s.url)[2].decode()).data() == json.loads(SCALENE.read_text())
        assert s.stop() == 0


@pytest.mark.parametrize("name", CORRUPT + ["missing.json"])
def test_bad_profile_is_served_as_an_error_page(viewer, tmp_path, name):
    binary, gui = viewer
    prof = profile_copy(tmp_path, FIX / name, name=name) if name != "missing.json" else tmp_path / name
    with Server(binary, prof) as s:
        status, _, body = get(s.url)
        assert status == 200
        data = assert_self_contained(body.decode(), gui).data()
        assert list(data) == ["scalene_view_error"]
        msg = data["scalene_view_error"]
        assert name in msg
        assert get(s.url + "profile.json")[0] == 404  # there is no profile to hand out
        rc = s.stop()
    line = s.err.splitlines()
    assert len(line) == 1 and line[0] == "scalene: " + msg  # the same one line on stderr
    assert rc == 2  # documented: the page showed an error, so does the exit status


def _recorder(tmp_path, name="rec"):
    called = tmp_path / f"{name}-called"
    rec = tmp_path / name
    rec.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {called}.tmp && mv {called}.tmp {called}\n')
    rec.chmod(0o755)
    return rec, called


def _wait_for(path, sec=10):
    deadline = time.monotonic() + sec
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_text()
        time.sleep(0.05)
    return None


@pytest.mark.parametrize("form", ["plain", "percent-s", "list"])
def test_browser_from_BROWSER_gets_the_url(viewer, tmp_path, form):
    binary, _ = viewer
    rec, called = _recorder(tmp_path)
    browser = {"plain": str(rec), "percent-s": f"{rec} --new-tab %s",
               "list": f"/no/such/browser:{rec}"}[form]
    with Server(binary, OURS, env={"BROWSER": browser}) as s:
        got = _wait_for(called)
        assert got is not None, "the browser was not started"
        assert got.split("\n")[:-1] == ([s.url] if form != "percent-s" else ["--new-tab", s.url])
        assert get(s.url)[0] == 200
        assert s.stop() == 0


def test_xdg_open_only_with_a_display(viewer, tmp_path):
    binary, _ = viewer
    bindir = tmp_path / "bin"
    bindir.mkdir()
    rec, called = _recorder(tmp_path)
    shutil.copy2(rec, bindir / "xdg-open")
    path = f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    with Server(binary, OURS, env={"PATH": path}) as s:  # no DISPLAY: no browser
        assert get(s.url)[0] == 200
        time.sleep(0.5)
        assert s.stop() == 0
    assert not called.exists()
    with Server(binary, OURS, env={"PATH": path, "DISPLAY": ":0"}) as s:
        assert _wait_for(called) == s.url + "\n"
        assert s.stop() == 0


def test_no_browser_and_a_broken_browser_never_fail(viewer, tmp_path):
    binary, _ = viewer
    rec, called = _recorder(tmp_path)
    with Server(binary, "--no-browser", OURS, env={"BROWSER": str(rec)}) as s:
        assert get(s.url)[0] == 200
        time.sleep(0.5)
        assert s.stop() == 0
    assert not called.exists()
    fail = tmp_path / "fail.sh"
    fail.write_text("#!/bin/sh\necho boom >&2\nexit 3\n")
    fail.chmod(0o755)
    for browser in ("/no/such/browser", str(fail)):
        with Server(binary, OURS, env={"BROWSER": browser}) as s:
            assert get(s.url)[0] == 200
            assert s.stop() == 0
            assert "boom" not in s.err


# ------------------------------------------------------------ terminal view


def _on_pty(binary, args, env, cols=120):
    import fcntl
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
    e = env_of({"TERM": "xterm"})
    e.update(env)
    p = subprocess.Popen([binary, "view", *map(str, args)], stdout=slave, stderr=subprocess.PIPE, env=e)
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
    return out.decode().replace("\r\n", "\n")


@pytest.mark.parametrize("src", [OURS, SCALENE], ids=["ours", "scalene"])
def test_no_escape_codes_when_piped_or_with_no_color(viewer, src):
    binary, _ = viewer
    piped = view(binary, "--cli", src, env={"TERM": "xterm", "COLUMNS": "120"})
    assert piped.returncode == 0 and "MARK_PY_HOT" in piped.stdout
    assert "\x1b" not in piped.stdout
    on_tty = _on_pty(binary, ["--cli", src], {})
    assert "\x1b[" in on_tty  # so that the checks around it can fail
    assert ANSI_RE.sub("", on_tty) == piped.stdout.replace("\r\n", "\n")  # colour is all that differs
    no_color = _on_pty(binary, ["--cli", src], {"NO_COLOR": "1"})
    assert "\x1b" not in no_color and no_color == piped.stdout
    # https://no-color.org: an empty NO_COLOR does not turn colour off
    assert "\x1b[" in _on_pty(binary, ["--cli", src], {"NO_COLOR": ""})


@pytest.mark.parametrize("src,args", [
    (SCALENE, ["--cli"]), (SCALENE, ["-r"]), (OURS, ["--cli"]), (OURS, ["-r"]),
    (OURS, ["--pid", "4101"]), (OURS, ["--processes"]),
])
@pytest.mark.parametrize("cols", [40, 60, 80])
def test_lines_fit_columns(viewer, src, args, cols):
    binary, _ = viewer
    p = view(binary, *args, src, env={"COLUMNS": str(cols)})
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) > 3
    assert max(len(l) for l in lines) <= cols, [l for l in lines if len(l) > cols]
    if cols == 60 and args != ["--processes"]:
        assert any(len(l) >= 55 for l in lines)  # the width is used, not just respected
        for needle in ("elapsed", "Python", "native", "system"):
            assert needle in p.stdout
    if args == ["--processes"]:
        assert lines[0].split()[0] == "PID" and lines[0].split()[-1] == "argv"
        assert {l.split()[0] for l in lines[1:]} == {"4100", "4101", "4102"}


def test_the_terminal_width_wins_over_columns(viewer):
    binary, _ = viewer
    out = _on_pty(binary, ["--cli", SCALENE], {"COLUMNS": "200"}, cols=50)
    lines = ANSI_RE.sub("", out).splitlines()
    assert max(len(l) for l in lines) == 50, [l for l in lines if len(l) > 50]
