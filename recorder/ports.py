"""The ports: what the daemon needs from the outside world, so tests can swap in a double.

Each real adapter in `recorder.adapters` implements one of these; a test double implements the
same protocol (see `tests/doubles.py`), the way Mopidy's dummy audio mirrors its audio API.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

# The audio source's errors live in a module of their own that imports nothing, so the capture
# helper process (recorder.adapters.alsa_helper) can raise them without loading this one.
from recorder.audio_errors import DeviceLost, DeviceStalled, DeviceUnavailable, Overrun

__all__ = [
    "AudioSource",
    "DeviceLost",
    "DeviceStalled",
    "DeviceUnavailable",
    "DiskSpace",
    "Overrun",
    "RemoteStore",
    "SegmentFactory",
    "SegmentSink",
    "SessionStep",
]


class AudioSource(Protocol):
    """A capture device that hands out exactly `period_frames` frames per read."""

    period_frames: int

    def open(self) -> None:
        """Open the device; raises DeviceUnavailable."""

    def read(self) -> bytes:
        """One period of raw interleaved frames; raises Overrun, DeviceLost or DeviceStalled."""

    def close(self) -> None: ...


class SegmentSink(Protocol):
    """One WAV segment being written: its header is kept current by `sync()`."""

    path: Path
    frames: int

    def write(self, data: bytes | memoryview) -> None: ...

    def sync(self) -> None:
        """Make everything written so far readable by other tools after a power cut."""

    def close(self) -> None: ...


class SegmentFactory(Protocol):
    def __call__(self, path: Path, rate: int, channels: int, fmt: str) -> SegmentSink: ...


class DiskSpace(Protocol):
    def free_bytes(self, path: Path) -> int: ...


class RemoteStore(Protocol):
    """Cloud storage behind rclone (recorder.adapters.rclone.Rclone); raises RcloneError."""

    def upload(
        self,
        local_dir: Path,
        files: Sequence[str],
        remote_dir: str,
        force: bool = False,
        progress: Callable[[dict], None] | None = None,
    ) -> None: ...

    def verify(self, local_dir: Path, files: Sequence[str], remote_dir: str) -> list[str]:
        """Names missing or different on the remote; [] when every file is verified."""

    def purge(self, remote_dir: str) -> None: ...

    def link(self, remote_path: str) -> str | None: ...


class SessionStep(Protocol):
    """Work the outbox does on a finished session before uploading it (a transcript).

    `build` may take long and is run at low priority; `set_recording` freezes it while a
    session records; `cancel` stops it for a session being discarded.
    """

    def build(self, folder: Path, manifest) -> None: ...

    def files(self, folder: Path) -> list[str]:
        """The files it made that go up with the session."""
        ...

    def set_recording(self, recording: bool) -> None: ...

    def cancel(self, folder: Path) -> None: ...

    def stop(self) -> None: ...
