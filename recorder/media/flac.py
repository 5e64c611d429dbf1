"""session.flac: the segments joined losslessly, and the check that proves it.

FLAC replaces the segments for upload, so it must be provably lossless: after writing it is
decoded again and every sample is compared with the segments (`verify_flac`). libsndfile's
FLAC stores at most 24 bits. S32_LE sessions therefore get no FLAC from `flac_subtype` (the
uploader sends their WAV segments); `build_flac` still makes one when every sample's low byte
is 0 (a 24-bit converter delivering S32_LE, which is common), and refuses with
`DeliverableError` at the first sample that is not. Its tags and markers are Vorbis comments
written by libsndfile with the header (`recorder.media.tags`).
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import numpy as np
import soundfile

from recorder.core.manifest import Manifest
from recorder.media.blocks import (
    BLOCK_FRAMES,
    DeliverableError,
    check_has_audio,
    session_blocks,
    total_frames,
    where,
)
from recorder.media.staged import fsync_file, place, staged
from recorder.media.tags import from_frame, session_tags

FLAC_MAX_CHANNELS = 8


def flac_subtype(manifest: Manifest) -> str | None:
    """The FLAC subtype that holds this session losslessly, or None when none can.

    None for S32_LE (libsndfile's FLAC stores at most 24 bits; whether the low byte is unused
    cannot be told from the manifest) and for more channels than FLAC carries.
    """
    if manifest.audio.channels > FLAC_MAX_CHANNELS:
        return None
    return {"S16_LE": "PCM_16", "S24_3LE": "PCM_24"}.get(manifest.audio.format)


def verify_flac(
    session_dir: Path, manifest: Manifest, flac_path: Path, start_frame: int = 0
) -> None:
    """Decode `flac_path` and compare every sample with the session's segments, block by block
    (from session frame `start_frame`: a file that leaves out the pre-roll).

    Raises DeliverableError naming the segment and frame of the first difference, or a wrong
    rate, channel count or length. Works for any lossless file libsndfile reads (WAV too).
    """
    name = flac_path.name
    try:
        f = soundfile.SoundFile(flac_path)
    except (OSError, RuntimeError) as exc:
        raise DeliverableError(f"{where(manifest, name)}: cannot read: {exc}") from None
    with f:
        audio = manifest.audio
        total = total_frames(manifest) - start_frame
        found = (f.samplerate, f.channels, f.frames)
        if found != (audio.rate, audio.channels, total):
            raise DeliverableError(
                f"{where(manifest, name)}: (rate, channels, frames) is {found}, "
                f"the session is {(audio.rate, audio.channels, total)}"
            )
        copy = np.empty((BLOCK_FRAMES, audio.channels), dtype=np.int32)
        with closing(session_blocks(session_dir, manifest, start_frame=start_frame)) as blocks:
            for seg_file, frame, block in blocks:
                got = f.read(len(block), dtype="int32", out=copy[: len(block)])
                if len(got) != len(block) or not np.array_equal(got, block):
                    bad = frame + _first_difference(got, block)
                    raise DeliverableError(
                        f"{where(manifest, name)}: differs from {seg_file} at session frame {bad}"
                    )


def _first_difference(got: np.ndarray, want: np.ndarray) -> int:
    n = min(len(got), len(want))
    rows = np.flatnonzero((got[:n] != want[:n]).any(axis=1))
    return int(rows[0]) if len(rows) else n


def _tag(f: soundfile.SoundFile, manifest: Manifest, with_markers: bool) -> None:
    # libsndfile writes strings with the header, so they must be set before any audio.
    for key, value in session_tags(manifest, with_markers=with_markers).items():
        setattr(f, key, value)


def build_flac(session_dir: Path, manifest: Manifest, out: Path, *, start_frame: int = 0) -> Path:
    """Join the segments sample-exact into one FLAC at `out`, verified before it appears; from
    session frame `start_frame` on (0: the whole session, pre-roll included).

    S16_LE and S24_3LE always fit. S32_LE fits only when every sample's low byte is 0 (a
    24-bit converter delivering 32-bit words); otherwise DeliverableError at the first sample
    that would lose bits, and the segments are what to keep or send.
    """
    audio = manifest.audio
    check_has_audio(manifest, out.name, start_frame)
    s32 = audio.format == "S32_LE"
    subtype = "PCM_24" if s32 and audio.channels <= FLAC_MAX_CHANNELS else flac_subtype(manifest)
    if subtype is None:
        raise DeliverableError(
            f"{where(manifest, out.name)}: FLAC cannot hold {audio.format} × {audio.channels} "
            f"channels losslessly; use the WAV segments"
        )
    with staged(out) as tmp:
        with (
            soundfile.SoundFile(
                tmp, "w", audio.rate, audio.channels, subtype=subtype, format="FLAC"
            ) as f,
            closing(session_blocks(session_dir, manifest, start_frame=start_frame)) as blocks,
        ):
            _tag(f, from_frame(manifest, start_frame), with_markers=True)
            for seg_file, frame, block in blocks:
                if s32 and np.any(block & 0xFF):
                    at = frame + int(np.flatnonzero((block & 0xFF).any(axis=1))[0])
                    raise DeliverableError(
                        f"{where(manifest, out.name)}: {seg_file} uses all 32 bits (session "
                        f"frame {at}); FLAC stores at most 24, so this session has no lossless "
                        f"FLAC: use the WAV segments"
                    )
                f.write(block)
        fsync_file(tmp)
        verify_flac(session_dir, manifest, tmp, start_frame)
        return place(tmp, out)
