"""What flows from capture to the writer: audio blocks, and gaps where audio was lost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GapKind = Literal[
    "overrun", "device_lost", "device_stalled", "buffer_overflow", "disk_full", "write_error"
]


@dataclass(frozen=True, slots=True)
class Block:
    """`frames` frames of raw interleaved audio that start at capture position `pos`."""

    pos: int
    frames: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Gap:
    """`frames` frames that were never captured (or never reached the disk) from position `pos`.

    `frames` is an estimate where the cause cannot count them (an overrun, a device that was
    gone); `estimated` says so.
    """

    kind: GapKind
    pos: int
    frames: int
    estimated: bool = False


@dataclass(frozen=True, slots=True)
class SessionBegin:
    """Open a session: the writer owns `manifest` from here on and writes into `path`."""

    path: object  # pathlib.Path; kept untyped so the core imports nothing of the filesystem
    manifest: object  # recorder.core.manifest.Manifest
    start_pos: int  # capture position of the first frame (the oldest pre-roll frame)
    preroll_frames: int
    ack: object = None  # recorder.recording.tap.StartAck: told whether the folder could be made


@dataclass(frozen=True, slots=True)
class MarkerAt:
    frame: int
    label: str
    source: str


@dataclass(frozen=True, slots=True)
class WarningNote:
    """A warning raised or cleared at session frame `frame`, for the manifest."""

    kind: str
    message: str
    raised: bool
    frame: int


@dataclass(frozen=True, slots=True)
class SessionEnd:
    reason: str
    frames: int
    ended_at: str


Item = Block | Gap | SessionBegin | MarkerAt | WarningNote | SessionEnd
