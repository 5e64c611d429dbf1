"""Helpers for tests: configs, waiting without fixed sleeps, reading recordings independently."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from recorder.adapters.control_socket import ControlSocketError, send
from recorder.app.daemon import Recorder
from recorder.config import Config, parse_config
from recorder.core.formats import FORMATS
from recorder.core.recording.state import Start, Stop

ROOT = Path(__file__).resolve().parent.parent  # the checkout
SOX_ENCODING = {"S16_LE": ["-b", "16"], "S24_3LE": ["-b", "24"], "S32_LE": ["-b", "32"]}

BASE = {
    "device": {"id": "test-box"},
    "audio": {
        "device": "testmic",
        "rate": 48000,
        "channels": 2,
        "format": "S16_LE",
        "period_ms": 100,
        "preroll_s": 1.0,
        "segment_s": 1.0,
        "buffer_s": 30.0,
    },
    "storage": {"min_free_mb": 1},
    "gpio": {"enabled": False},  # GPIO tests turn it on with gpiozero's MockFactory
}


def opt_in(variable: str, why: str, command: str) -> pytest.MarkDecorator:
    """Skip unless `variable`=1: a slow test kept out of the default run, whose skip reason
    says why and how to run it (`command`: pytest's arguments after `-q`)."""
    return pytest.mark.skipif(
        os.environ.get(variable) != "1",
        reason=f"{why}: run with {variable}=1 .venv/bin/python -m pytest -q {command}",
    )


def make_config(tmp_path: Path, **sections: dict) -> Config:
    data = {k: dict(v) for k, v in BASE.items()}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    data["storage"].setdefault("dir", str(tmp_path / "sessions"))
    data.setdefault("control", {}).setdefault("socket", str(tmp_path / "control.sock"))
    return parse_config(data, tmp_path / "config.toml")


def write_config(tmp_path: Path, **sections: dict) -> Path:
    cfg = make_config(tmp_path, **sections)
    path = tmp_path / "config.toml"
    lines = []
    for name, section in cfg.model_dump(mode="json", exclude_none=True).items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in section.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@contextlib.contextmanager
def small_disk(where: Path, size: str):
    """A real, small filesystem (tmpfs) to fill up; skips the test where mounting is refused."""
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if done.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(where: Path) -> Path:
    """Another program takes every free byte, as `dd` does until the disk says no."""
    filler = where / "filler"
    done = subprocess.run(
        ["dd", "if=/dev/zero", f"of={filler}", "bs=64k"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "No space left on device" in done.stderr, done.stderr
    return filler


def copy_checkout(dest: Path) -> Path:
    """This checkout without its venv, git data and caches (install.sh never writes into it)."""
    shutil.copytree(
        ROOT,
        dest,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "node_modules", "__pycache__", ".pytest_cache", ".ruff_cache",
            "artifacts", "*.egg-info",
        ),
    )  # fmt: skip
    page = dest / "dashboard" / "dist" / "index.html"
    if not page.exists():  # not built here: a stand-in, so install.sh does not run npm
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text("<!doctype html><title>stand-in dashboard</title>\n")
    return dest


def daemon_status(sock: Path) -> dict | None:
    """The running daemon's status over its control socket, or None while it does not answer."""
    try:
        return send(sock, {"cmd": "status"}, timeout=2)["status"]
    except ControlSocketError:
        return None


def wait_until(predicate: Callable[[], object], timeout: float = 20.0, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")


def sox_raw(paths: list[str]) -> bytes:
    """The samples of WAV files, joined, as raw bytes in their own encoding, read by sox."""
    out = subprocess.run(["sox", *paths, "-t", "raw", "-"], capture_output=True, check=True).stdout
    return out


def sox_samples(path: Path, fmt: str) -> bytes:
    """The samples of one audio file (any format sox reads) as signed little-endian `fmt`."""
    cmd = ["sox", str(path), "-t", "raw", "-e", "signed-integer", *SOX_ENCODING[fmt], "-L", "-"]
    return subprocess.run(cmd, capture_output=True, check=True).stdout


def sox_seconds(path: str | Path) -> float:
    out = subprocess.run(
        ["sox", "--i", "-D", str(path)], capture_output=True, text=True, check=True
    )
    return float(out.stdout)


def ffprobe_seconds(path: str | Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout)["format"]["duration"])


def ffprobe(path: Path, *extra: str) -> dict:
    """Format and streams of a file as ffmpeg (not libsndfile) reads them."""
    cmd = ["ffprobe", "-v", "error", "-of", "json", "-show_format", "-show_streams", *extra]
    return json.loads(subprocess.run([*cmd, str(path)], capture_output=True, check=True).stdout)


def cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "recorder", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def start_daemon(cfg_path: Path, mic, out) -> subprocess.Popen:
    """`session-recorder run` in a subprocess fed by `mic`, its output (both streams) to `out`."""
    return subprocess.Popen(
        [sys.executable, "-m", "recorder", "run", "--config", str(cfg_path)],
        env=mic.env(),
        stdout=out,
        stderr=subprocess.STDOUT,
    )


class Running:
    """A Recorder in this process fed by a Feeder; shuts both down on exit."""

    def __init__(self, cfg: Config, feeder, parts=None) -> None:
        self.cfg = cfg
        self.feeder = feeder
        self.rec = Recorder(cfg, parts)

    def __enter__(self) -> Running:
        self.feeder.start()
        self.rec.start()
        return self

    def __exit__(self, *exc) -> None:
        self.rec.shutdown()
        self.feeder.stop()

    def request(self, event) -> dict:
        return self.rec.controller.request(event)

    def wait_frames(self, frames: int, timeout: float = 30.0) -> None:
        wait_until(lambda: self.rec.tap.position >= frames, timeout, f"{frames} captured frames")

    def wait_session_frames(self, frames: int, timeout: float = 30.0) -> None:
        wait_until(
            lambda: self.rec.tap.session_frames >= frames, timeout, f"{frames} session frames"
        )

    def record(self, seconds: float) -> str:
        """A whole session of `seconds` (after a quarter second of pre-roll): its id."""
        rate = self.cfg.audio.rate
        self.wait_frames(self.rec.tap.position + rate // 4)
        started = self.request(Start())
        assert started["ok"], started
        self.wait_session_frames(int(seconds * rate))
        assert self.request(Stop())["ok"]
        return started["session_id"]

    def wait_outbox(self, session_id: str, timeout: float = 30.0):
        def find():
            return next((s for s in self.rec.store.sessions("outbox") if s.id == session_id), None)

        return wait_until(find, timeout, f"session {session_id} in the outbox")


def expected_audio(feeder, manifest) -> bytes:
    """What the session must contain: the fed bytes from its first frame, as long as it is."""
    fb = FORMATS[manifest.audio.format].frame_bytes(manifest.audio.channels)
    return bytes(
        feeder.recorded[manifest.start_pos * fb : (manifest.start_pos + manifest.frames) * fb]
    )
