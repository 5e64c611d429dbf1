"""`session-recorder demo`: a whole session on a machine with no sound card and no Pi.

It builds a virtual ALSA microphone fed with a recognisable signal and runs the recorder — the
same `Recorder` that `session-recorder run` runs, with its capture, writer and controller
threads and its control socket — against it, with gpiozero's mock pins standing in for the
button and the LED. It presses the button as a coach would (press to start, a short press for a
marker, hold to stop), adds a labelled marker over the control socket as `ctl mark` does, and
reports what was written, read back with libsndfile and, where installed, sox.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile
from gpiozero.pins.mock import MockFactory, MockPWMPin

from recorder.adapters.control_socket import send, wait_for_job
from recorder.adapters.rclone.client import RcloneError, find_binary, vet
from recorder.app.daemon import Parts, Recorder
from recorder.app.demo_voices import ESPEAK, SCRIPT, conversation, to_int16
from recorder.app.demo_web import Box
from recorder.app.virtualmic import Feeder, VirtualMic, demo_periods, encode
from recorder.config import Config, load_config
from recorder.core.formats import FORMATS
from recorder.core.recording.state import State, led_view
from recorder.media.mp3 import mp3_bitrate_kbps
from recorder.store.sessions import SessionStore
from recorder.transcript.status import counts, read_status, summary
from recorder.views.sessions import session_json

RATE, CHANNELS, FORMAT, PERIOD_MS = 48000, 2, "S16_LE", 100
PREROLL_S, SEGMENT_S = 3.0, 4.0

CONFIG = """\
# Written by `session-recorder demo`: a virtual microphone instead of a USB interface,
# gpiozero's mock pins instead of a button and an LED.
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

[warnings]
disk_minutes = 0

[control]
socket = "{socket}"
{transcript}{upload}"""

TRANSCRIPT = """
[transcript]
# Coach on channel 1, client on channel 2: who is speaking is measured, not guessed.
speakers = ["Coach", "Client"]
"""

UPLOAD = """
[upload]
# A crypt remote over a local folder stands in for the cloud: see {rclone_config}.
remote = "democloud:"
rclone_config = "{rclone_config}"
rclone_binary = "{rclone}"

