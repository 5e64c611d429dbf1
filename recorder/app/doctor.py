"""`session-recorder doctor`: is this box able to record, and if not, what to do about it.

Each check says what it found and, when something is wrong, a fix in plain language. Checks of
what recording itself needs (the config, the audio device, the storage) block: the command then
exits non-zero. The rest (GPIO, clock, broker, remote, service) warn.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from gpiozero import Device

from recorder.adapters.alsa_process import AlsaProcessSource
from recorder.adapters.clock import SystemClock
from recorder.adapters.control_socket import ControlSocketError, send
from recorder.adapters.disk import StatvfsDisk
from recorder.adapters.gpio import gpio_unavailable_reason, pin_factory_fallbacks
from recorder.adapters.rclone.client import Rclone, RcloneError
from recorder.config import Config
from recorder.core.formats import decode
from recorder.core.recording.disk import hours_left
from recorder.core.recording.levels import LevelMeter, dbfs
from recorder.outbox.discard import remote_dir_for
from recorder.ports.audio import DeviceLost, DeviceStalled, DeviceUnavailable, Overrun
from recorder.store.sessions import STATES, SessionStore
from recorder.transcript.models import choose


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    blocks: bool = False  # a failure here means the box cannot record

    @property
    def mark(self) -> str:
        return "ok  " if self.ok else ("FAIL" if self.blocks else "warn")


def run_checks(cfg: Config) -> list[Check]:
    """Every check, none of which changes the box: no folder is created, probe files go."""
    status = _daemon_status(cfg)
    checks = [
        Check("config", True, f"{cfg.source} is valid"),
        _audio(cfg, status),
        _storage(cfg),
        _gpio(cfg, status),
        _clock(),
    ]
    if cfg.mqtt is not None:
        checks.append(_broker(cfg))
    if cfg.upload is not None:
        checks.append(_remote(cfg))
    if cfg.transcript is not None:
        checks.append(_transcript(cfg))
    checks.append(_service(status))
    return checks


def _transcript(cfg: Config) -> Check:
    """The engine a transcript would use on this box and why, without loading it (a whisper
    model takes seconds); the bundled model's sha256 is checked (a tenth of a second)."""
    t = cfg.transcript
    assert t is not None
    choice = choose(t.engine, t.model_dir)
    if choice.error is not None:
        return Check(
            "transcripts",
            False,
            choice.error,
            "copy a faster-whisper (CTranslate2) model folder to [transcript] model_dir, or "
            'reinstall the recorder; or set [transcript] engine = "auto"',
        )
    if choice.engine == "whisper":  # faster-whisper is there: choose() looked for it
        return Check(
            "transcripts",
            True,
            f"faster-whisper with the model in {choice.model_dir} ({choice.reason}); "
            "pocketsphinx is the fallback",
        )
    spec = importlib.util.find_spec("pocketsphinx")
    model = Path(spec.origin).parent / "model" / "en-us" if spec and spec.origin else None
    if model is None or not model.is_dir():
        return Check(
            "transcripts",
            False,
            "pocketsphinx or its built-in US English model is missing",
            "reinstall the recorder: pip install --force-reinstall pocketsphinx",
        )
    return Check("transcripts", True, f"pocketsphinx with its model in {model} ({choice.reason})")


def _daemon_status(cfg: Config) -> dict | None:
    try:
        return send(cfg.socket_path, {"cmd": "status"}, timeout=3).get("status")
    except ControlSocketError:
        return None


