"""Deliverables built from real segment files, checked by readers that are not ours.

Segments are written by the recorder's own `SoundfileSegment`; the FLAC, MP3 and joined WAV
are read back by sox (raw samples, byte for byte against what was written) and ffprobe (codec,
channels, bitrate, duration, tags).

No 60-minute MP3 test: encoding measured 34× real time here, so an hour takes about 105 s,
over the one-minute budget for a slow test. The hour is covered by arithmetic (CBR) and by a
2-minute encode of speech-like audio projected to an hour.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from recorder.app.virtualmic import encode, speech_like
from recorder.core.formats import FORMATS
from recorder.core.manifest import Manifest, Marker
from recorder.media import mp3 as mp3_module
from recorder.media import wav_export
from recorder.media.deliverables import (
    FLAC_NAME,
    MP3_NAME,
    DeliverableError,
    build_deliverables,
    export,
)
from recorder.media.flac import build_flac, flac_subtype, verify_flac
from recorder.media.mp3 import (
    MPEG1_KBPS,
    MPEG2_KBPS,
    build_mp3,
    mp3_bitrate_kbps,
    mp3_compression_level,
    mp3_rate,
)
from tests.factories import SESSION_ID, make_manifest, random_session, write_session
from tests.support import ffprobe, sox_samples

# ---------------------------------------------------------------- sessions on disk


def speech_session(
    session: Path, seconds: float, rate: int, channels: int, segments: int = 3
) -> Manifest:
    total = round(seconds * rate)
    cuts = np.linspace(0, total, segments + 1).astype(int)
    blocks = list(speech_like(total, rate, channels, block=rate))
    audio = np.concatenate(blocks)
    chunks = [[audio[a:b].tobytes()] for a, b in itertools.pairwise(cuts)]
    return write_session(session, chunks, rate, channels, "S16_LE")


def tone_session(
    session: Path, seconds: float, rate: int, hz: float, fmt: str = "S24_3LE", segments: int = 3
) -> Manifest:
    """A sine at `hz`, half of full scale, on both channels, in `segments` segments."""
    total = round(seconds * rate)
    full = (1 << (8 * FORMATS[fmt].width - 1)) - 1
    wave = np.round(np.sin(2 * np.pi * hz * np.arange(total) / rate) * full / 2).astype(np.int64)
    stereo = np.repeat(wave[:, None], 2, axis=1)
    cuts = np.linspace(0, total, segments + 1).astype(int)
    chunks = [[encode(stereo[a:b], FORMATS[fmt])] for a, b in itertools.pairwise(cuts)]
    return write_session(session, chunks, rate, 2, fmt)


def decoded_mono(path: Path) -> np.ndarray:
    """What ffmpeg (not libsndfile) decodes from an audio file: float32 samples, first channel."""
    cmd = ["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1", "-"]
    return np.frombuffer(subprocess.run(cmd, capture_output=True, check=True).stdout, "<f4")


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# ---------------------------------------------------------------- choices


def test_mp3_bitrate_keeps_an_hour_far_under_95_mb():
    kbps = mp3_bitrate_kbps()
    assert kbps == 64
    bytes_per_hour = kbps * 1000 * 3600 / 8
    assert bytes_per_hour == 28_800_000
    assert bytes_per_hour < 95e6
    assert mp3_bitrate_kbps(channels=2) == 128
    assert mp3_bitrate_kbps(max_mb_per_hour=20) == 40  # the largest standard rate under 44.4
    with pytest.raises(ValueError, match="10 MB"):
        mp3_bitrate_kbps(max_mb_per_hour=10)


@pytest.mark.parametrize(
    ("rate", "table", "lo", "hi"),
    [(48000, MPEG1_KBPS, 32, 320), (22050, MPEG2_KBPS, 8, 160), (11025, MPEG2_KBPS, 8, 64)],
)
def test_compression_level_lands_on_every_bitrate(rate, table, lo, hi):
    """libsndfile's own formula (mpeg_l3_encoder_set_quality) gives back the bitrate asked for."""
    for kbps in (k for k in table if k <= hi):
        level = mp3_compression_level(kbps, rate)
        assert 0.0 <= level < 1.0
        assert int(hi - level * (hi - lo)) == kbps


