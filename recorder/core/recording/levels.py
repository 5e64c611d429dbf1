"""Peak and RMS per channel, kept as raw sums so summaries of parts can be merged."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SILENCE_DBFS = -120.0


def dbfs(value: float, full_scale: float) -> float:
    """Level in dB relative to full scale, floored at SILENCE_DBFS so JSON never holds -inf."""
    if value <= 0:
        return SILENCE_DBFS
    return max(SILENCE_DBFS, round(20 * math.log10(value / full_scale), 2))


@dataclass
class LevelMeter:
    """Accumulates peak and sum of squares per channel over the frames it is fed."""

    channels: int
    full_scale: float
    peak: list[int] = field(default_factory=list)
    sum_squares: list[float] = field(default_factory=list)
    frames: int = 0
    clipped: int = 0  # samples at full scale, either polarity

    def __post_init__(self) -> None:
        if not self.peak:
            self.peak = [0] * self.channels
        if not self.sum_squares:
            self.sum_squares = [0.0] * self.channels

    def feed(self, samples: np.ndarray) -> None:
        """`samples` is (frames, channels) of unscaled integers."""
        if samples.size == 0:
            return
        if samples.dtype.kind != "i":
            samples = samples.astype(np.int64)
        frames = samples.shape[0]
        # numpy reduces a column of an interleaved (frames, channels) array one frame at a time,
        # dozens of times slower than a contiguous row: meter a channel-major copy instead.
        # float64 holds every integer sample exactly, and the squares' sums exactly for 16 bits.
        rows = samples.T.astype(np.float64, order="C")
        highs, lows = rows.max(axis=1).tolist(), rows.min(axis=1).tolist()
        peaks = [int(max(h, -lo)) for h, lo in zip(highs, lows, strict=True)]
        loudest = max(peaks)
        # Squared in place, not np.dot: that is BLAS, whose worker threads spin between calls.
        np.square(rows, out=rows)
        sums = rows.sum(axis=1).tolist()
        for ch in range(self.channels):
            self.peak[ch] = max(self.peak[ch], peaks[ch])
            self.sum_squares[ch] += sums[ch]
        self.frames += frames
        if loudest >= self.full_scale - 1:  # only then can a sample count as clipped
            magnitude = np.abs(samples.astype(np.int64))
            self.clipped += int(np.count_nonzero(magnitude >= self.full_scale - 1))

    def merge(self, other: LevelMeter) -> None:
        for ch in range(self.channels):
            self.peak[ch] = max(self.peak[ch], other.peak[ch])
            self.sum_squares[ch] += other.sum_squares[ch]
        self.frames += other.frames
        self.clipped += other.clipped

    def rms(self) -> list[float]:
        return [math.sqrt(s / self.frames) if self.frames else 0.0 for s in self.sum_squares]

    def summary(self) -> dict:
        return {
            "peak_dbfs": [dbfs(p, self.full_scale) for p in self.peak],
            "rms_dbfs": [dbfs(r, self.full_scale) for r in self.rms()],
            "frames": self.frames,
            "clipped": self.clipped,
            "peak": list(self.peak),
            "sum_squares": list(self.sum_squares),
        }

    @classmethod
    def from_summary(cls, data: dict, channels: int, full_scale: float) -> LevelMeter:
        return cls(
            channels,
            full_scale,
            peak=[int(p) for p in data["peak"]],
            sum_squares=[float(s) for s in data["sum_squares"]],
            frames=int(data["frames"]),
            clipped=int(data.get("clipped", 0)),
        )
