"""One session's journal: its manifest on the card, saved at every change, so a crash or a power
cut leaves a session that says what was recorded, what was lost (gaps), what was marked and
warned about, and its levels.

A manifest write that finds the disk full ends the session with `disk_full` and goes into the
ballast's room; finalizing (markers, final manifest, the move to the outbox) does too.

Run by the writer thread only.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from recorder.core.formats import FORMATS, decode
from recorder.core.manifest import GapInfo, Manifest, Marker, WarningInfo
from recorder.core.recording.blocks import Gap, MarkerAt, WarningNote
from recorder.core.recording.disk import final_write_bytes
from recorder.core.recording.levels import LevelMeter
from recorder.core.recording.state import DiskLow, Event, Levels, WriterFailed
from recorder.core.recording.warnings import LevelReport
from recorder.recording.writer.guard import DiskGuard
from recorder.store.markers import finalize_markers, marker_labels
from recorder.store.sessions import SessionStore

log = logging.getLogger(__name__)


class SessionLevels:
    """Levels for the controller every `report_frames` exactly, however the audio came, and the
    summary over everything measured."""

    def __init__(
        self, channels: int, full_scale: float, report_frames: int, emit: Callable[[Event], None]
    ) -> None:
        self.meter = LevelMeter(channels, full_scale)  # levels up to the last report
        self.report = LevelMeter(channels, full_scale)  # levels since then
        self.report_frames = report_frames
        self.emit = emit

    def feed(self, samples: np.ndarray, end_frame: int) -> None:
        """Samples whose last frame is the session's frame `end_frame` - 1."""
        at, total = 0, samples.shape[0]
        while at < total:
            take = min(total - at, self.report_frames - self.report.frames)
            self.report.feed(samples[at : at + take])
            at += take
            if self.report.frames < self.report_frames:
                break
            r = self.report
            summary = r.summary()
            self.emit(
                Levels(
                    LevelReport(
                        end_frame=end_frame - (total - at),
                        frames=r.frames,
                        peak_dbfs=tuple(summary["peak_dbfs"]),
                        rms_dbfs=tuple(summary["rms_dbfs"]),
                        clipped=r.clipped,
                    )
                )
            )
            self.meter.merge(r)
            self.report = LevelMeter(r.channels, r.full_scale)

    def summary(self) -> dict:
        """The level summary over everything measured so far."""
        total = LevelMeter(self.meter.channels, self.meter.full_scale)
        total.merge(self.meter)
        total.merge(self.report)
        return total.summary()


