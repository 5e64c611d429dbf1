"""submission.mp3: the MP3 from the start press (`export --format mp3 --from-start`), built on
demand for the download button, into the web server's cache, never into the session folder
(which is the daemon's).

The build is `recorder.media.deliverables.export` itself, run in a child process started with
`spawn` (the server's threads are not forked), which puts itself behind recording first
(`recorder.threads.priority.lower_priority`: SCHED_IDLE, idle I/O): the event loop never waits
for it and the capture path always goes first. Progress is the size of the file being built
(`.submission.mp3.tmp`, beside its destination) against what a constant-bitrate MP3 of that
length holds. A build is keyed by what goes into it (the segments' sizes and mtimes, the
pre-roll, the tags), so a renamed session is built again and never served stale, while an upload
status written to the manifest changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import re
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path

from recorder.core.manifest import Manifest, parse_manifest
from recorder.core.session_id import is_valid_id
from recorder.media.deliverables import export
from recorder.media.mp3 import mp3_bitrate_kbps
from recorder.media.tags import session_tags
from recorder.store.files import atomic_write
from recorder.store.sessions import MANIFEST, SessionStore
from recorder.threads.priority import lower_priority

log = logging.getLogger(__name__)

SUBMISSION = "submission.mp3"
STAMP = "submission.json"  # beside the file: the stamp of the sources it was built from


def build_submission(
    session_dir: str, manifest_text: str, out: str, stamp: dict, from_start: bool = True
) -> None:
    """In the child process: what `export SESSION --format mp3 [--from-start] --output out`
    does; then the stamp beside it, so the file counts as ready only once it is complete."""
    manifest = parse_manifest(manifest_text, f"{session_dir}/{MANIFEST}")
    built = export(Path(session_dir), manifest, "mp3", Path(out), from_start=from_start)
    atomic_write(stamp_path(built), json.dumps(stamp))


def stamp_path(out: Path) -> Path:
    """Where a build's stamp is kept: submission.json (STAMP) beside submission.mp3."""
    return out.with_suffix(".json")


def _stamp(folder: Path, manifest: Manifest) -> dict:
    """What the submission is made of: the segments (name, size, mtime_ns), the pre-roll left
    out and the tags written in; any change means building it again."""
    segments = []
    for seg in manifest.segments:
        st = os.stat(folder / seg.file)
        segments.append([seg.file, st.st_size, st.st_mtime_ns])
    tags = session_tags(manifest, with_markers=False)
    return {"segments": segments, "preroll_frames": manifest.preroll_frames, "tags": tags}


