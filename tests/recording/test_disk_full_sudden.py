"""A disk another program fills at once, while recording and across a restart.

The disk is a real small tmpfs and the filler a real `dd` in its own process, so the recorder
meets the failure the way it would on a card: a write that gets ENOSPC (from libsndfile without
its errno), with no warning from the free-space check first.
"""

from __future__ import annotations

import json
import signal
import struct
import threading
from pathlib import Path

import pytest
import soundfile

from recorder.adapters.control_socket import send
from recorder.app.daemon import Parts
from recorder.app.virtualmic import Feeder, random_periods
from recorder.core.formats import FORMATS
from recorder.core.recording.disk import BALLAST_FLOOR
from recorder.core.recording.state import Mark, Start, Stop
from recorder.store.ballast import NAME as BALLAST
from recorder.store.sessions import SessionStore
from tests import support
from tests.mosquitto import Mosquitto, require_mosquitto
from tests.support import (
    Running,
    daemon_status,
    expected_audio,
    fill,
    make_config,
    sox_raw,
    start_daemon,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.root

RATE = 8000
S16 = FORMATS["S16_LE"]
FB = S16.frame_bytes(2)
AUDIO = {"rate": RATE, "channels": 2, "format": "S16_LE", "preroll_s": 1.0, "segment_s": 4.0}
FULL = "the storage is full"


@pytest.fixture
def small_disk(tmp_path):
    with support.small_disk(tmp_path / "disk", "20m") as mnt:
        yield mnt


def on_disk(session) -> int:
    """Frames the segment files hold, as libsndfile reads them."""
    return sum(soundfile.info(str(session.path / s.file)).frames for s in session.manifest.segments)


def ctl(sock: Path, cmd: str) -> dict:
    return send(sock, {"cmd": cmd}, timeout=10)


def test_a_disk_filled_mid_session_stops_it_cleanly_and_recording_resumes_once_freed(
    tmp_path, mic, small_disk
):
    cfg = make_config(tmp_path, audio=AUDIO, storage={"dir": str(small_disk / "sessions")})
    sock = cfg.socket_path
    feeder = Feeder(mic.infile, random_periods(S16, 2, 800, None), 0.05, record=True)  # 2x
    with Running(cfg, feeder) as r:
        assert (small_disk / "sessions" / BALLAST).stat().st_size == BALLAST_FLOOR
        r.wait_frames(RATE)
        started = ctl(sock, "start")
        assert started["ok"], started
        r.wait_session_frames(6 * RATE)  # a closed segment and an open one
        filler = fill(small_disk)
        session = r.wait_outbox(started["session_id"], timeout=15)

        status = ctl(sock, "status")["status"]
        assert status["state"] == "error" and status["led"] == "error"
        assert status["disk_full"] and status["finalizing"] == 0
        assert FULL in status["last_error"]
        assert "free space or the box cannot record" in status["last_error"]
        refused = ctl(sock, "start")
        assert not refused["ok"] and refused["message"].startswith(f"cannot start: {FULL}")
        assert ctl(sock, "stop")["message"] == "not recording"

        filler.unlink()
        wait_until(lambda: ctl(sock, "status")["status"]["state"] == "idle", what="idle again")
        # The ballast is back, so the next session can be finalized on a full disk too.
        ballast = small_disk / "sessions" / BALLAST
        wait_until(lambda: ballast.stat().st_size == BALLAST_FLOOR, what="ballast restored")
        again = ctl(sock, "start")
        assert again["ok"], again
        r.wait_session_frames(2 * RATE)
        r.request(Stop())
        second = r.wait_outbox(again["session_id"])

    m = session.manifest
    assert m.state == "finalized" and m.stop_reason == "disk_full"
    # The manifest tells the truth about the files: what is on disk, then the lost audio. The
    # write that finds the disk full may be the manifest's at a segment boundary, with the stop
    # coming before the next audio: then nothing was lost, and there is no gap to record.
    assert m.frames == on_disk(session) == sum(s.frames for s in m.segments)
    assert len(m.gaps) <= 1
    for gap in m.gaps:
        assert gap.kind == "disk_full" and gap.frames > 0
        assert gap.at_frame == m.frames and gap.pos == m.start_pos + m.frames
    assert all(s.closed and s.sha256 for s in m.segments)
    assert m.levels["frames"] == m.frames
    assert m.frames > 4 * RATE  # a closed segment and part of the next
    assert sox_raw([str(session.path / s.file) for s in m.segments]) == expected_audio(feeder, m)
    # The session was not left behind: nothing in recording/.
    assert not list((small_disk / "sessions" / "recording").iterdir())

    m2 = second.manifest
    assert m2.stop_reason == "requested" and m2.gaps == []
    assert sox_raw([str(second.path / s.file) for s in m2.segments]) == expected_audio(feeder, m2)


def test_without_a_ballast_the_session_is_finalized_as_soon_as_space_is_freed(
    tmp_path, mic, small_disk
):
    """A storage where no room could be kept aside: the final manifest finds none, the
    session waits in memory (the LED says error, not finalizing), and is finalized, reason
    and gap intact, the moment space is freed."""
    cfg = make_config(tmp_path, audio=AUDIO, storage={"dir": str(small_disk / "sessions")})
    sock = cfg.socket_path
    feeder = Feeder(mic.infile, random_periods(S16, 2, 800, None), 0.05, record=True)
    with Running(cfg, feeder) as r:
        ballast = r.rec.guard.ballast
        ballast.release()
        ballast.active = False  # as if it could never be made
        r.wait_frames(RATE)
        started = r.request(Start())
        sid = started["session_id"]
        r.wait_session_frames(3 * RATE)
        filler = fill(small_disk)
        recording = small_disk / "sessions" / "recording" / sid
        status = wait_until(
            lambda: (
                (s := ctl(sock, "status")["status"])["finalizing"] == 0
                and s["state"] == "error"
                and s
            ),
            what="the session counted down",
        )
        assert status["led"] == "error" and recording.is_dir()
        assert FULL in status["last_error"]
        filler.unlink()
        session = r.wait_outbox(sid, timeout=15)
        wait_until(lambda: ctl(sock, "status")["status"]["state"] == "idle", what="idle")
    m = session.manifest
    assert m.state == "finalized" and m.stop_reason == "disk_full"
    assert len(m.gaps) <= 1  # none when the stop came before more audio than the disk took
    assert all(g.kind == "disk_full" and g.at_frame == m.frames for g in m.gaps)
    assert m.frames == on_disk(session)
    assert sox_raw([str(session.path / s.file) for s in m.segments]) == expected_audio(feeder, m)


class UnawareFreeSpace:
    """Free space read before the filler ran (the one fault a real statvfs will not give on
    demand): the writer writes on until the kernel itself answers ENOSPC, mid-batch."""

    def free_bytes(self, path: Path) -> int:
        return 10**12


def test_a_write_cut_short_by_enospc_keeps_what_reached_the_disk_and_the_markers(
    tmp_path, mic, small_disk
):
    """The cue chunks and labels.txt go into the ballast's room with the final manifest."""
    cfg = make_config(tmp_path, audio=AUDIO, storage={"dir": str(small_disk / "sessions")})
    feeder = Feeder(mic.infile, random_periods(S16, 2, 800, None), 0.05, record=True)
    with Running(cfg, feeder, Parts(disk=UnawareFreeSpace())) as r:
        r.wait_frames(RATE)
        started = r.request(Start())
        r.wait_session_frames(2 * RATE)
        for n in range(20):
            assert r.request(Mark(f"point {n} " + "x" * 200))["ok"]
        fill(small_disk)
        session = r.wait_outbox(started["session_id"], timeout=15)
    m = session.manifest
    assert m.stop_reason == "disk_full"
    assert len(m.gaps) <= 1  # none when the stop came before more audio than the disk took
    assert all(g.kind == "disk_full" and g.at_frame == m.frames for g in m.gaps)
    assert m.frames == on_disk(session) == sum(s.frames for s in m.segments)
    assert sox_raw([str(session.path / s.file) for s in m.segments]) == expected_audio(feeder, m)
    assert len(m.markers) == 20
    assert len((session.path / "labels.txt").read_text().splitlines()) == 20
    cues = [c for s in m.segments for c in _cue_labels(session.path / s.file)]
    assert sorted(cues) == sorted(k.label for k in m.markers)


def _cue_labels(wav: Path) -> list[str]:
    """The labl names in a WAV's LIST/adtl chunk, read with the file's own chunk sizes."""
    data = wav.read_bytes()
    names, at = [], 12
    while at + 8 <= len(data):
        cid, size = data[at : at + 4], struct.unpack("<I", data[at + 4 : at + 8])[0]
        if cid == b"LIST" and data[at + 8 : at + 12] == b"adtl":
            sub = at + 12
            while sub < at + 8 + size:
                sid, ssize = data[sub : sub + 4], struct.unpack("<I", data[sub + 4 : sub + 8])[0]
                if sid == b"labl":
                    names.append(data[sub + 12 : sub + 8 + ssize].rstrip(b"\0").decode())
                sub += 8 + ssize + (ssize & 1)
        at += 8 + size + (size & 1)
    return names


# ---- a restart on a full disk ---------------------------------------------------------------


class StateWatcher:
    """The last retained `state` the daemon published, through a real mosquitto."""

    def __init__(self, broker: Mosquitto) -> None:
        self.last: dict | None = None
        self._lock = threading.Lock()
        self.client = broker.client(broker.admin)
        self.client.on_message = self._on
        self.client.subscribe(broker.topic("state"), qos=1)

    def _on(self, _c, _u, msg) -> None:
        with self._lock:
            self.last = json.loads(msg.payload)

    def state(self) -> dict | None:
        with self._lock:
            return self.last


@pytest.mark.slow
@pytest.mark.parametrize("ballast_left", [True, False], ids=["ballast", "no-ballast"])
def test_a_restart_on_a_full_disk_answers_and_recovers_once_there_is_room(
    tmp_path, own_mic, small_disk, ballast_left
):
    require_mosquitto()
    broker = Mosquitto(tmp_path / "broker", device_id="test-box").start()
    mqtt = broker.recorder_section(tmp_path)
    storage = small_disk / "sessions"
    cfg_path = write_config(
        tmp_path,
        audio={**AUDIO, "device": own_mic.name},
        storage={"dir": str(storage)},
        mqtt=mqtt,
    )
    sock = tmp_path / "control.sock"
    feeder = Feeder(own_mic.infile, random_periods(S16, 2, 800, None, seed=3), 0.1, record=True)
    feeder.start()
    log = open(tmp_path / "daemon.log", "wb")  # noqa: SIM115 - shared by two daemons
    daemon = start_daemon(cfg_path, own_mic, log)
    watcher = None
    try:
        wait_until(lambda: (s := daemon_status(sock)) and s["device"] == "ok", what="daemon ready")
        started = send(sock, {"cmd": "start"})
        assert started["ok"], started
        wait_until(lambda: daemon_status(sock)["frames"] >= 3 * RATE, what="3 s recorded")
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(10)
        feeder.stop()
        sid = started["session_id"]
        assert (storage / "recording" / sid).is_dir()
        if not ballast_left:
            (storage / BALLAST).unlink()  # spent by an earlier full disk, never given back
        filler = fill(small_disk)

        own_mic.make_fifo()
        feeder2 = Feeder(own_mic.infile, random_periods(S16, 2, 800, None), 0.1, record=True)
        feeder2.start()
        watcher = StateWatcher(broker)
        daemon = start_daemon(cfg_path, own_mic, log)
        status = wait_until(
            lambda: (s := daemon_status(sock)) and s["state"] == "error" and s,
            what="degraded daemon",
        )
        assert daemon.poll() is None  # not exit code 2: it answers
        assert status["led"] == "error" and status["disk_full"]
        assert FULL in status["last_error"]
        refused = send(sock, {"cmd": "start"})
        assert not refused["ok"] and FULL in refused["message"]
        published = wait_until(
            lambda: (s := watcher.state()) and s["state"] == "error" and s, what="MQTT state"
        )
        assert FULL in published["last_error"]
        store = SessionStore(storage)
        if ballast_left:  # its room took the repair at once
            assert [s.id for s in store.sessions("outbox")] == [sid]
        else:  # nothing can be written: the session waits, untouched
            assert [s.id for s in store.sessions("recording")] == [sid]
            assert store.sessions("outbox") == []

        filler.unlink()
        wait_until(lambda: [s.id for s in store.sessions("outbox")] == [sid], what="recovered")
        wait_until(lambda: daemon_status(sock)["state"] == "idle", what="idle once freed")
        wait_until(lambda: (storage / BALLAST).stat().st_size == BALLAST_FLOOR, what="ballast")
        again = send(sock, {"cmd": "start"})
        assert again["ok"], again
        wait_until(lambda: daemon_status(sock)["frames"] >= 2 * RATE, what="new session")
        assert send(sock, {"cmd": "stop"})["ok"]
        wait_until(
            lambda: any(s.id == again["session_id"] for s in store.sessions("outbox")),
            what="second session finalized",
        )
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(20)
        feeder.stop()
        if watcher is not None:
            watcher.client.disconnect()
        broker.close()
        log.close()
    [recovered] = [s for s in store.sessions("outbox") if s.id == sid]
    m = recovered.manifest
    assert m.stop_reason == "interrupted" and m.recovery and m.gaps == []
    # Killed after 3 s were captured; the header is brought up to date every sync_s (0.5 s).
    assert m.frames == on_disk(recovered) >= (3 - 0.5 - 0.1) * RATE
    assert sox_raw([str(recovered.path / s.file) for s in m.segments]) == expected_audio(feeder, m)
    text = (tmp_path / "daemon.log").read_text()
    if not ballast_left:
        assert "waits for free space" in text
    assert f"recovered session {sid}" in text


def test_storage_that_is_not_a_directory_still_exits_2(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    cfg_path = write_config(tmp_path, storage={"dir": str(not_a_dir / "sessions")})
    done = support.cli("run", "--config", str(cfg_path), timeout=30)
    assert done.returncode == 2
    assert str(not_a_dir) in done.stderr


def test_a_second_daemon_on_a_full_disk_is_refused(tmp_path, small_disk):
    """The storage lock needs no free space, so a full disk cannot let two recorders in."""
    storage = small_disk / "sessions"
    store = SessionStore(storage)
    assert store.prepare() is None
    store.lock()
    fill(small_disk)
    other = SessionStore(storage)
    assert other.prepare() is not None  # full: reported, not raised
    with pytest.raises(OSError, match="in use by another running recorder"):
        other.lock()
