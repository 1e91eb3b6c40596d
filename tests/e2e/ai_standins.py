# SPDX-License-Identifier: Apache-2.0
"""Loopback stand-ins for the model providers of `scalene view --optimize`
(issue 15): one http.server on 127.0.0.1, port 0, that speaks each
provider's wire format at its real path:

  POST /v1/chat/completions                      OpenAI (and compatible servers)
  POST /openai/deployments/{dep}/chat/completions?api-version=V   Azure OpenAI
  POST /api/chat                                 Ollama
  POST /v1/messages                              Anthropic
  POST /model/{model id}/converse                Amazon Bedrock (Converse)

Every request is recorded (path, headers, JSON body, and the client's
/proc/<pid>/cmdline when `watch_pid` is set). `mode` picks the answer:
"ok" (a proposal), "401", "429" (Retry-After: 7), "nochoices" (a 200
without the promised content), "stall" (no answer for `stall_s` s)."""
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROPOSAL_CODE = "    total = sum(i * i for i in range(n))  # STAND-IN PROPOSAL"
REASON = "the sum runs in C instead of a Python-level loop"


def reply_text(marker=""):
    return ("Here is a faster version.\n\n```python\n%s%s\n```\n\nReason: %s\n"
            % (PROPOSAL_CODE, marker, REASON))


class Standin:
    def __init__(self):
        self.requests = []
        self.mode = "ok"
        self.stall_s = 30.0
        self.watch_pid = None
        self.count = 0
        standin = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                rec = {"method": "POST", "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                       "raw": raw, "body": body, "cmdline": None}
                if standin.watch_pid:
                    try:
                        with open("/proc/%d/cmdline" % standin.watch_pid, "rb") as f:
                            rec["cmdline"] = f.read()
                    except OSError:
                        pass
                standin.requests.append(rec)
                standin.count += 1
                standin.answer(self, rec)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def send(self, h, status, obj, extra=None):
        data = json.dumps(obj).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def answer(self, h, rec):
        path = rec["path"]
        kind = ("azure" if path.startswith("/openai/deployments/") else
                "openai" if path.startswith("/v1/chat/completions") else
                "ollama" if path == "/api/chat" else
                "anthropic" if path == "/v1/messages" else
                "bedrock" if re.match(r"^/model/[^/]+/converse$", path) else None)
        rec["kind"] = kind
        if kind is None:
            return self.send(h, 404, {"error": "no such path %s" % path})
        if self.mode == "stall":
            time.sleep(self.stall_s)
        if self.mode == "401":
            # OpenAI's own shape; its message echoes part of the key
            key = rec["headers"].get("authorization", "")[7:]
            return self.send(h, 401, {"error": {"message": "Incorrect API key provided: %s." % key,
                                                "type": "invalid_request_error", "code": "invalid_api_key"}})
        if self.mode == "429":
            return self.send(h, 429, {"error": {"message": "Rate limit reached for requests", "type": "requests"}},
                             {"Retry-After": "7"})
        text = reply_text(" #%d" % self.count)
        if kind in ("openai", "azure"):
            if self.mode == "nochoices":
                return self.send(h, 200, {"id": "chatcmpl-1", "object": "chat.completion", "choices": []})
            return self.send(h, 200, {"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
                                      "model": (rec["body"] or {}).get("model", "dep"),
                                      "choices": [{"index": 0, "finish_reason": "stop",
                                                   "message": {"role": "assistant", "content": text}}]})
        if kind == "ollama":
            if self.mode == "nochoices":
                return self.send(h, 200, {"model": "x", "done": True})
            return self.send(h, 200, {"model": rec["body"]["model"], "created_at": "2026-12-06T00:00:00Z",
                                      "message": {"role": "assistant", "content": text}, "done": True})
        if kind == "anthropic":
            if self.mode == "nochoices":
                return self.send(h, 200, {"id": "msg_1", "type": "message", "content": []})
            return self.send(h, 200, {"id": "msg_1", "type": "message", "role": "assistant",
                                      "model": rec["body"]["model"], "stop_reason": "end_turn",
                                      "content": [{"type": "text", "text": text}],
                                      "usage": {"input_tokens": 1, "output_tokens": 1}})
        if self.mode == "nochoices":
            return self.send(h, 200, {"stopReason": "end_turn"})
        return self.send(h, 200, {"output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                                  "stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 1,
                                                                      "totalTokens": 2}})