class Submissions:
    """The submission MP3s in `cache_dir/<session id>/`: which are ready, which are building.
    (`recorder.web.listening` builds a session.mp3 to listen to the same way: `name` and
    `from_start` say which MP3.)"""

    name = SUBMISSION
    from_start = True

    def __init__(
        self, store: SessionStore, cache_dir: Path, executor: Executor | None = None
    ) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self._executor = executor
        self._lock = threading.Lock()  # guards _jobs and _executor
        self._jobs: dict[str, tuple[Future, dict, int]] = {}  # id: (build, stamp, bytes expected)

    def _pool(self) -> Executor:
        """The build process, started at the first build, and again after one died (killed,
        out of memory), which leaves its pool broken for good (caller holds _lock)."""
        if self._executor is not None and getattr(self._executor, "_broken", False):
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=lower_priority,
            )
        return self._executor

    def close(self) -> None:
        """End the build process (the server stops): a build in progress is left unfinished."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def _source(self, session_id: str) -> tuple[Path, Manifest, dict] | None:
        found = self.store.find(session_id)
        if found is None or found.manifest is None or found.path.is_symlink():
            return None
        try:
            return found.path, found.manifest, _stamp(found.path, found.manifest)
        except OSError:
            return None

    def expected_bytes(self, manifest: Manifest, stamp: dict) -> int:
        """What the build writes, for its progress (and the room it needs on the card): a
        constant-bitrate MP3 of the session's length, from the start press or whole."""
        kept = manifest.frames - (manifest.preroll_frames if self.from_start else 0)
        return int(mp3_bitrate_kbps() * 1000 / 8 * max(kept / manifest.audio.rate, 0))

    def _task(
        self, folder: Path, manifest: Manifest, out: Path, stamp: dict
    ) -> tuple[Callable[..., None], tuple]:
        """The function the build process runs, and its arguments (all picklable)."""
        text = (folder / MANIFEST).read_text(encoding="utf-8")
        return build_submission, (str(folder), text, str(out), stamp, self.from_start)

    def _out(self, session_id: str) -> Path:
        return self.cache_dir / session_id / self.name

    def _is_built(self, session_id: str, stamp: dict) -> bool:
        out = self._out(session_id)
        try:
            built = json.loads(stamp_path(out).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return built == stamp and out.is_file() and not out.is_symlink()

    def ready(self, session_id: str) -> tuple[Path, Manifest] | None:
        """The built file and the session's manifest, when it is built from the session as it
        is now; else None. Blocking (stat calls): run in a thread."""
        source = self._source(session_id)
        if source is None or not self._is_built(session_id, source[2]):
            return None
        return self._out(session_id), source[1]

    def status(self, session_id: str) -> dict | None:
        """{"status": "none" | "building" | "ready" | "failed", "progress": 0..1, "error"?};
        None for an unknown session. Blocking: run in a thread."""
        source = self._source(session_id)
        if source is None:
            return None
        return self._status(session_id, source[2])

    def _status(self, session_id: str, stamp: dict) -> dict:
        with self._lock:
            job = self._jobs.get(session_id)
        if job is not None and job[1] == stamp:
            future, _, expected = job
            if not future.done():
                return {"status": "building", "progress": self._progress(session_id, expected)}
            error = "cancelled" if future.cancelled() else future.exception()
            if error is not None:
                return {"status": "failed", "progress": 0.0, "error": without_paths(str(error))}
        if self._is_built(session_id, stamp):
            return {"status": "ready", "progress": 1.0}
        return {"status": "none", "progress": 0.0}

    def _prune(self) -> None:
        """Forget the builds of sessions no longer on the box (retention deleted them, or a
        discard): the cache shares the card with the recordings."""
        try:
            entries = list(self.cache_dir.iterdir())
        except FileNotFoundError:
            return
        for entry in entries:
            if (
                entry.is_dir()
                and not entry.is_symlink()
                and is_valid_id(entry.name)  # not ARCHIVE_CACHE: the archive's sessions'
                and self.store.folder_of(entry.name) is None
            ):
                with self._lock:
                    job = self._jobs.get(entry.name)
                if job is None or job[0].done():
                    shutil.rmtree(entry, ignore_errors=True)

    def _progress(self, session_id: str, expected: int) -> float:
        out = self._out(session_id)
        try:
            done = out.with_name(f".{out.name}.tmp").stat().st_size
        except OSError:
            # renamed into place, the stamp and the process's end still to come: almost done
            return 0.99 if out.is_file() else 0.0
        return round(min(done / expected, 0.99), 3) if expected else 0.0

    def start(self, session_id: str) -> dict | None:
        """Start building unless it is ready or building (so asking twice builds once); the
        status after. None for an unknown session. Blocking: run in a thread."""
        source = self._source(session_id)
        if source is None:
            return None
        folder, manifest, stamp = source
        with self._lock:
            job = self._jobs.get(session_id)
            busy = job is not None and job[1] == stamp and not job[0].done()
        if busy or self._is_built(session_id, stamp):
            return self._status(session_id, stamp)
        expected = self.expected_bytes(manifest, stamp)
        self._prune()
        out = self._out(session_id)
        out.parent.mkdir(parents=True, exist_ok=True)
        stamp_path(out).unlink(missing_ok=True)
        out.unlink(missing_ok=True)  # a stale build: its size would read as progress
        build, args = self._task(folder, manifest, out, stamp)
        with self._lock:
            job = self._jobs.get(session_id)
            if job is None or job[0].done():  # two requests at once: one build
                future = self._pool().submit(build, *args)
                future.add_done_callback(lambda f: _log_end(self.name, session_id, f))
                self._jobs[session_id] = (future, stamp, expected)
        return self._status(session_id, stamp)

    async def astart(self, session_id: str) -> dict | None:
        return await asyncio.get_running_loop().run_in_executor(None, self.start, session_id)

    async def astatus(self, session_id: str) -> dict | None:
        return await asyncio.get_running_loop().run_in_executor(None, self.status, session_id)


def _log_end(name: str, session_id: str, future: Future) -> None:
    if future.cancelled() or future.exception() is not None:
        why = "cancelled" if future.cancelled() else future.exception()
        log.warning("%s of %s failed: %s", name, session_id, why)
    else:
        log.info("%s of %s built", name, session_id)


_PATH = re.compile(r"/(?:[^/\s'\"]+/)+")


def without_paths(reason: str) -> str:
    """The reason a phone is shown: each path cut to its file's name (the box's folders are
    nobody's business on the LAN, and the name says which file is wrong)."""
    return _PATH.sub("", reason)