class SessionJournal:
    def __init__(
        self,
        path: Path,
        manifest: Manifest,
        store: SessionStore,
        guard: DiskGuard,
        emit: Callable[[Event], None],
        report_frames: int,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.store = store
        self.guard = guard
        self.emit = emit
        audio = manifest.audio
        self.levels = SessionLevels(
            audio.channels, FORMATS[audio.format].full_scale, report_frames, emit
        )
        self.created = False  # the session's folder exists (its manifest can be written)
        self.manifest_bytes = 0  # size of the last manifest written
        self.closed_levels: dict | None = None  # level summary over the closed segments only
        self.failed = False  # the storage failed: the rest is recorded as lost, not retried
        self.full = False  # the storage is full: the rest is a disk_full gap, the stop disk_full
        self.frames_lost_to_disk = 0

    @property
    def stopped(self) -> bool:
        """The storage is full or failing: audio from now on is lost, not written."""
        return self.full or self.failed

    def create(self) -> None:
        """The session's folder and its first manifest; on failure (OSError) no folder is left,
        since an empty one would be listed as a damaged session."""
        try:
            self.store.create(self.manifest.id)
            self.created = True
            self.manifest_bytes = self.store.write_manifest(self.path, self.manifest)
        except OSError:
            if self.created:
                with contextlib.suppress(OSError):
                    self.path.rmdir()
                    self.created = False
            self.failed = True
            raise

    # ---- what happened --------------------------------------------------------------------------

    def note_gap(self, gap: Gap) -> None:
        """A gap in the manifest (saved with the next change)."""
        m = self.manifest
        m.gaps.append(
            GapInfo(
                kind=gap.kind,
                at_frame=m.frames,
                pos=gap.pos,
                frames=gap.frames,
                seconds=m.seconds(gap.frames),
                estimated=gap.estimated,
            )
        )
        if gap.kind == "overrun":
            m.overruns += 1
        log.warning(
            "session %s: %s gap of %s%.2f s at %.2f s",
            m.id,
            gap.kind,
            "about " if gap.estimated else "",
            gap.frames / m.audio.rate,
            m.frames / m.audio.rate,
        )

    def lose(self, kind: str, pos: int, frames: int) -> None:
        """Audio the storage could not take: a gap, or the end of the last one grown."""
        self.frames_lost_to_disk += frames
        m = self.manifest
        last = m.gaps[-1] if m.gaps else None
        if last is not None and last.kind == kind and last.pos + last.frames == pos:
            last.frames += frames
            last.seconds = m.seconds(last.frames)
            return
        log.error(
            "session %s: storage %s, audio is being lost",
            m.id,
            "full" if kind == "disk_full" else "failing",
        )
        self.note_gap(Gap(kind, pos, frames))  # type: ignore[arg-type]
        self.save()

    def marker(self, item: MarkerAt) -> None:
        m = self.manifest
        m.markers.append(
            Marker(
                frame=item.frame,
                seconds=m.seconds(item.frame),
                label=item.label,
                source=item.source,
            )
        )
        self.save()

    def warning(self, item: WarningNote) -> None:
        m = self.manifest
        if item.raised:
            m.warnings.append(
                WarningInfo(
                    kind=item.kind,
                    message=item.message,
                    raised_frame=item.frame,
                    raised_seconds=m.seconds(item.frame),
                )
            )
        else:
            for w in reversed(m.warnings):
                if w.kind == item.kind and w.cleared_frame is None:
                    w.cleared_frame = item.frame
                    w.cleared_seconds = m.seconds(item.frame)
                    break
        self.save()

    def measure(self, data: bytes, whole: bool = False) -> None:
        """Levels of audio just written (it ends at the manifest's last frame): a level report's
        worth at a time, since a pre-roll batch as floats would be MBs; `whole` in one go."""
        audio = self.manifest.audio
        fmt = FORMATS[audio.format]
        end = self.manifest.frames
        if whole:
            self.levels.feed(decode(data, fmt, audio.channels), end)
            return
        frame_bytes = fmt.frame_bytes(audio.channels)
        step = self.levels.report_frames * frame_bytes
        for at in range(0, len(data), step):
            piece = data[at : at + step]
            after = (len(data) - at - len(piece)) // frame_bytes
            self.levels.feed(decode(piece, fmt, audio.channels), end - after)

    # ---- the segment writer's hooks -------------------------------------------------------------

    def segment_opened(self) -> None:
        self.save()

    def segment_closed(self) -> None:
        self.closed_levels = self.levels.summary()
        self.save()

    # ---- the storage failing --------------------------------------------------------------------

    def storage_full(self, why: str) -> None:
        """The storage took its last bytes: the session ends with `disk_full`, the box says so."""
        if self.full:
            return
        self.full = True
        # Written with the next manifest, so a crash before the stop still keeps the reason.
        self.manifest.stop_reason = "disk_full"
        message = self.guard.full_message(self.path)
        log.error("session %s: %s (%s); stopping the session", self.manifest.id, message, why)
        self.emit(DiskLow(message))

    def fail(self, error: str) -> None:
        """The storage failed otherwise: told the controller once."""
        if not self.failed:
            self.failed = True
            self.emit(WriterFailed(error))

    # ---- the manifest on the card ---------------------------------------------------------------

    def save(self) -> None:
        if not self.created:
            return
        self.manifest.levels = self.closed_levels
        try:
            self._write()
        except OSError as exc:
            log.error("session %s: manifest write failed: %s", self.manifest.id, exc)
            if self.guard.is_full(exc, self.path):
                self.storage_full(f"manifest: {exc.strerror or exc}")
            else:
                self.fail(f"manifest: {exc}")
            return
        self._cover()

    def _write(self) -> None:
        """The manifest; on a full disk, into the ballast's room."""
        try:
            self.manifest_bytes = self.store.write_manifest(self.path, self.manifest)
        except OSError as exc:
            if not self.guard.is_full(exc, self.path):
                raise
            self.storage_full(f"manifest: {exc.strerror or exc}")
            if not self.guard.release():
                raise
            self.manifest_bytes = self.store.write_manifest(self.path, self.manifest)

    def need(self) -> int:
        """Bytes this session's finalize may write: the room it needs on a full disk."""
        labels = [len(text.encode()) for _, text in marker_labels(self.manifest.markers)]
        return final_write_bytes(self.manifest_bytes, labels, len(self.manifest.segments))

    def _cover(self) -> None:
        """Grow the ballast when this session's finalize outgrew it (many markers)."""
        if self.guard.keeps_ballast and not self.full:
            self.guard.cover(self.need())

    def finalize(self) -> Path:
        """Markers, final manifest, move to the outbox: into the ballast's room if need be."""
        self.guard.make_room(self.need())
        try:
            return self._finalize_once()
        except OSError as exc:
            if not self.guard.is_full(exc, self.path) or not self.guard.release():
                raise
        return self._finalize_once()

    def _finalize_once(self) -> Path:
        done = self.store.state_dir("outbox") / self.path.name
        if not self.path.exists() and done.exists():  # moved by an earlier try
            return done
        self.store.take_coach_edits(self.path, self.manifest)  # labels edited while recording
        finalize_markers(self.path, self.manifest)
        self.manifest_bytes = self.store.write_manifest(self.path, self.manifest)
        return self.store.move(self.path, "outbox")
