"""The writer thread: turns the queue into WAV segments, manifests and finalized sessions.

It is the only code that writes a session's files while it records. For the session that
records it drives a segment writer (`segments`: the WAV files, cut at exact frame counts, whose
header is brought up to date every `sync_s` of audio, so a power cut loses at most that much)
and the session's journal (`journal`: the manifest, gaps, markers, warnings and levels).

A full disk ends a session, never loses it: the write that finds no room is cut where the disk
stopped taking audio, the rest becomes a `disk_full` gap, the controller is told (it stops the
session with that reason and shows the error), and the session is finalized into the room the
ballast kept (`guard`, the disk guard the composition root built). In between, the thread
finishes what a full disk held up (`backlog`) once there is room again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from recorder.core.manifest import Manifest
from recorder.core.recording.blocks import (
    Block,
    Gap,
    Item,
    MarkerAt,
    SessionBegin,
    SessionEnd,
    WarningNote,
)
from recorder.core.recording.segments import SegmentPlan
from recorder.core.recording.state import Event, WriterFailed
from recorder.ports.storage import SegmentFactory
from recorder.recording.blockqueue import FrameQueue
from recorder.recording.tap import StartAck
from recorder.recording.writer.backlog import Backlog
from recorder.recording.writer.guard import DiskGuard
from recorder.recording.writer.journal import SessionJournal
from recorder.recording.writer.segments import SegmentWriter, Stopped
from recorder.store.sessions import SessionStore

log = logging.getLogger(__name__)


BATCH_WAIT_S = 0.5  # the longest the writer sleeps before taking whatever audio has come
PREROLL_BATCH_REPORTS = 8  # the pre-roll is written in batches of 8 level reports (2 s)
UPKEEP_S = 0.5  # how often it looks whether a full disk has room again


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _runs(batch: list[Item]) -> list[Item | list[Block]]:
    """The batch with each stretch of consecutive blocks gathered into one list."""
    out: list[Item | list[Block]] = []
    for item in batch:
        if isinstance(item, Block):
            last = out[-1] if out else None
            if isinstance(last, list) and last[-1].pos + last[-1].frames == item.pos:
                last.append(item)
                continue
            out.append([item])
        else:
            out.append(item)
    return out


@dataclass(frozen=True)
class WriterFrames:
    """The writer's schedule, in frames."""

    segment: int  # a segment's length
    sync: int  # how often the open segment's header is brought up to date
    report: int  # how often levels are reported to the controller


@dataclass(frozen=True)
class WriterHooks:
    """What the writer tells the rest of the recorder. Each runs on the writer thread and must
    not block."""

    emit: Callable[[Event], None]  # events for the controller
    on_finalized: Callable[[Manifest, Path], None] = lambda m, p: None
    on_marker_saved: Callable[[], None] = lambda: None
    on_recovered: Callable[[Path], None] = lambda p: None  # reached the outbox late


@dataclass
class _Session:
    """The session that records: its journal and segments, and the start still to answer."""

    journal: SessionJournal
    segments: SegmentWriter
    ack: StartAck | None = None  # told once the pre-roll is on the card
    counted: bool = True  # the controller counts it as finalizing once it ends


