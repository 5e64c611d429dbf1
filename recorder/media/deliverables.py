"""Single-file deliverables built from a finished session: a lossless FLAC, a credential MP3,
and (on request) one joined WAV. This module is their front; each format is a module of its own.

The WAV segments stay the record; these files are derived from them, read as blocks
(`recorder.media.blocks`). Each is written to a temporary file beside its destination, fsynced,
checked, and renamed into place (`recorder.media.staged`), so a crash or a full card leaves
either the old file or none, never half of one.

- `recorder.media.flac`: session.flac, verified sample by sample (it replaces the segments for
  upload); none for S32_LE sessions that use all 32 bits.
- `recorder.media.mp3`: session.mp3, mono CBR for people (ICF, IAC), resampled above 48 kHz.
- `recorder.media.wav_export`: one joined WAV, with the markers as cue points.
- `recorder.media.tags`: what the files say (title, client, number, markers), never the notes.

`export(..., from_start=True)` leaves out the pre-roll (the frames before the start press),
for a credential submission of the session itself; markers move back with it, those in the
pre-roll are left out. The segments are read from that frame on, still in blocks.
"""

from __future__ import annotations

from pathlib import Path

from recorder.core.manifest import Manifest
from recorder.media.blocks import DeliverableError, total_frames, where
from recorder.media.flac import build_flac, flac_subtype
from recorder.media.mp3 import build_mp3
from recorder.media.wav_export import build_wav

__all__ = [
    "EXPORT_FORMATS",
    "FLAC_NAME",
    "MP3_NAME",
    "DeliverableError",
    "build_deliverables",
    "export",
]

FLAC_NAME = "session.flac"
MP3_NAME = "session.mp3"
EXPORT_FORMATS = ("flac", "mp3", "wav")


def export(
    session_dir: Path, manifest: Manifest, fmt: str, out: Path, *, from_start: bool = False
) -> Path:
    """One file of the whole session at `out`: "flac" (lossless), "mp3" (mono CBR) or "wav".

    `from_start` leaves out the pre-roll, so the file begins at the start press: the session
    itself, as a credential submission wants it (its markers move with it).
    """
    builders = {"flac": build_flac, "mp3": build_mp3, "wav": build_wav}
    if fmt not in builders:
        raise DeliverableError(
            f"{where(manifest, out.name)}: unknown export format {fmt!r}; "
            f"choose one of {', '.join(EXPORT_FORMATS)}"
        )
    start = manifest.preroll_frames if from_start else 0
    return builders[fmt](session_dir, manifest, out, start_frame=start)


def _up_to_date(path: Path, newest_ns: int) -> bool:
    try:
        return path.stat().st_mtime_ns >= newest_ns
    except FileNotFoundError:
        return False


def build_deliverables(session_dir: Path, manifest: Manifest) -> dict[str, Path]:
    """Build session.flac and session.mp3 in the session folder when missing or stale.

    Stale means older than any of the segments (cue chunks written at finalize change them).
    No FLAC when `flac_subtype` is None (the uploader then sends the segments); the MP3 is
    resampled where MP3 cannot carry the session's rate. Returns {"flac": path, "mp3": path}
    for those that exist.
    """
    if not manifest.segments or total_frames(manifest) == 0:
        return {}
    try:
        newest = max((session_dir / seg.file).stat().st_mtime_ns for seg in manifest.segments)
    except FileNotFoundError as exc:
        name = Path(exc.filename).name if exc.filename else "a segment"
        raise DeliverableError(f"{where(manifest, name)}: missing") from None
    flac = session_dir / FLAC_NAME
    mp3 = session_dir / MP3_NAME
    if flac_subtype(manifest) is not None and not _up_to_date(flac, newest):
        build_flac(session_dir, manifest, flac)
    if not _up_to_date(mp3, newest):
        build_mp3(session_dir, manifest, mp3)
    return {
        kind: path for kind, path in (("flac", flac), ("mp3", mp3)) if _up_to_date(path, newest)
    }
