"""The local control socket behind `session-recorder ctl`: one JSON request, one JSON answer.

The socket is mode 0660 so only the service user and its group can drive the recorder. Requests
are checked by `recorder.core.requests` before anything acts on them.

Nothing a client does may cost the recorder more than a bounded share of itself: one thread
reads every connection until its request line is complete (an idle connection costs a file
descriptor, not a thread), and each complete request gets a short-lived thread for its answer.
At most `max_connections` are open at once; a connection that sends no full line within
`idle_timeout` seconds is closed, and so is the oldest such one when a new client needs room.
Every request is answered, whatever goes wrong while reading or handling it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from recorder.core.requests import Query, RequestError, parse_request

log = logging.getLogger(__name__)

MAX_REQUEST = 65536  # a label with 4000 characters of notes, in any script, fits
MAX_CONNECTIONS = 32
IDLE_TIMEOUT_S = 30.0
SEND_TIMEOUT_S = 10.0  # a client that does not read its (small) answer for this long is dropped


class ControlSocketError(OSError):
    pass


@dataclass
class _Waiting:
    """A connection whose request line is not complete yet; owned by the serving thread."""

    deadline: float
    data: bytearray = field(default_factory=bytearray)


def _refusal(message: str) -> dict:
    return {"ok": False, "message": message}


class ControlServer:
    """Serves events (to `handle`) and queries (to `queries[name]`) on a unix stream socket."""

    def __init__(
        self,
        path: Path,
        handle: Callable[[object], dict],
        queries: dict[str, Callable[[Query], dict]],
        *,
        max_connections: int = MAX_CONNECTIONS,
        idle_timeout: float = IDLE_TIMEOUT_S,
    ) -> None:
        self.path = path
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self._handle = handle
        self._queries = queries
        self._listener: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None  # stops the serving loop
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._answering = 0  # connections whose answer is being made or sent; guarded by _lock

    def start(self) -> None:
        if self.path.exists():
            if _answers(self.path):
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
        self._thread = threading.Thread(target=self._serve, name="control-socket", daemon=True)
        self._thread.start()

    def answer(self, line: bytes) -> dict:
        """The answer to one request line; never raises, whatever the line or the handler do."""
        if len(line) > MAX_REQUEST:
            return _refusal(f"request longer than {MAX_REQUEST} bytes")
        try:
            payload = json.loads(line)
            event = parse_request(payload, source="ctl")
        except RecursionError:
            log.warning("control socket: bad request: nested too deeply")
            return _refusal("not a usable request: brackets nested too deeply to read")
        except (ValueError, RequestError) as exc:
            log.warning("control socket: bad request: %s", exc)
            msg = str(exc) if isinstance(exc, RequestError) else f"not JSON: {exc}"
            return _refusal(msg)
        except Exception as exc:
            return self._internal_error("reading the request", exc)
        name = event.name if isinstance(event, Query) else type(event).__name__.lower()
        try:
            if isinstance(event, Query):
                query = self._queries.get(event.name)
                if query is None:
                    return _refusal(f"{event.name!r} is not available here")
                result = query(event)
            else:
                result = self._handle(event)
        except Exception as exc:
            return self._internal_error(f"answering {name!r}", exc)
        if not isinstance(result, dict):
            return self._internal_error(f"answering {name!r}", TypeError("no answer was made"))
        return result

    def stop(self) -> None:
        if self._thread is None:
            return
        assert self._wake is not None and self._listener is not None
        with contextlib.suppress(OSError):
            self._wake[1].send(b"x")
        self._thread.join(5)
        self._thread = None
        for s in (*self._wake, self._listener):
            s.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # ---- the serving thread ---------------------------------------------------------------------

    def _serve(self) -> None:
        assert self._listener is not None and self._wake is not None
        sel = selectors.DefaultSelector()
        sel.register(self._listener, selectors.EVENT_READ)
        sel.register(self._wake[0], selectors.EVENT_READ)
        waiting: dict[socket.socket, _Waiting] = {}  # oldest first (insertion order)
        try:
            while True:
                first = min((w.deadline for w in waiting.values()), default=None)
                timeout = None if first is None else max(0.0, first - time.monotonic())
                for key, _ in sel.select(timeout):
                    conn = key.fileobj
                    if conn is self._wake[0]:
                        return
                    if conn is self._listener:
                        self._accept(sel, waiting)
                    elif conn in waiting:  # not closed earlier in this round to make room
                        try:
                            self._receive(sel, waiting, conn)  # type: ignore[arg-type]
                        except Exception as exc:  # one connection must not stop the others
                            log.error("control socket: reading a request failed: %s", exc)
                            log.debug("control socket: traceback", exc_info=True)
                            if conn in waiting:
                                self._drop(sel, waiting, conn, f"could not read the request: {exc}")
                now = time.monotonic()
                for conn in [c for c, w in waiting.items() if w.deadline <= now]:
                    log.debug("control socket: no request within %g s; closed", self.idle_timeout)
                    self._drop(
                        sel,
                        waiting,
                        conn,
                        f"closed: no complete request within {self.idle_timeout:g} s",
                    )
        except Exception:
            log.exception("control socket: the serving thread failed; ctl will not answer")
        finally:
            for conn in waiting:
                conn.close()
            sel.close()

    def _accept(self, sel: selectors.BaseSelector, waiting: dict[socket.socket, _Waiting]) -> None:
        assert self._listener is not None
        while True:
            try:
                conn, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. out of file descriptors: the client is already gone
                log.warning("control socket: cannot accept a connection: %s", exc)
                return
            conn.setblocking(False)
            with self._lock:
                answering = self._answering
            if len(waiting) + answering >= self.max_connections:
                if not waiting:
                    log.warning(
                        "control socket: %d requests are being answered; a client was turned away",
                        answering,
                    )
                    _tell(
                        conn,
                        _refusal(
                            f"the recorder is busy: {answering} control requests are being "
                            "answered; try again in a moment"
                        ),
                    )
                    continue
                log.debug("control socket: closed the oldest idle connection to make room")
                self._drop(
                    sel,
                    waiting,
                    next(iter(waiting)),
                    "closed: no request came on this connection and another client needed room",
                )
            waiting[conn] = _Waiting(time.monotonic() + self.idle_timeout)
            sel.register(conn, selectors.EVENT_READ)

    def _receive(
        self,
        sel: selectors.BaseSelector,
        waiting: dict[socket.socket, _Waiting],
        conn: socket.socket,
    ) -> None:
        w = waiting[conn]
        try:
            chunk = conn.recv(MAX_REQUEST + 1 - len(w.data))
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.debug("control socket: a client left before sending a request (%s)", exc)
            self._forget(sel, waiting, conn)
            conn.close()
            return
        if not chunk and not w.data:
            log.debug("control socket: a client left without sending a request")
            self._forget(sel, waiting, conn)
            conn.close()
            return
        w.data += chunk
        end = w.data.find(b"\n")
        if end < 0 and chunk and len(w.data) <= MAX_REQUEST:
            return  # more to come
        line = bytes(w.data if end < 0 else w.data[: end + 1])
        self._forget(sel, waiting, conn)
        with self._lock:
            self._answering += 1
        try:
            threading.Thread(
                target=self._reply, args=(conn, line), name="control-answer", daemon=True
            ).start()
        except RuntimeError as exc:  # no thread to be had: say so instead of dropping it
            with self._lock:
                self._answering -= 1
            log.warning("control socket: cannot start a thread for a request: %s", exc)
            _tell(conn, _refusal("the recorder is busy: no thread free to answer; try again"))

    def _forget(
        self,
        sel: selectors.BaseSelector,
        waiting: dict[socket.socket, _Waiting],
        conn: socket.socket,
    ) -> None:
        sel.unregister(conn)
        del waiting[conn]

    def _drop(
        self,
        sel: selectors.BaseSelector,
        waiting: dict[socket.socket, _Waiting],
        conn: socket.socket,
        why: str,
    ) -> None:
        self._forget(sel, waiting, conn)
        _tell(conn, _refusal(why))

    # ---- an answer thread -----------------------------------------------------------------------

    def _reply(self, conn: socket.socket, line: bytes) -> None:
        try:
            data = _encode(self.answer(line))
            conn.settimeout(SEND_TIMEOUT_S)
            conn.sendall(data)
        except TimeoutError:
            log.info("control socket: a client did not read its answer in %g s", SEND_TIMEOUT_S)
        except OSError as exc:  # BrokenPipeError, ConnectionResetError: the client went away
            log.info("control socket: a client left before its answer (%s)", exc.strerror or exc)
        except Exception as exc:
            log.error("control socket: sending an answer failed: %s", exc)
            log.debug("control socket: traceback", exc_info=True)
        finally:
            conn.close()
            with self._lock:
                self._answering -= 1

    def _internal_error(self, doing: str, exc: BaseException) -> dict:
        log.error("control socket: %s failed: %s: %s", doing, type(exc).__name__, exc)
        log.debug("control socket: traceback", exc_info=exc)
        return _refusal(
            f"the recorder failed while {doing} ({type(exc).__name__}: {exc}); "
            "see the recorder's log"
        )


def _encode(answer: dict) -> bytes:
    try:
        return json.dumps(answer).encode() + b"\n"
    except (TypeError, ValueError) as exc:
        log.error("control socket: an answer could not be written as JSON: %s", exc)
        message = f"the recorder made an answer it cannot send: {exc}"
        return json.dumps(_refusal(message)).encode() + b"\n"


def _tell(conn: socket.socket, answer: dict) -> None:
    """Best effort, without waiting: one line to a client about to be closed, then close it."""
    with contextlib.suppress(OSError):
        conn.setblocking(False)
        conn.send(_encode(answer))
        # Read what the client already sent: closing a unix socket with unread data makes the
        # client's next read fail with ECONNRESET instead of ending after our line.
        for _ in range(16):
            if not conn.recv(65536):
                break
    conn.close()


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def send(path: Path, payload: dict, timeout: float = 15.0) -> dict:
    """Send one request to a running daemon; raises ControlSocketError when none answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    s.connect(str(path))
                    break
                except BlockingIOError:  # its listen queue is full: the recorder is catching up
                    if time.monotonic() >= deadline:
                        raise ControlSocketError(
                            f"the recorder at {path} is too busy to take a connection"
                        ) from None
                    time.sleep(0.05)
        except ControlSocketError:
            raise
        except FileNotFoundError:
            raise ControlSocketError(
                f"no recorder is running (no control socket at {path})"
            ) from None
        except OSError as exc:
            raise ControlSocketError(
                f"cannot reach the recorder at {path}: {exc.strerror or exc}"
            ) from None
        # A recorder that turns the request away (busy) answers and closes at once, perhaps
        # before the request is sent: its answer is still there to read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            s.sendall(json.dumps(payload).encode() + b"\n")
        data = b""
        try:
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            raise ControlSocketError(
                f"the recorder at {path} did not answer within {timeout:g} s"
            ) from None
        except ConnectionResetError:
            pass  # the answer, if any, came before the reset
    try:
        return json.loads(data)
    except ValueError:
        raise ControlSocketError(f"the recorder at {path} gave no answer") from None
