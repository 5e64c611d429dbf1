"""Shared fixtures: a real ALSA virtual microphone, configs, and a recorder in this process.

alsa-lib reads ~/.asoundrc once per process, so HOME points at a session-wide folder before any
test opens a PCM; every test gets a fresh FIFO at the same path behind the `testmic` PCM.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from recorder.app.virtualmic import VirtualMic

_ALSA_HOME = Path(tempfile.mkdtemp(prefix="recorder-tests-alsa-"))
os.environ["HOME"] = str(_ALSA_HOME)
MIC = VirtualMic(_ALSA_HOME, name="testmic", infile=_ALSA_HOME / "mic.fifo").install(fifo=False)

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
