"""The control server: the socket's start and stop, its serving loop, and each request's answer.

The serving thread (supervised: restarted if it dies) reads every connection until its request
line is complete (`Connections`), then hands the request to an answer slot (`AnswerSlots`).
Every request line is read by `recorder.core.requests.read_request` (the one checked parser of
outside input, with its limits) before anything acts on it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from recorder.adapters.control_socket.client import answers
from recorder.adapters.control_socket.connections import Connections
from recorder.adapters.control_socket.limits import DEFAULT_LIMITS, QUICK, Limits
from recorder.adapters.control_socket.slots import AnswerSlots
from recorder.adapters.control_socket.wire import ControlSocketError, refusal
from recorder.core.inbound import RequestError
from recorder.core.requests import Query, read_request, request_name
from recorder.threads.supervision import Restarted, keep_running, logged

log = logging.getLogger(__package__)  # one logger for the whole socket, as before its split

_STOP = b"x"  # on the wake socket: the serving loop ends
_ROOM = b"r"  # an answer ended: a slot is free


class ControlServer:
    """Serves events (to `handle`) and queries (to `queries[name]`) on a unix stream socket.

    The socket is mode 0660 so only the service user and its group can drive the recorder.
    """

    def __init__(
        self,
        path: Path,
        handle: Callable[[object], dict],
        queries: dict[str, Callable[[Query], dict]],
        *,
        limits: Limits = DEFAULT_LIMITS,
        restarted: Restarted = logged,
        selector: Callable[[], selectors.BaseSelector] = selectors.DefaultSelector,
    ) -> None:
        self.path = path
        self.limits = limits
        self._handle = handle
        self._queries = queries
        self._restarted = restarted
        self.selector = selector  # the serving loop's; a test double may stand in
        self._listener: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._slots = AnswerSlots(limits, self._answer, self._room)

    def start(self) -> None:
        if self.path.exists():
            if answers(self.path):
                raise ControlSocketError(
                    f"{self.path}: another recorder is already running on this socket"
                )
            self.path.unlink()  # left by a daemon that died
        self.path.parent.mkdir(parents=True, exist_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o117)
        try:
            listener.bind(str(self.path))
        except OSError as exc:
            listener.close()
            raise ControlSocketError(f"{self.path}: cannot listen: {exc.strerror}") from None
        finally:
            os.umask(old)
        os.chmod(self.path, 0o660)
        listener.listen(socket.SOMAXCONN)
        listener.setblocking(False)
        self._listener = listener
        self._wake = socket.socketpair()
        for end in self._wake:
            end.setblocking(False)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name="control-socket", daemon=True)
        self._thread.start()

    def answer(self, line: bytes) -> dict:
        """The answer to one request line; never raises, whatever the line or the handler do."""
        request, _ = self._read(line)
        return request if isinstance(request, dict) else self._answer(request)

    def stop(self) -> None:
        if self._thread is None:
            return
        assert self._wake is not None and self._listener is not None
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake[1].send(_STOP)
        self._thread.join(5)
        self._thread = None
        for s in (*self._wake, self._listener):
            s.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # ---- reading and answering a request --------------------------------------------------------

    def _read(self, line: bytes) -> tuple[object, bool]:
        """The request a line makes (or the refusal to send), and whether it may be slow."""
        try:
            request = read_request(line, source="ctl")
        except RequestError as exc:
            log.warning("control socket: bad request: %s", exc)
            return refusal(str(exc)), False
        except Exception as exc:
            return self._internal_error("reading the request", exc), False
        return request, request_name(request) not in QUICK

    def _answer(self, request: object) -> dict:
        name = request_name(request)
        try:
            if isinstance(request, Query):
                query = self._queries.get(request.name)
                if query is None:
                    return refusal(f"{request.name!r} is not available here")
                result = query(request)
            else:
                result = self._handle(request)
        except Exception as exc:
            return self._internal_error(f"answering {name!r}", exc)
        if not isinstance(result, dict):
            return self._internal_error(f"answering {name!r}", TypeError("no answer was made"))
        return result

    def _internal_error(self, doing: str, exc: BaseException) -> dict:
        log.error("control socket: %s failed: %s: %s", doing, type(exc).__name__, exc)
        log.debug("control socket: traceback", exc_info=exc)
        return refusal(
            f"the recorder failed while {doing} ({type(exc).__name__}: {exc}); "
            "see the recorder's log"
        )

    # ---- the serving thread ---------------------------------------------------------------------

    def _serve(self) -> None:
        keep_running("control-socket", self._serve_loop, self._stopping, self._restarted)

    def _serve_loop(self) -> None:
        assert self._listener is not None and self._wake is not None
        sel = self.selector()
        conns = Connections(sel, self._listener, self.limits, self._complete, self._slots.held)
        try:
            sel.register(self._wake[0], selectors.EVENT_READ)
            while not self._stopping.is_set():
                conns.listen()
                for key, _ in sel.select(self._timeout(conns)):
                    if key.fileobj is self._wake[0]:
                        with contextlib.suppress(OSError):
                            self._wake[0].recv(4096)
                    else:
                        conns.readable(key.fileobj)
                if self._stopping.is_set():
                    return
                self._slots.dispatch()
                conns.expire()
        finally:
            why = (
                "the recorder is stopping"
                if self._stopping.is_set()
                else "the control socket is starting again; send the request again"
            )
            conns.refuse_all(why)
            self._slots.refuse_all(why)
            sel.close()

    def _timeout(self, conns: Connections) -> float | None:
        """Until the next deadline: an idle timeout, an early close, a busy answer."""
        times = conns.deadlines() + self._slots.deadlines()
        if not times:
            return None
        return max(0.0, min(times) - time.monotonic())

    def _complete(self, conn: socket.socket, line: bytes) -> None:
        request, slow = self._read(line)
        self._slots.add(conn, request, slow)

    def _room(self) -> None:
        """On an answer thread: an answer ended, and a request may be waiting for its slot."""
        if self._wake is not None:
            with contextlib.suppress(OSError):
                self._wake[1].send(_ROOM)
