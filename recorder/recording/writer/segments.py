"""One session's WAV segments: its audio cut at exact frame counts into `seg-NNNN.wav` files.

Modelled on python-can's rotating logger (`can/io/logger.py`, `BaseRotatingLogger`): `write`
asks `should_rollover` before each piece of audio, and `do_rollover` closes the full segment and
opens the next. Where the cuts fall is the core's `SegmentPlan`. The manifest's segment list is
kept true as it goes (frames, size, checksum), and the session's journal is told through its
hooks, so the manifest on the card names every segment the moment it exists.

Run by the writer thread only.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Protocol

from recorder.core.formats import FORMATS
from recorder.core.manifest import Manifest, SegmentInfo
from recorder.core.recording.segments import Piece, SegmentPlan
from recorder.media.wav import WavError, file_sha256, repair
from recorder.ports.storage import SegmentFactory, SegmentSink

log = logging.getLogger(__name__)


def segment_name(index: int) -> str:
    return f"seg-{index:04d}.wav"


class Stopped(Exception):
    """The storage failed while a segment was closed: the next one is not opened, and the rest
    of the audio is not written."""


class SegmentHooks(Protocol):
    """What the segment writer tells the session's journal."""

    @property
    def stopped(self) -> bool:
        """The storage is full or failing: no new segment is opened."""
        ...

    def segment_opened(self) -> None:
        """A new segment is in the manifest (no frames yet)."""

    def segment_closed(self) -> None:
        """A segment was closed: its frames, size and checksum are in the manifest."""


class SegmentWriter:
    def __init__(
        self,
        path: Path,
        manifest: Manifest,
        open_segment: SegmentFactory,
        plan: SegmentPlan,
        sync_frames: int,
        hooks: SegmentHooks,
    ) -> None:
        self.path = path  # the session's folder
        self.manifest = manifest
        self.open_segment = open_segment
        self.plan = plan
        self.sync_frames = sync_frames
        self.hooks = hooks
        self.frame_bytes = FORMATS[manifest.audio.format].frame_bytes(manifest.audio.channels)
        self.sink: SegmentSink | None = None
        self.unsynced = 0  # frames written since the last header update

    def write(self, data: bytes, pos: int, frames: int) -> None:
        """`frames` frames of audio captured from stream position `pos`, one write per segment
        they fall into. On a failure (what the storage raised, or Stopped) the manifest counts
        the frames handed over before it."""
        m = self.manifest
        view = memoryview(data)
        fb = self.frame_bytes
        for piece in self.plan.place(frames):
            if self.should_rollover(piece):
                self.do_rollover(piece.segment, pos + piece.offset)
            assert self.sink is not None
            self.sink.write(view[piece.offset * fb : (piece.offset + piece.frames) * fb])
            m.frames += piece.frames
            m.segments[-1].frames = self.sink.frames
            self.unsynced += piece.frames

    def should_rollover(self, piece: Piece) -> bool:
        """Whether `piece` goes into a new file: the first piece of a segment in the plan (the
        open one holds `segment_frames`, or a lost device ended it early)."""
        return piece.opens

    def do_rollover(self, index: int, first_pos: int) -> None:
        """Close the open segment and open segment `index`, whose first frame was captured at
        stream position `first_pos`."""
        self.close()
        if self.hooks.stopped:  # the closed segment's manifest found no room: no more audio
            raise Stopped
        self.open(index, first_pos)

    def sync(self, now: bool = False) -> None:
        """Bring the open segment's header up to date every `sync_frames`, or `now`."""
        if self.unsynced >= self.sync_frames or (now and self.unsynced):
            assert self.sink is not None
            self.sink.sync()
            self.unsynced = 0

    @property
    def frames_to_sync(self) -> int:
        """Frames until the header is next brought up to date."""
        return self.sync_frames - self.unsynced

    def open(self, index: int, first_pos: int) -> None:
        m = self.manifest
        name = segment_name(index)
        try:
            self.sink = self.open_segment(
                self.path / name, m.audio.rate, m.audio.channels, m.audio.format
            )
        except Exception:
            with contextlib.suppress(OSError):  # a header cut short is no segment
                (self.path / name).unlink()
            raise
        m.segments.append(
            SegmentInfo(file=name, index=index, first_frame=m.frames, first_pos=first_pos, frames=0)
        )
        self.unsynced = 0
        self.hooks.segment_opened()

    def close(self) -> None:
        """Close the open segment (if any) and record its frames, size and checksum."""
        if self.sink is None:
            return
        sink, self.sink = self.sink, None
        sink.close()
        info = self.manifest.segments[-1]
        info.frames = sink.frames
        info.bytes = os.path.getsize(sink.path)
        info.sha256 = file_sha256(sink.path)
        info.closed = True
        self.hooks.segment_closed()

    def break_segment(self) -> None:
        """The next frame opens a new segment (the device was lost: the audio after the gap)."""
        self.plan.break_segment()

    def salvage(self) -> None:
        """After a failed write: close the open segment and make the manifest say what is on
        disk (a write cut short by a full disk leaves part of a batch, whatever libsndfile
        counted)."""
        m = self.manifest
        sink, self.sink = self.sink, None
        if sink is not None:
            try:
                sink.close()  # the header is rewritten in place: it needs no new room
            except Exception as exc:
                log.warning("session %s: closing %s: %s", m.id, sink.path, exc)
        self.unsynced = 0
        if not m.segments or m.segments[-1].closed:
            return
        info = m.segments[-1]
        file = self.path / info.file
        try:
            info.frames, _ = repair(file)
            info.bytes = file.stat().st_size
            info.sha256 = file_sha256(file)
            info.closed = True
        except (OSError, WavError) as exc:
            log.error("session %s: %s cannot be read back: %s", m.id, file, exc)
        m.frames = info.first_frame + info.frames
