"""The controller's one way in: events from any thread, and requests that wait for their answer.

Made before the parts that feed it (capture, writer, outbox, button, control socket) and before
the controller that drains it, so that each part is built once with what it needs, in order.
"""

from __future__ import annotations

import queue
from concurrent.futures import Future, TimeoutError
from dataclasses import dataclass

from recorder.core.recording.state import Event


@dataclass
class Pending:
    event: Event
    reply: Future | None  # None: nobody waits for what becomes of it


class Inbox:
    def __init__(self) -> None:
        self._queue: queue.Queue[Pending] = queue.Queue()

    def emit(self, event: Event) -> None:
        """Hand an event to the controller; never blocks (the queue has no bound)."""
        self._queue.put(Pending(event, None))

    def request(self, event: Event, timeout: float = 10.0) -> dict:
        """Send an event and wait for what became of it."""
        fut: Future = Future()
        self._queue.put(Pending(event, fut))
        try:
            return fut.result(timeout)
        except TimeoutError:
            return {"ok": False, "message": "the recorder did not answer in time"}

    def next(self, timeout: float) -> Pending | None:
        """The next event for the controller thread, or None after `timeout` seconds."""
        try:
            return self._queue.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None
