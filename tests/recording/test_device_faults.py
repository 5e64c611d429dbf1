"""An audio device that blocks, answers nothing or stops delivering never freezes the box.

The virtual microphone's FIFO gives the real faults: with no writer, alsa-lib's open of the
`file` plugin blocks inside `snd_pcm_open` (with the GIL held, in pyalsaaudio); a feeder that
pauses without closing makes reads stop mid-session. The daemon keeps its ALSA calls in a
capture helper process, so it must go on answering, say what is wrong, and record when the
device delivers.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import pytest

from recorder.adapters.alsa import AlsaSource, open_error
from recorder.adapters.control_socket import send
from recorder.app.daemon import Parts
from recorder.app.virtualmic import Feeder, random_periods
from recorder.core.formats import FORMATS
from recorder.core.recording.state import Start, Stop
from tests.support import (
    Running,
    cli,
    expected_audio,
    make_config,
    sox_raw,
    wait_until,
    write_config,
)

S16 = FORMATS["S16_LE"]
FB = S16.frame_bytes(2)


def _feeder(mic, seed: int = 5) -> Feeder:
    return Feeder(mic.infile, random_periods(S16, 2, 4800, None, seed=seed), 0.1, record=True)


def _status(sock) -> dict:
    return send(sock, {"cmd": "status"}, timeout=2)["status"]


@pytest.mark.slow
def test_a_device_whose_open_blocks_is_reported_and_recorded_from_when_it_answers(
    tmp_path, own_mic
):
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(15)
    path = write_config(tmp_path, audio={"device": own_mic.name}, warnings={"disk_minutes": 0})
    env = {**own_mic.env(), "NOTIFY_SOCKET": str(tmp_path / "notify")}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "recorder", "run", "--config", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    sock = tmp_path / "control.sock"
    feeder = None
    try:
        # READY comes once the controller runs, not once the device opens.
        while "READY=1" not in notify.recv(4096).decode().split("\n"):
            pass  # STATUS lines may come first; recv times out (fails) after 15 s
        began = time.monotonic()
        status = wait_until(
            lambda: (s := _status(sock))["device"] == "absent" and s, 10, "the device reported"
        )
        assert time.monotonic() - began < 10
        assert status["state"] == "error" and status["led"] == "error"
        assert "does not answer" in status["last_error"] and own_mic.name in status["last_error"]
        refused = send(sock, {"cmd": "start"})
        assert not refused["ok"] and "does not answer" in refused["message"]
        for _ in range(5):  # it keeps answering while the open is still blocked
            assert _status(sock)["device"] == "absent"

        feeder = _feeder(own_mic)
        feeder.start()
        wait_until(lambda: _status(sock)["device"] == "ok", 15, "the device delivering")
        started = send(sock, {"cmd": "start"})
        assert started["ok"], started
        wait_until(lambda: _status(sock)["frames"] >= 48000, 15, "a second recorded")
        assert send(sock, {"cmd": "stop"})["ok"]
        wait_until(lambda: _status(sock)["finalizing"] == 0, 15, "finalized")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        if feeder is not None:
            feeder.stop()
        notify.close()
    done = cli("sessions", "--json", "--config", str(path))
    [session] = json.loads(done.stdout)
    assert session["state"] == "outbox" and session["gaps"] == []
    fed = bytes(feeder.recorded)
    got = sox_raw(session["segments"])
    # Every frame from the session's first (the oldest pre-roll frame) is exactly what was fed.
    assert len(got) == session["frames"] * FB
    assert got in fed


def test_a_device_that_stops_delivering_is_a_warning_and_a_gap_and_the_session_goes_on(
    tmp_path, mic
):
    # Random test audio clips all the time: the clipping warning would sit beside the device's.
    cfg = make_config(tmp_path, warnings={"disk_minutes": 0, "clip_repeat": 1_000_000})
    feeder = _feeder(mic)
    with Running(cfg, feeder) as r:
        r.wait_frames(48000)
        started = r.request(Start())
        r.wait_session_frames(60000)
        feeder.paused.set()
        paused_at = time.monotonic()
        status = wait_until(
            lambda: (s := r.rec.controller.status())["device"] == "stalled" and s, 5, "a stall"
        )
        assert time.monotonic() - paused_at < 2.5  # the source waits 1 s, then says so
        assert "delivers no sound" in status["last_error"]
        assert [w["kind"] for w in status["warnings"]] == ["device"]
        assert status["state"] == "recording" and status["led"] == "warning"
        refused = r.request(Start())
        assert not refused["ok"] and "already recording" in refused["message"]
        time.sleep(max(0.0, 10 - (time.monotonic() - paused_at)))
        feeder.paused.clear()
        wait_until(lambda: r.rec.controller.status()["device"] == "ok", 5, "sound again")
        r.wait_session_frames(r.rec.tap.session_frames + 24000)
        assert r.request(Stop())["ok"]
        session = r.wait_outbox(started["session_id"])
    m = session.manifest
    [gap] = m.gaps
    assert gap.kind == "device_stalled" and gap.estimated
    assert 9.0 <= gap.seconds <= 11.5  # the ten seconds the device said nothing
    [warning] = m.warnings
    assert warning.kind == "device" and "delivers no sound" in warning.message
    assert warning.raised_frame <= gap.at_frame <= warning.cleared_frame
    # No frame lost or repeated on either side of the gap: the paused feeder lost nothing.
    assert sox_raw([str(session.path / s.file) for s in m.segments]) == expected_audio(feeder, m)


def test_busy_and_missing_devices_are_said_in_plain_words():
    """alsa-lib's EBUSY text (a `hw:` device another program holds; the file plugin here has no
    such thing, so the text comes as alsa-lib words it) becomes a sentence a coach can act on."""
    busy = open_error("hw:CARD=Recorder,DEV=0", Exception("Device or resource busy [hw:1]"))
    assert busy.startswith("the audio interface 'hw:CARD=Recorder,DEV=0' is busy")
    assert "another program is using it" in busy
    gone = open_error("x", Exception("No such file or directory [x]"))
    assert gone == "cannot open ALSA device 'x': No such file or directory [x]"


@pytest.mark.slow
def test_doctor_answers_in_bounded_time_when_the_open_blocks(tmp_path, own_mic):
    path = write_config(tmp_path, audio={"device": own_mic.name})
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "recorder", "doctor", "--config", str(path)],
        env=own_mic.env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert time.monotonic() - began < 10
    assert done.returncode == 1
    assert f"[FAIL] audio device: the audio interface '{own_mic.name}' does not answer" in (
        done.stdout
    )
    assert "ALSA lib" not in done.stderr


class _BrokenOnce:
    """The real ALSA source, whose first open and one read raise what no source should: the
    capture thread must treat them as a device problem and go on, never die."""

    def __init__(self, inner: AlsaSource) -> None:
        self.inner, self.period_frames = inner, inner.period_frames
        self.opened_once = self.read_once = False

    def open(self) -> None:
        if not self.opened_once:
            self.opened_once = True
            raise RuntimeError("a bug in the source's open")
        self.inner.open()

    def read(self) -> bytes:
        if not self.read_once:
            self.read_once = True
            raise ValueError("a bug in the source's read")
        return self.inner.read()

    def close(self) -> None:
        self.inner.close()


def test_an_unexpected_error_in_the_source_never_ends_capture(tmp_path, mic):
    cfg = make_config(tmp_path, warnings={"clip_repeat": 1_000_000})
    a = cfg.audio
    source = _BrokenOnce(AlsaSource(a.device, a.rate, a.channels, a.format, a.period_frames))
    with Running(cfg, _feeder(mic), Parts(source=source)) as r:
        r.wait_frames(24000)  # opened on the second try, read on after the bad read
        assert r.rec.capture.is_alive() and source.opened_once and source.read_once
        wait_until(lambda: r.rec.controller.status()["device"] == "ok", 10, "device ok")
