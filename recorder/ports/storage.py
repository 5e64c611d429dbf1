"""What the recording side needs of the storage: WAV segments to write and free space to check."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


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