def _audio(cfg: Config, status: dict | None) -> Check:
    a = cfg.audio
    fix = (
        f"plug in the USB audio interface; `arecord -L` lists the devices: set [audio] device to "
        f"its plughw:CARD=<id>,DEV=0 name (now '{a.device}')"
    )
    if status is not None:  # the daemon holds the device: ask it instead of opening it
        if status.get("device") == "ok":
            return Check("audio device", True, f"'{a.device}' is open in the running recorder")
        return Check("audio device", False, status.get("last_error") or "not open", fix, True)
    # The device is opened by the capture helper process, as the daemon does, so an open that
    # blocks (a busy or wedged device) costs at most these waits, and alsa-lib's own messages
    # stay in the helper's log instead of flooding the terminal.
    source = AlsaProcessSource(
        a.device, a.rate, a.channels, a.format, a.period_frames, answer_s=4.0, stall_s=3.0
    )
    result: dict = {}
    try:
        source.open()
        meter = LevelMeter(a.channels, a.sample_format.full_scale)
        periods = max(1, 500 // a.period_ms)  # half a second of sound
        while meter.frames < periods * a.period_frames:
            try:
                meter.feed(decode(source.read(), a.sample_format, a.channels))
            except Overrun:
                continue
        result["peak"] = max(dbfs(p, meter.full_scale) for p in meter.peak)
    except DeviceStalled:
        result["error"] = f"'{a.device}' opened but delivers no sound"
    except (DeviceUnavailable, DeviceLost) as exc:
        result["error"] = str(exc)
    finally:
        source.close()
    if "error" in result:
        return Check("audio device", False, result["error"], fix, True)
    peak = result["peak"]
    detail = f"'{a.device}' records {a.rate} Hz, {a.channels} ch, {a.format}; peak {peak:.0f} dBFS"
    if peak <= cfg.warnings.silence_dbfs:
        return Check(
            "audio device",
            True,
            detail + " (silent)",
            "is the microphone connected and its gain up? (say something during the check)",
        )
    return Check("audio device", True, detail)


def _storage(cfg: Config) -> Check:
    """What `run` would find, without creating the folders it would create."""
    root = cfg.storage.dir
    fix = f"check that {root} exists, is mounted and belongs to the recorder's user"
    existing = next(p for p in (root, *root.parents) if p.exists())
    if not existing.is_dir():
        return Check("storage", False, f"storage dir {root}: {existing} is not a folder", fix, True)
    store = SessionStore(root)
    dirs = [existing] + [d for d in map(store.state_dir, STATES) if d.is_dir()]
    for d in dirs:
        problem = _not_writable(d)
        if problem and d == existing != root:
            detail = f"storage dir {root} does not exist and cannot be created in {d}: {problem}"
            return Check("storage", False, detail, fix, True)
        if problem:
            where = "" if d == root else f" ({d})"
            return Check(
                "storage", False, f"storage dir {root}{where} is not writable: {problem}", fix, True
            )
    free = StatvfsDisk().free_bytes(existing)
    min_free = cfg.storage.min_free_mb * 1_000_000
    hours = hours_left(free, min_free, cfg.audio.bytes_per_second)
    space = f"{free / 1e9:.1f} GB free, {hours:.1f} h of recording"
    if existing != root:
        return Check(
            "storage",
            False,
            f"storage dir {root} does not exist; `session-recorder run` will create it "
            f"under {existing} ({space})",
            f"if {root} should be on a disk of its own, is that disk mounted?",
            hours <= 0,
        )
    detail = f"{root} is writable; {space}"
    if hours < 1:
        return Check(
            "storage",
            False,
            detail,
            "free space: uploaded sessions can go (see [upload] keep_free_mb), or use a bigger card",
            hours <= 0,
        )
    return Check("storage", True, detail)


def _not_writable(folder: Path) -> str:
    """Why a file cannot be written in `folder` ("" when it can), proved with a probe that goes."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-probe-") as f:
            f.write(b"ok")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        return exc.strerror or str(exc)
    return ""


def _gpio(cfg: Config, status: dict | None) -> Check:
    if not cfg.gpio.enabled:
        return Check("gpio", True, "button and LED are disabled in the config")
    if status is not None and str(status.get("gpio", "")).startswith("unavailable"):
        return Check("gpio", False, status["gpio"], _gpio_fix())
    if status is not None:
        return Check("gpio", True, str(status.get("gpio")))
    # gpiozero warns once per pin factory it cannot load; the check says it in one line.
    error: Exception | None = None
    with pin_factory_fallbacks() as tried:
        try:
            factory = Device._default_pin_factory()
        except Exception as exc:
            error = exc
    if error is not None:
        return Check("gpio", False, gpio_unavailable_reason(error, tried), _gpio_fix())
    factory.close()
    return Check("gpio", True, f"pin factory available for button GPIO{cfg.gpio.button}")


def _gpio_fix() -> str:
    return (
        "on a Pi: install python3-lgpio (Pi 5) and add the service user to the gpio group; "
        "elsewhere the recorder works without a button, driven by `session-recorder ctl`"
    )


def _clock() -> Check:
    if SystemClock().synchronised():
        return Check("clock", True, "synchronised")
    return Check(
        "clock",
        False,
        "not synchronised (session ids end in -u until it is; recordings are unaffected)",
        "connect the box to a network with NTP, or add an RTC",
    )


def _broker(cfg: Config) -> Check:
    m = cfg.mqtt
    assert m is not None
    done = threading.Event()
    result: dict = {}
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"doctor-{uuid.uuid4().hex[:8]}"
    )
    if m.username:
        pw = m.password_file.read_text().rstrip("\r\n") if m.password_file else None
        client.username_pw_set(m.username, pw)
    if m.tls:
        client.tls_set(
            ca_certs=str(m.ca_file) if m.ca_file else None,
            certfile=str(m.cert_file) if m.cert_file else None,
            keyfile=str(m.key_file) if m.key_file else None,
        )

    def on_connect(_c, _u, _f, reason_code, _p) -> None:
        result["rc"] = reason_code
        done.set()

    client.on_connect = on_connect
    where = f"{m.host}:{m.port}"
    try:
        client.connect(m.host, m.port, keepalive=10)
        client.loop_start()
        done.wait(5)
    except OSError as exc:
        return Check(
            "mqtt",
            False,
            f"cannot reach {where}: {exc}",
            "is mosquitto running? (`systemctl status mosquitto`)",
        )
    finally:
        client.loop_stop()
        client.disconnect()
    rc = result.get("rc")
    if rc is None:
        return Check("mqtt", False, f"{where} did not answer", "check host, port and TLS settings")
    if rc.is_failure:
        return Check(
            "mqtt",
            False,
            f"{where} refused the login: {rc}",
            "check [mqtt] username and password_file",
        )
    return Check("mqtt", True, f"{where} accepts {m.username or 'anonymous'}")


def _remote(cfg: Config) -> Check:
    u = cfg.upload
    assert u is not None
    fix = "check [upload] remote and the rclone config (`rclone --config FILE lsd REMOTE`)"
    probe_dir = remote_dir_for(u.remote, f"doctor-probe-{uuid.uuid4().hex[:8]}")
    try:
        remote = Rclone(u.rclone_config, u.rclone_binary, u.config_password_file)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "probe.txt").write_text("session-recorder doctor probe\n")
            remote.upload(Path(tmp), ["probe.txt"], probe_dir)
            wrong = remote.verify(Path(tmp), ["probe.txt"], probe_dir)
            remote.purge(probe_dir)
    except (RcloneError, ValueError, OSError) as exc:
        kind = getattr(exc, "kind", "config")
        hint = {
            "auth": "the remote refused the credentials: renew them in the rclone config",
            "network": "the remote cannot be reached: check the network",
        }.get(kind, fix)
        return Check("remote", False, f"{u.remote}: {exc}", hint)
    if wrong:
        return Check("remote", False, f"{u.remote}: a probe file did not verify", fix)
    return Check(
        "remote", True, f"{u.remote} is reachable and writable (probe written, verified, removed)"
    )


def _service(status: dict | None) -> Check:
    running = (
        "the recorder is running" if status is not None else "no recorder answers on the socket"
    )
    systemctl = shutil.which("systemctl")
    if systemctl is None or not Path("/run/systemd/system").exists():
        return Check(
            "service",
            status is not None,
            f"{running} (no systemd here)",
            "start it: `session-recorder run`",
        )
    state = subprocess.run(
        [systemctl, "is-active", "session-recorder"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return Check(
        "service",
        state == "active",
        f"session-recorder.service is {state or 'unknown'}; {running}",
        "`sudo systemctl enable --now session-recorder`; `journalctl -u session-recorder` says why it stopped",
    )


def report(checks: list[Check]) -> str:
    lines = []
    for c in checks:
        lines.append(f"[{c.mark}] {c.name}: {c.detail}")
        if c.fix and not c.ok:
            lines.append(f"       fix: {c.fix}")
        elif c.fix:
            lines.append(f"       note: {c.fix}")
    blocked = [c.name for c in checks if not c.ok and c.blocks]
    lines.append(f"cannot record: {', '.join(blocked)}" if blocked else "ready to record")
    return "\n".join(lines)


def as_json(checks: list[Check]) -> list[dict]:
    return [asdict(c) for c in checks]
