"""session.mp3: the session for people, mono and constant bitrate.

ICF accepts one mp3/m4a file, under about 95 MB for 60 minutes; IAC prefers mp3. So: mono,
CBR, `mp3_bitrate_kbps()` (64 kbps = 28.8 MB an hour). The channels are averaged in float,
which cannot overflow or clip and keeps 24-bit detail; libsndfile hands normalised floats
straight to LAME (`lame_encode_buffer_ieee_float`). MP3 stops at 48 kHz: a session at another
rate is resampled on the way (`mp3_rate`: 96000 -> 48000, 88200 -> 44100) by libsoxr
(python-soxr's `ResampleStream`, HQ), block by block like everything else. Its filter rings a
little above full scale on full-scale edges; LAME takes floats and encodes those as they are
(nothing wraps), as it does its own overshoot. The tags are an ID3v2.3 tag from mutagen
(`recorder.media.tag_files`); the MP3 carries no markers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import soundfile

from recorder.core.manifest import Manifest
from recorder.media.blocks import (
    DeliverableError,
    check_has_audio,
    session_blocks,
    total_frames,
    where,
)
from recorder.media.staged import fsync_file, place, staged

SPEECH_KBPS_PER_CHANNEL = 64
# Layer III bitrates (kbps): MPEG-1 for 32-48 kHz, MPEG-2/2.5 below.
MPEG1_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
MPEG2_KBPS = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_INT32_SCALE = 1.0 / (1 << 31)


def mp3_bitrate_kbps(max_mb_per_hour: float = 95.0, channels: int = 1) -> int:
    """The CBR bitrate of credential MP3s: 64 kbps per channel of speech, within the budget.

    64 kbps mono is plenty for speech and far inside ICF's limit:
    64 000 bit/s × 3600 s / 8 = 28 800 000 bytes = 28.8 MB for 60 minutes (95 MB allows up to
    211 kbps). The result is a standard MPEG-1 Layer III bitrate, capped to the largest one whose
    hour fits `max_mb_per_hour` (decimal MB, the stricter reading).
    """
    budget_kbps = max_mb_per_hour * 1e6 * 8 / 3600 / 1000
    ceiling = min(budget_kbps, SPEECH_KBPS_PER_CHANNEL * channels)
    fitting = [k for k in MPEG1_KBPS if k <= ceiling]
    if not fitting:
        raise ValueError(f"no MP3 bitrate keeps an hour under {max_mb_per_hour} MB")
    return fitting[-1]


def mp3_compression_level(kbps: int, rate: int) -> float:
    """The libsndfile compression level that makes LAME encode CBR at `kbps` for this rate.

    libsndfile (src/mpeg_l3_encode.c, mpeg_l3_encoder_set_quality) sets
    `bitrate = (int) (hi - level × (hi - lo))` with [lo, hi] = [32, 320] for MPEG-1 (≥ 32 kHz),
    [8, 160] for MPEG-2 (≥ 16 kHz) and [8, 64] for MPEG-2.5, and hands it to lame_set_brate in
    CONSTANT mode. Aiming at kbps + 0.5 makes the truncation land on kbps whatever the float
    rounding; level 1.0 itself is refused by libsndfile, so it is never produced.
    """
    lo, hi = (32, 320) if rate >= 32000 else (8, 160) if rate >= 16000 else (8, 64)
    return min(max((hi - (kbps + 0.5)) / (hi - lo), 0.0), 0.999)


def mp3_rate(rate: int) -> int:
    """The rate a session recorded at `rate` gets in its MP3: its own where MP3 has it, else the
    nearest MP3 rate that loses no band MP3 could carry.

    Above 48 kHz: 44100 for the 44.1 kHz family (88200, 176400: an integer ratio), else 48000.
    Below, between two MP3 rates: the next one up (e.g. 20000 -> 22050).
    """
    if rate in MP3_RATES:
        return rate
    if rate > MP3_RATES[-1]:
        return 44100 if rate % 11025 == 0 else 48000
    return next(r for r in MP3_RATES if r > rate)


def _downmix(block: np.ndarray) -> np.ndarray:
    """Mean of the channels as float32 in [-1, 1]: summed in int64, so nothing overflows."""
    if block.shape[1] == 1:
        return (block[:, 0] * _INT32_SCALE).astype(np.float32)
    mean = block.sum(axis=1, dtype=np.int64) * (_INT32_SCALE / block.shape[1])
    return mean.astype(np.float32)


def _mono_blocks(
    session_dir: Path, manifest: Manifest, rate: int, start_frame: int = 0
) -> Iterator[np.ndarray]:
    """The session as mono float32 blocks at `rate`, resampled on the way when that is not the
    session's own rate (soxr keeps its filter state between blocks, so the joins are seamless
    and memory stays a few blocks whatever the length)."""
    with closing(session_blocks(session_dir, manifest, start_frame=start_frame)) as blocks:
        if rate == manifest.audio.rate:
            for _, _, block in blocks:
                yield _downmix(block)
            return
        import soxr  # here: only sessions above 48 kHz need it, and the daemon stays smaller

        stream = soxr.ResampleStream(manifest.audio.rate, rate, 1, dtype="float32", quality="HQ")
        for _, _, block in blocks:
            out = stream.resample_chunk(_downmix(block))
            if len(out):
                yield out
        tail = stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        if len(tail):
            yield tail


def _allowed_kbps(rate: int) -> tuple[int, ...]:
    allowed = MPEG1_KBPS if rate >= 32000 else MPEG2_KBPS
    return tuple(k for k in allowed if k <= 64) if rate < 16000 else allowed  # MPEG-2.5: ≤ 64


def build_mp3(
    session_dir: Path,
    manifest: Manifest,
    out: Path,
    bitrate_kbps: int | None = None,
    *,
    start_frame: int = 0,
) -> Path:
    """A mono CBR MP3 of the session at `out` (default bitrate: `mp3_bitrate_kbps()`), at
    `mp3_rate()` of the session's rate (resampled when MP3 cannot carry that rate), from
    session frame `start_frame` on.

    The result is checked by decoding its header: mono, that rate, and the session's length
    within 0.1 s (LAME's Info tag lets libsndfile drop the encoder delay and padding).
    """
    audio = manifest.audio
    check_has_audio(manifest, out.name, start_frame)
    rate = mp3_rate(audio.rate)
    kbps = bitrate_kbps or mp3_bitrate_kbps()
    allowed = _allowed_kbps(rate)
    if kbps not in allowed:
        raise DeliverableError(
            f"{where(manifest, out.name)}: {kbps} kbps is not an MP3 bitrate at "
            f"{rate} Hz ({', '.join(map(str, allowed))})"
        )
    with staged(out) as tmp:
        with (
            soundfile.SoundFile(
                tmp,
                "w",
                rate,
                1,
                format="MP3",
                subtype="MPEG_LAYER_III",
                compression_level=mp3_compression_level(kbps, rate),
                bitrate_mode="CONSTANT",
            ) as f,
            closing(_mono_blocks(session_dir, manifest, rate, start_frame)) as blocks,
        ):
            for block in blocks:
                f.write(block)
        # Here: mutagen (1.4 MB) is loaded only by a box that makes MP3s (an upload, an export).
        from recorder.media.tag_files import write_id3

        write_id3(tmp, manifest)
        fsync_file(tmp)
        info = soundfile.info(str(tmp))
        seconds = (total_frames(manifest) - start_frame) / audio.rate
        if (info.channels, info.samplerate) != (1, rate) or abs(info.frames / rate - seconds) > 0.1:
            raise DeliverableError(
                f"{where(manifest, out.name)}: decodes as {info.channels} channel(s), "
                f"{info.samplerate} Hz, {info.frames / rate:.3f} s; expected mono, "
                f"{rate} Hz, {seconds:.3f} s"
            )
        return place(tmp, out)
