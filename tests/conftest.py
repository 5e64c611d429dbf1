"""Shared fixtures: a real ALSA virtual microphone, a real broker and S3 server, mock pins.

alsa-lib reads ~/.asoundrc once per process, so HOME points at a session-wide folder before any
test opens a PCM; every test gets a fresh FIFO at the same path behind the `testmic` PCM.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from recorder.app.virtualmic import VirtualMic
from tests.mosquitto import Mosquitto
from tests.rclone_server import S3Server

_ALSA_HOME = Path(tempfile.mkdtemp(prefix="recorder-tests-alsa-"))
os.environ["HOME"] = str(_ALSA_HOME)
MIC = VirtualMic(_ALSA_HOME, name="testmic", infile=_ALSA_HOME / "mic.fifo").install(fifo=False)
# The tests' S3 is plain HTTP on loopback. A CA bundle for AWS set on the test machine (for a
# proxy) makes Debian's rclone 1.60, the box's, refuse every S3 remote ("unable to load custom
# CA bundle"); a box's service has no such variable.
os.environ.pop("AWS_CA_BUNDLE", None)

for tool in ("sox", "ffprobe"):
    if shutil.which(tool) is None:
        raise RuntimeError(f"the tests need {tool}; run ./scripts/setup-tests (see README)")


@pytest.fixture
def mic() -> VirtualMic:
    """The in-process virtual microphone, with an empty FIFO."""
    MIC.make_fifo()
    return MIC


@pytest.fixture
def own_mic(tmp_path: Path) -> VirtualMic:
    """A virtual microphone for a daemon in a subprocess (its own HOME)."""
    return VirtualMic(tmp_path / "alsa").install()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real mosquitto with the shipped config and ACL for box-1 (tests/mosquitto.py)."""
    b = Mosquitto(tmp_path, device_id="box-1").start()
    yield b
    b.close()


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3Server]:
    """rclone serving S3 on loopback (tests/rclone_server.py)."""
    with S3Server(tmp_path / "s3") as server:
        yield server


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    """gpiozero's mock pins, PWM-capable (the LED), reset afterwards."""
    f = MockFactory(pin_class=MockPWMPin)
    yield f
    f.reset()


@pytest.fixture
def frozen() -> Iterator[Callable[[int], None]]:
    """Freeze a process (SIGSTOP) for the test; always thawed afterwards."""
    pids: list[int] = []

    def freeze(pid: int) -> None:
        os.kill(pid, signal.SIGSTOP)
        pids.append(pid)

    yield freeze
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # the server is gone already
            os.kill(pid, signal.SIGCONT)
