"""The connections whose request line is not complete yet, all read by the serving thread."""

from __future__ import annotations

import logging
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from recorder.adapters.control_socket.limits import MAX_REQUEST, Limits
from recorder.adapters.control_socket.wire import busy, refusal, tell

log = logging.getLogger(__package__)  # one logger for the whole socket, as before its split


@dataclass
class Waiting:
    """A connection whose request line is not complete yet; owned by the serving thread."""

    accepted: float
    deadline: float
    data: bytearray = field(default_factory=bytearray)


class Connections:
    """Accepts connections and reads each until its request line is complete, on one selector:
    an open connection costs a file descriptor, not a thread.

    At most `max_open` connections are open at once, counting those `held` elsewhere (waiting
    for an answer or getting one); more wait in the kernel's listen queue. One that sends no
    full line within `idle_timeout` seconds is told so and closed; one that has sent nothing at
    all for `idle_grace` seconds is closed early when more than `max_connections` are waiting,
    to make room. What a client sent is always read first. Made anew each time the serving loop
    starts, with its selector.
    """

    def __init__(
        self,
        sel: selectors.BaseSelector,
        listener: socket.socket,
        limits: Limits,
        complete: Callable[[socket.socket, bytes], None],
        held: Callable[[], int],
    ) -> None:
        self.sel = sel
        self.listener = listener
        self.max_connections = limits.max_connections
        self.max_open = max(limits.max_open, limits.max_connections)
        self.idle_timeout = limits.idle_timeout
        self.idle_grace = limits.idle_grace
        self._complete = complete  # a connection and its request line, to be answered
        self._held = held
        self._waiting: dict[socket.socket, Waiting] = {}  # oldest first (insertion order)
        self._listening = False

    def listen(self) -> None:
        """Take new connections only while there is room for them."""
        room = len(self._waiting) + self._held() < self.max_open
        if room != self._listening:
            if room:
                self.sel.register(self.listener, selectors.EVENT_READ)
            else:
                self.sel.unregister(self.listener)
            self._listening = room

    def readable(self, conn: object) -> None:
        """The selector says `conn` (the listener or a connection) has something to read."""
        if conn is self.listener:
            self._accept()
        elif conn in self._waiting:  # not closed earlier in this round
            try:
                self._receive(conn)  # type: ignore[arg-type]
            except Exception as exc:  # one connection must not stop the others
                log.error("control socket: reading a request failed: %s", exc)
                log.debug("control socket: traceback", exc_info=True)
                if conn in self._waiting:
                    self._drop(conn, f"could not read the request: {exc}")  # type: ignore[arg-type]

    def deadlines(self) -> list[float]:
        """When a connection is due to be closed: an idle timeout, an early close."""
        waiting = self._waiting.values()
        times = [w.deadline for w in waiting]
        if len(self._waiting) > self.max_connections:
            times += [w.accepted + self.idle_grace for w in waiting if not w.data]
        return times

    def expire(self) -> None:
        """Close the connections past their deadline, then idle ones if others need room."""
        now = time.monotonic()
        for conn in [c for c, w in self._waiting.items() if w.deadline <= now]:
            log.debug("control socket: no request within %g s; closed", self.idle_timeout)
            self._drop(conn, f"closed: no complete request within {self.idle_timeout:g} s")
        extra = len(self._waiting) - self.max_connections
        if extra <= 0:
            return
        idle = [
            c
            for c, w in self._waiting.items()
            if not w.data and now - w.accepted >= self.idle_grace
        ]
        for conn in idle[:extra]:
            log.debug("control socket: closed an idle connection to make room")
            self._drop(
                conn,
                f"closed: no request came on this connection within {self.idle_grace:g} s "
                "and other clients needed room",
            )

    def refuse_all(self, why: str) -> None:
        """Tell every connection still sending its request that it will not be answered."""
        for conn in list(self._waiting):
            tell(conn, busy(why))
        self._waiting.clear()

    def _accept(self) -> None:
        while True:
            if len(self._waiting) + self._held() >= self.max_open:
                return  # the rest wait in the listen queue
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. out of file descriptors: the client is already gone
                log.warning("control socket: cannot accept a connection: %s", exc)
                return
            conn.setblocking(False)
            now = time.monotonic()
            self._waiting[conn] = Waiting(now, now + self.idle_timeout)
            self.sel.register(conn, selectors.EVENT_READ)

    def _receive(self, conn: socket.socket) -> None:
        w = self._waiting[conn]
        try:
            chunk = conn.recv(MAX_REQUEST + 1 - len(w.data))
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.debug("control socket: a client left before sending a request (%s)", exc)
            self._forget(conn)
            conn.close()
            return
        if not chunk and not w.data:
            log.debug("control socket: a client left without sending a request")
            self._forget(conn)
            conn.close()
            return
        w.data += chunk
        end = w.data.find(b"\n")
        if end < 0 and chunk and len(w.data) <= MAX_REQUEST:
            return  # more to come
        self._forget(conn)
        self._complete(conn, bytes(w.data if end < 0 else w.data[:end]))

    def _forget(self, conn: socket.socket) -> None:
        self.sel.unregister(conn)
        del self._waiting[conn]

    def _drop(self, conn: socket.socket, why: str) -> None:
        self._forget(conn)
        tell(conn, refusal(why))
