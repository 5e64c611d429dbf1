"""The writer thread: turns the queue into WAV segments, manifests and finalized sessions.

It is the only code that writes a session's files while it records. The header of the open
segment is brought up to date every `sync_s` of audio, so a power cut loses at most that much.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from recorder.adapters.wavfile import file_sha256
from recorder.blockqueue import FrameQueue
from recorder.core.blocks import Block, Gap, Item, MarkerAt, SessionBegin, SessionEnd, WarningNote
from recorder.core.formats import FORMATS, decode
from recorder.core.levels import LevelMeter
from recorder.core.manifest import GapInfo, Manifest, Marker, SegmentInfo, WarningInfo
from recorder.core.segments import SegmentPlan
from recorder.core.state import Event, Levels, WriterFailed
from recorder.core.warnings import LevelReport
from recorder.markers import finalize_markers
from recorder.ports import DiskSpace, SegmentFactory, SegmentSink
from recorder.storage import SessionStore
from recorder.tap import StartAck

log = logging.getLogger(__name__)


BATCH_WAIT_S = 0.5  # the longest the writer sleeps before taking whatever audio has come


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
    created: bool = False  # the session's folder exists (its manifest can be written)
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
        self.stopping = threading.Event()
        self._active: _Active | None = None  # owned by this thread only

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then end."""
        self.stopping.set()
        self.join(timeout)

    def run(self) -> None:
        while True:
            batch = self.queue.get_batch(self._batch_frames(), timeout=BATCH_WAIT_S)
            if not batch:
                if self.stopping.is_set():
                    break
                continue
            for part in _runs(batch):
                try:
                    if isinstance(part, list):
                        self._audio(part)
                    else:
                        self.handle(part)
                except Exception as exc:  # the thread must outlive any one bad item
                    log.exception("writer: %s failed", type(part).__name__)
                    self.emit(WriterFailed(f"internal error: {exc}"))

    def _batch_frames(self) -> int:
        """As much audio as makes the next level report, but never past the next header sync."""
        a = self._active
        if a is None or a.failed:
            return self.report_frames
        return max(1, min(self.report_frames, self.sync_frames - a.unsynced))

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
        try:
            self.store.create(manifest.id)
            a.created = True
            self.store.write_manifest(a.path, manifest)
        except OSError as exc:
            a.failed = True
            error = f"cannot create session {manifest.id} in {a.path.parent}: {exc.strerror or exc}"
            log.error("%s", error)
            if ack is None or not ack.deliver(error):
                self.emit(WriterFailed(error))
            return
        if ack is not None:
            ack.deliver(None)

    def _end(self, item: SessionEnd) -> None:
        a = self._active
        if a is None:
            return
        self._active = None
        m = a.manifest
        if not a.created:
            log.error("session %s was never written: its folder could not be made", m.id)
            return
        try:
            self._close_segment(a)
        except OSError as exc:
            log.error("session %s: closing the last segment failed: %s", m.id, exc)
        try:
            finalize_markers(a.path, m)
        except OSError as exc:
            log.error("session %s: writing markers into the segments failed: %s", m.id, exc)
        m.state = "finalized"
        m.stop_reason = item.reason  # type: ignore[assignment]
        m.ended_at = item.ended_at
        m.levels = _levels(a)
        if m.frames != item.frames - a.frames_lost_to_disk:
            log.error(
                "session %s: wrote %d frames, capture handed over %d", m.id, m.frames, item.frames
            )
        try:
            self.store.write_manifest(a.path, m)
            final = self.store.move(a.path, "outbox")
        except OSError as exc:
            log.error(
                "session %s could not be finalized (%s); it stays in %s and is repaired at the "
                "next start",
                m.id,
                exc,
                a.path,
            )
            self.emit(WriterFailed(f"finalizing {m.id}: {exc}"))
            return
        log.info("session %s finalized: %s (%d frames)", m.id, final, m.frames)
        self.on_finalized(m, final)

    # ---- audio ------------------------------------------------------------------------------

    def _audio(self, blocks: list[Block]) -> None:
        """Consecutive blocks, written with one call per segment they fall into."""
        a = self._active
        if a is None:
            return
        pos, frames = blocks[0].pos, sum(b.frames for b in blocks)
        data = blocks[0].data if len(blocks) == 1 else b"".join(b.data for b in blocks)
        if a.failed or not self._room_for(len(data)):
            self._lose(a, "disk_full" if not a.failed else "write_error", pos, frames)
            return
        fmt = FORMATS[a.manifest.audio.format]
        frame_bytes = fmt.frame_bytes(a.manifest.audio.channels)
        view = memoryview(data)
        try:
            for piece in a.plan.place(frames):
                if piece.opens:
                    self._close_segment(a)
                    self._open_segment(a, piece.segment, pos + piece.offset)
                assert a.sink is not None
                a.sink.write(
                    view[piece.offset * frame_bytes : (piece.offset + piece.frames) * frame_bytes]
                )
                a.manifest.frames += piece.frames
                a.manifest.segments[-1].frames = a.sink.frames
                a.unsynced += piece.frames
            self._measure(a, decode(data, fmt, a.manifest.audio.channels))
            if a.unsynced >= self.sync_frames:
                a.sink.sync()
                a.unsynced = 0
        except OSError as exc:
            a.failed = True
            log.error("session %s: writing audio failed: %s", a.manifest.id, exc)
            self.emit(WriterFailed(str(exc)))

    def _measure(self, a: _Active, samples) -> None:
        """Levels for the controller every `report_frames` exactly, however the audio came."""
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
                        end_frame=a.manifest.frames - (total - at),
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
        a.frames_lost_to_disk += frames
        last = a.manifest.gaps[-1] if a.manifest.gaps else None
        if last is not None and last.kind == kind and last.pos + last.frames == pos:
            last.frames += frames
            last.seconds = a.manifest.seconds(last.frames)
            return
        log.error("session %s: storage full or failing, audio is being lost", a.manifest.id)
        self._gap(Gap(kind, pos, frames))  # type: ignore[arg-type]

    def _open_segment(self, a: _Active, index: int, first_pos: int) -> None:
        name = segment_name(index)
        a.sink = self.open_segment(
            a.path / name, a.manifest.audio.rate, a.manifest.audio.channels, a.manifest.audio.format
        )
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
            except OSError as exc:
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
            self.store.write_manifest(a.path, a.manifest)
        except OSError as exc:
            log.error("session %s: manifest write failed: %s", a.manifest.id, exc)
            if not a.failed:
                a.failed = True
                self.emit(WriterFailed(f"manifest: {exc}"))
