"""Sessions for the tests: one manifest factory, and session folders as the writer leaves them.

A test names only the fields it cares about; the rest is a plausible finished session
(SESSION_ID, 48 kHz stereo S16_LE, started 2026-11-29 09:30 UTC on a synced clock). Segments
are written by the recorder's own `SoundfileSegment`, as the writer thread writes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from recorder.core.formats import FORMATS
from recorder.core.manifest import AudioInfo, Manifest, Marker, SegmentInfo
from recorder.core.transcript.doc import Line, TranscriptDoc, Word
from recorder.media.wav import SoundfileSegment, file_sha256
from recorder.store.sessions import SessionStore
from recorder.transcript.files import write_all
from recorder.transcript.status import write_status

SESSION_ID = "000042-20261129T093000Z"


def make_manifest(
    *, rate: int = 48000, channels: int = 2, fmt: str = "S16_LE", **fields: object
) -> Manifest:
    """A finalized manifest; `frames` is the segments' total unless given, `fields` replace
    any other field (id, state, start_pos, markers, stop_reason…)."""
    segments = fields.setdefault("segments", [])
    assert isinstance(segments, list)
    values: dict[str, object] = {
        "id": SESSION_ID,
        "device_id": "box",
        "audio": AudioInfo(device="testmic", rate=rate, channels=channels, format=fmt),
        "started_at": "2026-11-29T09:30:00Z",
        "clock_synced": True,
        "start_pos": 0,
        "preroll_frames": 0,
        "frames": sum(s.frames for s in segments),
        "state": "finalized",
    }
    return Manifest(**{**values, **fields})


def segment_infos(
    frames: Sequence[int], first_pos: int = 0, folder: Path | None = None
) -> list[SegmentInfo]:
    """Closed segments seg-0000.wav, seg-0001.wav… of these lengths, back to back from capture
    position `first_pos`; with the size and SHA-256 of the files in `folder` when it is given,
    as the writer records a segment it has closed."""
    infos, first = [], 0
    for index, count in enumerate(frames):
        info = SegmentInfo(
            file=f"seg-{index:04d}.wav",
            index=index,
            first_frame=first,
            first_pos=first_pos + first,
            frames=count,
            closed=True,
        )
        if folder is not None:
            info.bytes = (folder / info.file).stat().st_size
            info.sha256 = file_sha256(folder / info.file)
        infos.append(info)
        first += count
    return infos


def write_session(
    folder: Path,
    chunks: list[list[bytes]],
    rate: int,
    channels: int,
    fmt: str,
    *,
    hashed: bool = False,
    **fields: object,
) -> Manifest:
    """One segment per entry of `chunks` (its pieces written in turn), and the manifest of the
    finished session, not written: the test decides where it goes. `hashed`: the segments'
    sizes and SHA-256 in the manifest; `fields` as for make_manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    frame_bytes = FORMATS[fmt].frame_bytes(channels)
    lengths = []
    for index, parts in enumerate(chunks):
        seg = SoundfileSegment(folder / f"seg-{index:04d}.wav", rate, channels, fmt)
        for raw in parts:
            seg.write(raw)
        seg.close()
        lengths.append(sum(len(p) for p in parts) // frame_bytes)
    segments = segment_infos(lengths, folder=folder if hashed else None)
    return make_manifest(rate=rate, channels=channels, fmt=fmt, segments=segments, **fields)


def random_session(
    folder: Path, fmt: str, lengths=(4800, 12001, 777), channels: int = 2, rate: int = 48000
) -> tuple[Manifest, bytes]:
    """Three segments of seeded random bytes (odd lengths: no boundary falls on a block), and
    the bytes, joined, that the session's audio must be."""
    rng = np.random.default_rng(7)
    width = FORMATS[fmt].width
    raws = [rng.integers(0, 256, n * channels * width, dtype=np.uint8).tobytes() for n in lengths]
    return write_session(folder, [[r] for r in raws], rate, channels, fmt), b"".join(raws)


def tone(frames: int, step: float = 5, peak: int = 8000) -> np.ndarray:
    """A mono S16 tone, sin(n / step) · peak: audible, never clipped, never silent for long."""
    return (np.sin(np.arange(frames) / step) * peak).astype("<i2")


def finished_session(
    sessions: Path,
    chunks: list[bytes],
    rate: int,
    channels: int = 1,
    markers: Iterable[tuple[int, str]] = (),
    **fields: object,
) -> tuple[Path, Manifest]:
    """A finished session in `sessions`/outbox/ as the writer leaves it: one S16_LE segment per
    chunk and its manifest.json, written by the store, with `markers` as (frame, label)."""
    folder = sessions / "outbox" / str(fields.get("id", SESSION_ID))
    manifest = write_session(folder, [[c] for c in chunks], rate, channels, "S16_LE", **fields)
    manifest.markers = [Marker(frame=f, seconds=f / rate, label=t) for f, t in markers]
    SessionStore(sessions).write_manifest(folder, manifest)
    return folder, manifest


def _word(text: str, start: float, end: float, p: float = 0.9) -> Word:
    return Word(text, start, end, p, f" {text}")


def done_transcript(folder: Path, session_id: str = SESSION_ID) -> TranscriptDoc:
    """transcript.json and its files (.docx, .txt, .vtt) as the transcript worker leaves them
    when it is done: two lines, coach and client, at revision 0, with "carrier" for the
    coach to correct."""
    doc = TranscriptDoc(
        session_id=session_id, title=f"Session {session_id}", date="2026-12-06", length_s=2.0,
        speakers=("Coach", "Client"), mode="channels", engine="whisper",
        lines=(
            Line(0.1, 0.9, "Coach", "What would you like to work on", False,
                 (_word("What", 0.1, 0.2), _word("would", 0.2, 0.3), _word("you", 0.3, 0.4),
                  _word("like", 0.4, 0.5), _word("to", 0.5, 0.6), _word("work", 0.6, 0.7, 0.3),
                  _word("on", 0.7, 0.9))),
            Line(1.0, 1.9, "Client", "My carrier goals", False,
                 (_word("My", 1.0, 1.2), _word("carrier", 1.2, 1.6, 0.2),
                  _word("goals", 1.6, 1.9))),
        ),
    )  # fmt: skip
    files = write_all(doc, folder)
    write_status(folder, {"status": "done", "engine": "whisper", "files": files,
                          "words": doc.words, "turns": doc.turns, "paragraphs": doc.paragraphs,
                          "doc": doc.to_json()})  # fmt: skip
    return doc
