"""The transcript worker: a child process that builds one session's transcript.

    python -m recorder.transcript.worker SESSION_DIR SETTINGS_JSON

It runs at idle CPU and disk priority, dies with its parent, and takes the session's
transcript lock so that the daemon and the command line never build the same one twice. It
writes transcript.json ("building", then "done" or "failed") and the files, and reports on
stdout, one JSON object a line: {"engine": "whisper"} once it has chosen, {"progress": 0.42}
while it works, then {"done": summary} or {"error": message}. An engine holding the GIL (pocketsphinx does) only ever stops this
process, never the recorder.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from recorder.threads.priority import lower_priority

LOCK_FILE = ".transcript.lock"
PR_SET_PDEATHSIG = 1
PROGRESS_EVERY_S = 1.0


def _say(**message) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def main(argv: list[str]) -> int:
    _die_with_parent()

    lower_priority()
    folder = Path(argv[0])
    lock = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        _say(error=f"{folder.name}: a transcript of this session is being built already")
        return 3
    try:
        return _build(folder, argv[1])
    finally:
        os.close(lock)


def _build(folder: Path, settings_json: str) -> int:
    # Imported here, once this process dies with its parent, runs at idle priority and holds the
    # lock: numpy, pydantic, python-docx and the engine take seconds to load on a Pi.
    from recorder.core.manifest import parse_manifest
    from recorder.ports.speech import EngineError
    from recorder.store.sessions import MANIFEST
    from recorder.transcript.builder import build_transcript
    from recorder.transcript.engines import make_engine
    from recorder.transcript.files import write_all
    from recorder.transcript.models import choose
    from recorder.transcript.settings import Settings
    from recorder.transcript.status import write_status

    settings = Settings.from_json(settings_json)
    choice = choose(settings.engine, settings.model_dir)
    _say(engine=choice.engine)
    status = {
        "status": "building",
        "engine": choice.engine,
        "engine_reason": choice.reason,
        "files": [],
        "words": 0,
        "turns": 0,
        "paragraphs": 0,
    }
    try:
        manifest = parse_manifest((folder / MANIFEST).read_bytes(), str(folder / MANIFEST))
        write_status(folder, status)
        if choice.error is not None:
            raise EngineError(choice.error)
        engine = make_engine(choice.engine, choice.model_dir, settings.language, settings.threads)
        last = [0.0, 0.0]  # when the last line was said, the fraction last written to the file

        def progress(fraction: float) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY_S or fraction >= 1.0:
                last[0] = now
                _say(progress=round(fraction, 4))
            if fraction - last[1] >= 0.1:  # for `sessions --json`: a few writes a transcript
                last[1] = fraction
                write_status(folder, {**status, "progress": round(fraction, 2)})

        doc = build_transcript(folder, manifest, settings, engine, progress)
        files = write_all(doc, folder)
    except (EngineError, OSError, ValueError, RuntimeError) as exc:
        write_status(folder, {**status, "status": "failed", "error": str(exc)})
        _say(error=str(exc))
        return 1
    done = {
        "status": "done",
        "engine": doc.engine,
        "engine_reason": choice.reason,
        "files": files,
        "words": doc.words,
        "turns": doc.turns,
        "paragraphs": doc.paragraphs,
        "mode": doc.mode,
        "speakers": list(doc.speakers),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "doc": doc.to_json(),
    }
    write_status(folder, done)
    _say(done={k: v for k, v in done.items() if k != "doc"})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
