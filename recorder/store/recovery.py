"""Start-up repair: sessions a power cut or crash left in `recording/` are finalized.

Nothing is asked of the user. Each segment's header is made to agree with the audio on disk, the
manifest is brought up to date (frames, hashes, levels, stop reason `interrupted` unless the
recorder had already written one, such as `disk_full`; gaps are kept), and the session moves
to the outbox like any other. A session whose manifest cannot be read is left exactly as it is
and reported. On a full disk the ballast's room takes the last writes; a session that still
finds none waits, untouched, for a later pass.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import soundfile

from recorder.core.formats import FORMATS
from recorder.core.manifest import Manifest, SegmentInfo
from recorder.core.recording.disk import final_write_bytes
from recorder.core.recording.levels import LevelMeter
from recorder.media.wav import WavError, file_sha256, repair
from recorder.store.ballast import Ballast, is_full_error
from recorder.store.markers import finalize_markers, marker_labels
from recorder.store.sessions import MANIFEST, SessionStore, StoredSession

log = logging.getLogger(__name__)

SEGMENT_RE = re.compile(r"^seg-([0-9]{4,})\.wav$")


@dataclass
class Recovery:
    """What one pass of repair did."""

    lines: list[str] = field(default_factory=list)  # one per session, for the log
    recovered: list[Path] = field(default_factory=list)  # now in the outbox
    waiting: list[str] = field(default_factory=list)  # ids that need free space first


def recover_all(store: SessionStore, now: str, ballast: Ballast | None = None) -> list[str]:
    """Repair and finalize every interrupted session; returns one line per session for the log."""
    return recover_sessions(store, now, ballast).lines


def recover_sessions(
    store: SessionStore,
    now: str,
    ballast: Ballast | None = None,
    skip: Collection[str] = (),
    report_damaged: bool = True,
) -> Recovery:
    """Repair every session in `recording/` but those in `skip`.

    A full disk does not lose a session: the ballast's room is used for the last writes, and a
    session that still finds no room is left as it is, listed in `waiting`, to be repaired by a
    later pass once space is freed.
    """
    result = Recovery()
    for s in store.sessions("recording"):
        if s.id in skip:
            continue
        try:
            line, final = _recover_with_room(store, s, now, ballast)
        except OSError as exc:
            if not is_full_error(exc):
                log.exception("recovery of %s failed; it is left where it is", s.path)
                result.lines.append(f"could not recover {s.path}: {exc}")
                continue
            line = (
                f"session {s.id} waits for free space to be repaired and finalized "
                f"({exc.strerror}); it is kept as it is in {s.path}"
            )
            log.error("recovery: %s", line)
            result.lines.append(line)
            result.waiting.append(s.id)
            continue
        except Exception as exc:  # one bad session must not keep the recorder from recording
            log.exception("recovery of %s failed; it is left where it is", s.path)
            result.lines.append(f"could not recover {s.path}: {exc}")
            continue
        result.lines.append(line)
        if final is not None:
            result.recovered.append(final)
    if report_damaged:
        for s in store.sessions("outbox") + store.sessions("uploaded"):
            if s.state == "damaged":
                result.lines.append(f"left untouched: {s.error}")
    return result


def _recover_with_room(
    store: SessionStore, s: StoredSession, now: str, ballast: Ballast | None
) -> tuple[str, Path | None]:
    """`recover`, with the ballast given up first when the free space cannot take its writes."""
    if ballast is None or s.manifest is None:
        return _recover(store, s, now)
    try:
        manifest_bytes = (s.path / MANIFEST).stat().st_size
    except OSError:
        manifest_bytes = 0
    labels = [len(text.encode()) for _, text in marker_labels(s.manifest.markers)]
    ballast.room_for(final_write_bytes(manifest_bytes, labels, len(s.manifest.segments)))
    try:
        return _recover(store, s, now)
    except OSError as exc:
        if not is_full_error(exc) or not ballast.release():
            raise
    # From the manifest on disk again: the first try changed the one in memory.
    return _recover(store, replace(s, manifest=store.read_manifest(s.path)), now)


def recover(store: SessionStore, s: StoredSession, now: str) -> str:
    return _recover(store, s, now)[0]


def _recover(store: SessionStore, s: StoredSession, now: str) -> tuple[str, Path | None]:
    if s.manifest is None:
        msg = f"left untouched: {s.error}"
        log.error("recovery: %s", msg)
        return msg, None
    m = s.manifest
    was = m.state
    repaired, missing = _repair_segments(s.path, m)
    finalize_markers(s.path, m)
    m.state = "finalized"
    if m.stop_reason is None:
        m.stop_reason = "interrupted"
    if was == "finalized":
        reason = "finalized, but not yet moved to the outbox when the recorder stopped"
    elif m.stop_reason == "disk_full":
        reason = "the storage filled, and the recorder stopped before finalizing"
    else:
        reason = "the recorder stopped without finalizing"
    m.recovery = {
        "at": now,
        "reason": f"{reason} (power cut, crash or kill)",
        "repaired_segments": repaired,
        "missing_segments": missing,
    }
    store.write_manifest(s.path, m)
    final = store.move(s.path, "outbox")
    msg = (
        f"recovered session {m.id}: {m.frames / m.audio.rate:.1f} s in {len(m.segments)} "
        f"segment(s), {len(repaired)} repaired, stop reason {m.stop_reason}, now in {final}"
    )
    log.warning("recovery: %s", msg)
    return msg, final


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
