"""Reading a stretch of a finished session by session frame, across its WAV segments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from recorder.core.manifest import Manifest


class SessionAudio:
    """Random access to a session's audio: one channel, or all channels mixed, as float32."""

    def __init__(self, folder: Path, manifest: Manifest) -> None:
        self.folder = folder
        self.manifest = manifest
        self.frames = sum(seg.frames for seg in manifest.segments)

    def read(self, start: int, stop: int, channel: int | None) -> np.ndarray:
        """Frames [start, stop) of `channel` (None: the mean of all channels), float32 -1..1."""
        start, stop = max(0, start), min(stop, self.frames)
        parts: list[np.ndarray] = []
        for seg in self.manifest.segments:
            lo, hi = max(start, seg.first_frame), min(stop, seg.first_frame + seg.frames)
            if lo >= hi:
                continue
            block = soundfile.read(
                self.folder / seg.file,
                start=lo - seg.first_frame,
                stop=hi - seg.first_frame,
                dtype="float32",
                always_2d=True,
            )[0]
            parts.append(block[:, channel] if channel is not None else block.mean(axis=1))
        if not parts:
            return np.zeros(0, dtype=np.float32)
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
