"""Warnings raised and cleared from real audio fed through the virtual microphone."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recorder.app.virtualmic import Feeder, encode
from recorder.core.formats import FORMATS
from recorder.core.recording.state import Start, Stop
from tests.support import Running, make_config, small_disk, wait_until

S16 = FORMATS["S16_LE"]


class Signal:
    """Periods of a tone, silence or a clipped square wave; switch with `mode`."""

    def __init__(self, mode: str = "tone") -> None:
        self.mode = mode

    def __iter__(self):
        n = 0
        t = np.arange(4800) / 48000
        while True:
            if self.mode == "silence":
                x = np.zeros(4800)
            elif self.mode == "clip":
                x = np.sign(np.sin(2 * math.pi * 200 * t)) * 40000  # past full scale
            else:
                x = np.sin(2 * math.pi * (440 + n % 3) * t) * 3277  # -20 dBFS
            samples = np.clip(x, -32768, 32767).astype(np.int64)
            yield encode(np.repeat(samples[:, None], 2, axis=1), S16)
            n += 1


def _warnings(r) -> dict:
    return {w["kind"]: w["message"] for w in r.rec.controller.status()["warnings"]}


def test_silence_and_clipping_warnings_rise_and_clear(tmp_path, mic):
    cfg = make_config(
        tmp_path,
        warnings={"silence_s": 1.0, "clip_repeat": 3, "clip_window_s": 2.0, "disk_minutes": 0},
    )
    signal = Signal()
    feeder = Feeder(mic.infile, iter(signal), 0.02)
    with Running(cfg, feeder) as r:
        status = r.rec.controller.status
        r.wait_frames(48000)
        started = r.request(Start())
        r.wait_session_frames(48000)
        assert _warnings(r) == {} and status()["led"] == "recording"
        levels = wait_until(lambda: status()["levels"], what="a level report")
        assert levels["rms_dbfs"][0] == pytest.approx(-23.0, abs=0.2)  # a -20 dBFS sine
        assert levels["peak_dbfs"][0] == pytest.approx(-20.0, abs=0.1)

        signal.mode = "silence"
        w = wait_until(lambda: _warnings(r).get("silence"), what="silence warning")
        assert "microphone unplugged or muted?" in w
        assert status()["led"] == "warning" and status()["state"] == "recording"
        signal.mode = "tone"
        wait_until(lambda: "silence" not in _warnings(r), what="silence cleared")

        signal.mode = "clip"
        w = wait_until(lambda: _warnings(r).get("clipping"), what="clipping warning")
        assert "turn the gain down" in w
        signal.mode = "tone"
        wait_until(lambda: "clipping" not in _warnings(r), what="clipping cleared")
        assert status()["led"] == "recording"
        r.request(Stop())
        session = r.wait_outbox(started["session_id"])
    ws = session.manifest.warnings
    assert [(w.kind, w.cleared_frame is not None) for w in ws] == [
        ("silence", True),
        ("clipping", True),
    ]
    silence, clipping = ws
    assert 48000 <= silence.raised_frame < silence.cleared_frame < clipping.raised_frame
    assert clipping.raised_frame < clipping.cleared_frame
    assert silence.raised_seconds == pytest.approx(silence.raised_frame / 48000)
    assert session.manifest.levels["clipped"] > 0


@pytest.mark.parametrize(
    ("warnings", "mode", "reason"),
    [
        ({"auto_stop_silence_s": 1.5, "silence_s": 0.5}, "silence", "silence"),
        ({"max_session_h": 2.5 / 3600}, "tone", "max_length"),
    ],
)
def test_automatic_stops(tmp_path, mic, warnings, mode, reason):
    cfg = make_config(tmp_path, warnings={"disk_minutes": 0, **warnings})
    signal = Signal()
    feeder = Feeder(mic.infile, iter(signal), 0.02)
    with Running(cfg, feeder) as r:
        r.wait_frames(48000)
        started = r.request(Start())
        signal.mode = mode
        session = r.wait_outbox(started["session_id"])
    m = session.manifest
    assert m.stop_reason == reason
    if reason == "max_length":
        # the limit counts the whole recording, pre-roll included; checked every level report
        assert 2.5 * 48000 <= m.frames <= 2.5 * 48000 + 2 * 12000


@pytest.mark.root
def test_disk_low_warning_follows_free_space(tmp_path, mic):
    with small_disk(tmp_path / "disk", "40m") as mnt:
        filler = mnt / "filler"
        filler.write_bytes(b"\0" * 20_000_000)
        cfg = make_config(
            tmp_path,
            storage={"dir": str(mnt / "sessions"), "min_free_mb": 1},
            warnings={"disk_minutes": 3.0},
        )
        feeder = Feeder(mic.infile, iter(Signal()), 0.1)
        with Running(cfg, feeder) as r:
            r.wait_frames(4800)  # the device is open: the LED is past "starting"
            w = wait_until(lambda: _warnings(r).get("disk_low"), what="disk warning")
            assert "under 3 min of recording left" in w
            assert r.rec.controller.status()["led"] == "warning"
            filler.unlink()
            wait_until(lambda: "disk_low" not in _warnings(r), what="disk warning cleared")
            assert r.rec.controller.status()["led"] == "ready"
