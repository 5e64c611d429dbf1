"""The status snapshot: what `ctl status`, MQTT and systemd show, made on any thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recorder import __version__
from recorder.config import Config
from recorder.core.manifest import Manifest
from recorder.core.recording.disk import hours_left
from recorder.core.recording.state import State, led_view
from recorder.recording.controller.disk import DiskCheck
from recorder.recording.tap import CaptureTap


@dataclass(frozen=True)
class Readouts:
    """What the status shows of the other parts, read when a status is made (any thread)."""

    capture: Callable[[], dict] = dict  # the capture thread's counters (overruns)
    queue_frames: Callable[[], int] = int  # frames waiting for the writer
    upload: Callable[[], dict] = lambda: {"enabled": False}  # the outbox's status
    gpio: str = "off"  # what the button and LED are, or why they are off
    transcripts: dict | None = None  # the engine a transcript gets and why; None: no [transcript]


NO_READOUTS = Readouts()  # a recorder alone: no capture counters, no queue, no upload, no GPIO


class Status:
    """Makes the status from the controller's state (immutable), the tap's counters, the free
    space last read and the other parts' readouts; safe from any thread. Keeps the last
    finalized session, which the writer reports on its own thread."""

    def __init__(self, cfg: Config, tap: CaptureTap, disk: DiskCheck, readouts: Readouts) -> None:
        self.cfg = cfg
        self.tap = tap
        self.disk = disk
        self.readouts = readouts
        self._lock = threading.Lock()
        self._last_session: dict | None = None  # guarded by _lock

    @property
    def last_session(self) -> dict | None:
        with self._lock:
            return self._last_session

    def session_finalized(self, manifest: Manifest, path: Path) -> None:
        with self._lock:
            self._last_session = {
                "id": manifest.id,
                "path": str(path),
                "frames": manifest.frames,
                "stop_reason": manifest.stop_reason,
            }

    def snapshot(self, s: State, levels: dict | None) -> dict:
        """The status of the recorder in state `s`, with the last `levels` reported."""
        a = self.cfg.audio
        frames = self.tap.session_frames if s.mode == "recording" else 0
        min_free = self.cfg.storage.min_free_mb * 1_000_000
        last = self.last_session
        view = led_view(s)
        free = self.disk.free_now()
        return {
            "state": state_name(s),
            "device_id": self.cfg.device.id,
            "audio_device": a.device,
            "device": s.device,
            "session_id": s.session_id,
            "elapsed_s": round(frames / a.rate, 1),
            "frames": frames,
            "disk_free_mb": round(free / 1e6, 1),
            "disk_full": s.disk_full,
            "hours_left": hours_left(free, min_free, a.bytes_per_second),
            "buffer_s": round(self.readouts.queue_frames() / a.rate, 2),
            "overflow_frames": self.tap.overflow_frames,
            "last_error": s.last_error,
            "warnings": [{"kind": k, "message": m} for k, m in s.monitor.active],
            "levels": levels if s.mode == "recording" else None,
            "led": view.name,
            "button": s.button.phase,
            "gpio": self.readouts.gpio,
            "transcripts": self.readouts.transcripts,
            "finalizing": s.finalizing,
            "upload": self.readouts.upload(),
            "last_session": last,
            "version": __version__,
            **self.readouts.capture(),
        }


def state_name(s: State) -> str:
    """The one word the status gives for the state."""
    if s.mode == "recording":
        # Between the start and the writer's word (up to START_ACK_S) the session has no id
        # yet: a viewer told "recording" would have no session to show.
        return "recording" if s.session_id else "starting"
    if s.starting:
        return "starting"
    if s.device != "ok" or s.disk_full:
        return "error"
    if s.finalizing:
        return "finalizing"
    if s.uploading:
        return "uploading"
    return "idle"
