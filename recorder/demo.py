"""`session-recorder demo`: a whole session on a machine with no sound card and no Pi.

It builds a virtual ALSA microphone fed with a recognisable signal, runs the real daemon
(`session-recorder run`) in a subprocess against it, drives it over the control socket as a coach
would (start, marker, stop), and reports what was written — read back with libsndfile and, where
installed, sox.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile

from recorder.adapters.control_socket import ControlSocketError, send
from recorder.storage import SessionStore
from recorder.virtualmic import Feeder, VirtualMic, demo_periods

RATE, CHANNELS, FORMAT, PERIOD_MS = 48000, 2, "S16_LE", 100
PREROLL_S, SEGMENT_S = 3.0, 4.0

CONFIG = """\
# Written by `session-recorder demo`: a virtual microphone instead of a USB interface.
[device]
id = "demo"

[audio]
device = "{device}"
rate = {rate}
channels = {channels}
format = "{format}"
period_ms = {period_ms}
preroll_s = {preroll}
segment_s = {segment}

[storage]
dir = "{storage}"
min_free_mb = 50

[control]
socket = "{socket}"
"""


def run_demo(where: Path | None, seconds: float) -> int:
    root = (where or Path(tempfile.mkdtemp(prefix="session-recorder-demo-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    mic = VirtualMic(root / "alsa").install()
    cfg_path = root / "config.toml"
    cfg_path.write_text(
        CONFIG.format(
            device=mic.name,
            rate=RATE,
            channels=CHANNELS,
            format=FORMAT,
            period_ms=PERIOD_MS,
            preroll=PREROLL_S,
            segment=SEGMENT_S,
            storage=root / "sessions",
            socket=root / "control.sock",
        )
    )
    socket_path = root / "control.sock"
    say(f"demo folder: {root}")
    say(
        f"virtual microphone: ALSA PCM '{mic.name}' reading {mic.infile} (440 Hz tone, a beep every second)"
    )
    period = RATE * PERIOD_MS // 1000
    feeder = Feeder(mic.infile, demo_periods(FORMAT, RATE, CHANNELS, period), PERIOD_MS / 1000)
    feeder.start()
    log_path = root / "daemon.log"
    with open(log_path, "wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "recorder", "run", "--config", str(cfg_path)],
            env=mic.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(socket_path, daemon, log_path)
        say(f"daemon running (pid {daemon.pid}); letting {PREROLL_S:.0f} s of pre-roll build up")
        time.sleep(PREROLL_S + 0.5)
        started = _ctl(socket_path, {"cmd": "start"})
        say(f"start  -> {started['message']} (pre-roll {started.get('preroll_s')} s included)")
        time.sleep(seconds / 2)
        marked = _ctl(socket_path, {"cmd": "mark", "label": "demo marker"})
        say(f"mark   -> {marked['message']}")
        time.sleep(seconds / 2)
        stopped = _ctl(socket_path, {"cmd": "stop"})
        say(f"stop   -> {stopped['message']} ({stopped.get('seconds')} s)")
        session = _wait_finalized(root / "sessions", started["session_id"])
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
        feeder.stop()
    if session is None:
        say(f"the session did not reach the outbox; see {log_path}")
        return 1
    report(session)
    say(f"daemon log: {log_path}")
    say(f"list it again with: session-recorder sessions --config {cfg_path}")
    return 0


def _wait_ready(socket_path: Path, daemon: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise SystemExit(f"the daemon exited early; see {log_path}:\n{log_path.read_text()}")
        try:
            status = send(socket_path, {"cmd": "status"}, timeout=2)["status"]
            if status.get("device") == "ok":
                return
        except ControlSocketError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the daemon did not come up; see {log_path}")


def _ctl(socket_path: Path, payload: dict) -> dict:
    answer = send(socket_path, payload)
    if not answer.get("ok"):
        raise SystemExit(f"{payload['cmd']} refused: {answer.get('message')}")
    return answer


def _wait_finalized(storage: Path, session_id: str):
    store = SessionStore(storage)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for s in store.sessions("outbox"):
            if s.id == session_id:
                return s
        time.sleep(0.1)
    return None


def report(session) -> None:
    rec = session.to_json()
    m = session.manifest
    say(f"\nsession {rec['id']}  ->  {rec['path']}")
    say(
        f"  {rec['seconds']:.2f} s = {rec['frames']} frames at {rec['rate']} Hz, "
        f"{rec['channels']} ch, {rec['format']}; stop reason: {rec['stop_reason']}"
    )
    sox = shutil.which("sox")
    for path in rec["segments"]:
        info = soundfile.info(path)
        line = f"  {Path(path).name}: {info.frames} frames ({info.duration:.2f} s, {info.subtype})"
        if sox:
            out = subprocess.run(
                [sox, "--i", "-D", path], capture_output=True, text=True, check=False
            )
            line += f"; sox reads {float(out.stdout or 0):.2f} s"
        say(line)
    for k in rec["markers"]:
        say(f"  marker at {k['seconds']:.2f} s (frame {k['frame']}): {k['label']!r}")
    levels = m.levels or {}
    say(f"  peak dBFS {levels.get('peak_dbfs')}, RMS dBFS {levels.get('rms_dbfs')}")
    say(f"  manifest: {Path(rec['path']) / 'manifest.json'}")
    say(json.dumps({k: rec[k] for k in ("id", "state", "frames", "markers")}, indent=None))


def say(text: str) -> None:
    print(text, flush=True)
