"""Faults while recording: overruns, an unplugged device, a disk that stalls."""

from __future__ import annotations

from recorder.adapters.alsa import AlsaSource
from recorder.app.daemon import Parts
from recorder.app.virtualmic import Feeder, random_periods
from recorder.core.formats import FORMATS
from recorder.core.recording.state import Start, Stop
from tests.doubles import FaultySource, StallingSegments
from tests.support import Running, make_config, sox_raw, wait_until

S16 = FORMATS["S16_LE"]
FB = S16.frame_bytes(2)


def _feeder(mic, period_s, reconnect=False):
    return Feeder(mic.infile, random_periods(S16, 2, 4800, None, seed=3), period_s, True, reconnect)


def _source(cfg):
    a = cfg.audio
    return FaultySource(AlsaSource(a.device, a.rate, a.channels, a.format, a.period_frames))


def _audio(session) -> bytes:
    return sox_raw([str(session.path / s.file) for s in session.manifest.segments])


def test_overrun_is_counted_recorded_as_gap_and_capture_goes_on(tmp_path, mic):
    cfg = make_config(tmp_path)
    source = _source(cfg)
    feeder = _feeder(mic, 0.02)
    with Running(cfg, feeder, Parts(source=source)) as r:
        r.wait_frames(48000)
        started = r.request(Start())
        r.wait_session_frames(60000)
        source.overrun_next(2)
        wait_until(lambda: len(source.dropped) == 2, what="two overruns")
        r.wait_session_frames(150000)
        assert r.rec.controller.status()["overruns"] == 2
        r.request(Stop())
        session = r.wait_outbox(started["session_id"])
    m = session.manifest
    assert m.overruns == 2
    assert [(g.kind, g.frames, g.estimated) for g in m.gaps] == [("overrun", 4800, False)] * 2
    # The recording is exactly what was fed, minus the two periods the "driver" dropped.
    fed = bytes(feeder.recorded[m.start_pos * FB :])
    for lost, gap in zip(source.dropped, m.gaps, strict=True):
        i = fed.index(lost)
        assert i == gap.at_frame * FB  # the gap is where the lost period belonged
        fed = fed[:i] + fed[i + len(lost) :]
    assert _audio(session) == fed[: m.frames * FB]
    # Capture positions keep counting through the loss.
    assert m.gaps[1].pos >= m.gaps[0].pos + 4800


def test_unplugged_device_keeps_the_session_and_continues_in_a_new_segment(tmp_path, mic):
    cfg = make_config(tmp_path, audio={"segment_s": 5.0})
    source = _source(cfg)
    feeder = _feeder(mic, 0.1, reconnect=True)  # real time: the gap is measured in time
    with Running(cfg, feeder, Parts(source=source)) as r:
        r.wait_frames(48000)
        started = r.request(Start())
        r.wait_session_frames(48000 + 24000)
        source.unplug()
        status = wait_until(
            lambda: (s := r.rec.controller.status())["device"] == "lost" and s, what="lost"
        )
        assert status["state"] == "recording"
        assert "audio device lost" in status["last_error"]
        refused = r.request(Start())
        assert not refused["ok"] and "already recording" in refused["message"]
        wait_until(lambda: r.rec.controller.status()["device"] == "lost", what="still lost")
        source.replug()
        wait_until(lambda: r.rec.controller.status()["device"] == "ok", what="device back")
        back_at = r.rec.tap.session_frames
        r.wait_session_frames(back_at + 48000)
        r.request(Stop())
        session = r.wait_outbox(started["session_id"])
    m = session.manifest
    assert feeder.reconnects == 1
    assert [g.kind for g in m.gaps] == ["device_lost"]
    gap = m.gaps[0]
    assert gap.estimated and gap.frames > 0
    assert len(m.segments) == 2
    assert m.segments[1].first_frame == gap.at_frame == m.segments[0].frames
    # No fed byte is missing or doubled: the unplug lost time, not audio that was delivered.
    assert _audio(session) == bytes(feeder.recorded[m.start_pos * FB :])[: m.frames * FB]
    assert m.stop_reason == "requested"


def test_stalled_writer_longer_than_a_segment_loses_nothing(tmp_path, mic):
    cfg = make_config(tmp_path, audio={"segment_s": 1.0, "buffer_s": 30.0})
    segments = StallingSegments()
    feeder = _feeder(mic, 0.1)  # real time, like a microphone
    with Running(cfg, feeder, Parts(open_segment=segments)) as r:
        r.wait_frames(48000)
        started = r.request(Start())
        r.wait_session_frames(24000)
        segments.stall.set()
        wait_until(lambda: segments.stalled_writes, what="a stalled write")
        stalled_at = r.rec.tap.session_frames
        r.wait_session_frames(stalled_at + int(2.5 * 48000))  # 2.5 s > one segment
        assert r.rec.controller.status()["buffer_s"] >= 2.0
        segments.stall.clear()
        segments.resume.set()
        r.wait_session_frames(stalled_at + 4 * 48000)
        r.request(Stop())
        session = r.wait_outbox(started["session_id"])
    m = session.manifest
    assert m.gaps == []
    assert r.rec.tap.overflow_frames == 0
    assert _audio(session) == bytes(feeder.recorded[m.start_pos * FB :])[: m.frames * FB]


def test_buffer_overflow_is_a_recorded_gap_never_silent(tmp_path, mic, caplog):
    cfg = make_config(tmp_path, audio={"segment_s": 2.0, "buffer_s": 5.0})
    segments = StallingSegments()
    feeder = _feeder(mic, 0.02)  # 5x real time fills the 5 s buffer in about a second
    with Running(cfg, feeder, Parts(open_segment=segments)) as r:
        r.wait_frames(48000)
        started = r.request(Start())
        r.wait_session_frames(24000)
        segments.stall.set()
        wait_until(lambda: r.rec.tap.overflow_frames >= 96000, what="overflow")
        segments.stall.clear()
        segments.resume.set()
        r.wait_session_frames(r.rec.tap.session_frames + 48000)
        r.request(Stop())
        session = r.wait_outbox(started["session_id"])
    m = session.manifest
    assert [g.kind for g in m.gaps] == ["buffer_overflow"]
    gap = m.gaps[0]
    assert not gap.estimated and gap.frames == r.rec.tap.overflow_frames
    fed = bytes(feeder.recorded[m.start_pos * FB :])
    before, after = gap.at_frame * FB, (gap.at_frame + gap.frames) * FB
    expected = fed[:before] + fed[after : after + (m.frames - gap.at_frame) * FB]
    assert _audio(session) == expected
    assert any("buffer_overflow gap" in rec.message for rec in caplog.records)
