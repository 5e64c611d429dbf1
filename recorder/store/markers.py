"""Markers written where other tools find them, at finalize.

During a session markers live only in the manifest. libsndfile refuses `cue ` chunks once audio
exists and never writes `LIST/adtl/labl` names, so the finished segments get them from our own
small chunk writer; Audacity reads neither, so the session also gets an Audacity label track.
"""

from __future__ import annotations

import logging
import os
import struct
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from recorder.core.manifest import Manifest, Marker
from recorder.media.wav import WavError, file_sha256, find_chunks
from recorder.store.files import atomic_write, fsync_dir

log = logging.getLogger(__name__)

LABELS_FILE = "labels.txt"
_RIFF_MAX = 0xFFFFFFFF


def marker_labels(markers: Iterable[Marker]) -> list[tuple[Marker, str]]:
    """Markers in frame order with the text shown for each: an empty label becomes "marker N".

    N counts from 1 in that order (the order they were dropped in), so the cue names in the
    segments and the lines in labels.txt agree.
    """
    ordered = sorted(markers, key=lambda m: m.frame)  # stable: equal frames keep session order
    return [(m, m.label or f"marker {n}") for n, m in enumerate(ordered, 1)]


def _one_line(text: str) -> str:
    # Control characters and the Unicode line/paragraph separators would split or corrupt a line.
    return "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)


def write_labels(session_dir: Path, markers: list[Marker], rate: int) -> Path:
    """Write the Audacity label track `labels.txt` beside the session; return its path.

    One `start<TAB>end<TAB>label` line per marker (a point label: start == end, in seconds with
    six decimals, as Audacity writes them). Control characters in labels become spaces so a label
    can never add a line or a field. The file exists only when there are markers: with none, a
    stale one from an earlier run is removed, so its presence always means "this session has
    markers".
    """
    path = session_dir / LABELS_FILE
    if not markers:
        if path.exists():
            path.unlink()
            fsync_dir(session_dir)
        return path
    lines = []
    for marker, text in marker_labels(markers):
        at = f"{marker.frame / rate:.6f}"
        lines.append(f"{at}\t{at}\t{_one_line(text)}\n")
    atomic_write(path, "".join(lines))
    return path


def _chunk(cid: bytes, payload: bytes) -> bytes:
    return cid + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)


def _cue_chunks(cues: list[tuple[int, str]]) -> bytes:
    """A `cue ` chunk and a `LIST/adtl` chunk naming its points; cue ids count from 1."""
    points = b"".join(
        struct.pack("<II4sIII", n, offset, b"data", 0, 0, offset)
        for n, (offset, _) in enumerate(cues, 1)
    )
    names = b"".join(
        # A NUL would end the C string early in every reader: it becomes a space.
        _chunk(b"labl", struct.pack("<I", n) + label.replace("\0", " ").encode() + b"\0")
        for n, (_, label) in enumerate(cues, 1)
    )
    return _chunk(b"cue ", struct.pack("<I", len(cues)) + points) + _chunk(b"LIST", b"adtl" + names)


def add_cue_chunks(wav: Path, cues: list[tuple[int, str]]) -> None:
    """Give a finished WAV file exactly these cue points: `(frame offset, label)` pairs.

    Everything after the data chunk is replaced, so running it again (after a crash during
    finalize, or with other cues) leaves only the new set; an empty list removes them. The
    fmt and data chunks are never touched; only the RIFF size changes. Offsets must lie in
    [0, frames of this file] (ValueError otherwise); a file that is not a plain RIFF WAV raises
    WavError; nothing is changed when either is raised. A write error (a full disk) leaves the
    audio with no chunks after it, never a partial one, and is raised.
    """
    with open(wav, "r+b") as f:
        if f.read(4) != b"RIFF":
            raise WavError(f"{wav}: not a RIFF WAV file (RF64 and others are not supported)")
        f.seek(0)
        block_align, offset, size, _ = find_chunks(f)
        file_size = f.seek(0, os.SEEK_END)
        if size % block_align or offset + size > file_size:
            raise WavError(f"{wav}: data chunk size {size} does not match the file; repair it")
        frames = size // block_align
        bad = [o for o, _ in cues if not 0 <= o <= frames]
        if bad:
            raise ValueError(f"{wav}: cue offsets {bad} outside the file's 0..{frames} frames")
        tail = _cue_chunks(cues) if cues else b""
        data_end = offset + size + (size & 1)
        if data_end + len(tail) - 8 > _RIFF_MAX:
            raise WavError(f"{wav}: too large for a RIFF file with these cues")
        # Unbuffered from here on, so a write error surfaces here and not at some later flush.
        fd = f.fileno()
        try:
            os.ftruncate(fd, offset + size)
            _pwrite_all(fd, b"\0" * (size & 1) + tail, offset + size)  # pad byte, then chunks
        except OSError:
            # A full disk must not leave half a chunk behind the audio: repair() would take it
            # for audio written after the last header update.
            os.ftruncate(fd, data_end)
            _pwrite_all(fd, struct.pack("<I", data_end - 8), 4)
            raise
        _pwrite_all(fd, struct.pack("<I", data_end + len(tail) - 8), 4)
        os.fsync(fd)


def _pwrite_all(fd: int, data: bytes, pos: int) -> None:
    while data:
        n = os.pwrite(fd, data, pos)
        data, pos = data[n:], pos + n


def finalize_markers(session_dir: Path, manifest: Manifest) -> None:
    """Write the session's markers into its segments as cue points, and write labels.txt.

    A marker belongs to the segment holding its frame, at `frame - first_frame`; one at the very
    end of the session goes to the last segment, at its end. Segments that get cues have their
    `bytes` and `sha256` updated in `manifest`; the others are not opened for writing, so their
    hashes stay valid. The caller writes the manifest. A segment that cannot take its cues (not
    on disk, not a WAV, shorter than the manifest says) is logged and skipped, so one damaged
    file never costs the other segments their cues or the session its label track.
    """
    per_segment: dict[int, list[tuple[int, str]]] = {}
    segments = manifest.segments
    for marker, text in marker_labels(manifest.markers):
        for i, seg in enumerate(segments):
            end = seg.first_frame + seg.frames
            if seg.first_frame <= marker.frame < end or (
                i == len(segments) - 1 and marker.frame == end
            ):
                per_segment.setdefault(i, []).append((marker.frame - seg.first_frame, text))
                break
        else:
            log.error(
                "session %s: marker at frame %d is outside the recorded audio; only in labels.txt",
                manifest.id,
                marker.frame,
            )
    for i, cues in per_segment.items():
        seg = segments[i]
        file = session_dir / seg.file
        try:
            add_cue_chunks(file, cues)
        except ValueError as exc:  # WavError too; the file was not changed
            log.error("session %s: no cue points in %s: %s", manifest.id, seg.file, exc)
            continue
        except OSError as exc:  # old cue chunks may be gone: record what is on disk now
            log.error("session %s: no cue points in %s: %s", manifest.id, seg.file, exc)
            if not file.exists():
                continue
        seg.bytes = file.stat().st_size
        seg.sha256 = file_sha256(file)
    write_labels(session_dir, manifest.markers, manifest.audio.rate)
