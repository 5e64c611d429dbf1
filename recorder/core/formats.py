"""Sample formats the recorder accepts, and how to turn their raw bytes into numbers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SampleFormat:
    """One ALSA sample format and how it maps onto a WAV file."""

    name: str  # the ALSA name, as written in the config
    width: int  # bytes per sample
    subtype: str  # libsndfile subtype of the WAV segments
    bits: int

    @property
    def full_scale(self) -> float:
        return float(1 << (self.bits - 1))

    def frame_bytes(self, channels: int) -> int:
        return self.width * channels


FORMATS: dict[str, SampleFormat] = {
    f.name: f
    for f in (
        SampleFormat("S16_LE", 2, "PCM_16", 16),
        SampleFormat("S24_3LE", 3, "PCM_24", 24),
        SampleFormat("S32_LE", 4, "PCM_32", 32),
    )
}


def decode(data: bytes, fmt: SampleFormat, channels: int) -> np.ndarray:
    """Raw interleaved bytes as an int32 array of shape (frames, channels), values unscaled."""
    if fmt.width == 2:
        samples = np.frombuffer(data, dtype="<i2").astype(np.int32)
    elif fmt.width == 4:
        samples = np.frombuffer(data, dtype="<i4")
    else:
        b = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        samples = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        samples = np.where(samples & 0x800000, samples - 0x1000000, samples)
    return samples.reshape(-1, channels)


def to_soundfile_buffer(
    data: bytes | memoryview, fmt: SampleFormat
) -> tuple[bytes | memoryview, str]:
    """The bytes and dtype to hand libsndfile so it stores exactly the captured samples.

    libsndfile takes 16- and 32-bit integers as they are; 24-bit samples go in as int32 with the
    sample in the top three bytes, which libsndfile's PCM_24 writer keeps bit-exact.
    """
    if fmt.width == 2:
        return data, "int16"
    if fmt.width == 4:
        return data, "int32"
    b = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3)
    out = np.zeros((b.shape[0], 4), dtype=np.uint8)
    out[:, 1:] = b
    return out.tobytes(), "int32"
