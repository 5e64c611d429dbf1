"""The levels of a finished session, measured in one streaming pass over its WAV segments.

The turn detector (recorder.core.transcript.turns) needs a level per short window and channel for the
whole session; an hour of stereo is 180 000 windows, a few MB, while its audio (0.7 GB at
48 kHz S16_LE) is only ever in memory one block at a time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recorder.core.manifest import Manifest
from recorder.core.transcript.turns import TurnParams, window_levels
from recorder.media.blocks import BLOCK_FRAMES, session_blocks

LEFT_ALIGNED_FULL_SCALE = float(1 << 31)  # libsndfile gives every PCM width as int32 << n


def window_frames(rate: int, window_s: float) -> int:
    """Frames per window; the window must be a whole number of frames, or every turn after
    the first hour would be seconds off."""
    frames = round(rate * window_s)
    if frames < 1 or abs(frames - rate * window_s) > 1e-6:
        raise ValueError(
            f"a level window of {window_s} s is not a whole number of frames at {rate} Hz"
        )
    return frames


def session_levels(
    session_dir: Path, manifest: Manifest, window_s: float = TurnParams.window_s
) -> np.ndarray:
    """RMS dBFS per window of `window_s` and channel over the whole session: (windows,
    channels), window i covering session frames [i·w, (i+1)·w); the last may be shorter.

    Segments are read in order and each checked against the manifest (a missing, short or
    different segment is a DeliverableError, a ValueError, naming the session and the file).
    """
    channels = manifest.audio.channels
    window = window_frames(manifest.audio.rate, window_s)
    block_frames = window * max(1, BLOCK_FRAMES // window)
    parts: list[np.ndarray] = []
    carry = np.empty((0, channels), dtype=np.int32)  # frames of a window cut by a segment end
    for _, _, read in session_blocks(session_dir, manifest, block_frames):
        block = np.concatenate((carry, read)) if len(carry) else read
        whole = len(block) // window * window
        if whole:
            parts.append(window_levels(block[:whole], window, LEFT_ALIGNED_FULL_SCALE))
        carry = block[whole:].copy()  # the yielded block's buffer is reused for the next one
    if len(carry):
        parts.append(window_levels(carry, window, LEFT_ALIGNED_FULL_SCALE))
    if not parts:
        return np.empty((0, channels), dtype=np.float32)
    return np.concatenate(parts)
