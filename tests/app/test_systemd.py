"""The systemd side: the unit verifies and scores well, and the daemon speaks sd_notify to a
real datagram socket — READY, STATUS, watchdog pings only while the loops move, STOPPING."""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from recorder.adapters.alsa import AlsaSource
from recorder.adapters.control_socket import send
from recorder.adapters.notify import Notifier
from recorder.app.daemon import LOOP_SLACK_S, Watchdog
from recorder.app.virtualmic import Feeder, random_periods
from recorder.core.formats import FORMATS
from recorder.core.recording.ring import PrerollRing
from recorder.recording.blockqueue import FrameQueue
from recorder.recording.capture import CaptureThread
from recorder.recording.tap import CaptureTap
from recorder.store.sessions import SessionStore
from tests.support import ROOT, make_config, wait_until, write_config

UNIT = ROOT / "systemd" / "session-recorder.service"


def _unit_here(tmp_path) -> Path:
    """The shipped unit with ExecStart pointing at this checkout's entry point."""
    exe = Path(sys.executable).parent / "session-recorder"
    text = UNIT.read_text().replace("/opt/session-recorder/venv/bin/session-recorder", str(exe))
    out = tmp_path / "session-recorder.service"
    out.write_text(text)
    return out


@pytest.fixture
def analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    return tool


def test_unit_verifies(tmp_path, analyze):
    done = subprocess.run(
        [analyze, "verify", str(_unit_here(tmp_path))], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "session-recorder.service" not in done.stderr  # no warnings about our unit


def test_unit_hardening_scores_ok(tmp_path, analyze):
    done = subprocess.run(
        [analyze, "security", "--offline=true", str(_unit_here(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    score = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", done.stdout)[1])
    assert score <= 2.5, done.stdout  # systemd calls under 3.0 "OK"


def test_unit_promises_what_the_daemon_does():
    text = UNIT.read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "SupplementaryGroups=audio gpio",
        "DevicePolicy=closed",
        "DeviceAllow=char-alsa rw",
        "DeviceAllow=char-gpiochip rw",
        "ProtectSystem=strict",
        "StateDirectory=session-recorder",
        "RuntimeDirectory=session-recorder",
        "ConfigurationDirectory=session-recorder",
    ):
        assert line in text, line
    assert "time-sync.target" not in text.split("[Service]")[0].replace(
        "# Never wait for time-sync.target", ""
    )


class NotifySocket:
    """What systemd listens on: a unix datagram socket; collects every message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.messages: list[str] = []

    def poll(self, seconds: float) -> list[str]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                self.messages.append(self.sock.recv(4096).decode())
        return self.messages

    def lines(self) -> list[str]:
        return [line for m in self.messages for line in m.split("\n")]


def test_notifier_outside_systemd_does_nothing():
    n = Notifier({})
    assert not n.enabled and n.watchdog_s is None and not n.ready("x")


def test_notifier_abstract_socket_and_watchdog_pid():
    name = f"recorder-test-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind("\0" + name)
        n = Notifier({"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "4000000"})
        assert n.watchdog_s == 4.0 and n.watchdog()
        assert s.recv(100) == b"WATCHDOG=1"
    other = Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"})
    assert other.watchdog_s is None  # the watchdog is meant for another process


def test_a_systemd_that_does_not_read_its_socket_never_blocks_the_sender(tmp_path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(str(tmp_path / "notify"))  # bound, never read: its queue fills
        n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify")})
        results = [n.status(f"line {i}") for i in range(2000)]
    assert results[0] and not results[-1]  # the first got through, later ones were dropped


@pytest.mark.slow
def test_ready_status_watchdog_and_a_clean_stop(tmp_path, own_mic):
    notify = NotifySocket(tmp_path / "notify")
    cfg_path = write_config(tmp_path, audio={"device": own_mic.name}, warnings={"disk_minutes": 0})
    feeder = Feeder(own_mic.infile, random_periods(FORMATS["S16_LE"], 2, 4800, None), 0.1)
    feeder.start()
    env = {**own_mic.env(), "NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "2000000"}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "recorder", "run", "--config", str(cfg_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: "READY=1" in notify.poll(0.2) or "READY=1" in notify.lines(), 20)
        send(tmp_path / "control.sock", {"cmd": "start"})
        # waited for, not timed: on a loaded machine the first status may take a while
        wait_until(lambda: notify.poll(0.2) and any(
            line.startswith("STATUS=recording ") for line in notify.lines()), 30)  # fmt: skip
        # every second while the loops move
        wait_until(lambda: notify.poll(0.2) and notify.lines().count("WATCHDOG=1") >= 2, 30)

        # The device delivers nothing: the box is alive and says so, and a restart would not
        # mend a device, so the watchdog goes on being fed.
        feeder.paused.set()
        before = notify.lines().count("WATCHDOG=1")
        wait_until(lambda: notify.poll(0.2) and notify.lines().count("WATCHDOG=1") - before >= 2,
                   30)  # fmt: skip
        wait_until(lambda: notify.poll(0.2) and any(
            "delivers no sound" in line for line in notify.lines() if "STATUS=" in line), 30)  # fmt: skip
        feeder.paused.clear()
        sock = tmp_path / "control.sock"
        wait_until(lambda: send(sock, {"cmd": "status"})["status"]["device"] == "ok", 10)

        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
        notify.poll(0.3)
    finally:
        if daemon.poll() is None:
            daemon.kill()
        feeder.stop()
    assert "STOPPING=1" in notify.lines()
    [session] = SessionStore(tmp_path / "sessions").sessions()
    assert session.state == "outbox" and session.manifest.stop_reason == "shutdown"
    assert [g.kind for g in session.manifest.gaps] == ["device_stalled"]


def test_watchdog_stops_when_a_loop_is_stuck_in_a_call_that_never_returns(tmp_path, mic):
    """The capture loop reading ALSA in this very process (no helper), from a microphone that
    stops delivering: alsa-lib's read blocks for real, so the loop stops and so do the pings."""
    notify = NotifySocket(tmp_path / "notify")
    feeder = Feeder(mic.infile, random_periods(FORMATS["S16_LE"], 2, 4800, None), 0.1)
    feeder.start()
    cfg = make_config(tmp_path)
    a = cfg.audio
    source = AlsaSource(a.device, a.rate, a.channels, a.format, a.period_frames)
    tap = CaptureTap(PrerollRing(a.rate), FrameQueue(a.rate * 10))
    capture = CaptureThread(source, tap, lambda event: None, a.rate)
    controller = types.SimpleNamespace(heartbeat=time.monotonic())
    notifier = Notifier({"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "1000000"})
    watchdog = Watchdog(notifier, capture, controller)  # type: ignore[arg-type]
    watchdog.every = 0.5
    try:
        capture.start()
        wait_until(lambda: capture.last_read > 0, what="capture reading")

        def pings() -> int:
            controller.heartbeat = time.monotonic()  # the other loop stays alive throughout
            notify.poll(0.2)
            return notify.lines().count("WATCHDOG=1")

        watchdog.start()
        wait_until(lambda: pings() >= 2, what="pings")
        feeder.paused.set()
        deadline = time.monotonic() + LOOP_SLACK_S + 0.5  # the loop now waits inside alsa-lib
        while time.monotonic() < deadline:
            before = pings()
        for _ in range(10):
            assert pings() == before  # systemd would restart us
        feeder.paused.clear()
        wait_until(lambda: pings() > before, what="pings again")
    finally:
        watchdog.stopping.set()
        capture.stopping.set()
        feeder.stop()
        capture.join(5)
