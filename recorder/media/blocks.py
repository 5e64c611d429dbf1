"""A finished session's WAV segments read back as one stream of int32 blocks, checked against
its manifest: what every deliverable (FLAC, MP3, joined WAV) and the transcript's level pass
are made from.

Everything streams in blocks of `BLOCK_FRAMES`; a 4-hour session never has to fit in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile

from recorder.core.formats import FORMATS
from recorder.core.manifest import Manifest

BLOCK_FRAMES = 1 << 15  # 0.7 s at 48 kHz: a few MB of numpy buffers whatever the session length


class DeliverableError(ValueError):
    """A deliverable that cannot be built or is not what it should be; names session and file."""


def where(manifest: Manifest, name: str) -> str:
    """How an error names a file of the session: "session <id>: <name>"."""
    return f"session {manifest.id}: {name}"


def total_frames(manifest: Manifest) -> int:
    """The session's length in frames, pre-roll included, as its segments add up."""
    return sum(seg.frames for seg in manifest.segments)


def check_has_audio(manifest: Manifest, name: str, start_frame: int = 0) -> None:
    """DeliverableError naming `name` when the session has no frame from `start_frame` on."""
    if not manifest.segments or total_frames(manifest) == 0:
        raise DeliverableError(f"{where(manifest, name)}: the session has no audio")
    if start_frame >= total_frames(manifest):
        raise DeliverableError(
            f"{where(manifest, name)}: the session has no audio after the start press "
            f"(frame {start_frame} of {total_frames(manifest)})"
        )


def session_blocks(
    session_dir: Path, manifest: Manifest, block_frames: int = BLOCK_FRAMES, start_frame: int = 0
) -> Iterator[tuple[str, int, np.ndarray]]:
    """(segment file, session frame, block) for the session in order, as int32 frames, from
    session frame `start_frame` (the pre-roll's length, to begin at the start press) to the end.

    libsndfile returns every PCM width left-aligned in int32 (16-bit << 16, 24-bit << 8), and
    its FLAC and WAV writers take int32 the same way, so values pass through unchanged. Each
    segment must be what the manifest says it is, or DeliverableError names it. The yielded
    array is reused for the next block.
    """
    audio = manifest.audio
    subtype = FORMATS[audio.format].subtype
    buf = np.empty((block_frames, audio.channels), dtype=np.int32)
    frame = 0
    for seg in manifest.segments:
        path = session_dir / seg.file
        try:
            f = soundfile.SoundFile(path)
        except (OSError, RuntimeError) as exc:  # LibsndfileError is a RuntimeError
            raise DeliverableError(f"{where(manifest, seg.file)}: cannot read: {exc}") from None
        with f:
            found = (f.samplerate, f.channels, f.subtype, f.frames)
            expected = (audio.rate, audio.channels, subtype, seg.frames)
            if found != expected:
                raise DeliverableError(
                    f"{where(manifest, seg.file)}: (rate, channels, subtype, frames) "
                    f"is {found}, the manifest says {expected}"
                )
            skip = min(max(start_frame - frame, 0), seg.frames)
            if skip:
                f.seek(skip)
                frame += skip
            left = seg.frames - skip
            while left:
                block = f.read(
                    min(left, block_frames), dtype="int32", out=buf[: min(left, block_frames)]
                )
                if not len(block):
                    raise DeliverableError(f"{where(manifest, seg.file)}: ends {left} frames early")
                yield seg.file, frame, block
                frame += len(block)
                left -= len(block)