def test_flac_subtype():
    def m(fmt: str, channels: int = 2) -> Manifest:
        return make_manifest(channels=channels, fmt=fmt)

    assert flac_subtype(m("S16_LE")) == "PCM_16"
    assert flac_subtype(m("S24_3LE")) == "PCM_24"
    assert flac_subtype(m("S32_LE")) is None
    assert flac_subtype(m("S16_LE", channels=10)) is None


def test_downmix_cannot_overflow_or_clip():
    top, bottom = np.iinfo(np.int32).max, np.iinfo(np.int32).min
    block = np.array([[top, top, top], [bottom, bottom, bottom], [top, bottom, 0]], np.int32)
    mixed = mp3_module._downmix(block)
    assert mixed.dtype == np.float32
    assert mixed[0] == pytest.approx(1.0) and mixed[0] <= 1.0
    assert mixed[1] == -1.0
    assert abs(mixed[2]) < 1e-9


# ---------------------------------------------------------------- FLAC


@pytest.mark.parametrize("fmt", ["S16_LE", "S24_3LE"])
def test_flac_joins_segments_sample_exact(tmp_path, fmt):
    session = tmp_path / SESSION_ID
    manifest, raw = random_session(session, fmt)
    out = build_flac(session, manifest, session / FLAC_NAME)
    assert out == session / FLAC_NAME
    assert sox_samples(out, fmt) == raw
    info = ffprobe(out)
    stream = info["streams"][0]
    assert stream["codec_name"] == "flac"
    assert stream["channels"] == 2
    assert stream["bits_per_raw_sample"] == str(FORMATS[fmt].bits)
    assert stream["duration_ts"] == manifest.frames
    assert float(info["format"]["duration"]) == pytest.approx(manifest.frames / 48000, abs=1e-6)
    assert leftovers(session) == []


def test_verify_flac_finds_one_flipped_byte(tmp_path):
    session = tmp_path / SESSION_ID
    manifest, _ = random_session(session, "S16_LE")
    flac = build_flac(session, manifest, session / FLAC_NAME)
    verify_flac(session, manifest, flac)  # as built: equal
    seg = session / "seg-0001.wav"
    with open(seg, "r+b") as f:  # the last byte of audio: no chunks follow it in this segment
        f.seek(-1, os.SEEK_END)
        byte = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([byte[0] ^ 0x01]))
    last_frame = manifest.segments[1].first_frame + manifest.segments[1].frames - 1
    with pytest.raises(DeliverableError) as caught:
        verify_flac(session, manifest, flac)
    assert str(caught.value) == (
        f"session {SESSION_ID}: {FLAC_NAME}: differs from seg-0001.wav at session frame "
        f"{last_frame}"
    )


def test_flac_of_a_segment_shorter_than_the_manifest_says_is_refused(tmp_path):
    session = tmp_path / SESSION_ID
    manifest, _ = random_session(session, "S16_LE")
    manifest.segments[2].frames += 10
    with pytest.raises(DeliverableError, match=rf"session {SESSION_ID}: seg-0002.wav: .*frames"):
        build_flac(session, manifest, session / FLAC_NAME)
    assert not (session / FLAC_NAME).exists()
    assert leftovers(session) == []


def test_flac_of_a_missing_segment_names_it(tmp_path):
    session = tmp_path / SESSION_ID
    manifest, _ = random_session(session, "S16_LE")
    (session / "seg-0001.wav").unlink()
    with pytest.raises(DeliverableError, match=rf"session {SESSION_ID}: seg-0001.wav: cannot read"):
        build_flac(session, manifest, session / FLAC_NAME)
    with pytest.raises(DeliverableError, match=rf"session {SESSION_ID}: seg-0001.wav: missing"):
        build_deliverables(session, manifest)
    assert leftovers(session) == []


def test_s32_with_all_32_bits_has_no_flac(tmp_path):
    session = tmp_path / SESSION_ID
    manifest, _ = random_session(session, "S32_LE")
    for attempt in (
        lambda: build_flac(session, manifest, session / FLAC_NAME),
        lambda: export(session, manifest, "flac", tmp_path / "out.flac"),
    ):
        with pytest.raises(DeliverableError, match=r"seg-0000.wav uses all 32 bits.*at most 24"):
            attempt()
    assert not (session / FLAC_NAME).exists()
    assert not (tmp_path / "out.flac").exists()
    assert leftovers(session) == [] and leftovers(tmp_path) == []


