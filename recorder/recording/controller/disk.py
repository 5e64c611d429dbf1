"""Free space on the storage, as the controller sees it: read every tick, turned into events."""

from __future__ import annotations

import logging
from collections.abc import Callable

from recorder.config import Config
from recorder.core.recording.disk import disk_event
from recorder.core.recording.state import DiskReport, Event, State
from recorder.ports.storage import DiskSpace

log = logging.getLogger(__package__)  # the controller's one logger, as before its split


class DiskCheck:
    """Reads the free space on the controller thread and says what it means for the state
    machine (the disk is full, low, has room again; how long the recording can go on), and keeps
    the last figure read for the status."""

    def __init__(self, cfg: Config, disk: DiskSpace, queue_frames: Callable[[], int]) -> None:
        self.cfg = cfg
        self.disk = disk
        self._queue_frames = queue_frames  # frames waiting for the writer, not on the card yet
        self.free_bytes: int | None = None  # written only by the controller thread; None: not read

    def events(self, state: State) -> list[Event]:
        """What the free space now means, for the controller to handle in turn; none if it
        cannot be read."""
        a = self.cfg.audio
        try:
            free = self.disk.free_bytes(self.cfg.storage.dir)
        except OSError as exc:
            log.error("cannot read free space of %s: %s", self.cfg.storage.dir, exc)
            return []
        self.free_bytes = free
        min_free = self.cfg.storage.min_free_mb * 1_000_000
        event = disk_event(
            state,
            free,
            min_free,
            a.bytes_per_second,
            self._queue_frames() * a.sample_format.frame_bytes(a.channels),
        )
        seconds_left = max(0, free - min_free) / a.bytes_per_second
        return [*([] if event is None else [event]), DiskReport(seconds_left)]

    def free_now(self) -> int:
        """The free bytes last read, or read now when asked before the controller's first check
        (MQTT connects first); 0 when they cannot be read."""
        if self.free_bytes is not None:
            return self.free_bytes
        try:
            return self.disk.free_bytes(self.cfg.storage.dir)
        except OSError:
            return 0
