"""Sample formats, level metering and the disk thresholds."""

from __future__ import annotations

import json
import math
import struct
from dataclasses import replace

import numpy as np
import pytest

from recorder.app.virtualmic import encode
from recorder.core.formats import FORMATS, decode, to_soundfile_buffer
from recorder.core.recording.disk import START_MARGIN_S, STOP_MARGIN_S, disk_event, hours_left
from recorder.core.recording.levels import SILENCE_DBFS, LevelMeter, dbfs
from recorder.core.recording.state import DiskLow, DiskOk, State, transition

S16, S24, S32 = FORMATS["S16_LE"], FORMATS["S24_3LE"], FORMATS["S32_LE"]

# ---- formats ----------------------------------------------------------------------------


def test_decode_s16():
    data = struct.pack("<6h", 1, -1, 32767, -32768, 0, 256)
    out = decode(data, S16, 2)
    assert out.dtype == np.int32
    assert out.tolist() == [[1, -1], [32767, -32768], [0, 256]]


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"\x00\x00\x00", 0),
        (b"\x01\x00\x00", 1),
        (b"\x00\x01\x00", 256),
        (b"\x00\x00\x01", 65536),
        (b"\xff\xff\x7f", 8388607),
        (b"\xff\xff\xff", -1),
        (b"\x00\x00\x80", -8388608),
        (b"\xfe\xff\xff", -2),
        (b"\x01\x00\x80", -8388607),
    ],
)
def test_decode_s24_3le(raw, value):
    assert decode(raw, S24, 1).tolist() == [[value]]


def test_decode_s24_3le_interleaved():
    data = b"\x01\x00\x00" + b"\xff\xff\xff" + b"\x00\x00\x80" + b"\xff\xff\x7f"
    out = decode(data, S24, 2)
    assert out.dtype == np.int32
    assert out.tolist() == [[1, -1], [-8388608, 8388607]]


def test_decode_s32():
    data = struct.pack("<4i", -(2**31), 2**31 - 1, -1, 5)
    out = decode(data, S32, 2)
    assert out.dtype == np.int32
    assert out.tolist() == [[-(2**31), 2**31 - 1], [-1, 5]]


def test_to_soundfile_buffer_passes_16_and_32_bit_through():
    data = bytes(range(16))
    assert to_soundfile_buffer(data, S16) == (data, "int16")
    assert to_soundfile_buffer(data, S32) == (data, "int32")


def test_to_soundfile_buffer_puts_24_bit_samples_in_the_top_bytes():
    data = b"\x01\x02\x03" + b"\xff\xff\xff" + b"\x00\x00\x80"
    buf, dtype = to_soundfile_buffer(data, S24)
    assert dtype == "int32"
    assert buf == b"\x00\x01\x02\x03" + b"\x00\xff\xff\xff" + b"\x00\x00\x00\x80"
    as_int32 = np.frombuffer(buf, dtype="<i4")
    assert as_int32.tolist() == (decode(data, S24, 1)[:, 0] * 256).tolist()


@pytest.mark.parametrize("name", ["S16_LE", "S24_3LE", "S32_LE"])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_encode_is_the_inverse_of_decode(name, channels):
    fmt = FORMATS[name]
    rng = np.random.default_rng(42)
    raw = rng.integers(0, 256, size=1000 * channels * fmt.width, dtype=np.uint8).tobytes()
    samples = decode(raw, fmt, channels)
    assert samples.shape == (1000, channels)
    assert encode(samples, fmt) == raw

    lo, hi = -(1 << (fmt.bits - 1)), (1 << (fmt.bits - 1)) - 1
    values = rng.integers(lo, hi, size=(500, channels), endpoint=True, dtype=np.int64)
    values[0, 0], values[-1, -1] = lo, hi
    assert np.array_equal(decode(encode(values, fmt), fmt, channels), values)


# ---- levels -----------------------------------------------------------------------------


def sine(amplitude: float, frames: int = 48000, freq: float = 1000.0, rate: int = 48000):
    t = np.arange(frames) / rate
    return np.round(amplitude * np.sin(2 * math.pi * freq * t)).astype(np.int64)


