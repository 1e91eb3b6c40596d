# SPDX-License-Identifier: Apache-2.0
"""`scalene view --optimize FILE:LINE[-END]` (issue 15) against loopback
stand-ins that speak each provider's wire format (ai_standins.py). The
profile is real: programs/ai_hot.py run once under scalene, whose HOT line
holds most of the time. The request must carry the key where the provider
wants it, the model, the region's source and the profile's figures for
those lines; the proposal is printed as a diff. Each failure is one line
on stderr and exit status 2. A key never reaches argv (/proc/PID/cmdline
read while the request is in flight), stdout, stderr or any file."""
import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import time
import urllib.parse

import pytest

from ai_standins import PROPOSAL_CODE, REASON, Standin
from conftest import SCALENE, line_row, marker_line, program, scalene_env

PROG = program("ai_hot.py")
KEY = "sk-test-9f8e7d6c5b4a39281706"
AI_VARS = ["OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AWS_ACCESS_KEY_ID",
           "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "OPENAI_BASE_URL",
           "OLLAMA_HOST", "AZURE_OPENAI_ENDPOINT", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
           "ALL_PROXY", "all_proxy"]


@pytest.fixture(scope="module")
def profile(run_scalene_module, tmp_path_factory):
    run = run_scalene_module([PROG, "---", "1.5"])
    assert run.rc == 0, run.stderr
    hot = marker_line(PROG, "HOT")
    row = line_row(run.report, PROG, hot)
    assert row["n_cpu_percent_python"] + row["n_cpu_percent_c"] > 30, row
    return run.outfile, run.report, hot


@pytest.fixture
def standin():
    s = Standin()
    yield s
    s.close()


def env_for(extra=None):
    e = {k: None for k in AI_VARS}
    e.update(extra or {})
    return scalene_env(e)


