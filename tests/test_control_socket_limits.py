"""The control socket answers every request and stays within bounds, whatever clients do.

Against a real ControlServer on a unix socket (handlers that block or raise on purpose), and
against the real daemon in a subprocess.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from recorder.adapters.control_socket import (
    MAX_CONNECTIONS,
    ControlServer,
    ControlSocketError,
    send,
)
from tests.support import wait_until, write_config

LOGGER = "recorder.adapters.control_socket"


class Handlers:
    """The daemon's side of the socket: events and a status query, each able to block."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.entered = 0  # guarded by _lock
        self._lock = threading.Lock()
        self.fail: BaseException | None = None

    def handle(self, event: object) -> dict:
        with self._lock:
            self.entered += 1
        self.gate.wait(30)
        if self.fail is not None:
            raise self.fail
        return {"ok": True, "message": f"did {type(event).__name__}"}

    def status(self, _query) -> dict:
        return {"ok": True, "message": "", "status": {"state": "ready"}}


@pytest.fixture
def served(tmp_path):
    servers: list[ControlServer] = []

    def make(**limits) -> tuple[ControlServer, Handlers]:
        h = Handlers()
        server = ControlServer(tmp_path / "c.sock", h.handle, {"status": h.status}, **limits)
        server.start()
        servers.append(server)
        return server, h

    yield make
    for server in servers:
        server.stop()


def connect(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(path))  # blocking: waits for room in the listen queue, as `ctl` does
    s.settimeout(20)
    return s


def ask(path: Path, raw: bytes) -> dict:
    with connect(path) as s:
        s.sendall(raw)
        return json.loads(s.makefile("rb").readline())


