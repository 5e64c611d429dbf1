"""kill -9 (a power cut, as far as the files know) while recording, and the repair after it."""

from __future__ import annotations

import hashlib
import os
import signal
import time

import pytest
import soundfile

from recorder.adapters.control_socket import send
from recorder.app.virtualmic import Feeder, random_periods
from recorder.core.formats import FORMATS
from recorder.store.sessions import SessionStore
from tests.support import (
    daemon_status,
    ffprobe_seconds,
    sox_raw,
    sox_seconds,
    start_daemon,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.slow


def _ready(sock):
    return (daemon_status(sock) or {}).get("device") == "ok"


@pytest.mark.parametrize("fmt", ["S16_LE", "S24_3LE"])
def test_kill_9_mid_session_leaves_readable_files_and_is_recovered(tmp_path, own_mic, fmt):
    cfg_path = write_config(
        tmp_path,
        audio={"device": own_mic.name, "format": fmt, "segment_s": 2.0, "preroll_s": 1.0},
    )
    sock = tmp_path / "control.sock"
    fb = FORMATS[fmt].frame_bytes(2)
    feeder = Feeder(
        own_mic.infile, random_periods(FORMATS[fmt], 2, 4800, None, seed=5), 0.1, record=True
    )
    feeder.start()
    log = open(tmp_path / "daemon.log", "wb")  # noqa: SIM115 - shared by two daemons
    daemon = start_daemon(cfg_path, own_mic, log)
    try:
        wait_until(lambda: _ready(sock), what="daemon ready")
        time.sleep(1.2)
        started = send(sock, {"cmd": "start"})
        assert started["ok"], started
        send(sock, {"cmd": "mark", "label": "before the cut"})
        time.sleep(4.5)  # two closed segments and an open one
        fed_at_kill = feeder.written // fb
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(10)
    finally:
        feeder.stop()
        if daemon.poll() is None:
            daemon.kill()

    store = SessionStore(tmp_path / "sessions")
    [interrupted] = store.sessions("recording")
    m = interrupted.manifest
    files = sorted(interrupted.path.glob("seg-*.wav"))
    assert len(files) >= 3
    # Closed segments are intact: their hashes match the manifest written when they closed.
    for seg in m.segments:
        if seg.closed:
            data = (interrupted.path / seg.file).read_bytes()
            assert hashlib.sha256(data).hexdigest() == seg.sha256
    # Every file reads in sox and ffprobe as it is, before any repair.
    on_disk = sum(sox_seconds(f) for f in files)
    assert sum(ffprobe_seconds(f) for f in files) == pytest.approx(on_disk, abs=0.01)
    captured = (fed_at_kill - m.start_pos) / 48000
    assert captured - 1.0 <= on_disk <= captured + 0.01
    # What is readable is exactly the fed audio.
    readable = sox_raw([str(f) for f in files])
    assert readable == bytes(feeder.recorded[m.start_pos * fb : m.start_pos * fb + len(readable)])

    # The next start repairs and finalizes it without being asked.
    own_mic.make_fifo()
    feeder2 = Feeder(own_mic.infile, random_periods(FORMATS[fmt], 2, 4800, None), 0.1)
    feeder2.start()
    daemon = start_daemon(cfg_path, own_mic, log)
    try:
        wait_until(lambda: _ready(sock), what="daemon ready again")
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(20) == 0
        feeder2.stop()
        log.close()
    [recovered] = [s for s in store.sessions("outbox") if s.id == started["session_id"]]
    r = recovered.manifest
    assert r.state == "finalized" and r.stop_reason == "interrupted"
    assert r.recovery and "power cut" in r.recovery["reason"]
    assert [k.label for k in r.markers] == ["before the cut"]
    assert r.frames * fb >= len(readable) - fb
    total = 0
    for seg in r.segments:
        path = recovered.path / seg.file
        info = soundfile.info(str(path))
        assert info.frames == seg.frames
        assert sox_seconds(path) == pytest.approx(seg.frames / 48000, abs=1e-4)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == seg.sha256
        assert seg.first_frame == total
        total += seg.frames
    assert total == r.frames
    assert sox_raw([str(recovered.path / s.file) for s in r.segments]) == bytes(
        feeder.recorded[r.start_pos * fb : (r.start_pos + r.frames) * fb]
    )
    assert r.levels["frames"] == r.frames
    log_text = (tmp_path / "daemon.log").read_text()
    assert f"recovered session {r.id}" in log_text
    assert not os.listdir(tmp_path / "sessions" / "recording")


def test_sigterm_while_recording_finalizes_the_session(tmp_path, own_mic):
    cfg_path = write_config(tmp_path, audio={"device": own_mic.name})
    sock = tmp_path / "control.sock"
    feeder = Feeder(own_mic.infile, random_periods(FORMATS["S16_LE"], 2, 4800, None), 0.1)
    feeder.start()
    with open(tmp_path / "daemon.log", "wb") as log:
        daemon = start_daemon(cfg_path, own_mic, log)
    try:
        wait_until(lambda: _ready(sock), what="daemon ready")
        started = send(sock, {"cmd": "start"})
        time.sleep(1.5)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
    finally:
        feeder.stop()
        if daemon.poll() is None:
            daemon.kill()
    [s] = SessionStore(tmp_path / "sessions").sessions()
    assert s.id == started["session_id"] and s.state == "outbox"
    assert s.manifest.stop_reason == "shutdown"
    assert s.manifest.frames >= 48000
    assert not sock.exists()