def test_s32_from_a_24_bit_converter_gets_a_lossless_flac(tmp_path):
    """S32_LE whose low byte is always 0 holds 24-bit samples: FLAC PCM_24 keeps them all."""
    session = tmp_path / SESSION_ID
    rng = np.random.default_rng(3)
    raws = []
    for n in (3000, 5001):
        words = rng.integers(-(1 << 31), 1 << 31, n * 2, dtype=np.int64).astype("<i4")
        raws.append((words & ~0xFF).astype("<i4").tobytes())
    manifest = write_session(session, [[r] for r in raws], 48000, 2, "S32_LE")
    assert flac_subtype(manifest) is None  # the manifest alone cannot promise it
    flac = build_flac(session, manifest, session / FLAC_NAME)
    assert ffprobe(flac)["streams"][0]["bits_per_raw_sample"] == "24"
    assert sox_samples(flac, "S32_LE") == b"".join(raws)


def test_flac_carries_the_markers_as_a_vorbis_comment(tmp_path):
    session = tmp_path / SESSION_ID
    manifest, _ = random_session(session, "S16_LE", lengths=(48000, 48000, 48000))
    manifest.markers = [
        Marker(frame=120_000, seconds=2.5, label="goal\nagreed\0 twice"),
        Marker(frame=24_000, seconds=0.5, label=""),
    ]
    flac = build_flac(session, manifest, session / FLAC_NAME)
    tags = ffprobe(flac)["format"]["tags"]
    assert tags["title"] == SESSION_ID
    assert tags["date"] == "2026-11-29T09:30:00Z"
    assert tags["comment"] == "0:00:00.500 marker 1\n0:00:02.500 goal agreed  twice"


# ---------------------------------------------------------------- MP3


@pytest.mark.parametrize(
    ("rate", "channels", "kbps"),
    # 16 kHz is MPEG-2, another bitrate table. (At 16 kHz and 32 kbps a frame is too small for
    # LAME's Info tag, so readers cannot trim the encoder delay and come out 0.1 s long.)
    [(48000, 2, None), (44100, 1, 96), (16000, 2, 64)],
)
def test_mp3_is_mono_cbr_at_the_chosen_bitrate(tmp_path, rate, channels, kbps):
    session = tmp_path / SESSION_ID
    manifest = speech_session(session, 12.3, rate, channels)
    mp3 = build_mp3(session, manifest, session / MP3_NAME, bitrate_kbps=kbps)
    expected = (kbps or mp3_bitrate_kbps()) * 1000
    info = ffprobe(mp3, "-show_entries", "packet=size")
    stream = info["streams"][0]
    assert stream["codec_name"] == "mp3"
    assert stream["channels"] == 1
    assert int(stream["sample_rate"]) == rate
    assert int(stream["bit_rate"]) == expected
    assert abs(float(info["format"]["duration"]) - manifest.frames / rate) < 0.1
    # CBR: every frame is the same size but for its padding byte, and LAME's tag says "Info"
    # (it writes "Xing" for VBR).
    sizes = {p["size"] for p in info["packets"]}
    assert len({int(s) for s in sizes}) <= 2
    assert max(map(int, sizes)) - min(map(int, sizes)) <= 1
    head = mp3.read_bytes()[:4096]
    assert b"Info" in head and b"Xing" not in head
    assert leftovers(session) == []


def test_mp3_of_two_minutes_of_speech_projects_under_95_mb_an_hour(tmp_path):
    session = tmp_path / SESSION_ID
    manifest = speech_session(session, 120, 48000, 1)
    mp3 = build_mp3(session, manifest, session / MP3_NAME)
    per_hour = mp3.stat().st_size / 120 * 3600
    assert per_hour < 95e6
    assert per_hour == pytest.approx(28.8e6, rel=0.01)


def test_mp3_refuses_a_bitrate_mpeg_has_not_at_the_rate_it_encodes(tmp_path):
    session = tmp_path / SESSION_ID
    manifest, _ = random_session(session, "S16_LE", rate=96000)
    with pytest.raises(
        DeliverableError,
        match=r"session .*: session.mp3: 65 kbps is not an MP3 bitrate at 48000 Hz",
    ):
        build_mp3(session, manifest, session / MP3_NAME, bitrate_kbps=65)
    low = tmp_path / "low"
    manifest, _ = random_session(low, "S16_LE", rate=8000)
    with pytest.raises(DeliverableError, match=r"96 kbps is not an MP3 bitrate at 8000 Hz"):
        build_mp3(low, manifest, low / MP3_NAME, bitrate_kbps=96)
    assert leftovers(session) == [] and leftovers(low) == []
    assert not (session / MP3_NAME).exists()