def tracebacks(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


@pytest.mark.parametrize(
    "raw",
    [b"[" * 1000 + b"\n", b"[" * 4000 + b"\n", b'{"cmd": ' + b"[" * 3000 + b"\n"],
    ids=["1000", "4000", "in-object"],
)
def test_deeply_nested_request_is_refused_with_a_reason(served, caplog, raw):
    server, _ = served()
    answer = ask(server.path, raw)
    assert answer["ok"] is False
    assert "nested too deeply" in answer["message"]
    assert not tracebacks(caplog)
    assert ask(server.path, b'{"cmd": "status"}\n')["ok"] is True


def test_a_handler_that_raises_is_answered_and_logged_in_one_line(served, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    server, h = served()
    h.fail = RuntimeError("the controller fell over")
    answer = ask(server.path, b'{"cmd": "start"}\n')
    assert answer["ok"] is False
    assert "'start'" in answer["message"] and "the controller fell over" in answer["message"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0].getMessage()
    assert not tracebacks(caplog)  # the traceback is for debug level only
    h.fail = None
    assert ask(server.path, b'{"cmd": "stop"}\n') == {"ok": True, "message": "did Stop"}


def test_the_traceback_of_an_internal_error_is_kept_at_debug_level(served, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    server, _ = served()
    server._queries["status"] = lambda _q: 1 // 0
    answer = ask(server.path, b'{"cmd": "status"}\n')
    assert answer["ok"] is False and "ZeroDivisionError" in answer["message"]
    debug = [r for r in caplog.records if r.exc_info]
    assert [r.levelno for r in debug] == [logging.DEBUG]


def test_an_answer_that_is_not_json_is_still_an_answer(served):
    server, _ = served()
    server._queries["status"] = lambda _q: {"ok": True, "message": "", "status": {1, 2}}
    answer = ask(server.path, b'{"cmd": "status"}\n')
    assert answer["ok"] is False and "cannot send" in answer["message"]


def test_clients_leaving_before_their_answer_cost_one_line_each(served, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    server, h = served()

    def left() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "left before its answer" in r.getMessage()]

    for batch in range(10):
        h.gate.clear()
        for _ in range(20):
            with connect(server.path) as s:
                s.sendall(b'{"cmd": "mark", "label": "gone"}\n')
        wait_until(lambda b=batch: h.entered == 20 * (b + 1), what="20 requests being handled")
        h.gate.set()  # every answer now goes to a closed socket
        # (and the next batch waits for these to end: 40 at once would be over the limit)
        wait_until(lambda b=batch: len(left()) == 20 * (b + 1), what="20 disconnects logged")
    assert len(left()) == 200
    assert all(r.levelno <= logging.INFO and "\n" not in r.getMessage() for r in left())
    for _ in range(200):  # and clients that leave before they even ask
        connect(server.path).close()
    assert ask(server.path, b'{"cmd": "status"}\n')["ok"] is True
    assert not tracebacks(caplog)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_client_over_the_limit_is_told_the_box_is_busy(served):
    server, h = served(max_connections=4)
    h.gate.clear()
    busy = [connect(server.path) for _ in range(4)]
    for s in busy:
        s.sendall(b'{"cmd": "start"}\n')
    wait_until(lambda: h.entered == 4, what="4 requests being handled")
    threads = threading.active_count()
    refused = send(server.path, {"cmd": "status"})
    assert refused["ok"] is False and "busy" in refused["message"]
    assert threading.active_count() == threads
    h.gate.set()
    for s in busy:  # the clients that were in keep their answers
        with s:
            assert json.loads(s.makefile("rb").readline()) == {"ok": True, "message": "did Start"}
    assert send(server.path, {"cmd": "status"})["ok"] is True


def test_idle_connections_over_the_limit_cost_no_threads_and_status_answers(served):
    server, _ = served(max_connections=8)
    threads = threading.active_count()
    idle = [connect(server.path) for _ in range(300)]
    try:
        assert send(server.path, {"cmd": "status"})["ok"] is True
        assert threading.active_count() <= threads + 8
        # the oldest idle connections made room, each told why before being closed
        first = json.loads(idle[0].makefile("rb").readline())
        assert first["ok"] is False and "no request came" in first["message"]
    finally:
        for s in idle:
            s.close()
    assert send(server.path, {"cmd": "status"})["ok"] is True


def test_idle_connections_are_closed_after_the_timeout(served):
    server, _ = served(idle_timeout=0.5)
    with connect(server.path) as s:
        s.sendall(b'{"cmd": ')  # and then nothing
        answer = json.loads(s.makefile("rb").readline())
        assert s.recv(1) == b""
    assert answer["ok"] is False and "no complete request within 0.5 s" in answer["message"]


def test_a_trickle_of_bytes_does_not_keep_a_connection_open(served):
    """The timeout is for a whole line: a byte now and then does not start it again."""
    server, _ = served(idle_timeout=0.5)
    with connect(server.path) as s:
        s.settimeout(0.1)
        got = b""
        for _ in range(200):
            try:
                s.send(b" ")
                got += s.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if got.endswith(b"\n"):
                break
    assert b"no complete request within 0.5 s" in got


# ---- the real daemon -------------------------------------------------------------------------


@pytest.fixture
def daemon(tmp_path):
    path = write_config(tmp_path, audio={"device": "plughw:CARD=NoSuchCard,DEV=0"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "recorder", "run", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    sock = tmp_path / "control.sock"

    def up():
        with contextlib.suppress(ControlSocketError):
            return send(sock, {"cmd": "status"}, timeout=2)["ok"]
        return False

    try:
        wait_until(up, what="daemon up")
        yield sock, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=20)


def tasks(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


@pytest.mark.slow
def test_the_daemon_survives_nesting_disconnects_and_idle_crowds(daemon):
    sock, proc = daemon
    answer = ask(sock, b"[" * 2000 + b"\n")
    assert answer["ok"] is False and "nested too deeply" in answer["message"]
    for _ in range(200):
        with connect(sock) as s:
            s.sendall(b'{"cmd": "status"}\n')
    before = tasks(proc.pid)
    idle = [connect(sock) for _ in range(550)]
    try:
        assert send(sock, {"cmd": "status"})["ok"] is True
        assert tasks(proc.pid) <= before + MAX_CONNECTIONS
    finally:
        for s in idle:
            s.close()
    assert send(sock, {"cmd": "status"})["ok"] is True
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert "Traceback" not in out
    assert out.count("left before its answer") <= 200


def test_a_connection_closed_while_it_makes_room_does_not_stop_the_server(served, caplog):
    """A client that hangs up just as a newcomer takes its place: both arrive in one wake-up of
    the serving thread, which must not trip over the connection it has just closed."""
    server, _ = served(max_connections=1)
    for _ in range(300):
        leaving = connect(server.path)
        leaving.close()
        connect(server.path).close()
    assert send(server.path, {"cmd": "status"})["ok"] is True
    assert not tracebacks(caplog)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
