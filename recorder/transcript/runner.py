"""Running the transcript worker from the daemon or the command line.

One child at a time. The caller's thread waits for it in `select` with a timeout, so a child
that stops reporting (a wedged engine) is killed after STALL_S rather than holding the outbox
for ever. While a session records the child is frozen with SIGSTOP and thawed with SIGCONT:
a new session never competes with a transcript, whatever the scheduler does.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from recorder.core.manifest import Manifest
from recorder.transcript.settings import Settings
from recorder.transcript.status import (
    FILES,
    ORIGINAL_FILE,
    STATUS_FILE,
    TranscriptFileError,
    read_status,
)

log = logging.getLogger(__name__)

STALL_S = 900.0  # no progress line for this long while not paused: the worker is wedged
LOG_EVERY = 0.10  # the daemon logs progress every 10 %


class TranscriptError(RuntimeError):
    """The transcript could not be built; the message says why, for a coach."""


class TranscriptRunner:
    """Starts the worker and waits for it; other threads may pause, resume or cancel it."""

    def __init__(self, python: str = sys.executable, stall_s: float = STALL_S) -> None:
        self.python = python
        self.stall_s = stall_s
        self._lock = threading.Lock()
        self._child: subprocess.Popen | None = None  # guarded by _lock
        self._folder: Path | None = None  # guarded by _lock
        self._paused = False  # guarded by _lock
        self._cancelled = False  # guarded by _lock

    def run(
        self,
        folder: Path,
        settings: Settings,
        on_progress: Callable[[float], None],
        on_engine: Callable[[str], None] | None = None,
    ) -> dict:
        """Build the transcript of the session in `folder`; returns the worker's summary.
        `on_engine` hears the engine the worker chose (for "auto", the one it resolved to)."""
        child = subprocess.Popen(
            [self.python, "-m", "recorder.transcript.worker", str(folder), settings.to_json()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C at the terminal reaches the parent only
        )
        with self._lock:
            self._child, self._folder, self._cancelled = child, folder, False
            if self._paused:
                child.send_signal(signal.SIGSTOP)
        try:
            return self._follow(child, on_progress, on_engine or (lambda engine: None))
        finally:
            with self._lock:
                self._child = self._folder = None
            if child.poll() is None:
                child.kill()
            child.wait()
            assert child.stdout is not None
            child.stdout.close()

    def _follow(
        self,
        child: subprocess.Popen,
        on_progress: Callable[[float], None],
        on_engine: Callable[[str], None],
    ) -> dict:
        assert child.stdout is not None
        fd = child.stdout.fileno()
        buffer = b""
        quiet_since = time.monotonic()
        while True:
            ready, _, _ = select.select([fd], [], [], min(5.0, self.stall_s))
            if not ready:
                with self._lock:
                    paused = self._paused
                if paused:
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since > self.stall_s:
                    child.kill()
                    raise TranscriptError(
                        f"the transcript worker stopped answering for {self.stall_s:.0f} s"
                    )
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            quiet_since = time.monotonic()
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            for raw in complete:
                message = _parse(raw)
                if "progress" in message:
                    on_progress(float(message["progress"]))
                elif "done" in message:
                    return message["done"]
                elif "error" in message:
                    raise TranscriptError(str(message["error"]))
                elif "engine" in message:
                    on_engine(str(message["engine"]))
        code = child.wait()
        with self._lock:
            cancelled = self._cancelled
        if cancelled:
            raise TranscriptError("cancelled")
        raise TranscriptError(f"the transcript worker ended without a result (exit {code})")

    def pause(self, paused: bool) -> None:
        """Freeze (True) or thaw (False) the worker, now and for any started meanwhile."""
        with self._lock:
            self._paused = paused
            if self._child is not None and self._child.poll() is None:
                self._child.send_signal(signal.SIGSTOP if paused else signal.SIGCONT)

    def cancel(self, folder: Path | None = None) -> None:
        """Kill the worker (only if it works on `folder`, when given)."""
        with self._lock:
            child = self._child
            if child is None or (folder is not None and self._folder != folder):
                return
            self._cancelled = True
        child.kill()


def _parse(raw: bytes) -> dict:
    try:
        message = json.loads(raw)
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}


class TranscriptStep:
    """The outbox's transcript step: after the FLAC and MP3, before the upload.

    A transcript is built once: "done" and "failed" are left alone (`session-recorder
    transcript SESSION --rebuild` tries again); one left "building" by a crash or a stop is
    built again.
    """

    def __init__(self, settings: Settings, runner: TranscriptRunner | None = None) -> None:
        self.settings = settings
        self.runner = runner or TranscriptRunner()

    def build(self, folder: Path, manifest: Manifest) -> None:
        try:
            if read_status(folder)["status"] in ("done", "failed"):
                return
        except TranscriptFileError as exc:
            log.warning("%s; building the transcript again", exc)
        logged = [0.0]

        def progress(fraction: float) -> None:
            if fraction - logged[0] >= LOG_EVERY or fraction >= 1.0 > logged[0]:
                logged[0] = fraction
                log.info("session %s: transcript %d %%", manifest.id, round(fraction * 100))

        log.info("session %s: building its transcript (%s)", manifest.id, self.settings.engine)
        try:
            summary = self.runner.run(folder, self.settings, progress)
        except TranscriptError as exc:
            log.error("session %s: transcript not built: %s", manifest.id, exc)
            return
        log.info(
            "session %s: transcript ready: %d turns, %d words (%s)",
            manifest.id,
            summary.get("turns", 0),
            summary.get("words", 0),
            ", ".join(summary.get("files", [])),
        )

    def files(self, folder: Path) -> list[str]:
        """The transcript files to send to the archive: the three a person reads, and
        transcript.json (the words' times, the coach's revisions) with the engine's original
        beside it once the coach corrected it: the archive outlives the box's copy."""
        try:
            if read_status(folder)["status"] != "done":
                return []
        except TranscriptFileError:
            return []
        names = (*FILES, STATUS_FILE, ORIGINAL_FILE)
        return [name for name in names if (folder / name).exists()]

    def set_recording(self, recording: bool) -> None:
        self.runner.pause(recording)

    def cancel(self, folder: Path) -> None:
        self.runner.cancel(folder)

    def stop(self) -> None:
        self.runner.cancel()