@pytest.mark.parametrize(
    ("rate", "expected"),
    [(48000, 48000), (44100, 44100), (16000, 16000), (8000, 8000), (96000, 48000),
     (192000, 48000), (384000, 48000), (64000, 48000), (88200, 44100), (176400, 44100),
     (20000, 22050), (37800, 44100)],
)  # fmt: skip
def test_mp3_rate_is_the_session_rate_or_the_nearest_mp3_rate_that_keeps_the_band(rate, expected):
    assert mp3_rate(rate) == expected


@pytest.mark.parametrize(("rate", "mp3_hz"), [(96000, 48000), (88200, 44100)])
def test_a_high_rate_session_gets_a_resampled_mp3_of_the_same_length_and_pitch(
    tmp_path, rate, mp3_hz
):
    """A 96 kHz (or 88.2 kHz) 24-bit session: ffprobe reads its MP3 as 48 (44.1) kHz mono CBR,
    ffmpeg decodes as many samples as the session lasts within one MP3 frame (1152), and a
    1 kHz tone is still 1 kHz at the level it was fed."""
    session = tmp_path / SESSION_ID
    hz, seconds = 1000.0, 7.5
    manifest = tone_session(session, seconds, rate, hz)
    built = build_deliverables(session, manifest)
    assert set(built) == {"flac", "mp3"}
    info = ffprobe(built["mp3"])
    stream = info["streams"][0]
    assert (stream["codec_name"], stream["channels"]) == ("mp3", 1)
    assert int(stream["sample_rate"]) == mp3_hz
    assert int(stream["bit_rate"]) == mp3_bitrate_kbps() * 1000
    # ffprobe's duration is estimated from the CBR size (encoder delay and padding included);
    # ffmpeg's decoder trims them by LAME's tag, so its sample count is the exact length.
    assert abs(float(info["format"]["duration"]) - seconds) < 0.1
    audio = decoded_mono(built["mp3"])
    assert abs(len(audio) - seconds * mp3_hz) <= 1152  # one MP3 frame
    middle = audio[mp3_hz:-mp3_hz]  # away from the edges
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(len(middle))))
    peak_hz = np.argmax(spectrum) * mp3_hz / len(middle)
    assert abs(peak_hz - hz) < 2 * mp3_hz / len(middle)
    # half of full scale fed, about that heard: within 1 dB (LAME at 64 kbps itself gives
    # -0.45 dB, the same for a 48 kHz session; libsoxr alone keeps it within 0.01 dB)
    rms_db = 20 * np.log10(np.sqrt(np.mean(middle.astype(np.float64) ** 2)) / (0.5 / np.sqrt(2)))
    assert abs(rms_db) < 1.0, f"{rms_db:.2f} dB"
    assert sox_samples(built["flac"], "S24_3LE") == b"".join(
        sox_samples(session / s.file, "S24_3LE") for s in manifest.segments
    )  # the FLAC keeps the session's own rate, untouched
    assert leftovers(session) == []


# ---------------------------------------------------------------- export


@pytest.mark.parametrize("fmt", ["S16_LE", "S24_3LE", "S32_LE"])
def test_export_wav_is_the_session_with_its_markers(tmp_path, fmt):
    session = tmp_path / SESSION_ID
    manifest, raw = random_session(session, fmt)
    manifest.markers = [Marker(frame=5000, seconds=0.104, label="here")]
    out = export(session, manifest, "wav", tmp_path / "out" / "joined.wav")
    assert sox_samples(out, fmt) == raw
    chapters = ffprobe(out, "-show_chapters")["chapters"]
    assert [(c["start"], c["tags"]["title"]) for c in chapters] == [(5000, "here")]
    assert out.read_bytes()[:4] == b"RIFF"


def test_export_wav_past_4_gib_is_rf64(tmp_path, monkeypatch):
    monkeypatch.setattr(wav_export, "_RIFF_LIMIT", 1000)  # stands in for 4 GiB
    session = tmp_path / SESSION_ID
    manifest, raw = random_session(session, "S24_3LE")
    out = export(session, manifest, "wav", tmp_path / "joined.wav")
    assert out.read_bytes()[:4] == b"RF64"
    assert sox_samples(out, "S24_3LE") == raw


