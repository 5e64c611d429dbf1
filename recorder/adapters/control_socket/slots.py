"""The answer slots: how many answers are made at once, and who is told the recorder is busy."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from recorder.adapters.control_socket.limits import SEND_TIMEOUT_S, Limits
from recorder.adapters.control_socket.wire import busy, encode, tell

log = logging.getLogger(__package__)  # one logger for the whole socket, as before its split

BUSY_LOG_S = 60.0  # "busy" refusals are logged in one line a minute at most


@dataclass
class Ready:
    """A complete request waiting for an answer slot; owned by the serving thread."""

    conn: socket.socket
    request: object  # an Event or a Query, or the refusal (a dict) to send
    slow: bool
    since: float


class AnswerSlots:
    """At most `max_connections` answers at once, each on a short-lived thread of its own, of
    which at most `max_slow` for requests that may touch the storage, so that those can never
    crowd out `status` or `stop`. A request that finds no slot waits for one up to `busy_wait`
    seconds, then is told the recorder is busy.

    The counts are shared with the answer threads, under a lock; the queue of ready requests
    and the "busy" log line belong to the serving thread.
    """

    def __init__(
        self, limits: Limits, answer: Callable[[object], dict], freed: Callable[[], None]
    ) -> None:
        self.max_connections = limits.max_connections
        self.max_slow = min(limits.max_slow, limits.max_connections)
        self.busy_wait = limits.busy_wait
        self._answer = answer  # a request's answer; never raises
        self._freed = freed  # wakes the serving thread: a request may be waiting for the slot
        self._lock = threading.Lock()
        self._answering = 0  # answers being made or sent; guarded by _lock
        self._slow = 0  # of which slow ones; guarded by _lock
        self._ready: deque[Ready] = deque()
        self._busy_count = 0  # clients told "busy" since the last line
        self._busy_logged = -BUSY_LOG_S  # when that line was written

    def add(self, conn: socket.socket, request: object, slow: bool) -> None:
        """A complete request (or the refusal to send) for the next free slot."""
        self._ready.append(Ready(conn, request, slow, time.monotonic()))

    def held(self) -> int:
        """The connections waiting for an answer or getting one."""
        with self._lock:
            answering = self._answering
        return len(self._ready) + answering

    def deadlines(self) -> list[float]:
        """When each waiting request is to be told the recorder is busy."""
        return [r.since + self.busy_wait for r in self._ready]

    def dispatch(self) -> None:
        """Give each ready request an answer slot, oldest first; a busy answer once one has
        waited `busy_wait` (a slow request never holds up a quick one behind it)."""
        now = time.monotonic()
        for _ in range(len(self._ready)):
            r = self._ready.popleft()
            with self._lock:
                answering, slow = self._answering, self._slow
                free = answering < self.max_connections and (not r.slow or slow < self.max_slow)
                if free:
                    self._answering += 1
                    self._slow += r.slow
            if free:
                self._start(r)
            elif now - r.since >= self.busy_wait:
                what = f"{answering} control requests"
                if r.slow and slow >= self.max_slow:
                    what = f"{slow} slower requests (label, consent, share, …)"
                self._turned_away(what)
                tell(r.conn, busy(f"the recorder is busy: {what} are being answered; "
                                  "try again in a moment"))  # fmt: skip
            else:
                self._ready.append(r)

    def refuse_all(self, why: str) -> None:
        """Tell every request still waiting for a slot that it will not get one."""
        while self._ready:
            tell(self._ready.popleft().conn, busy(why))

    def _turned_away(self, what: str) -> None:
        """One line when clients are first told the box is busy, then one a minute at most."""
        self._busy_count += 1
        now = time.monotonic()
        if now - self._busy_logged >= BUSY_LOG_S:
            log.warning("control socket: %d client(s) told the recorder is busy (%s are being "
                        "answered)", self._busy_count, what)  # fmt: skip
            self._busy_logged, self._busy_count = now, 0

    def _start(self, r: Ready) -> None:
        try:
            threading.Thread(
                target=self._reply, args=(r.conn, r.request, r.slow), name="control-answer",
                daemon=True,
            ).start()  # fmt: skip
        except RuntimeError as exc:  # no thread to be had: say so instead of dropping it
            self._release(r.slow)
            log.warning("control socket: cannot start a thread for a request: %s", exc)
            tell(r.conn, busy("the recorder is busy: no thread free to answer; try again"))

    # ---- an answer thread -----------------------------------------------------------------------

    def _reply(self, conn: socket.socket, request: object, slow: bool) -> None:
        try:
            data = encode(request if isinstance(request, dict) else self._answer(request))
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
            self._release(slow)

    def _release(self, slow: bool) -> None:
        with self._lock:
            self._answering -= 1
            self._slow -= slow
        self._freed()