def test_full_scale_square_wave_is_0_dbfs():
    fs = S16.full_scale
    square = np.tile(np.array([fs, -fs], dtype=np.int64), 500)[:, None]
    meter = LevelMeter(1, fs)
    meter.feed(square)
    s = meter.summary()
    assert s["peak_dbfs"] == [0.0]
    assert s["rms_dbfs"] == [0.0]
    assert s["frames"] == 1000


def test_largest_s16_square_wave_from_bytes_is_0_dbfs():
    data = struct.pack("<4h", 32767, -32767, 32767, -32767) * 100
    meter = LevelMeter(2, S16.full_scale)
    meter.feed(decode(data, S16, 2))
    s = meter.summary()
    assert s["peak_dbfs"] == pytest.approx([0.0, 0.0], abs=0.01)
    assert s["rms_dbfs"] == pytest.approx([0.0, 0.0], abs=0.01)


@pytest.mark.parametrize("fmt", [S16, S24, S32])
def test_half_scale_sine_levels(fmt):
    wave = sine(fmt.full_scale / 2)
    samples = np.stack([wave, np.zeros_like(wave)], axis=1)
    meter = LevelMeter(2, fmt.full_scale)
    meter.feed(samples)
    s = meter.summary()
    assert s["peak_dbfs"][0] == pytest.approx(-6.02, abs=0.01)
    assert s["rms_dbfs"][0] == pytest.approx(-9.03, abs=0.01)
    assert s["peak_dbfs"][1] == SILENCE_DBFS  # the silent channel
    assert s["rms_dbfs"][1] == SILENCE_DBFS


def test_silence_is_minus_120():
    meter = LevelMeter(2, S24.full_scale)
    meter.feed(np.zeros((480, 2), dtype=np.int32))
    s = meter.summary()
    assert s["peak_dbfs"] == [SILENCE_DBFS, SILENCE_DBFS]
    assert s["rms_dbfs"] == [SILENCE_DBFS, SILENCE_DBFS]
    assert s["frames"] == 480


def test_empty_meter_and_empty_feed():
    meter = LevelMeter(1, S16.full_scale)
    meter.feed(np.zeros((0, 1), dtype=np.int32))
    assert meter.summary() == {
        "peak_dbfs": [SILENCE_DBFS],
        "rms_dbfs": [SILENCE_DBFS],
        "frames": 0,
        "clipped": 0,
        "peak": [0],
        "sum_squares": [0.0],
    }


def test_clipped_counts_full_scale_samples_of_either_polarity():
    data = np.array([[32767, 0], [-32768, 32766], [-32767, -32766], [100, 32767]])
    meter = LevelMeter(2, S16.full_scale)
    meter.feed(data)
    assert meter.summary()["clipped"] == 4  # 32766 is not clipping
    other = LevelMeter(2, S16.full_scale)
    other.feed(np.array([[32767, 32767]]))
    meter.merge(other)
    assert meter.clipped == 6


def test_summary_without_clipped_reads_as_zero():
    meter = LevelMeter(1, S16.full_scale)
    meter.feed(np.array([[1000], [-2000]]))
    old = meter.summary()
    del old["clipped"]  # written before clipping was counted
    back = LevelMeter.from_summary(old, 1, S16.full_scale)
    assert back.clipped == 0
    assert back == meter


def test_dbfs_floor():
    assert dbfs(0, 32768) == SILENCE_DBFS
    assert dbfs(1e-9, 32768) == SILENCE_DBFS
    assert dbfs(32768, 32768) == 0.0


def test_merge_equals_one_meter_fed_both():
    rng = np.random.default_rng(3)
    a_data = rng.integers(-30000, 30000, size=(1000, 2), dtype=np.int64)
    b_data = rng.integers(-(2**15), 2**15, size=(777, 2), dtype=np.int64)
    a, b, both = (LevelMeter(2, S16.full_scale) for _ in range(3))
    a.feed(a_data)
    b.feed(b_data)
    both.feed(a_data)
    both.feed(b_data)
    a.merge(b)
    assert a.summary() == both.summary()
    assert a == both


