"""The writer thread: turns the queue into WAV segments, manifests and finalized sessions.

It is the only code that writes a session's files while it records. The header of the open
segment is brought up to date every `sync_s` of audio, so a power cut loses at most that much.

A full disk ends a session, never loses it: the write that finds no room is cut where the disk
stopped taking audio, the rest becomes a `disk_full` gap, the controller is told (it stops the
session with that reason and shows the error), and the session is finalized into the room the
ballast kept. In between, the writer finishes what a full disk held up — the storage's folders,
the ballast, a session that could not be finalized, the repair of sessions a crash left — once
there is room again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from recorder.core.formats import FORMATS, decode
from recorder.core.manifest import GapInfo, Manifest, Marker, SegmentInfo, WarningInfo
from recorder.core.recording.blocks import (
    Block,
    Gap,
    Item,
    MarkerAt,
    SessionBegin,
    SessionEnd,
    WarningNote,
)
from recorder.core.recording.disk import BLOCK, ballast_bytes, final_write_bytes, full_message
from recorder.core.recording.levels import LevelMeter
from recorder.core.recording.segments import SegmentPlan
from recorder.core.recording.state import DiskLow, Event, Levels, WriterFailed
from recorder.core.recording.warnings import LevelReport
from recorder.media.wav import WavError, file_sha256, repair
from recorder.ports.storage import DiskSpace, SegmentFactory, SegmentSink
from recorder.recording.blockqueue import FrameQueue
from recorder.recording.tap import StartAck
from recorder.store.ballast import Ballast, is_full_error
from recorder.store.markers import finalize_markers, marker_labels
from recorder.store.recovery import recover_sessions
from recorder.store.sessions import SessionStore, StorageError

log = logging.getLogger(__name__)


BATCH_WAIT_S = 0.5  # the longest the writer sleeps before taking whatever audio has come
PREROLL_BATCH_REPORTS = 8  # the pre-roll is written in batches of 8 level reports (2 s)
UPKEEP_S = 0.5  # how often it looks whether a full disk has room again


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _Stopped(Exception):
    """The storage failed between two pieces of one batch: the rest is not written."""


def segment_name(index: int) -> str:
    return f"seg-{index:04d}.wav"


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


def _levels(a: _Active) -> dict:
    """The level summary over everything written so far."""
    total = LevelMeter(a.meter.channels, a.meter.full_scale)
    total.merge(a.meter)
    total.merge(a.report)
    return total.summary()


@dataclass
class _Active:
    path: Path
    manifest: Manifest
    plan: SegmentPlan
    meter: LevelMeter  # levels up to the last report to the controller
    report: LevelMeter  # levels since then
    sink: SegmentSink | None = None
    unsynced: int = 0  # frames written since the last header update
    closed_levels: dict | None = None  # level summary over the closed segments only
    failed: bool = False  # the storage failed: the rest is recorded as lost, not retried
    full: bool = False  # the storage is full: the rest is a disk_full gap, the stop disk_full
    created: bool = False  # the session's folder exists (its manifest can be written)
    ack: StartAck | None = None  # told once the pre-roll is on the card
    counted: bool = True  # the controller counts it as finalizing once it ends
    manifest_bytes: int = 0  # size of the last manifest written
    frames_lost_to_disk: int = 0
    notes: list[str] = field(default_factory=list)


class WriterThread(threading.Thread):
    def __init__(
        self,
        queue: FrameQueue,
        store: SessionStore,
        open_segment: SegmentFactory,
        disk: DiskSpace,
        emit: Callable[[Event], None],
        segment_frames: int,
        sync_frames: int,
        min_free_bytes: int,
        report_frames: int,
        on_finalized: Callable[[Manifest, Path], None] = lambda m, p: None,
        on_marker_saved: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(name="writer", daemon=True)
        self.queue = queue
        self.store = store
        self.open_segment = open_segment
        self.disk = disk
        self.emit = emit
        self.segment_frames = segment_frames
        self.sync_frames = sync_frames
        self.min_free_bytes = min_free_bytes
        self.report_frames = report_frames
        self.on_finalized = on_finalized
        self.on_marker_saved = on_marker_saved  # must not block: it runs on this thread
        self.stopping = threading.Event()
        self.ballast = Ballast(store.root, disk)  # this thread's, once it runs
        self.on_recovered: Callable[[Path], None] = lambda p: None  # a late arrival in outbox/
        self._active: _Active | None = None  # owned by this thread only
        # What a full disk held up, finished by `_upkeep` (this thread's once it runs):
        self._unfinished: list[_Active] = []  # ended sessions that could not be finalized
        self._prepare_pending = False  # the storage's folders are not all made yet
        self._recovery_pending = False  # sessions a crash left wait for room to be repaired
        self._now: Callable[[], str] = _utc_now
        self._blocked_at: int | None = None  # free bytes when upkeep last found no room
        self._next_upkeep = 0.0

    def wait_for_room(self, prepare: bool, recovery: bool, now: Callable[[], str]) -> None:
        """Before the thread starts: what start-up could not do on a full disk, to do later."""
        self._prepare_pending = prepare
        self._recovery_pending = recovery
        self._now = now

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
                    self._upkeep()
                except Exception:
                    log.exception("writer: finishing what a full disk held up failed")

    def _batch_frames(self) -> tuple[int, int]:
        """(wait for, take at most): as much audio as makes the next level report, but never
        past the next header sync; the pre-roll handed over at a start, in larger batches."""
        a = self._active
        if a is None or a.failed or a.full:
            return self.report_frames, self.report_frames
        if a.ack is not None:
            rest = a.manifest.preroll_frames - a.manifest.frames
            return 1, max(1, min(rest, PREROLL_BATCH_REPORTS * self.report_frames))
        wanted = max(1, min(self.report_frames, self.sync_frames - a.unsynced))
        return wanted, wanted

    def handle(self, item: Item) -> None:
        match item:
            case Block():
                self._audio([item])
            case Gap():
                self._gap(item)
            case MarkerAt():
                self._marker(item)
            case WarningNote():
                self._warning(item)
            case SessionBegin():
                self._begin(item)
            case SessionEnd():
                self._end(item)

    # ---- session lifecycle ------------------------------------------------------------------

    def _begin(self, item: SessionBegin) -> None:
        manifest: Manifest = item.manifest  # type: ignore[assignment]
        manifest.start_pos = item.start_pos
        manifest.preroll_frames = item.preroll_frames
        fmt = FORMATS[manifest.audio.format]
        self._active = a = _Active(
            path=Path(item.path),  # type: ignore[arg-type]
            manifest=manifest,
            plan=SegmentPlan(self.segment_frames),
            meter=LevelMeter(manifest.audio.channels, fmt.full_scale),
            report=LevelMeter(manifest.audio.channels, fmt.full_scale),
        )
        ack: StartAck | None = item.ack  # type: ignore[assignment]
        self._restore_ballast()
        try:
            self.store.create(manifest.id)
            a.created = True
            a.manifest_bytes = self.store.write_manifest(a.path, manifest)
        except OSError as exc:
            if a.created:  # an empty folder would be listed as a damaged session
                with contextlib.suppress(OSError):
                    a.path.rmdir()
                    a.created = False
            a.failed = True
            error = f"cannot create session {manifest.id} in {a.path.parent}: {exc.strerror or exc}"
            log.error("%s", error)
            if ack is None or not ack.deliver(error):
                self.emit(WriterFailed(error))
            else:
                a.counted = False  # refused before the controller counted it as begun
            return
        if ack is not None:
            # The start is answered once the pre-roll is on the card (a power cut after the
            # answer keeps it); a session without one is answered now.
            a.ack = ack
            if manifest.preroll_frames == 0:
                self._answer_start(a)

    def _answer_start(self, a: _Active) -> None:
        if a.ack is not None:
            a.ack.deliver(None)
            a.ack = None

    def _end(self, item: SessionEnd) -> None:
        a = self._active
        if a is None:
            return
        self._active = None
        self._answer_start(a)
        m = a.manifest
        if not a.created:
            log.error("session %s was never written: its folder could not be made", m.id)
            if a.counted:
                self.emit(WriterFailed(f"session {m.id} was never written", m.id))
            return
        try:
            self._close_segment(a)
        except Exception as exc:
            log.error("session %s: closing the last segment failed: %s", m.id, exc)
            self._salvage(a)
        m.state = "finalized"
        m.stop_reason = "disk_full" if a.full else item.reason  # type: ignore[assignment]
        m.ended_at = item.ended_at
        m.levels = _levels(a)
        if m.frames != item.frames - a.frames_lost_to_disk:
            log.error(
                "session %s: wrote %d frames, capture handed over %d", m.id, m.frames, item.frames
            )
        try:
            final = self._finalize(a)
        except OSError as exc:
            log.error(
                "session %s could not be finalized (%s); it stays in %s and is finalized once "
                "the storage takes writes again (or repaired at the next start)",
                m.id,
                exc,
                a.path,
            )
            self._unfinished.append(a)
            self.emit(WriterFailed(f"finalizing {m.id}: {exc.strerror or exc}", m.id))
            return
        log.info("session %s finalized: %s (%d frames)", m.id, final, m.frames)
        self.on_finalized(m, final)

    def _finalize(self, a: _Active) -> Path:
        """Markers, final manifest, move to the outbox: into the ballast's room if need be."""
        self.ballast.room_for(self._need(a))
        try:
            return self._finalize_once(a)
        except OSError as exc:
            if not self._is_full(exc, a.path) or not self.ballast.release():
                raise
        return self._finalize_once(a)

    def _finalize_once(self, a: _Active) -> Path:
        done = self.store.state_dir("outbox") / a.path.name
        if not a.path.exists() and done.exists():  # moved by an earlier try
            return done
        self.store.take_coach_edits(a.path, a.manifest)  # labels edited while recording
        finalize_markers(a.path, a.manifest)
        a.manifest_bytes = self.store.write_manifest(a.path, a.manifest)
        return self.store.move(a.path, "outbox")

    # ---- audio ------------------------------------------------------------------------------

    def _audio(self, blocks: list[Block]) -> None:
        """Consecutive blocks, written with one call per segment they fall into."""
        a = self._active
        if a is None:
            return
        pos, frames = blocks[0].pos, sum(b.frames for b in blocks)
        data = blocks[0].data if len(blocks) == 1 else b"".join(b.data for b in blocks)
        if a.failed or a.full:
            self._lose(a, "disk_full" if a.full else "write_error", pos, frames)
            return
        if not self._room_for(len(data)):
            self._storage_full(a, f"less than {self.min_free_bytes / 1e6:.0f} MB would stay free")
            self._lose(a, "disk_full", pos, frames)
            return
        fmt = FORMATS[a.manifest.audio.format]
        frame_bytes = fmt.frame_bytes(a.manifest.audio.channels)
        view = memoryview(data)
        before = a.manifest.frames
        try:
            for piece in a.plan.place(frames):
                if piece.opens:
                    self._close_segment(a)
                    if a.full or a.failed:  # its manifest found no room: no more audio
                        raise _Stopped
                    self._open_segment(a, piece.segment, pos + piece.offset)
                assert a.sink is not None
                a.sink.write(
                    view[piece.offset * frame_bytes : (piece.offset + piece.frames) * frame_bytes]
                )
                a.manifest.frames += piece.frames
                a.manifest.segments[-1].frames = a.sink.frames
                a.unsynced += piece.frames
            preroll_done = a.ack is not None and a.manifest.frames >= a.manifest.preroll_frames
            if a.unsynced >= self.sync_frames or (preroll_done and a.unsynced):
                a.sink.sync()
                a.unsynced = 0
        except Exception as exc:  # OSError, or libsndfile's own error for a failed write(2)
            self._answer_start(a)  # the failure is told the controller on its own
            self._write_failed(a, exc, pos, frames, data, before)
            return
        if preroll_done:
            self._answer_start(a)
        # Metered a level report's worth at a time: a pre-roll batch as floats would be MBs.
        step = self.report_frames * frame_bytes
        for at in range(0, len(data), step):
            piece_data = data[at : at + step]
            after = (len(data) - at - len(piece_data)) // frame_bytes
            self._measure(a, decode(piece_data, fmt, a.manifest.audio.channels), after)

    def _write_failed(
        self, a: _Active, exc: Exception, pos: int, frames: int, data: bytes, before: int
    ) -> None:
        """Keep exactly what reached the disk; the rest of the batch, and after, is a gap."""
        full = a.full if isinstance(exc, _Stopped) else self._is_full(exc, a.path)
        self._salvage(a)
        written = a.manifest.frames - before
        fmt = FORMATS[a.manifest.audio.format]
        if written > 0:
            fb = fmt.frame_bytes(a.manifest.audio.channels)
            self._measure(a, decode(data[: written * fb], fmt, a.manifest.audio.channels))
        a.closed_levels = _levels(a)
        if full:
            self._storage_full(a, "a write found no space left on the device")
        elif not a.failed:
            a.failed = True
            log.error("session %s: writing audio failed: %s", a.manifest.id, exc)
            self.emit(WriterFailed(str(exc)))
        if frames - written > 0:
            self._lose(a, "disk_full" if full else "write_error", pos + written, frames - written)
        else:
            self._save(a)

    def _salvage(self, a: _Active) -> None:
        """After a failed write: close the open segment and make the manifest say what is on
        disk (a write cut short by a full disk leaves part of a batch, whatever libsndfile
        counted)."""
        sink, a.sink = a.sink, None
        if sink is not None:
            try:
                sink.close()  # the header is rewritten in place: it needs no new room
            except Exception as exc:
                log.warning("session %s: closing %s: %s", a.manifest.id, sink.path, exc)
        a.unsynced = 0
        if not a.manifest.segments or a.manifest.segments[-1].closed:
            return
        info = a.manifest.segments[-1]
        file = a.path / info.file
        try:
            info.frames, _ = repair(file)
            info.bytes = file.stat().st_size
            info.sha256 = file_sha256(file)
            info.closed = True
        except (OSError, WavError) as exc:
            log.error("session %s: %s cannot be read back: %s", a.manifest.id, file, exc)
        a.manifest.frames = info.first_frame + info.frames

    def _is_full(self, exc: BaseException, path: Path) -> bool:
        """Whether a failed write failed for lack of space.

        libsndfile reports a failed write(2) without its errno, and free space read a moment
        earlier may not have seen another program take the rest: then one block is asked of
        the filesystem itself, which answers ENOSPC when it is full.
        """
        if is_full_error(exc):
            return True
        if isinstance(exc, OSError) and exc.errno is not None:
            return False
        probe = path / ".space-probe"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, BLOCK)
            finally:
                os.close(fd)
                probe.unlink()
        except OSError as probed:
            return is_full_error(probed)
        return False

    def _storage_full(self, a: _Active, why: str) -> None:
        """The storage took its last bytes: the session ends with `disk_full`, the box says so."""
        if a.full:
            return
        a.full = True
        # Written with the next manifest, so a crash before the stop still keeps the reason.
        a.manifest.stop_reason = "disk_full"
        message = full_message(self._free(a.path))
        log.error("session %s: %s (%s); stopping the session", a.manifest.id, message, why)
        self.emit(DiskLow(message))

    def _free(self, path: Path) -> int:
        """Free bytes that may be recorded into: the ballast's missing room is not free."""
        try:
            return self.disk.free_bytes(path) - self.ballast.missing
        except OSError:
            return 0

    def _measure(self, a: _Active, samples, after: int = 0) -> None:
        """Levels for the controller every `report_frames` exactly, however the audio came;
        `after` frames were written after these samples."""
        at, total = 0, samples.shape[0]
        while at < total:
            take = min(total - at, self.report_frames - a.report.frames)
            a.report.feed(samples[at : at + take])
            at += take
            if a.report.frames < self.report_frames:
                break
            r = a.report
            summary = r.summary()
            self.emit(
                Levels(
                    LevelReport(
                        end_frame=a.manifest.frames - after - (total - at),
                        frames=r.frames,
                        peak_dbfs=tuple(summary["peak_dbfs"]),
                        rms_dbfs=tuple(summary["rms_dbfs"]),
                        clipped=r.clipped,
                    )
                )
            )
            a.meter.merge(r)
            a.report = LevelMeter(r.channels, r.full_scale)

    def _room_for(self, nbytes: int) -> bool:
        a = self._active
        assert a is not None
        try:
            free = self.disk.free_bytes(a.path)
        except OSError:
            return True  # a failing statvfs is not a full disk; the write will say what is wrong
        return free - nbytes >= self.min_free_bytes

    def _lose(self, a: _Active, kind: str, pos: int, frames: int) -> None:
        self._answer_start(a)  # what went wrong is told the controller on its own
        a.frames_lost_to_disk += frames
        last = a.manifest.gaps[-1] if a.manifest.gaps else None
        if last is not None and last.kind == kind and last.pos + last.frames == pos:
            last.frames += frames
            last.seconds = a.manifest.seconds(last.frames)
            return
        log.error(
            "session %s: storage %s, audio is being lost",
            a.manifest.id,
            "full" if kind == "disk_full" else "failing",
        )
        self._gap(Gap(kind, pos, frames))  # type: ignore[arg-type]

    def _open_segment(self, a: _Active, index: int, first_pos: int) -> None:
        name = segment_name(index)
        try:
            a.sink = self.open_segment(
                a.path / name,
                a.manifest.audio.rate,
                a.manifest.audio.channels,
                a.manifest.audio.format,
            )
        except Exception:
            with contextlib.suppress(OSError):  # a header cut short is no segment
                (a.path / name).unlink()
            raise
        a.manifest.segments.append(
            SegmentInfo(
                file=name, index=index, first_frame=a.manifest.frames, first_pos=first_pos, frames=0
            )
        )
        a.unsynced = 0
        self._save(a)

    def _close_segment(self, a: _Active) -> None:
        if a.sink is None:
            return
        sink, a.sink = a.sink, None
        sink.close()
        info = a.manifest.segments[-1]
        info.frames = sink.frames
        info.bytes = os.path.getsize(sink.path)
        info.sha256 = file_sha256(sink.path)
        info.closed = True
        a.closed_levels = _levels(a)
        self._save(a)

    # ---- structure --------------------------------------------------------------------------

    def _gap(self, gap: Gap) -> None:
        a = self._active
        if a is None:
            return
        m = a.manifest
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
        if gap.kind == "device_lost":
            try:
                self._close_segment(a)
            except Exception as exc:
                self._salvage(a)
                if self._is_full(exc, a.path):
                    self._storage_full(a, str(exc))
                elif not a.failed:
                    a.failed = True
                    self.emit(WriterFailed(str(exc)))
            a.plan.break_segment()
        self._save(a)

    def _marker(self, item: MarkerAt) -> None:
        a = self._active
        if a is None:
            return
        m = a.manifest
        m.markers.append(
            Marker(
                frame=item.frame,
                seconds=m.seconds(item.frame),
                label=item.label,
                source=item.source,
            )
        )
        self._save(a)
        self.on_marker_saved()

    def _warning(self, item: WarningNote) -> None:
        a = self._active
        if a is None:
            return
        m = a.manifest
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
        self._save(a)

    def _save(self, a: _Active) -> None:
        if not a.created:
            return
        a.manifest.levels = a.closed_levels
        try:
            try:
                a.manifest_bytes = self.store.write_manifest(a.path, a.manifest)
            except OSError as exc:
                if not self._is_full(exc, a.path):
                    raise
                self._storage_full(a, f"manifest: {exc.strerror or exc}")
                if not self.ballast.release():
                    raise
                a.manifest_bytes = self.store.write_manifest(a.path, a.manifest)
        except OSError as exc:
            log.error("session %s: manifest write failed: %s", a.manifest.id, exc)
            if self._is_full(exc, a.path):
                self._storage_full(a, f"manifest: {exc.strerror or exc}")
            elif not a.failed:
                a.failed = True
                self.emit(WriterFailed(f"manifest: {exc}"))
            return
        self._cover(a)

    # ---- room on the storage ------------------------------------------------------------------

    def _need(self, a: _Active) -> int:
        """Bytes this session's finalize may write: the room it needs on a full disk."""
        labels = [len(text.encode()) for _, text in marker_labels(a.manifest.markers)]
        return final_write_bytes(a.manifest_bytes, labels, len(a.manifest.segments))

    def _cover(self, a: _Active) -> None:
        """Grow the ballast when this session's finalize outgrew it (many markers)."""
        if not self.ballast.active or a.full:
            return
        size = ballast_bytes(self._need(a))
        if size > self.ballast.size:
            self.ballast.size = size  # counted as missing until it is allocated
            self._restore_ballast()

    def _restore_ballast(self) -> bool:
        """Allocate the ballast again when it fits above min_free_mb."""
        if not self.ballast.missing:
            return True
        if self._free(self.store.root) < self.min_free_bytes:
            return False
        return self.ballast.restore()

    def _upkeep(self) -> None:
        """Finish, once there is room, what a full disk held up (in the order it is needed)."""
        if not (
            self._prepare_pending
            or self._recovery_pending
            or self._unfinished
            or self.ballast.missing
        ):
            return
        try:
            free = self.disk.free_bytes(self.store.root)
        except OSError:
            return
        if free - self.ballast.missing < self.min_free_bytes:
            return  # no room yet for the ballast above the margin
        if self._blocked_at is not None and free <= self._blocked_at:
            return  # nothing was freed since the last try found no room
        blocked = False
        if self._prepare_pending:
            try:
                why = self.store.prepare()
            except StorageError as exc:
                log.error("%s", exc)
                why = None
            if why is None:
                self._prepare_pending = False
                log.info("storage %s: its folders are ready", self.store.root)
            else:
                blocked = True
        if not blocked and not self._restore_ballast():
            blocked = True
        for a in list(self._unfinished):
            try:
                final = self._finalize(a)
            except OSError as exc:
                log.error("session %s still cannot be finalized: %s", a.manifest.id, exc)
                blocked = True
                continue
            self._unfinished.remove(a)
            log.warning("session %s finalized late, once there was room: %s", a.manifest.id, final)
            self.on_recovered(final)
        if self._recovery_pending and self._active is None and not self._prepare_pending:
            result = recover_sessions(
                self.store,
                self._now(),
                self.ballast,
                skip={a.manifest.id for a in self._unfinished},
                report_damaged=False,
            )
            self._recovery_pending = bool(result.waiting)
            blocked = blocked or self._recovery_pending
            for final in result.recovered:
                self.on_recovered(final)
        self._blocked_at = free if blocked else None
