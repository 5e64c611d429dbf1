"""End to end through real ALSA: what goes into the virtual microphone comes out of the WAVs."""

from __future__ import annotations

import pytest

from recorder.app.virtualmic import Feeder, random_periods
from recorder.core.formats import FORMATS
from recorder.core.recording.state import Mark, Start, Stop
from tests.support import Running, expected_audio, make_config, sox_raw, sox_seconds

FAST = 0.02  # feed 5x faster than real time: the recorder only counts frames


@pytest.mark.parametrize("fmt", ["S16_LE", "S24_3LE", "S32_LE"])
def test_sample_exact_across_segments_with_preroll(tmp_path, mic, fmt):
    cfg = make_config(tmp_path, audio={"format": fmt, "preroll_s": 1.0, "segment_s": 1.0})
    rate = cfg.audio.rate
    feeder = Feeder(
        mic.infile,
        random_periods(FORMATS[fmt], 2, cfg.audio.period_frames, None, seed=7),
        FAST,
        record=True,
    )
    with Running(cfg, feeder) as r:
        r.wait_frames(int(1.5 * rate))  # more than the pre-roll has passed
        started = r.request(Start())
        assert started["ok"], started
        assert started["preroll_s"] == 1.0
        r.wait_session_frames(int(2.2 * rate))
        marked = r.request(Mark("a moment", "ctl"))
        r.wait_session_frames(int(3.5 * rate))
        stopped = r.request(Stop())
        assert stopped["ok"], stopped
        session = r.wait_outbox(started["session_id"])
    m = session.manifest
    assert m.preroll_frames == rate
    assert m.frames == stopped["frames"]
    assert len(m.segments) >= 4
    assert [s.frames for s in m.segments[:-1]] == [rate] * (len(m.segments) - 1)
    assert [s.first_frame for s in m.segments] == [i * rate for i in range(len(m.segments))]
    assert m.gaps == [] and m.stop_reason == "requested"
    want = expected_audio(feeder, m)
    assert len(want) == m.frames * FORMATS[fmt].frame_bytes(2)
    assert sox_raw([str(session.path / s.file) for s in m.segments]) == want
    assert m.markers[0].frame == marked["frame"] and m.markers[0].label == "a moment"
    for s in m.segments:
        assert sox_seconds(session.path / s.file) == pytest.approx(s.frames / rate, abs=1e-4)


def test_preroll_zero_starts_at_the_press(tmp_path, mic):
    cfg = make_config(tmp_path, audio={"preroll_s": 0})
    feeder = Feeder(mic.infile, random_periods(FORMATS["S16_LE"], 2, 4800, None), FAST, record=True)
    with Running(cfg, feeder) as r:
        r.wait_frames(48000)
        before = r.rec.tap.position
        started = r.request(Start())
        r.wait_session_frames(48000)
        r.request(Stop())
        session = r.wait_outbox(started["session_id"])
    m = session.manifest
    assert m.preroll_frames == 0
    assert m.start_pos >= before
    assert sox_raw([str(session.path / s.file) for s in m.segments]) == expected_audio(feeder, m)
