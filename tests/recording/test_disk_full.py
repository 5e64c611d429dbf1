"""A card that fills up: the session is stopped and finalized before min_free_mb is reached."""

from __future__ import annotations

import os

import pytest

from recorder.app.virtualmic import Feeder, random_periods
from recorder.core.formats import FORMATS
from recorder.core.recording.state import Start
from tests import support
from tests.support import Running, make_config, sox_raw, wait_until

pytestmark = pytest.mark.root


@pytest.fixture
def small_disk(tmp_path):
    with support.small_disk(tmp_path / "disk", "8m") as mnt:
        yield mnt


def test_disk_full_stops_cleanly_and_refuses_a_new_start(tmp_path, mic, small_disk):
    audio = {"rate": 8000, "channels": 2, "format": "S32_LE", "preroll_s": 1.0, "segment_s": 5.0}
    cfg = make_config(
        tmp_path, audio=audio, storage={"dir": str(small_disk / "sessions"), "min_free_mb": 2}
    )
    fmt = FORMATS["S32_LE"]
    fb = fmt.frame_bytes(2)
    feeder = Feeder(mic.infile, random_periods(fmt, 2, 800, None), 0.01, record=True)  # 10x
    with Running(cfg, feeder) as r:
        r.wait_frames(8000)
        started = r.request(Start())
        assert started["ok"], started
        session = r.wait_outbox(started["session_id"], timeout=60)
        status = r.rec.controller.status()
        assert status["disk_full"] and "storage nearly full" in status["last_error"]
        refused = r.request(Start())
        assert not refused["ok"]
        assert "storage nearly full" in refused["message"]
        st = os.statvfs(small_disk)
        assert st.f_bavail * st.f_frsize >= 2_000_000
    m = session.manifest
    assert m.stop_reason == "disk_full"
    assert m.gaps == []
    assert m.frames > 60 * 8000  # it recorded most of the space before stopping
    audio_bytes = sox_raw([str(session.path / s.file) for s in m.segments])
    assert audio_bytes == bytes(feeder.recorded[m.start_pos * fb : (m.start_pos + m.frames) * fb])


def test_disk_full_at_start_is_refused_with_a_clear_message(tmp_path, mic, small_disk):
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * 5_500_000)
    cfg = make_config(tmp_path, storage={"dir": str(small_disk / "sessions"), "min_free_mb": 2})
    feeder = Feeder(mic.infile, random_periods(FORMATS["S16_LE"], 2, 4800, None), 0.02)
    with Running(cfg, feeder) as r:
        r.wait_frames(4800)
        answer = wait_until(lambda: (a := r.request(Start())) and not a["ok"] and a, what="refusal")
        assert "cannot start" in answer["message"]
        assert "MB free" in answer["message"]
        assert r.rec.store.sessions() == []
