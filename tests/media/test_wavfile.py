"""WAV segments on a real filesystem, checked with sox as an independent reader."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

from recorder.core.formats import FORMATS, decode
from recorder.media.wav import SoundfileSegment, WavError, repair, wav_frames

RATE = 48000


def sox_duration(path: Path) -> float:
    out = subprocess.run(
        ["sox", "--i", "-D", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return float(out)


def noise(frames: int, channels: int, fmt: str, seed: int = 0) -> bytes:
    size = frames * channels * FORMATS[fmt].width
    return np.random.default_rng(seed).integers(0, 256, size=size, dtype=np.uint8).tobytes()


def data_offset(path: Path) -> int:
    """Where the audio starts (the byte after the data chunk header)."""
    raw = path.read_bytes()
    return raw.index(b"data") + 8


def stale_copy(tmp_path: Path, frames: int, channels: int = 2, fmt: str = "S16_LE") -> Path:
    """A copy of a segment taken after a write that was never synced: the header says 0."""
    seg = SoundfileSegment(tmp_path / "live.wav", RATE, channels, fmt)
    seg.write(noise(frames, channels, fmt))
    copy = tmp_path / "stale.wav"
    shutil.copyfile(seg.path, copy)
    seg.close()
    return copy


@pytest.mark.parametrize("fmt", ["S16_LE", "S24_3LE", "S32_LE"])
def test_synced_open_segment_is_readable(tmp_path, fmt):
    seg = SoundfileSegment(tmp_path / "a.wav", RATE, 2, fmt)
    try:
        assert sox_duration(seg.path) == 0.0  # the header is valid from the start
        seg.write(noise(RATE // 2, 2, fmt))
        seg.write(noise(RATE // 2, 2, fmt, seed=1))
        seg.sync()
        assert seg.frames == RATE
        assert sox_duration(seg.path) == pytest.approx(1.0, abs=1e-6)
        assert wav_frames(seg.path) == RATE
    finally:
        seg.close()
    assert sox_duration(seg.path) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("fmt", ["S16_LE", "S24_3LE", "S32_LE"])
def test_segment_stores_the_captured_samples_exactly(tmp_path, fmt):
    data = noise(4800, 2, fmt)
    seg = SoundfileSegment(tmp_path / "a.wav", RATE, 2, fmt)
    seg.write(data)
    seg.close()
    start = data_offset(seg.path)
    assert seg.path.read_bytes()[start : start + len(data)] == data
    back, _ = soundfile.read(seg.path, dtype="int32")
    shift = 32 - FORMATS[fmt].bits
    assert np.array_equal(back >> shift, decode(data, FORMATS[fmt], 2))


def test_repair_of_a_stale_header(tmp_path):
    copy = stale_copy(tmp_path, 4800)
    assert wav_frames(copy) == 0
    audio = copy.read_bytes()[data_offset(copy) :]
    assert repair(copy) == (4800, True)
    assert wav_frames(copy) == 4800
    assert sox_duration(copy) == pytest.approx(0.1, abs=1e-6)
    assert copy.read_bytes()[data_offset(copy) :] == audio  # the audio itself is untouched
    assert repair(copy) == (4800, False)


@pytest.mark.parametrize("fmt", ["S24_3LE", "S32_LE"])
def test_repair_of_a_stale_header_in_other_formats(tmp_path, fmt):
    copy = stale_copy(tmp_path, 1001, channels=1, fmt=fmt)
    assert repair(copy) == (1001, True)
    assert sox_duration(copy) == pytest.approx(1001 / RATE, abs=1e-6)


def test_repair_cuts_a_partial_trailing_frame(tmp_path):
    copy = stale_copy(tmp_path, 4800)  # 4 bytes a frame
    offset = data_offset(copy)
    with open(copy, "r+b") as f:
        f.truncate(offset + 4800 * 4 - 1)
    assert repair(copy) == (4799, True)
    assert copy.stat().st_size == offset + 4799 * 4
    assert wav_frames(copy) == 4799
    assert sox_duration(copy) == pytest.approx(4799 / RATE, abs=1e-6)


def test_repair_cuts_a_partial_frame_after_a_synced_header(tmp_path):
    seg = SoundfileSegment(tmp_path / "a.wav", RATE, 2, "S16_LE")
    seg.write(noise(480, 2, "S16_LE"))
    seg.sync()
    seg.close()
    size = seg.path.stat().st_size
    with open(seg.path, "ab") as f:
        f.write(b"\x01\x02\x03")  # a write cut short by the power cut
    assert repair(seg.path) == (480, True)
    assert seg.path.stat().st_size == size
    assert sox_duration(seg.path) == pytest.approx(0.01, abs=1e-6)


def test_repair_of_a_header_that_claims_more_than_is_on_disk(tmp_path):
    seg = SoundfileSegment(tmp_path / "a.wav", RATE, 2, "S16_LE")
    seg.write(noise(4800, 2, "S16_LE"))
    seg.close()
    offset = data_offset(seg.path)
    with open(seg.path, "r+b") as f:
        f.truncate(offset + 1000 * 4 + 2)
    assert repair(seg.path) == (1000, True)
    assert wav_frames(seg.path) == 1000
    assert sox_duration(seg.path) == pytest.approx(1000 / RATE, abs=1e-6)


@pytest.mark.parametrize("payload", [b"INFOISFT\x04\x00\x00\x00abc\x00", b"INFOx"])
def test_repair_leaves_a_finalized_file_with_a_trailing_chunk_alone(tmp_path, payload):
    seg = SoundfileSegment(tmp_path / "a.wav", RATE, 2, "S16_LE")
    seg.write(noise(4800, 2, "S16_LE"))
    seg.close()
    chunk = b"LIST" + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)
    raw = bytearray(seg.path.read_bytes() + chunk)
    raw[4:8] = struct.pack("<I", len(raw) - 8)  # a consistent RIFF size
    seg.path.write_bytes(bytes(raw))
    assert repair(seg.path) == (4800, False)
    assert seg.path.read_bytes() == raw
    assert sox_duration(seg.path) == pytest.approx(0.1, abs=1e-6)


def test_repair_leaves_a_finalized_file_with_odd_data_size_alone(tmp_path):
    seg = SoundfileSegment(tmp_path / "a.wav", RATE, 1, "S24_3LE")
    seg.write(noise(7, 1, "S24_3LE"))  # 21 bytes of audio
    seg.close()
    raw = seg.path.read_bytes()
    assert repair(seg.path) == (7, False)
    assert seg.path.read_bytes() == raw


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"hello, this is not a wav file at all\n",
        b"RIFF\x00\x00\x00\x00AVI LIST",
        b"RIFF\x04\x00\x00\x00WAVE",  # no chunks at all
        b"RIFF\x10\x00\x00\x00WAVEJUNK\x02\x00\x00\x00ab",  # no data chunk
        b"RIFF\x10\x00\x00\x00WAVEdata\x04\x00\x00\x00abcd",  # data before fmt
    ],
)
def test_non_wav_files_raise_wav_error(tmp_path, content):
    path = tmp_path / "x.wav"
    path.write_bytes(content)
    with pytest.raises(WavError):
        wav_frames(path)
    with pytest.raises(WavError):
        repair(path)
    assert path.read_bytes() == content


def test_a_truncated_fmt_chunk_is_a_wav_error(tmp_path):
    path = tmp_path / "x.wav"
    path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00")
    with pytest.raises(WavError):
        wav_frames(path)
    with pytest.raises(WavError):
        repair(path)


def test_wav_frames_of_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        wav_frames(tmp_path / "nope.wav")