def view(args, env=None, standin=None, timeout=60, cwd=None):
    """scalene view ARGS with only the given AI variables; while it runs,
    the stand-in records its /proc/PID/cmdline with each request."""
    p = subprocess.Popen([SCALENE, "view"] + [str(a) for a in args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env_for(env), cwd=cwd)
    if standin:
        standin.watch_pid = p.pid
    t0 = time.monotonic()
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err, time.monotonic() - t0


def prompt_of(rec):
    """The user prompt of a recorded request, whatever the provider."""
    b = rec["body"]
    if rec["kind"] == "bedrock":
        return b["messages"][0]["content"][0]["text"]
    return [m for m in b["messages"] if m["role"] == "user"][0]["content"]


def check_prompt(prompt, report, hot, lines):
    """The region's source lines and the report's figures for the hot line."""
    src = open(PROG).read().splitlines()
    for ln in lines:
        assert src[ln - 1] in prompt, (ln, prompt)
    row = line_row(report, PROG, hot)
    want = "line %d: Python %.1f%%, native %.1f%%, system %.1f%%" % (
        hot, row["n_cpu_percent_python"], row["n_cpu_percent_c"], row["n_sys_percent"])
    assert want in prompt, (want, prompt)
    assert "from collections import deque" in prompt and "import math" in prompt
    assert "Python %s" % report["scalene_c"]["python_version"] in prompt


def check_printed(out):
    assert "+" + PROPOSAL_CODE in out, out
    assert "Reason: " + REASON in out, out
    # the original line is shown as removed
    assert "-        total += i * i  # HOT" in out, out


def no_key_anywhere(key, rec, out, err, tmp_path):
    assert rec["cmdline"] is not None and key.encode() not in rec["cmdline"], rec["cmdline"]
    assert key not in out and key not in err
    for root, _, files in os.walk(tmp_path):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                assert key.encode() not in fh.read(), f


def test_openai(profile, standin, tmp_path):
    path, report, hot = profile
    rc, out, err, _ = view(["--optimize", "ai_hot.py:%d" % hot, "--ai-provider", "openai", "--ai-model",
                            "gpt-test", "--ai-url", standin.base + "/v1", path],
                           env={"OPENAI_API_KEY": KEY}, standin=standin)
    assert rc == 0, err
    assert len(standin.requests) == 1
    rec = standin.requests[0]
    assert rec["kind"] == "openai" and rec["headers"]["authorization"] == "Bearer " + KEY
    assert rec["body"]["model"] == "gpt-test"
    check_prompt(prompt_of(rec), report, hot, [hot])
    check_printed(out)
    no_key_anywhere(KEY, rec, out, err, tmp_path)


def test_openai_default_provider_from_key(profile, standin):
    """Without --ai-provider, OPENAI_API_KEY picks OpenAI; OPENAI_BASE_URL its server."""
    path, report, hot = profile
    rc, out, err, _ = view(["--optimize", "ai_hot.py:%d" % hot, path],
                           env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": standin.base + "/v1"})
    assert rc == 0, err
    assert standin.requests[0]["kind"] == "openai" and standin.requests[0]["body"]["model"] == "gpt-4o"
    check_printed(out)


def test_ollama_function_region(profile, standin):
    """A region: the whole function, with the figures of its hot line."""
    path, report, hot = profile
    start, end = hot - 3, hot + 1  # def sum_squares .. return total
    rc, out, err, _ = view(["--optimize", "e2e/programs/ai_hot.py:%d-%d" % (start, end), "--ai-provider",
                            "ollama", "--ai-model", "qwen-test", "--ai-url", standin.base, path], standin=standin)
    assert rc == 0, err
    rec = standin.requests[0]
    assert rec["kind"] == "ollama" and rec["body"]["model"] == "qwen-test" and rec["body"]["stream"] is False
    assert "authorization" not in rec["headers"]
    prompt = prompt_of(rec)
    check_prompt(prompt, report, hot, range(start, end + 1))
    assert "(function)" in prompt, prompt
    assert "+" + PROPOSAL_CODE in out and "Reason: " + REASON in out


def test_ollama_is_the_default_without_keys(profile, standin):
    path, report, hot = profile
    rc, out, err, _ = view(["--optimize", "ai_hot.py:%d" % hot, path],
                           env={"OLLAMA_HOST": "127.0.0.1:%d" % standin.port})
    assert rc == 0, err
    assert standin.requests[0]["kind"] == "ollama"


def test_config_keys(profile, standin, tmp_path):
    path, report, hot = profile
    cfg = tmp_path / "s.yaml"
    cfg.write_text("ai-provider: ollama\nai_model: cfg-model\nai-url: %s\ncpu-only: true\n" % standin.base)
    rc, out, err, _ = view(["-c", cfg, "--optimize", "ai_hot.py:%d" % hot, path])
    assert rc == 0, err
    assert standin.requests[0]["kind"] == "ollama" and standin.requests[0]["body"]["model"] == "cfg-model"


# ---- failures: one line, exit 2 ----


def one_line_fail(rc, err, *words):
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("scalene: "), err
    for w in words:
        assert w in err, (w, err)
    assert KEY not in err


def test_no_key(profile):
    path, report, hot = profile
    rc, out, err, _ = view(["--optimize", "ai_hot.py:%d" % hot, "--ai-provider", "openai", path])
    one_line_fail(rc, err, "OPENAI_API_KEY")


@pytest.mark.parametrize("provider,var", [("anthropic", "ANTHROPIC_API_KEY"), ("azure", "AZURE_OPENAI_API_KEY"),
                                          ("bedrock", "AWS_ACCESS_KEY_ID")])
def test_no_key_others(profile, provider, var):
    path, report, hot = profile
    rc, out, err, _ = view(["--optimize", "ai_hot.py:%d" % hot, "--ai-provider", provider, path])
    one_line_fail(rc, err, var)


def test_401(profile, standin):
    path, report, hot = profile
    standin.mode = "401"
    rc, out, err, _ = view(["--optimize", "ai_hot.py:%d" % hot, "--ai-provider", "openai", "--ai-url",
                            standin.base + "/v1", path], env={"OPENAI_API_KEY": KEY})
    one_line_fail(rc, err, "401", "refused the key", "Incorrect API key provided")


def test_429(profile, standin):
    path, report, hot = profile
    standin.mode = "429"
    rc, out, err, _ = view(["--optimize", "ai_hot.py:%d" % hot, "--ai-provider", "openai", "--ai-url",
                            standin.base + "/v1", path], env={"OPENAI_API_KEY": KEY})
    one_line_fail(rc, err, "429", "retry after 7 s")


def test_closed_port(profile):
    path, report, hot = profile
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rc, out, err, _ = view(["--optimize", "ai_hot.py:%d" % hot, "--ai-provider", "ollama", "--ai-url",
                            "http://127.0.0.1:%d" % port, path])
    one_line_fail(rc, err, "cannot reach", "127.0.0.1:%d" % port)


@pytest.mark.parametrize("provider", ["openai", "ollama", "anthropic"])
def test_reply_without_content(profile, standin, provider):
    path, report, hot = profile
    standin.mode = "nochoices"
    url = standin.base + ("/v1" if provider == "openai" else "")
    rc, out, err, _ = view(["--optimize", "ai_hot.py:%d" % hot, "--ai-provider", provider, "--ai-url", url, path],
                           env={"OPENAI_API_KEY": KEY, "ANTHROPIC_API_KEY": KEY})
    one_line_fail(rc, err, "not what the API promises")
    if provider == "openai":
        assert "choices[0].message.content" in err


def test_stall(profile, standin):
    """The stand-in answers nothing for 30 s; --ai-timeout 2 gives up in time."""
    path, report, hot = profile
    standin.mode = "stall"
    rc, out, err, took = view(["--optimize", "ai_hot.py:%d" % hot, "--ai-provider", "ollama", "--ai-url",
                               standin.base, "--ai-timeout", "2", path])
    one_line_fail(rc, err, "no reply", "within 2 s")
    assert took < 10, took


@pytest.mark.parametrize("spec,words", [("nope.py:3", ["no file of the report ends with 'nope.py'"]),
                                        ("ai_hot.py:9999", ["no line 9999"]),
                                        ("ai_hot.py", ["FILE:LINE"]), ("ai_hot.py:5-2", ["FILE:LINE"])])
def test_bad_region(profile, spec, words):
    path, report, hot = profile
    rc, out, err, _ = view(["--optimize", spec, "--ai-provider", "ollama", "--ai-url", "http://127.0.0.1:9", path])
    one_line_fail(rc, err, *words)


# ---- Anthropic, Azure OpenAI, Amazon Bedrock ----


def test_anthropic(profile, standin, tmp_path):
    path, report, hot = profile
    rc, out, err, _ = view(["--optimize", "ai_hot.py:%d" % hot, "--ai-provider", "anthropic", "--ai-model",
                            "claude-test", "--ai-url", standin.base, path],
                           env={"ANTHROPIC_API_KEY": KEY}, standin=standin)
    assert rc == 0, err
    rec = standin.requests[0]
    assert rec["kind"] == "anthropic" and rec["headers"]["x-api-key"] == KEY
    assert rec["headers"]["anthropic-version"] == "2023-06-01"
    assert "authorization" not in rec["headers"]
    b = rec["body"]
    assert b["model"] == "claude-test" and b["max_tokens"] > 0 and isinstance(b["system"], str)
    assert [m["role"] for m in b["messages"]] == ["user"]
    check_prompt(prompt_of(rec), report, hot, [hot])
    check_printed(out)
    no_key_anywhere(KEY, rec, out, err, tmp_path)


def test_azure(profile, standin, tmp_path):
    path, report, hot = profile
    rc, out, err, _ = view(["--optimize", "ai_hot.py:%d" % hot, "--ai-provider", "azure", "--ai-model", "my-gpt4o",
                            "--ai-url", standin.base, "--ai-api-version", "2024-10-21", path],
                           env={"AZURE_OPENAI_API_KEY": KEY}, standin=standin)
    assert rc == 0, err
    rec = standin.requests[0]
    assert rec["path"] == "/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21", rec["path"]
    assert rec["headers"]["api-key"] == KEY and "authorization" not in rec["headers"]
    check_prompt(prompt_of(rec), report, hot, [hot])
    check_printed(out)
    no_key_anywhere(KEY, rec, out, err, tmp_path)


AWS_ID = "AKIDEXAMPLESCALENE01"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def sigv4_expected(rec, secret, region="us-west-2", service="bedrock"):
    """The signature AWS's documented algorithm gives for the recorded
    request (Signature Version 4: canonical request, string to sign,
    derived key), over the headers the request says it signed."""
    auth = rec["headers"]["authorization"]
    m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                 r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$", auth)
    assert m, auth
    akid, date, reg, svc, signed, sig = m.groups()
    assert (akid, reg, svc) == (AWS_ID, region, service)
    amz_date = rec["headers"]["x-amz-date"]
    assert re.match(r"^\d{8}T\d{6}Z$", amz_date) and amz_date[:8] == date
    names = signed.split(";")
    assert "host" in names and "x-amz-date" in names and names == sorted(names)
    path, _, query = rec["path"].partition("?")
    # non-S3 services: each path segment URI-encoded (again) for the canonical URI
    canon_uri = "/".join(urllib.parse.quote(seg, safe="-_.~") for seg in path.split("/"))
    canon_query = "&".join(sorted(query.split("&"))) if query else ""
    canon_headers = "".join("%s:%s\n" % (n, " ".join(rec["headers"][n].strip().split())) for n in names)
    creq = "\n".join(["POST", canon_uri, canon_query, canon_headers, signed, hashlib.sha256(rec["raw"]).hexdigest()])
    scope = "%s/%s/%s/aws4_request" % (date, reg, svc)
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (date, reg, svc, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return sig, hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("model", ["amazon.nova-lite-v1:0", "meta.llama3-70b-instruct-v1"])
def test_bedrock_sigv4(profile, standin, tmp_path, model):
    path, report, hot = profile
    rc, out, err, _ = view(["--optimize", "ai_hot.py:%d" % hot, "--ai-provider", "bedrock", "--ai-model", model,
                            "--ai-region", "us-west-2", "--ai-url", standin.base, path],
                           env={"AWS_ACCESS_KEY_ID": AWS_ID, "AWS_SECRET_ACCESS_KEY": AWS_SECRET}, standin=standin)
    assert rc == 0, err
    rec = standin.requests[0]
    assert rec["kind"] == "bedrock"
    assert urllib.parse.unquote(rec["path"]) == "/model/%s/converse" % model
    got, want = sigv4_expected(rec, AWS_SECRET)
    assert got == want, (rec["headers"]["authorization"], rec["path"])
    # a wrong secret gives another signature: the check can fail
    assert sigv4_expected(rec, AWS_SECRET[:-1] + "Z")[1] != got
    b = rec["body"]
    assert b["messages"][0]["role"] == "user" and b["inferenceConfig"]["maxTokens"] > 0
    assert b["system"][0]["text"]
    check_prompt(prompt_of(rec), report, hot, [hot])
    check_printed(out)
    no_key_anywhere(AWS_SECRET, rec, out, err, tmp_path)


def test_bedrock_session_token_is_signed(profile, standin):
    path, report, hot = profile
    rc, out, err, _ = view(["--optimize", "ai_hot.py:%d" % hot, "--ai-provider", "bedrock", "--ai-model",
                            "amazon.nova-lite-v1:0", "--ai-url", standin.base, path],
                           env={"AWS_ACCESS_KEY_ID": AWS_ID, "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
                                "AWS_SESSION_TOKEN": "FQoGZXIvYXdzEXAMPLETOKEN", "AWS_REGION": "us-west-2"})
    assert rc == 0, err
    rec = standin.requests[0]
    assert rec["headers"]["x-amz-security-token"] == "FQoGZXIvYXdzEXAMPLETOKEN"
    assert "x-amz-security-token" in rec["headers"]["authorization"]
    got, want = sigv4_expected(rec, AWS_SECRET)
    assert got == want


def test_bedrock_401(profile, standin):
    path, report, hot = profile
    standin.mode = "401"
    rc, out, err, _ = view(["--optimize", "ai_hot.py:%d" % hot, "--ai-provider", "bedrock", "--ai-url", standin.base,
                            path], env={"AWS_ACCESS_KEY_ID": AWS_ID, "AWS_SECRET_ACCESS_KEY": AWS_SECRET})
    one_line_fail(rc, err, "401")
    assert AWS_SECRET not in err


# ---- the served page's endpoint (the browser's side: tests/gui/ai.test.mjs) ----


class Served:
    """scalene view --no-browser PROFILE: its URL, its page and its token."""

    def __init__(self, profile, env=None, args=()):
        import urllib.request
        self.p = subprocess.Popen([SCALENE, "view", "--no-browser", *args, profile], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env_for(env))
        line = self.p.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:(\d+)/)", line)
        assert m, (line, self.p.stderr.read() if self.p.poll() is not None else "")
        self.url, self.port = m.group(1), int(m.group(2))
        self.page = urllib.request.urlopen(self.url, timeout=10).read().decode()
        blk = re.search(r'<script id="scalene-ai" type="application/json">(.*?)</script>', self.page, re.S)
        assert blk, "no scalene-ai block in the served page"
        self.ai = json.loads(blk.group(1))

    def post(self, body, token=None, headers=None):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = {"Content-Type": "application/json", "Host": "127.0.0.1:%d" % self.port}
        if token is not None:
            h["X-Scalene-Token"] = token
        h.update(headers or {})
        c.request("POST", self.ai["endpoint"], body=json.dumps(body).encode(), headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, json.loads(data) if data else None

    def close(self):
        self.p.terminate()
        self.p.wait(timeout=10)


def test_endpoint_needs_the_token(profile, standin):
    path, report, hot = profile
    s = Served(path)
    try:
        assert re.fullmatch(r"[0-9a-f]{64}", s.ai["token"])
        assert "connect-src 'self'" in s.page
        body = {"file": PROG, "start": hot, "end": hot, "kind": "line", "provider": "openai",
                "url": standin.base + "/v1", "key": KEY, "model": "m"}
        assert s.post(body)[0] == 403
        assert s.post(body, token="0" * 64)[0] == 403
        assert s.post(body, token=s.ai["token"], headers={"Origin": "http://evil.example"})[0] == 403
        assert s.post(body, token=s.ai["token"], headers={"Host": "rebound.example:%d" % s.port})[0] == 403
        assert standin.requests == []  # nothing refused reached the provider
        st, reply = s.post(body, token=s.ai["token"], headers={"Origin": "http://127.0.0.1:%d" % s.port})
        assert st == 200, reply
        assert reply["code"].strip() == PROPOSAL_CODE.strip() + " #1" and reply["reason"] == REASON
        assert "-        total += i * i  # HOT" in reply["diff"]
        rec = standin.requests[0]
        assert rec["headers"]["authorization"] == "Bearer " + KEY
        check_prompt(prompt_of(rec), report, hot, [hot])
        # a provider failure is the same one line, as JSON
        standin.mode = "429"
        st, reply = s.post(body, token=s.ai["token"])
        assert st == 502 and "retry after 7 s" in reply["error"] and KEY not in reply["error"]
        assert KEY not in s.page
    finally:
        s.close()


def test_standalone_page_has_no_endpoint(profile, tmp_path):
    path, report, hot = profile
    out = tmp_path / "p.html"
    subprocess.run([SCALENE, "view", "--standalone", "-o", out, path], check=True, env=env_for())
    html = out.read_text()
    assert 'id="scalene-ai"' not in html and "connect-src" not in html


def test_stop_while_a_model_thinks(profile, standin):
    """Ctrl-C (SIGINT) while the provider stalls: the server stops within
    seconds, not when the model answers (30 s here) or the timeout (120 s)."""
    import signal
    import threading

    path, report, hot = profile
    standin.mode = "stall"
    s = Served(path)
    got = {}

    def ask():
        try:
            got["reply"] = s.post({"file": PROG, "start": hot, "end": hot, "kind": "line", "provider": "ollama",
                                   "url": standin.base}, token=s.ai["token"])
        except Exception as e:  # the connection may close under it
            got["error"] = e

    th = threading.Thread(target=ask, daemon=True)
    th.start()
    deadline = time.monotonic() + 10
    while not standin.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert standin.requests, "the request never reached the stand-in"
    t0 = time.monotonic()
    s.p.send_signal(signal.SIGINT)
    rc = s.p.wait(timeout=20)
    took = time.monotonic() - t0
    assert rc == 0 and took < 5, (rc, took)
    th.join(timeout=5)
    if "reply" in got:
        assert got["reply"][0] == 502 and "shutting down" in got["reply"][1]["error"], got


def test_every_ai_option_has_a_config_key(tmp_path):
    """Each --ai-* option of `scalene view --help` is a key `scalene view -c`
    accepts (its value may still be wrong; "unknown key" would be a gap),
    and `scalene run -c` skips it in a shared file."""
    help_text = subprocess.run([SCALENE, "view", "--help"], capture_output=True, text=True, env=env_for()).stdout
    opts = sorted(set(re.findall(r"--(ai-[a-z-]+)", help_text)))
    assert {"ai-provider", "ai-model", "ai-url", "ai-timeout"} <= set(opts), opts
    for o in opts:
        cfg = tmp_path / "c.yaml"
        cfg.write_text("%s: true\n" % o)
        r = subprocess.run([SCALENE, "view", "-c", cfg, "--cli", tmp_path / "none.json"], capture_output=True,
                           text=True, env=env_for())
        assert r.returncode == 2 and "unknown key" not in r.stderr, (o, r.stderr)
    cfg.write_text("ai-provider: ollama\nquiet: true\n")
    r = subprocess.run([SCALENE, "run", "-c", cfg, tmp_path / "none.py"], capture_output=True, text=True, env=env_for())
    assert "unknown key" not in r.stderr and "ai-provider" not in r.stderr, r.stderr


def test_server_keeps_serving_while_a_model_thinks(profile, standin):
    """Each proposal runs in a worker with its connection suspended: while
    the stand-in takes 3 s, the page is served at once, and two proposals
    asked together take about 3 s, not 6."""
    import threading
    import urllib.request

    path, report, hot = profile
    standin.mode = "stall"
    standin.stall_s = 3.0
    s = Served(path)
    try:
        body = {"file": PROG, "start": hot, "end": hot, "kind": "line", "provider": "ollama", "url": standin.base}
        got = []
        t0 = time.monotonic()
        ths = [threading.Thread(target=lambda: got.append(s.post(body, token=s.ai["token"]))) for _ in range(2)]
        for th in ths:
            th.start()
        deadline = time.monotonic() + 10
        while len(standin.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(standin.requests) == 2, "the second proposal waited for the first"
        g0 = time.monotonic()
        page = urllib.request.urlopen(s.url, timeout=10).read()
        assert time.monotonic() - g0 < 1.0 and b'id="scalene-ai"' in page
        for th in ths:
            th.join(timeout=20)
        took = time.monotonic() - t0
        assert [st for st, _ in got] == [200, 200], got
        assert took < 5.5, took
    finally:
        s.close()