def test_summary_round_trip():
    meter = LevelMeter(2, S24.full_scale)
    meter.feed(np.stack([sine(1e6), sine(2e3, freq=50)], axis=1))
    summary = json.loads(json.dumps(meter.summary()))  # as stored in the manifest
    back = LevelMeter.from_summary(summary, 2, S24.full_scale)
    assert back == meter
    assert back.summary() == meter.summary()


# ---- disk -------------------------------------------------------------------------------

BPS = 48000 * 2 * 3  # S24_3LE stereo at 48 kHz
MIN_FREE = 50_000_000
IDLE = State(device="ok")
RECORDING = State(mode="recording", device="ok", session_id="000001-20260101T000000Z")
FULL = replace(IDLE, disk_full=True, disk_error="full", last_error="full")


def free_for(seconds: float) -> int:
    """Free bytes that leave exactly `seconds` of audio above the minimum."""
    return MIN_FREE + round(seconds * BPS)


def test_recording_stops_below_the_stop_margin():
    assert disk_event(RECORDING, free_for(STOP_MARGIN_S), MIN_FREE, BPS) is None
    assert isinstance(disk_event(RECORDING, free_for(STOP_MARGIN_S) - 1, MIN_FREE, BPS), DiskLow)
    assert isinstance(disk_event(RECORDING, MIN_FREE - 1, MIN_FREE, BPS), DiskLow)


def test_recording_goes_on_between_the_margins():
    between = free_for((STOP_MARGIN_S + START_MARGIN_S) / 2)
    assert disk_event(RECORDING, between, MIN_FREE, BPS) is None
    assert isinstance(disk_event(IDLE, between, MIN_FREE, BPS), DiskLow)


def test_idle_needs_the_start_margin():
    assert disk_event(IDLE, free_for(START_MARGIN_S), MIN_FREE, BPS) is None
    assert isinstance(disk_event(IDLE, free_for(START_MARGIN_S) - 1, MIN_FREE, BPS), DiskLow)


def test_queued_bytes_count_as_used():
    free = free_for(STOP_MARGIN_S + 5)
    assert disk_event(RECORDING, free, MIN_FREE, BPS) is None
    assert isinstance(disk_event(RECORDING, free, MIN_FREE, BPS, queued_bytes=6 * BPS), DiskLow)


def test_disk_low_message_says_how_much_is_free():
    event = disk_event(IDLE, 53_000_000, MIN_FREE, BPS)
    assert event == DiskLow("storage nearly full: 53 MB free, 50 MB must stay free")


def test_disk_ok_only_once_the_start_margin_is_back():
    assert disk_event(FULL, MIN_FREE, MIN_FREE, BPS) is None
    assert disk_event(FULL, free_for(STOP_MARGIN_S + 1), MIN_FREE, BPS) is None
    assert disk_event(FULL, free_for(START_MARGIN_S) - 1, MIN_FREE, BPS) is None
    assert disk_event(FULL, free_for(START_MARGIN_S), MIN_FREE, BPS) == DiskOk()


def test_disk_events_through_the_state_machine_do_not_flap():
    state = RECORDING
    event = disk_event(state, free_for(5), MIN_FREE, BPS)
    assert isinstance(event, DiskLow)
    state, _ = transition(state, event)
    assert state.mode == "idle"
    assert state.disk_full
    for seconds in (5, 30, START_MARGIN_S - 0.1):
        assert disk_event(state, free_for(seconds), MIN_FREE, BPS) is None
    event = disk_event(state, free_for(START_MARGIN_S), MIN_FREE, BPS)
    assert event == DiskOk()
    state, _ = transition(state, event)
    assert not state.disk_full
    assert disk_event(state, free_for(START_MARGIN_S), MIN_FREE, BPS) is None


def test_hours_left():
    assert hours_left(free_for(3600), MIN_FREE, BPS) == 1.0
    assert hours_left(free_for(5400), MIN_FREE, BPS) == 1.5
    assert hours_left(free_for(100), MIN_FREE, BPS) == 0.03
    assert hours_left(MIN_FREE, MIN_FREE, BPS) == 0.0
    assert hours_left(MIN_FREE - 1, MIN_FREE, BPS) == 0.0
