"""Where capture hands off: into the pre-roll ring while idle, into the writer while recording.

One lock makes start, stop and marks atomic with respect to capture, so every captured frame is
either in the ring or in exactly one session, and a marker's frame is the session frame at the
moment it was asked for.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from recorder.core.recording.blocks import (
    Block,
    Gap,
    GapKind,
    MarkerAt,
    SessionBegin,
    SessionEnd,
    WarningNote,
)
from recorder.core.recording.ring import PrerollRing
from recorder.recording.blockqueue import FrameQueue


@dataclass(frozen=True)
class StartInfo:
    start_pos: int  # capture position of the session's first frame
    preroll_frames: int


class StartAck:
    """The writer's word on whether a new session's folder could be made, to a controller that
    waits for it only briefly: a stalled card must not hold up a start, since the audio after the
    press is already being kept in memory.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._error: str | None = None  # guarded by _lock
        self._abandoned = False  # guarded by _lock

    def deliver(self, error: str | None) -> bool:
        """The writer's outcome; False when the controller stopped waiting (it must be told
        some other way)."""
        with self._lock:
            if self._abandoned:
                return False
            self._error = error
            self._done.set()
            return True

    def wait(self, timeout: float) -> tuple[bool, str | None]:
        """(answered, error): answered is False when the writer did not say in time."""
        if not self._done.wait(timeout):
            with self._lock:
                if not self._done.is_set():
                    self._abandoned = True
                    return False, None
        with self._lock:
            return True, self._error


class CaptureTap:
    def __init__(self, ring: PrerollRing, queue: FrameQueue) -> None:
        self._lock = threading.Lock()
        self._ring = ring  # guarded by _lock
        self._queue = queue
        self._pos = 0  # guarded by _lock: capture position of the next frame
        self._recording = False  # guarded by _lock
        self._session_frames = 0  # guarded by _lock: frames handed to the current session
        self._overflow: Gap | None = None  # guarded by _lock: loss not yet reported
        self.overflow_frames = 0  # guarded by _lock: total frames dropped on a full buffer

    @property
    def position(self) -> int:
        with self._lock:
            return self._pos

    @property
    def session_frames(self) -> int:
        with self._lock:
            return self._session_frames

    def push(self, data: bytes, frames: int) -> None:
        """Called by the capture thread for every block it reads; never blocks on the disk."""
        with self._lock:
            block = Block(self._pos, frames, data)
            self._pos += frames
            if not self._recording:
                self._ring.push(block)
                return
            if self._queue.put_audio(block, after=self._overflow):
                self._overflow = None
                self._session_frames += frames
                return
            self.overflow_frames += frames
            o = self._overflow or Gap("buffer_overflow", block.pos, 0)
            self._overflow = Gap(o.kind, o.pos, o.frames + frames)

    def lost(self, kind: GapKind, frames: int, estimated: bool) -> None:
        """Frames the device never delivered (overrun, unplug): they use up positions."""
        with self._lock:
            gap = Gap(kind, self._pos, frames, estimated)
            self._pos += frames
            if self._recording:
                self._queue.put_control(gap)
            else:
                self._ring.push(gap)

    def start(self, path: object, manifest: object, ack: StartAck | None = None) -> StartInfo:
        """Begin a session with everything in the ring, then live blocks straight through."""
        with self._lock:
            items = self._ring.drain()
            preroll = sum(i.frames for i in items if isinstance(i, Block))
            first = next((i.pos for i in items if isinstance(i, Block)), self._pos)
            self._queue.put_control(SessionBegin(path, manifest, first, preroll, ack))
            for item in items:
                if isinstance(item, Block):
                    self._queue.put_audio(item, force=True)
                else:
                    self._queue.put_control(item)
            self._recording = True
            self._session_frames = preroll
            self._overflow = None
            return StartInfo(first, preroll)

    def mark(self, label: str, source: str, frame: int | None = None) -> int:
        """A marker now, or at an earlier `frame` of this session (a button press)."""
        with self._lock:
            if frame is None or not 0 <= frame <= self._session_frames:
                frame = self._session_frames
            self._queue.put_control(MarkerAt(frame, label, source))
            return frame

    def note(self, kind: str, message: str, raised: bool) -> None:
        """Record a warning in the session at the current frame; nothing when idle."""
        with self._lock:
            if self._recording:
                self._queue.put_control(WarningNote(kind, message, raised, self._session_frames))

    def stop(self, reason: str, ended_at: str) -> int:
        """End the session after the last block pushed so far; returns its length in frames."""
        with self._lock:
            if self._overflow is not None:
                self._queue.put_control(self._overflow)
                self._overflow = None
            frames = self._session_frames
            self._queue.put_control(SessionEnd(reason, frames, ended_at))
            self._recording = False
            return frames
