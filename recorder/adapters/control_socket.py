"""The local control socket behind `session-recorder ctl`: one JSON request, one JSON answer.

The socket is mode 0660 so only the service user and its group can drive the recorder. Every
request line is read by `recorder.core.requests.read_request` (the one checked parser of outside
input, with its limits) before anything acts on it.

Nothing a client does may cost the recorder more than a bounded share of itself, and no client
that has sent its request is ever turned away without its answer or a plain "busy":

- one thread (supervised: restarted if it dies) reads every connection until its request line
  is complete; an open connection costs a file descriptor, not a thread, and at most `max_open`
  are open at once (more wait in the kernel's listen queue);
- each complete request gets a short-lived thread for its answer, at most `max_connections` at
  once, of which at most `max_slow` for requests that may touch the storage (anything but
  status, start, stop, mark, upload and job): those can never crowd out `status` or `stop`;
- a request that finds no answer slot waits for one up to `busy_wait` seconds, then is told the
  recorder is busy;
- a connection that sends no full line within `idle_timeout` seconds is told so and closed; one
  that has sent nothing at all for `idle_grace` seconds is closed early when more than
  `max_connections` are waiting, to make room. What a client sent is always read first.
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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from recorder.core.inbound import MAX_BYTES, RequestError
from recorder.core.requests import Query, read_request, request_name
from recorder.threads.supervision import Restarted, keep_running, logged

log = logging.getLogger(__name__)

MAX_REQUEST = MAX_BYTES  # a label with 4000 characters of notes, in any script, fits
MAX_CONNECTIONS = 32  # requests answered at once
MAX_SLOW = 8  # of which requests that may touch the storage
MAX_OPEN = 256  # connections open at once
IDLE_TIMEOUT_S = 30.0
IDLE_GRACE_S = 2.0
BUSY_WAIT_S = 2.0
BUSY_LOG_S = 60.0  # "busy" refusals are logged in one line a minute at most
SEND_TIMEOUT_S = 10.0  # a client that does not read its (small) answer for this long is dropped
QUICK = frozenset({"status", "start", "stop", "mark", "upload", "job"})  # never touch storage

_STOP = b"x"  # on the wake socket: the serving loop ends
_ROOM = b"r"  # an answer ended: a slot is free


class ControlSocketError(OSError):
    pass


@dataclass(frozen=True)
class Limits:
    """How much the socket takes at once, so that no client or crowd of clients can hold it."""

    max_connections: int = MAX_CONNECTIONS  # answers being made at once
    max_slow: int = MAX_SLOW  # of which answers that may touch the storage
    max_open: int = MAX_OPEN  # connections open at once
    idle_timeout: float = IDLE_TIMEOUT_S  # a request line not complete by then is dropped
    idle_grace: float = IDLE_GRACE_S
    busy_wait: float = BUSY_WAIT_S  # how long a request waits for a free answer slot


@dataclass
class _Waiting:
    """A connection whose request line is not complete yet; owned by the serving thread."""

    accepted: float
    deadline: float
    data: bytearray = field(default_factory=bytearray)


@dataclass
class _Ready:
    """A complete request waiting for an answer slot; owned by the serving thread."""

    conn: socket.socket
    request: object  # an Event or a Query, or the refusal (a dict) to send
    slow: bool
    since: float


def _refusal(message: str) -> dict:
    return {"ok": False, "message": message}


def _busy(message: str) -> dict:
    return {"ok": False, "busy": True, "message": message}


class ControlServer:
    """Serves events (to `handle`) and queries (to `queries[name]`) on a unix stream socket."""

    def __init__(
        self,
        path: Path,
        handle: Callable[[object], dict],
        queries: dict[str, Callable[[Query], dict]],
        *,
        limits: Limits = Limits(),
        restarted: Restarted = logged,
        selector: Callable[[], selectors.BaseSelector] = selectors.DefaultSelector,
    ) -> None:
        self.path = path
        self.max_connections = limits.max_connections
        self.max_slow = min(limits.max_slow, limits.max_connections)
        self.max_open = max(limits.max_open, limits.max_connections)
        self.idle_timeout = limits.idle_timeout
        self.idle_grace = limits.idle_grace
        self.busy_wait = limits.busy_wait
        self._handle = handle
        self._queries = queries
        self._restarted = restarted
        self.selector = selector  # the serving loop's; a test double may stand in
        self._listener: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._answering = 0  # answers being made or sent; guarded by _lock
        self._slow = 0  # of which slow ones; guarded by _lock
        self._busy_count = 0  # the serving thread's: clients told "busy" since the last line
        self._busy_logged = -BUSY_LOG_S  # the serving thread's: when that line was written

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
            return _refusal(str(exc)), False
        except Exception as exc:
            return self._internal_error("reading the request", exc), False
        return request, request_name(request) not in QUICK

    def _answer(self, request: object) -> dict:
        name = request_name(request)
        try:
            if isinstance(request, Query):
                query = self._queries.get(request.name)
                if query is None:
                    return _refusal(f"{request.name!r} is not available here")
                result = query(request)
            else:
                result = self._handle(request)
        except Exception as exc:
            return self._internal_error(f"answering {name!r}", exc)
        if not isinstance(result, dict):
            return self._internal_error(f"answering {name!r}", TypeError("no answer was made"))
        return result

    # ---- the serving thread ---------------------------------------------------------------------

    def _serve(self) -> None:
        keep_running("control-socket", self._serve_loop, self._stopping, self._restarted)

    def _serve_loop(self) -> None:
        assert self._listener is not None and self._wake is not None
        sel = self.selector()
        waiting: dict[socket.socket, _Waiting] = {}  # oldest first (insertion order)
        ready: deque[_Ready] = deque()
        listening = False
        try:
            sel.register(self._wake[0], selectors.EVENT_READ)
            while not self._stopping.is_set():
                with self._lock:
                    answering = self._answering
                room = len(waiting) + len(ready) + answering < self.max_open
                if room != listening:
                    if room:
                        sel.register(self._listener, selectors.EVENT_READ)
                    else:
                        sel.unregister(self._listener)
                    listening = room
                for key, _ in sel.select(self._timeout(waiting, ready)):
                    conn = key.fileobj
                    if conn is self._wake[0]:
                        with contextlib.suppress(OSError):
                            self._wake[0].recv(4096)
                    elif conn is self._listener:
                        self._accept(sel, waiting, len(ready))
                    elif conn in waiting:  # not closed earlier in this round
                        try:
                            self._receive(sel, waiting, ready, conn)  # type: ignore[arg-type]
                        except Exception as exc:  # one connection must not stop the others
                            log.error("control socket: reading a request failed: %s", exc)
                            log.debug("control socket: traceback", exc_info=True)
                            if conn in waiting:
                                self._drop(sel, waiting, conn, f"could not read the request: {exc}")
                if self._stopping.is_set():
                    return
                self._dispatch(ready)
                self._expire(sel, waiting)
        finally:
            why = (
                "the recorder is stopping"
                if self._stopping.is_set()
                else "the control socket is starting again; send the request again"
            )
            for conn in [*waiting, *(r.conn for r in ready)]:
                _tell(conn, _busy(why))
            sel.close()

    def _timeout(
        self, waiting: dict[socket.socket, _Waiting], ready: deque[_Ready]
    ) -> float | None:
        """Until the next deadline: an idle timeout, an early close, a busy answer."""
        times = [w.deadline for w in waiting.values()]
        if len(waiting) > self.max_connections:
            times += [w.accepted + self.idle_grace for w in waiting.values() if not w.data]
        times += [r.since + self.busy_wait for r in ready]
        if not times:
            return None
        return max(0.0, min(times) - time.monotonic())

    def _accept(
        self, sel: selectors.BaseSelector, waiting: dict[socket.socket, _Waiting], ready: int
    ) -> None:
        assert self._listener is not None
        while True:
            with self._lock:
                answering = self._answering
            if len(waiting) + ready + answering >= self.max_open:
                return  # the rest wait in the listen queue
            try:
                conn, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. out of file descriptors: the client is already gone
                log.warning("control socket: cannot accept a connection: %s", exc)
                return
            conn.setblocking(False)
            now = time.monotonic()
            waiting[conn] = _Waiting(now, now + self.idle_timeout)
            sel.register(conn, selectors.EVENT_READ)

    def _receive(
        self,
        sel: selectors.BaseSelector,
        waiting: dict[socket.socket, _Waiting],
        ready: deque[_Ready],
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
        self._forget(sel, waiting, conn)
        request, slow = self._read(bytes(w.data if end < 0 else w.data[:end]))
        ready.append(_Ready(conn, request, slow, time.monotonic()))

    def _dispatch(self, ready: deque[_Ready]) -> None:
        """Give each ready request an answer slot, oldest first; a busy answer once one has
        waited `busy_wait` (a slow request never holds up a quick one behind it)."""
        now = time.monotonic()
        for _ in range(len(ready)):
            r = ready.popleft()
            with self._lock:
                answering, slow = self._answering, self._slow
                free = answering < self.max_connections and (not r.slow or slow < self.max_slow)
                if free:
                    self._answering += 1
                    self._slow += r.slow
            if free:
                self._start_answer(r)
            elif now - r.since >= self.busy_wait:
                what = f"{answering} control requests"
                if r.slow and slow >= self.max_slow:
                    what = f"{slow} slower requests (label, consent, share, …)"
                self._turned_away(what)
                _tell(r.conn, _busy(f"the recorder is busy: {what} are being answered; "
                                    "try again in a moment"))  # fmt: skip
            else:
                ready.append(r)

    def _turned_away(self, what: str) -> None:
        """One line when clients are first told the box is busy, then one a minute at most."""
        self._busy_count += 1
        now = time.monotonic()
        if now - self._busy_logged >= BUSY_LOG_S:
            log.warning("control socket: %d client(s) told the recorder is busy (%s are being "
                        "answered)", self._busy_count, what)  # fmt: skip
            self._busy_logged, self._busy_count = now, 0

    def _start_answer(self, r: _Ready) -> None:
        try:
            threading.Thread(
                target=self._reply, args=(r.conn, r.request, r.slow), name="control-answer",
                daemon=True,
            ).start()  # fmt: skip
        except RuntimeError as exc:  # no thread to be had: say so instead of dropping it
            self._answered(r.slow)
            log.warning("control socket: cannot start a thread for a request: %s", exc)
            _tell(r.conn, _busy("the recorder is busy: no thread free to answer; try again"))

    def _expire(self, sel: selectors.BaseSelector, waiting: dict[socket.socket, _Waiting]) -> None:
        now = time.monotonic()
        for conn in [c for c, w in waiting.items() if w.deadline <= now]:
            log.debug("control socket: no request within %g s; closed", self.idle_timeout)
            self._drop(
                sel, waiting, conn, f"closed: no complete request within {self.idle_timeout:g} s"
            )
        extra = len(waiting) - self.max_connections
        if extra <= 0:
            return
        idle = [c for c, w in waiting.items() if not w.data and now - w.accepted >= self.idle_grace]
        for conn in idle[:extra]:
            log.debug("control socket: closed an idle connection to make room")
            self._drop(
                sel,
                waiting,
                conn,
                f"closed: no request came on this connection within {self.idle_grace:g} s "
                "and other clients needed room",
            )

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

    def _reply(self, conn: socket.socket, request: object, slow: bool) -> None:
        try:
            data = _encode(request if isinstance(request, dict) else self._answer(request))
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
            self._answered(slow)

    def _answered(self, slow: bool) -> None:
        with self._lock:
            self._answering -= 1
            self._slow -= slow
        if self._wake is not None:  # the serving thread may have requests waiting for the slot
            with contextlib.suppress(OSError):
                self._wake[1].send(_ROOM)

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


def wait_for_job(path: Path, answer: dict, timeout: float, poll: float = 0.25) -> dict:
    """The end of a request the recorder queued (`queued`, `job`): polls `job` until it is
    done and returns the answer it ended with; any other answer is returned as it is.

    After `timeout` the answer says the job is still being done. Raises ControlSocketError when
    the recorder stops answering meanwhile.
    """
    job = answer.get("job")
    if not (answer.get("ok") and answer.get("queued") and isinstance(job, str)):
        return answer
    deadline = time.monotonic() + timeout
    while True:
        now = send(path, {"cmd": "job", "job": job})
        if now.get("state") == "done" or not (now.get("ok") or now.get("busy")):
            return now
        if time.monotonic() >= deadline:
            return {
                "ok": False,
                "job": job,
                "message": f"{now.get('message') or answer.get('message')}; not done after "
                f"{timeout:g} s: it goes on, and `session-recorder sessions` shows the result",
            }
        time.sleep(poll)