class WriterThread(threading.Thread):
    def __init__(
        self,
        queue: FrameQueue,
        store: SessionStore,
        guard: DiskGuard,
        open_segment: SegmentFactory,
        frames: WriterFrames,
        hooks: WriterHooks,
        now: Callable[[], str] = _utc_now,
    ) -> None:
        super().__init__(name="writer", daemon=True)
        self.queue = queue
        self.store = store
        self.guard = guard  # changed by this thread only, once it runs
        self.open_segment = open_segment
        self.frames = frames
        self.hooks = hooks
        self.emit = hooks.emit
        self.stopping = threading.Event()
        self.backlog = Backlog(store, guard, now, hooks.on_recovered)  # this thread's
        self._active: _Session | None = None  # owned by this thread only
        self._next_upkeep = 0.0

    def wait_for_room(self, prepare: bool, recovery: bool) -> None:
        """Before the thread starts: what start-up could not do on a full disk, to do later."""
        self.backlog.wait_for_room(prepare, recovery)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then end."""
        self.stopping.set()
        self.join(timeout)

    def run(self) -> None:
        while True:
            wanted, most = self._batch_frames()
            batch = self.queue.get_batch(wanted, timeout=BATCH_WAIT_S, most=most)
            if not batch and self.stopping.is_set():
                break
            for part in _runs(batch):
                try:
                    if isinstance(part, list):
                        self._audio(part)
                    else:
                        self.handle(part)
                except Exception as exc:  # the thread must outlive any one bad item
                    log.exception("writer: %s failed", type(part).__name__)
                    self.emit(WriterFailed(f"internal error: {exc}"))
            if time.monotonic() >= self._next_upkeep:
                self._next_upkeep = time.monotonic() + UPKEEP_S
                try:
                    self.backlog.finish(idle=self._active is None)
                except Exception:
                    log.exception("writer: finishing what a full disk held up failed")

    def _batch_frames(self) -> tuple[int, int]:
        """(wait for, take at most): as much audio as makes the next level report, but never
        past the next header sync; the pre-roll handed over at a start, in larger batches."""
        s = self._active
        report = self.frames.report
        if s is None or s.journal.stopped:
            return report, report
        if s.ack is not None:
            m = s.journal.manifest
            rest = m.preroll_frames - m.frames
            return 1, max(1, min(rest, PREROLL_BATCH_REPORTS * report))
        wanted = max(1, min(report, s.segments.frames_to_sync))
        return wanted, wanted

    def handle(self, item: Item) -> None:
        match item:
            case Block():
                self._audio([item])
            case Gap():
                self._gap(item)
            case MarkerAt():
                if self._active is not None:
                    self._active.journal.marker(item)
                    self.hooks.on_marker_saved()
            case WarningNote():
                if self._active is not None:
                    self._active.journal.warning(item)
            case SessionBegin():
                self._begin(item)
            case SessionEnd():
                self._end(item)

    # ---- session lifecycle ------------------------------------------------------------------

    def _begin(self, item: SessionBegin) -> None:
        manifest: Manifest = item.manifest  # type: ignore[assignment]
        manifest.start_pos = item.start_pos
        manifest.preroll_frames = item.preroll_frames
        path = Path(item.path)  # type: ignore[arg-type]
        journal = SessionJournal(
            path, manifest, self.store, self.guard, self.emit, self.frames.report
        )
        plan = SegmentPlan(self.frames.segment)
        segments = SegmentWriter(path, manifest, self.open_segment, plan, self.frames.sync, journal)
        self._active = s = _Session(journal, segments)
        ack: StartAck | None = item.ack  # type: ignore[assignment]
        self.guard.restore()
        try:
            journal.create()
        except OSError as exc:
            error = f"cannot create session {manifest.id} in {path.parent}: {exc.strerror or exc}"
            log.error("%s", error)
            if ack is None or not ack.deliver(error):
                self.emit(WriterFailed(error))
            else:
                s.counted = False  # refused before the controller counted it as begun
            return
        if ack is not None:
            # The start is answered once the pre-roll is on the card (a power cut after the
            # answer keeps it); a session without one is answered now.
            s.ack = ack
            if manifest.preroll_frames == 0:
                self._answer_start(s)

    def _answer_start(self, s: _Session) -> None:
        if s.ack is not None:
            s.ack.deliver(None)
            s.ack = None

    def _end(self, item: SessionEnd) -> None:
        s = self._active
        if s is None:
            return
        self._active = None
        self._answer_start(s)
        journal = s.journal
        m = journal.manifest
        if not journal.created:
            log.error("session %s was never written: its folder could not be made", m.id)
            if s.counted:
                self.emit(WriterFailed(f"session {m.id} was never written", m.id))
            return
        try:
            s.segments.close()
        except Exception as exc:
            log.error("session %s: closing the last segment failed: %s", m.id, exc)
            s.segments.salvage()
        m.state = "finalized"
        m.stop_reason = "disk_full" if journal.full else item.reason  # type: ignore[assignment]
        m.ended_at = item.ended_at
        m.levels = journal.levels.summary()
        if m.frames != item.frames - journal.frames_lost_to_disk:
            log.error(
                "session %s: wrote %d frames, capture handed over %d", m.id, m.frames, item.frames
            )
        try:
            final = journal.finalize()
        except OSError as exc:
            log.error(
                "session %s could not be finalized (%s); it stays in %s and is finalized once "
                "the storage takes writes again (or repaired at the next start)",
                m.id,
                exc,
                journal.path,
            )
            self.backlog.unfinished.append(journal)
            self.emit(WriterFailed(f"finalizing {m.id}: {exc.strerror or exc}", m.id))
            return
        log.info("session %s finalized: %s (%d frames)", m.id, final, m.frames)
        self.hooks.on_finalized(m, final)

    # ---- audio ------------------------------------------------------------------------------

    def _audio(self, blocks: list[Block]) -> None:
        """Consecutive blocks, written with one call per segment they fall into."""
        s = self._active
        if s is None:
            return
        journal = s.journal
        pos, frames = blocks[0].pos, sum(b.frames for b in blocks)
        data = blocks[0].data if len(blocks) == 1 else b"".join(b.data for b in blocks)
        if journal.stopped:
            self._lose(s, "disk_full" if journal.full else "write_error", pos, frames)
            return
        if not self.guard.fits(journal.path, len(data)):
            margin = self.guard.min_free_bytes / 1e6
            journal.storage_full(f"less than {margin:.0f} MB would stay free")
            self._lose(s, "disk_full", pos, frames)
            return
        m = journal.manifest
        before = m.frames
        try:
            s.segments.write(data, pos, frames)
            preroll_done = s.ack is not None and m.frames >= m.preroll_frames
            s.segments.sync(now=preroll_done)
        except Exception as exc:  # OSError, or libsndfile's own error for a failed write(2)
            self._answer_start(s)  # the failure is told the controller on its own
            self._write_failed(s, exc, pos, frames, data, before)
            return
        if preroll_done:
            self._answer_start(s)
        journal.measure(data)

    def _write_failed(
        self, s: _Session, exc: Exception, pos: int, frames: int, data: bytes, before: int
    ) -> None:
        """Keep exactly what reached the disk; the rest of the batch, and after, is a gap."""
        journal = s.journal
        full = journal.full if isinstance(exc, Stopped) else self.guard.is_full(exc, journal.path)
        s.segments.salvage()
        written = journal.manifest.frames - before
        if written > 0:
            journal.measure(data[: written * s.segments.frame_bytes], whole=True)
        journal.closed_levels = journal.levels.summary()
        if full:
            journal.storage_full("a write found no space left on the device")
        elif not journal.failed:
            log.error("session %s: writing audio failed: %s", journal.manifest.id, exc)
            journal.fail(str(exc))
        if frames - written > 0:
            self._lose(s, "disk_full" if full else "write_error", pos + written, frames - written)
        else:
            journal.save()

    def _lose(self, s: _Session, kind: str, pos: int, frames: int) -> None:
        self._answer_start(s)  # what went wrong is told the controller on its own
        s.journal.lose(kind, pos, frames)

    # ---- structure --------------------------------------------------------------------------

    def _gap(self, gap: Gap) -> None:
        s = self._active
        if s is None:
            return
        s.journal.note_gap(gap)
        if gap.kind == "device_lost":
            self._cut(s)
        s.journal.save()

    def _cut(self, s: _Session) -> None:
        """The device was lost: the audio after the gap starts a new segment."""
        try:
            s.segments.close()
        except Exception as exc:
            s.segments.salvage()
            if self.guard.is_full(exc, s.journal.path):
                s.journal.storage_full(str(exc))
            else:
                s.journal.fail(str(exc))
        s.segments.break_segment()