[share]
# Plain copies for a mentor or the client: a local folder stands in for Dropbox or S3.
remote = "demoshare:{shared}"
"""


def run_demo(where: Path | None, seconds: float | None = None, web: bool = False) -> int:
    """The demo session; with `web`, then the demo's box kept up for the page until Ctrl-C."""
    root = (where or Path(tempfile.mkdtemp(prefix="session-recorder-demo-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    mic = VirtualMic(root / "alsa").install()
    os.environ["HOME"] = str(mic.home)  # alsa-lib reads ~/.asoundrc at its first use
    cfg_path = root / "config.toml"
    log_path = root / "daemon.log"
    _log_to(log_path)
    say(f"demo folder: {root}")
    say(f"virtual microphone: ALSA PCM '{mic.name}' reading {mic.infile}")
    speech = _speech()
    box = Box(root) if web else None
    try:
        extra = box.config_sections() if box is not None else ""
        cfg = _write_config(cfg_path, root, mic, speech is not None, extra)
        return _run(cfg, cfg_path, root, mic, speech, seconds, box)
    finally:
        if box is not None:
            box.stop()


def _run(cfg, cfg_path: Path, root: Path, mic: VirtualMic, speech, seconds, box) -> int:
    """The session, its report, then (with a box) the page until Ctrl-C."""
    log_path = root / "daemon.log"
    periods, seconds = _signal(speech, seconds)
    feeder = Feeder(mic.infile, periods, PERIOD_MS / 1000)
    feeder.start()
    factory = MockFactory(pin_class=MockPWMPin)
    rec = Recorder(cfg, Parts(pin_factory=factory))
    printer = _LedPrinter()
    rec.controller.add_listener(printer)
    rec.controller.add_notifier(printer.event)
    rec.start()
    try:
        session_id = _record(rec, cfg, factory.pin(cfg.gpio.button), seconds)
        session = _after_the_stop(rec, cfg, session_id, root)
        report(session)
        transcript_report(session.path)
        say(f"recorder log: {log_path}")
        if box is None:
            say(f"see it on the phone page: {own_command()} demo --web (on this machine, "
                "until Ctrl-C)")  # fmt: skip
        say(f"list it again with: {own_command()} sessions --config {shlex.quote(str(cfg_path))}")
        if box is None:
            return 0
        box.serve(cfg_path)
        return box.until_interrupted()
    finally:
        if box is not None:
            box.stop_web()  # before the recorder it talks to (the broker goes after it)
        rec.shutdown()
        feeder.stop()
        factory.reset()


def _write_config(
    cfg_path: Path, root: Path, mic: VirtualMic, transcript: bool, extra: str = ""
) -> Config:
    cfg_path.write_text(
        CONFIG.format(
            upload=_local_cloud(root),
            device=mic.name,
            rate=RATE,
            channels=CHANNELS,
            format=FORMAT,
            period_ms=PERIOD_MS,
            preroll=PREROLL_S,
            segment=SEGMENT_S,
            storage=root / "sessions",
            socket=root / "control.sock",
            transcript=TRANSCRIPT if transcript else "",
        )
        + extra
    )
    return load_config(cfg_path)


def _signal(speech, seconds: float | None) -> tuple[Iterator[bytes], float]:
    """What the virtual microphone plays, and how long the session lasts after the pre-roll."""
    period = RATE * PERIOD_MS // 1000
    if speech is not None:
        say(
            "  signal: a coach (channel 1) and a client (channel 2) talking, in espeak-ng's voices;"
        )
        say("  each microphone also hears the other voice 20 dB lower, as across a table")
        periods = speech_periods(speech, period, lead_s=PREROLL_S + 1.5)
        return periods, seconds if seconds is not None else len(speech) / RATE - PREROLL_S
    say("  signal: a 440 Hz tone at -12 dBFS with a beep at the start of every second")
    return demo_periods(FORMAT, RATE, CHANNELS, period), seconds if seconds is not None else 9.0


def _record(rec: Recorder, cfg: Config, button, seconds: float) -> str:
    """The coach's session: the next client set, a press, a marker or two, a long press."""
    _wait(lambda: rec.controller.status()["device"] == "ok", "the audio device")
    say(f"recorder running; letting {PREROLL_S:.0f} s of pre-roll build up")
    time.sleep(PREROLL_S + 0.5)
    ask(cfg, {"cmd": "next", "client": "Sam", "title": "Goals review"},
        "ctl: the next session is for Sam, 'Goals review' (as the phone page sets it)")  # fmt: skip
    say(f"button: press (GPIO{cfg.gpio.button})")
    _press(button, 0.2)
    status = _wait(lambda: (s := rec.controller.status())["session_id"] and s, "a session")
    session_id = status["session_id"]
    say(f"  -> recording session {session_id}, the {PREROLL_S:.0f} s pre-roll included")
    time.sleep(seconds / 3)
    say("button: short press")
    _press(button, 0.2)
    time.sleep(seconds / 3)
    say("ctl mark 'demo marker'")
    answer = send(cfg.socket_path, {"cmd": "mark", "label": "demo marker"})
    say(f"  -> {answer['message']}")
    time.sleep(seconds / 3)
    say(f"button: hold {cfg.gpio.stop_hold_s:.0f} s, then let go")
    _press(button, cfg.gpio.stop_hold_s + 0.3)
    return session_id


def _after_the_stop(rec: Recorder, cfg: Config, session_id: str, root: Path):
    """The outbox's work on the session (upload and check, or the transcript), then a share."""
    session = _wait(lambda: _in_state(cfg.storage.dir, session_id, "outbox"), "the outbox", 30)
    if cfg.upload is not None:
        say(
            f"the outbox builds session.flac and session.mp3, then uploads the session to "
            f"{cfg.upload.remote} (a crypt remote over {root / 'cloud'}) and checks it ..."
        )
        _wait(lambda: _verified(cfg.storage.dir, session_id, rec), "the upload and its check", 180)
        share_demo(cfg, session_id)
        uploaded = _in_state(cfg.storage.dir, session_id, "uploaded")
        if cfg.transcript is not None and uploaded is not None:
            say("the audio is off the box and checked: now the outbox builds the transcript, "
                "then sends and checks it on its own ...")  # fmt: skip
            _wait(lambda: _transcript_sent(cfg.storage.dir, session_id), "the transcript", 180)
            return _in_state(cfg.storage.dir, session_id, "uploaded")
        return uploaded
    if cfg.transcript is not None:
        say("the outbox builds the session's transcript ...")
        _wait(lambda: _transcribed(session.path), "the transcript", 180)
        return _in_state(cfg.storage.dir, session_id, "outbox")
    return session


def ask(cfg, request: dict, what: str) -> dict:
    say(what)
    answer = wait_for_job(cfg.socket_path, send(cfg.socket_path, request, timeout=120), 120)
    say(f"  -> {answer['message']}")
    return answer


def share_demo(cfg, session_id: str) -> None:
    """What a coach does after the stop: consent on record, then a copy for a mentor."""
    ask(cfg, {"cmd": "share", "session": session_id, "to": "Alex"},
        "ctl: share it with Alex, a mentor (no consent recorded yet)")  # fmt: skip
    ask(cfg, {"cmd": "consent", "session": session_id, "allow": "share",
              "ref": "demo: signed release"},
        "ctl: consent --allow share --ref 'demo: signed release'")  # fmt: skip
    answer = ask(cfg, {"cmd": "share", "session": session_id, "to": "Alex"},
                 "ctl: share it with Alex again")  # fmt: skip
    if answer.get("share"):
        say(f"  the copy holds {', '.join(answer['share']['files'])}, in plain audio")


def _speech():
    """The demo's two-voice conversation (float32, 2 channels), or None without espeak-ng."""
    if ESPEAK is None:
        say("(espeak-ng is not installed: the demo records a tone, and makes no transcript)")
        return None
    audio, _ = conversation(SCRIPT, RATE, lead_s=0.5, tail_s=1.5)
    return audio


def speech_periods(audio, period: int, lead_s: float):
    """`audio` after `lead_s` of a quiet room (noise at -70 dBFS), then the quiet room again."""

    rng = np.random.default_rng(7)
    lead = np.zeros((round(lead_s * RATE), CHANNELS), dtype=np.float32)
    track = np.concatenate([lead, audio])
    fmt = FORMATS[FORMAT]
    at = 0
    while True:
        block = track[at : at + period]
        if len(block) < period:
            block = np.concatenate([block, np.zeros((period - len(block), CHANNELS), np.float32)])
        noise = rng.normal(0, 10 ** (-70 / 20), block.shape).astype(np.float32)
        yield encode(to_int16(block + noise).astype(np.int64), fmt)
        at += period


def _transcribed(folder: Path) -> bool:
    try:
        return read_status(folder)["status"] in ("done", "failed")
    except ValueError:
        return False


def transcript_report(folder: Path, lines: int = 8) -> None:
    """The transcript's summary and its first lines, as a coach would read them."""
    t = summary(folder)
    if t["status"] == "none":
        return
    if t["status"] != "done":
        say(f"  transcript: {t['status']}: {read_status(folder).get('error')}")
        return
    say(
        f"  transcript ({t['engine']}, offline): {counts(t)}: "
        + ", ".join(Path(f).name for f in t["files"])
    )
    if t.get("engine_reason"):
        say(f"  engine chosen: {t['engine_reason']}")
    text = (folder / "transcript.txt").read_text(encoding="utf-8").splitlines()
    body = [line for line in text if line.startswith("[")]
    for line in body[:lines]:
        say(f"    {line}")
    if len(body) > lines:
        say(f"    ... ({len(body) - lines} more)")


def own_command() -> str:
    """This program as a command that runs from the current folder: a clone's venv is not on
    PATH, so `session-recorder` alone would not be found there."""
    entry = Path(sys.argv[0])
    if entry.name != "session-recorder" or not entry.is_file():  # `python -m recorder`
        venv = Path(".venv/bin/session-recorder")
        if not venv.is_file():
            return f"{shlex.quote(sys.executable)} -m recorder"
        entry = venv
    found = shutil.which("session-recorder")
    if found and Path(found).resolve() == entry.resolve():
        return "session-recorder"
    here = os.path.relpath(entry.resolve(), Path.cwd())
    if here.startswith(".."):
        return shlex.quote(str(entry.resolve()))
    return shlex.quote(here if "/" in here else f"./{here}")


class _LedPrinter:
    """Prints the LED pattern whenever it changes, as a coach would see it, and why it shows
    "finalizing": the same pattern covers closing a session, uploading it and checking it."""

    def __init__(self) -> None:
        self.last = None
        self.busy = "closing the session: its last segment and manifest"

    def event(self, kind: str, payload: dict) -> None:
        """The controller's events, in order with its states: which phase the outbox is in."""
        name = payload.get("event") if kind == "event" else None
        if name == "session_finalized":
            self.busy = "uploading"
        elif name == "session_uploaded":
            self.busy = "verifying the upload with rclone cryptcheck"

    def __call__(self, state: State) -> None:
        view = led_view(state)
        if self.last is not None and view.ack != self.last.ack:
            say("  LED: marker acknowledged")
        if self.last is None or view.name != self.last.name:
            why = f" ({self.busy})" if view.name == "finalizing" else ""
            say(f"  LED: {view.name}{why}")
        self.last = view


def _press(pin, seconds: float) -> None:
    pin.drive_low()
    time.sleep(seconds)
    pin.drive_high()


def _wait(predicate, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"demo: timed out waiting for {what}")


def _in_state(storage: Path, session_id: str, state: str):
    return next((s for s in SessionStore(storage).sessions(state) if s.id == session_id), None)


def _verified(storage: Path, session_id: str, rec):
    """The session once it is on the remote, checked, and its last manifest sent."""
    s = _in_state(storage, session_id, "uploaded")
    if s is None or s.manifest is None or s.manifest.upload.status != "verified":
        return None
    return s if rec.outbox.status().get("verifying") != session_id else None


def _transcript_sent(storage: Path, session_id: str):
    """The session once its transcript is verified on the remote (or will not come)."""
    s = _in_state(storage, session_id, "uploaded")
    if s is None or s.manifest is None:
        return None
    return s if s.manifest.upload.transcript.status in ("verified", "none") else None


def _local_cloud(root: Path) -> str:
    """An rclone config with a crypt remote over `root/cloud`, or "" when rclone is missing."""
    try:
        rclone = find_binary()
        vet(str(root), "demo folder")
    except (RcloneError, ValueError) as exc:
        say(f"(no upload in this demo: {exc})")
        return ""

    def obscure(text: str) -> str:
        return subprocess.run(
            [str(rclone), "obscure", text], capture_output=True, text=True, check=True
        ).stdout.strip()

    conf = root / "rclone.conf"
    (root / "cloud").mkdir(exist_ok=True)
    conf.write_text(
        "[democloud]\ntype = crypt\n"
        f"remote = {root / 'cloud'}\n"
        f"password = {obscure('demo passphrase')}\npassword2 = {obscure('demo salt')}\n"
        "\n[demoshare]\ntype = local\n"
    )
    conf.chmod(0o600)
    return UPLOAD.format(rclone_config=conf, rclone=rclone, shared=root / "shared")


def _log_to(path: Path) -> None:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def report(session) -> None:
    rec = session_json(session)
    m = session.manifest
    say(f"\nsession {rec['id']}  ->  {rec['path']}")
    say(f"  name: {rec['name']}")
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
        say(f"  marker at {k['seconds']:.2f} s (frame {k['frame']}, {k['source']}): {k['label']!r}")
    labels = Path(rec["path"]) / "labels.txt"
    if labels.exists():
        say(f"  {labels.name} (Audacity label track): {labels.read_text().splitlines()}")
    levels = m.levels or {}
    say(f"  peak dBFS {levels.get('peak_dbfs')}, RMS dBFS {levels.get('rms_dbfs')}")
    say(f"  manifest: {Path(rec['path']) / 'manifest.json'}")
    kinds = {
        "session.flac": "lossless, every channel",
        "session.mp3": f"mono speech at {mp3_bitrate_kbps()} kbps, the channels mixed to one",
    }
    for name, kind in kinds.items():
        path = Path(rec["path"]) / name
        if path.exists():
            info = soundfile.info(str(path))
            say(
                f"  {name}: {info.duration:.2f} s, {info.channels} ch ({kind}), "
                f"{path.stat().st_size} bytes"
            )
    u = rec["upload"]
    if u["status"] == "verified":
        say(
            f"  uploaded and verified (rclone cryptcheck) to {u['remote']}: {sorted(m.upload.files)}"
        )
        if u["transcript"]["status"] == "verified":
            say(f"  then the transcript, verified: {sorted(u['transcript']['files'])}")
        cloud = Path(rec["path"]).parents[2] / "cloud"
        stored = sorted(p.relative_to(cloud) for p in cloud.rglob("*") if p.is_file())
        say(f"  on the 'cloud' the names and contents are encrypted: {[str(p) for p in stored]}")


def say(text: str) -> None:
    print(text, flush=True)
