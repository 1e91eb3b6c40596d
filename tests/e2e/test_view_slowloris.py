# SPDX-License-Identifier: Apache-2.0
"""Issue 13, item 6: `scalene view`'s server under slow and bad clients
(tools/gui.c: the front that holds each connection until its request head
is whole, then MHD).

Before the fix, 100 connections trickling their headers held MHD's 64
connections for as long as they trickled (a normal GET timed out after 5 s
every time), a request line without spaces was closed without an answer and
one with a NUL byte got none either. Everything here talks to 127.0.0.1
only, with a bounded number of sockets for a bounded time.
"""
import signal
import socket
import threading
import time

import pytest

from test_view_web import OURS, Server, profile_copy, viewer  # noqa: F401 (viewer is a fixture)

ATTACKERS = 100
TRICKLE_SEC = 0.5  # one header byte per attacker this often
ATTACK_SEC = 9.0  # longer than the front's 5 s head deadline
GET_WITHIN_SEC = 1.0


def raw(port, data, timeout=5.0):
    """Sends data on a new connection; returns (status line, seconds)."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        got = b""
        while b"\r\n" not in got:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    return got.split(b"\r\n", 1)[0], time.monotonic() - t0


def get(port):
    return raw(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)


def test_slowloris_does_not_starve_a_normal_get(viewer, tmp_path):  # noqa: F811
    binary, _ = viewer
    prof = profile_copy(tmp_path, OURS)
    with Server(binary, prof) as srv:
        port = srv.port
        socks = []
        for _ in range(ATTACKERS):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % port)
            socks.append(s)
        end = time.monotonic() + ATTACK_SEC
        sent = [0]

        def trickle():
            while time.monotonic() < end:
                for s in socks:
                    try:
                        s.send(b"X")
                        sent[0] += 1
                    except OSError:
                        pass
                time.sleep(TRICKLE_SEC)

        th = threading.Thread(target=trickle, daemon=True)
        th.start()
        try:
            times = []
            # before, during and after the front's head deadline
            for at in (1.0, 3.0, 6.0, 8.0):
                time.sleep(max(0.0, end - ATTACK_SEC + at - time.monotonic()))
                status, took = get(port)
                assert status == b"HTTP/1.1 200 OK", (at, status)
                times.append(took)
            assert max(times) < GET_WITHIN_SEC, times
            assert sent[0] >= ATTACKERS * 4, "the attack did not run: %d bytes trickled" % sent[0]
        finally:
            th.join(timeout=ATTACK_SEC + 5)
            for s in socks:
                s.close()
        # the attackers' heads were cut off at the deadline, with 408
        assert srv.p.poll() is None
        assert srv.stop(signal.SIGINT) == 0


@pytest.mark.parametrize(
    "data, want",
    [
        (b"GARBAGE\r\n\r\n", b"400"),
        (b"\x00\xff\xfe junk\r\n\r\n", b"400"),
        (b"GET /\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1 extra\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nHost: x\x01y\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nnocolon\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n", b"431"),
    ],
    ids=["no-spaces", "nul-bytes", "http09", "four-words", "control-in-header", "no-colon", "huge-head"],
)
def test_bad_request_gets_an_answer(viewer, tmp_path, data, want):  # noqa: F811
    binary, _ = viewer
    prof = profile_copy(tmp_path, OURS)
    with Server(binary, prof) as srv:
        status, took = raw(srv.port, data)
        assert status.startswith(b"HTTP/1.1 " + want), status
        assert took < 2.0, took
        # and the server goes on serving
        assert get(srv.port)[0] == b"HTTP/1.1 200 OK"
        assert srv.stop(signal.SIGTERM) == 0


def test_silent_connection_gets_408_at_the_deadline(viewer, tmp_path):  # noqa: F811
    """A connection that sends part of a head and stops is answered 408 and
    closed after the front's 5 s deadline, not held for MHD's timeout."""
    binary, _ = viewer
    prof = profile_copy(tmp_path, OURS)
    with Server(binary, prof) as srv:
        status, took = raw(srv.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n", timeout=15)
        assert status == b"HTTP/1.1 408 Request Timeout", status
        assert 4.0 <= took < 8.0, took
        assert srv.stop(signal.SIGINT) == 0