def test_export_flac_mp3_and_an_unknown_format(tmp_path):
    session = tmp_path / SESSION_ID
    manifest, raw = random_session(session, "S24_3LE")
    flac = export(session, manifest, "flac", tmp_path / "a.flac")
    assert sox_samples(flac, "S24_3LE") == raw
    mp3 = export(session, manifest, "mp3", tmp_path / "a.mp3")
    assert ffprobe(mp3)["streams"][0]["codec_name"] == "mp3"
    with pytest.raises(DeliverableError) as caught:
        export(session, manifest, "ogg", tmp_path / "a.ogg")
    assert str(caught.value) == (
        f"session {SESSION_ID}: a.ogg: unknown export format 'ogg'; choose one of flac, mp3, wav"
    )
    assert not (tmp_path / "a.ogg").exists()


# ---------------------------------------------------------------- build_deliverables


def test_build_deliverables_builds_once_and_again_after_a_segment_changes(tmp_path):
    session = tmp_path / SESSION_ID
    manifest, raw = random_session(session, "S16_LE")
    built = build_deliverables(session, manifest)
    assert built == {"flac": session / FLAC_NAME, "mp3": session / MP3_NAME}
    assert sox_samples(built["flac"], "S16_LE") == raw

    def stamps() -> dict[str, int]:
        return {k: p.stat().st_mtime_ns for k, p in built.items()}

    first = stamps()
    assert build_deliverables(session, manifest) == built
    assert stamps() == first
    # Make the deliverables older than a segment, as cue chunks written later would.
    segment_time = (session / "seg-0002.wav").stat().st_mtime_ns
    for path in built.values():
        os.utime(path, ns=(segment_time - 10**9, segment_time - 10**9))
    assert build_deliverables(session, manifest) == built
    rebuilt = stamps()
    assert all(t >= segment_time for t in rebuilt.values())
    assert build_deliverables(session, manifest) == built
    assert stamps() == rebuilt


def test_build_deliverables_skips_what_cannot_be_built(tmp_path):
    s32 = tmp_path / "s32"
    manifest, _ = random_session(s32, "S32_LE")
    assert build_deliverables(s32, manifest) == {"mp3": s32 / MP3_NAME}
    hi = tmp_path / "hi"
    manifest, _ = random_session(hi, "S16_LE", rate=96000)  # MP3 resampled, not skipped
    assert build_deliverables(hi, manifest) == {"flac": hi / FLAC_NAME, "mp3": hi / MP3_NAME}
    empty = tmp_path / "empty"
    empty.mkdir()
    assert build_deliverables(empty, make_manifest()) == {}
    with pytest.raises(DeliverableError, match="no audio"):
        build_flac(empty, make_manifest(), empty / FLAC_NAME)


# ---------------------------------------------------------------- memory


def test_flac_of_ten_minutes_streams_in_small_blocks(tmp_path):
    """A 10-minute stereo session is 230 MB as int32; building its FLAC stays within a few MB."""
    session = tmp_path / SESSION_ID
    rate, seconds = 48000, 600
    ten_seconds = next(speech_like(rate * 10, rate, 2, block=rate * 10)).tobytes()
    chunks = [[ten_seconds] * 20 for _ in range(3)]  # 3 segments of 200 s
    manifest = write_session(session, chunks, rate, 2, "S16_LE")
    assert manifest.frames == rate * seconds
    tracemalloc.start()
    try:
        build_flac(session, manifest, session / FLAC_NAME)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"peak {peak / 2**20:.1f} MiB"
    assert (session / FLAC_NAME).stat().st_size < manifest.frames * 4


def test_resampled_mp3_of_two_minutes_at_96_khz_streams_in_small_blocks(tmp_path):
    """Two minutes of 96 kHz stereo are 92 MB as int32; the resampled MP3 is built within a few
    MB of Python-side buffers (the segments are read, mixed and resampled block by block)."""
    session = tmp_path / SESSION_ID
    rate = 96000
    ten_seconds = next(speech_like(rate * 10, rate, 2, block=rate * 10)).tobytes()
    manifest = write_session(session, [[ten_seconds] * 6 for _ in range(2)], rate, 2, "S16_LE")
    tracemalloc.start()
    try:
        build_mp3(session, manifest, session / MP3_NAME)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 6 << 20, f"peak {peak / 2**20:.1f} MiB"
    assert abs(len(decoded_mono(session / MP3_NAME)) - 120 * 48000) <= 1152
