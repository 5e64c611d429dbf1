"""The control socket answers every request and stays within bounds, whatever clients do.

Against a real ControlServer on a unix socket (handlers that block or raise on purpose, a
selector whose select() raises as a fault of the serving loop itself), and against the real
daemon in a subprocess.
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
    MAX_SLOW,
    ControlServer,
    ControlSocketError,
    Limits,
    send,
)
from tests.doubles import Dying
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
        self.label_gate = threading.Event()
        self.labelling = 0  # guarded by _lock

    def handle(self, event: object) -> dict:
        with self._lock:
            self.entered += 1
        self.gate.wait(30)
        if self.fail is not None:
            raise self.fail
        return {"ok": True, "message": f"did {type(event).__name__}"}

    def status(self, _query) -> dict:
        return {"ok": True, "message": "", "status": {"state": "ready"}}

    def label(self, _query) -> dict:
        """A request that touches the storage: here it waits for `label_gate`."""
        with self._lock:
            self.labelling += 1
        self.label_gate.wait(30)
        return {"ok": True, "message": "labelled"}


@pytest.fixture
def served(tmp_path):
    servers: list[ControlServer] = []

    def make(**limits) -> tuple[ControlServer, Handlers]:
        h = Handlers()
        queries = {"status": h.status, "label": h.label}
        server = ControlServer(tmp_path / "c.sock", h.handle, queries, limits=Limits(**limits))
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
    assert "brackets nested more than 8 deep" in answer["message"]
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
    """With every answer slot held, a new request waits `busy_wait` for one, then is told."""
    server, h = served(max_connections=4, busy_wait=0.5)
    h.gate.clear()
    busy = [connect(server.path) for _ in range(4)]
    for s in busy:
        s.sendall(b'{"cmd": "start"}\n')
    wait_until(lambda: h.entered == 4, what="4 requests being handled")
    threads = threading.active_count()
    refused = send(server.path, {"cmd": "status"})
    assert refused["ok"] is False and refused["busy"] is True
    assert refused["message"].startswith("the recorder is busy: 4 control requests are being ")
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
        assert first["ok"] is False
        assert first["message"].startswith("closed: no request came on this connection within")
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
    assert answer["ok"] is False and "nested more than 8 deep" in answer["message"]
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


def test_two_hundred_clients_at_once_each_get_their_answer_or_busy(served):
    """Each client that sent its request gets its answer (or a plain "busy"), never "no request
    came": what a connection sent is read before any connection is closed to make room."""
    server, _ = served()
    clients = 200
    together = threading.Barrier(clients)
    answers: list[dict | None] = [None] * clients

    def client(n: int) -> None:
        together.wait(30)
        with connect(server.path) as s:
            s.sendall(b'{"cmd": "status"}\n')
            answers[n] = json.loads(s.makefile("rb").readline())

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not [a for a in answers if a and "no request came" in a["message"]]
    assert None not in answers
    answered = [a for a in answers if a and a["ok"]]
    busy = [a for a in answers if a and not a["ok"]]
    assert all(a == {"ok": True, "message": "", "status": {"state": "ready"}} for a in answered)
    assert all(a["busy"] is True and "busy" in a["message"] for a in busy), busy[:3]
    print(f"\n{len(answered)} of {clients} answered, {len(busy)} told busy")  # for the record


def test_slow_requests_never_make_status_start_or_mark_busy(served):
    """Requests that may touch the storage get a few answer slots of their own: with as many of
    them stuck as there are connections, status, start and mark are still answered."""
    server, h = served()
    payload = {"cmd": "label", "session": "000001-20260101T000000Z", "client": "Sam"}
    answers: list[dict] = []

    def slow() -> None:
        answers.append(send(server.path, payload, timeout=40))

    threads = [threading.Thread(target=slow) for _ in range(MAX_CONNECTIONS)]
    for t in threads:
        t.start()

    def settled() -> bool:  # each one is being answered or was told the box is busy
        with h._lock:
            labelling = h.labelling
        return labelling + len([a for a in answers if a.get("busy")]) == MAX_CONNECTIONS

    wait_until(settled, 30, "every slow request taken in")
    assert send(server.path, {"cmd": "status"}, timeout=15)["ok"] is True
    assert send(server.path, {"cmd": "start"}, timeout=15) == {"ok": True, "message": "did Start"}
    assert send(server.path, {"cmd": "mark"}, timeout=15) == {"ok": True, "message": "did Mark"}
    assert h.labelling == MAX_SLOW
    h.label_gate.set()
    for t in threads:
        t.join(60)
    assert sorted(a["message"] for a in answers if a["ok"]) == ["labelled"] * MAX_SLOW
    for refused in [a for a in answers if not a["ok"]]:
        assert refused["message"].startswith(f"the recorder is busy: {MAX_SLOW} slower requests")


def test_a_serving_loop_that_dies_is_restarted_and_said(tmp_path):
    told: list[tuple[str, str]] = []
    h = Handlers()
    server = ControlServer(
        tmp_path / "c.sock", h.handle, {"status": h.status},
        restarted=lambda name, why: told.append((name, why)), selector=Dying,
    )  # fmt: skip
    server.start()
    try:
        assert send(server.path, {"cmd": "status"})["ok"] is True
        Dying.failures = 3
        Dying.armed.set()
        # this client wakes the loop, which then dies three times in a row
        first = send(server.path, {"cmd": "status"}, timeout=15)
        assert first["ok"] or first["busy"], first
        wait_until(lambda: len(told) == 3, 20, "three restarts told")
        assert told == [("control-socket", "SystemExit: exit() called in a library")] * 3
        assert send(server.path, {"cmd": "status"}, timeout=15)["status"] == {"state": "ready"}
        assert send(server.path, {"cmd": "stop"}, timeout=15) == {"ok": True, "message": "did Stop"}
    finally:
        Dying.armed.clear()
        server.stop()
