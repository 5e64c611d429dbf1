"""One joined WAV of a session (`export --format wav`), in its own sample format, verified
sample by sample like the FLAC; its markers as cue points, as the segments have them."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import soundfile

from recorder.core.formats import FORMATS
from recorder.core.manifest import Manifest
from recorder.media.blocks import check_has_audio, session_blocks, total_frames
from recorder.media.flac import verify_flac
from recorder.media.staged import fsync_file, place, staged
from recorder.media.tags import from_frame
from recorder.store.markers import add_cue_chunks, marker_labels

_RIFF_LIMIT = 0xFFFFFFFF - (1 << 20)  # data bytes beyond which a WAV needs RF64 (header slack)


def build_wav(session_dir: Path, manifest: Manifest, out: Path, *, start_frame: int = 0) -> Path:
    """One WAV of the session from session frame `start_frame` (0: the whole of it) in its own
    sample format (RF64 past 4 GiB), verified.

    A plain WAV also gets the markers as cue points, as the segments have them.
    """
    audio = manifest.audio
    check_has_audio(manifest, out.name, start_frame)
    fmt = FORMATS[audio.format]
    total = total_frames(manifest) - start_frame
    markers = from_frame(manifest, start_frame).markers
    container = "RF64" if total * fmt.frame_bytes(audio.channels) > _RIFF_LIMIT else "WAV"
    with staged(out) as tmp:
        with (
            soundfile.SoundFile(
                tmp, "w", audio.rate, audio.channels, subtype=fmt.subtype, format=container
            ) as f,
            closing(session_blocks(session_dir, manifest, start_frame=start_frame)) as blocks,
        ):
            for _, _, block in blocks:
                f.write(block)
        if container == "WAV" and markers:
            add_cue_chunks(
                tmp, [(m.frame, t) for m, t in marker_labels(markers) if m.frame <= total]
            )
        fsync_file(tmp)
        verify_flac(session_dir, manifest, tmp, start_frame)
        return place(tmp, out)
