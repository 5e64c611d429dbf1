"""Start-up repair: sessions a power cut or crash left in `recording/` are finalized.

Nothing is asked of the user. Each segment's header is made to agree with the audio on disk, the
manifest is brought up to date (frames, hashes, levels, stop reason `interrupted`), and the
session moves to the outbox like any other. A session whose manifest cannot be read is left
exactly as it is and reported.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import soundfile

from recorder.adapters.wavfile import WavError, file_sha256, repair
from recorder.core.formats import FORMATS
from recorder.core.levels import LevelMeter
from recorder.core.manifest import Manifest, SegmentInfo
from recorder.markers import finalize_markers
from recorder.storage import SessionStore, StoredSession

log = logging.getLogger(__name__)

SEGMENT_RE = re.compile(r"^seg-(\d{4,})\.wav$")


def recover_all(store: SessionStore, now: str) -> list[str]:
    """Repair and finalize every interrupted session; returns one line per session for the log."""
    report: list[str] = []
    for s in store.sessions("recording"):
        try:
            report.append(recover(store, s, now))
        except Exception as exc:  # one bad session must not keep the recorder from recording
            log.exception("recovery of %s failed; it is left where it is", s.path)
            report.append(f"could not recover {s.path}: {exc}")
    for s in store.sessions("outbox") + store.sessions("uploaded"):
        if s.state == "damaged":
            report.append(f"left untouched: {s.error}")
    return report


def recover(store: SessionStore, s: StoredSession, now: str) -> str:
    if s.manifest is None:
        msg = f"left untouched: {s.error}"
        log.error("recovery: %s", msg)
        return msg
    m = s.manifest
    repaired, missing = _repair_segments(s.path, m)
    finalize_markers(s.path, m)
    m.state = "finalized"
    if m.stop_reason is None:
        m.stop_reason = "interrupted"
    m.recovery = {
        "at": now,
        "reason": "the recorder stopped without finalizing (power cut, crash or kill)",
        "repaired_segments": repaired,
        "missing_segments": missing,
    }
    store.write_manifest(s.path, m)
    final = store.move(s.path, "outbox")
    msg = (
        f"recovered session {m.id}: {m.frames / m.audio.rate:.1f} s in {len(m.segments)} "
        f"segment(s), {len(repaired)} repaired, now in {final}"
    )
    log.warning("recovery: %s", msg)
    return msg


def _repair_segments(path: Path, m: Manifest) -> tuple[list[str], list[str]]:
    fmt = FORMATS[m.audio.format]
    known = {seg.file: seg for seg in m.segments}
    on_disk = sorted(
        (int(mt[1]), p.name) for p in path.iterdir() if (mt := SEGMENT_RE.match(p.name))
    )
    meter = LevelMeter(m.audio.channels, fmt.full_scale)
    if m.levels:
        meter = LevelMeter.from_summary(m.levels, m.audio.channels, fmt.full_scale)
    segments: list[SegmentInfo] = []
    repaired: list[str] = []
    frames = 0
    next_pos = m.start_pos
    for index, name in on_disk:
        seg = known.get(name) or SegmentInfo(
            file=name, index=index, first_frame=frames, first_pos=next_pos, frames=0
        )
        file = path / name
        if seg.closed and _unfinished_cue_append(file, seg):
            # Markers were being appended at finalize: back to the file as it was closed;
            # finalize_markers below writes them again.
            os.truncate(file, seg.bytes)
            repaired.append(name)
        if seg.closed and seg.bytes == file.stat().st_size:
            seg_frames = seg.frames
        else:
            try:
                seg_frames, changed = repair(file)
            except WavError as exc:
                log.error("recovery: %s is not a usable WAV (%s); kept, not listed", file, exc)
                continue
            if changed:
                repaired.append(name)
            meter.merge(_measure(file, m.audio.channels, fmt.full_scale))
            seg.frames = seg_frames
            seg.bytes = file.stat().st_size
            seg.sha256 = file_sha256(file)
            seg.closed = True
            seg.repaired = changed
        seg.first_frame = frames
        frames += seg_frames
        next_pos = seg.first_pos + seg_frames
        segments.append(seg)
    missing = sorted(set(known) - {name for _, name in on_disk})
    for name in missing:
        log.error("recovery: %s lists %s, which is not on disk", m.id, name)
    m.segments = segments
    m.frames = frames
    if meter.frames != frames:
        # The saved levels do not cover the closed segments (an older or damaged summary):
        # measure the whole session again rather than report levels of part of it.
        meter = LevelMeter(m.audio.channels, fmt.full_scale)
        for seg in segments:
            meter.merge(_measure(path / seg.file, m.audio.channels, fmt.full_scale))
    m.levels = meter.summary()
    return repaired, missing


def _unfinished_cue_append(file: Path, seg: SegmentInfo) -> bool:
    size = file.stat().st_size
    return (
        seg.bytes is not None
        and seg.sha256 is not None
        and size > seg.bytes
        and file_sha256(file, limit=seg.bytes) == seg.sha256
    )


def _measure(file: Path, channels: int, full_scale: float) -> LevelMeter:
    meter = LevelMeter(channels, full_scale)
    shift = 31 - round(np.log2(full_scale))  # libsndfile scales every PCM width to int32
    with soundfile.SoundFile(file) as f:
        for block in f.blocks(blocksize=65536, dtype="int32", always_2d=True):
            meter.feed(block >> shift)
    return meter
