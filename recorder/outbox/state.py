"""What the outbox is doing, shared by its steps and read by `status()` from other threads.

One lock guards it all: the session being stepped (its transcript), sent or verified, the
transfer's progress, the last error, each session's next try and the sessions discarded while
in flight. The steps hold no state of their own beyond what they were built with.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from recorder.config import UploadSection
from recorder.core.manifest import Manifest
from recorder.core.recording.state import Event
from recorder.outbox.discard import remote_dir_for
from recorder.ports.outbox import RemoteStore
from recorder.store.sessions import SessionStore

Role = Literal["current", "verifying", "stepping"]


class OutboxState:
    """The outbox's shared state; every method takes the lock for what it reads or writes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: dict[Role, str | None] = {"current": None, "verifying": None, "stepping": None}
        self._progress: dict | None = None
        self._last_error: str | None = None
        self._next_try: dict[str, float] = {}  # id -> monotonic time
        self._cancelled: set[str] = set()  # discarded while in flight

    @contextlib.contextmanager
    def working(self, role: Role, session_id: str) -> Iterator[None]:
        """`session_id` is being sent, verified or stepped for the duration; a transfer's
        progress starts and ends empty."""
        with self._lock:
            self._busy[role] = session_id
            if role == "current":
                self._progress = None
        try:
            yield
        finally:
            with self._lock:
                self._busy[role] = None
                if role == "current":
                    self._progress = None

    def on_progress(self, progress: dict) -> None:
        with self._lock:
            self._progress = progress

    def cancel(self, session_id: str) -> bool:
        """Mark `session_id` discarded if it is being worked on; True if it was."""
        with self._lock:
            in_flight = session_id in self._busy.values()
            if in_flight:
                self._cancelled.add(session_id)
            return in_flight

    def was_cancelled(self, session_id: str) -> bool:
        """True once after `cancel` marked it: the step that asks drops the session."""
        with self._lock:
            if session_id in self._cancelled:
                self._cancelled.discard(session_id)
                return True
        return False

    def due(self, session_id: str) -> bool:
        with self._lock:
            return self._next_try.get(session_id, 0) <= time.monotonic()

    def next_try(self, session_id: str) -> float | None:
        """When `session_id` is tried again (monotonic clock), or None if it is not waiting."""
        with self._lock:
            return self._next_try.get(session_id)

    def try_later(self, session_id: str, delay_s: float, error: str | None = None) -> None:
        with self._lock:
            self._next_try[session_id] = time.monotonic() + delay_s
            if error is not None:
                self._last_error = error

    def succeeded(self, session_id: str) -> None:
        with self._lock:
            self._next_try.pop(session_id, None)
            self._last_error = None

    def try_all_now(self) -> None:
        with self._lock:
            self._next_try.clear()

    def sleep_s(self, idle_s: float) -> float:
        """How long the thread may sleep before a session is due again (`idle_s` at most)."""
        with self._lock:
            if not self._next_try:
                return idle_s
            return max(0.5, min(idle_s, min(self._next_try.values()) - time.monotonic()))

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "current": self._busy["current"],
                "verifying": self._busy["verifying"],
                "transcribing": self._busy["stepping"],
                "progress": dict(self._progress) if self._progress else None,
                "last_error": self._last_error,
            }


@dataclass(frozen=True)
class Link:
    """What the upload and verify steps share: the settings, the remote, the outbox's state,
    where events go, and the clocks (injected, so tests can fix the jitter and the time)."""

    store: SessionStore
    settings: UploadSection
    remote: RemoteStore
    state: OutboxState
    emit: Callable[[Event], None]
    stopping: threading.Event
    rand: Callable[[], float]
    wall: Callable[[], float]

    def now_iso(self) -> str:
        return datetime.fromtimestamp(self.wall(), UTC).isoformat(timespec="seconds")

    def remote_dir(self, session_id: str, manifest: Manifest | None) -> str:
        """Where the session's files are on the remote: the folder its manifest names, else
        the one the upload makes (a manifest that lost it still finds its files)."""
        named = manifest.upload.remote if manifest is not None else None
        return named or remote_dir_for(self.settings.remote, session_id)


def timestamp(iso: str | None) -> float | None:
    """Seconds since the epoch of a manifest's ISO time, or None if it has none or a bad one."""
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None
