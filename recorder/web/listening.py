"""session.mp3 to listen to on a box that builds none: without `[upload]` deliverables or a
`[share]` remote the outbox makes no session.mp3 (nothing would send it), yet the coach still
listens back on the phone. The web server then builds the copy on demand into its cache, the
way it builds submission.mp3 (`recorder.web.submission`): what `export --format mp3` writes
(the whole session, pre-roll included, so the markers and the transcript's times fit), in a
SCHED_IDLE child process, with its progress. It costs nothing until a coach listens.

The recording always wins, and so does its room on the card:

- no build starts while a session records ("waiting"), and one in progress is frozen
  (SIGSTOP) until the recording stops, as the outbox freezes its transfers;
- a build starts only when, after it, the card still holds `reserve_bytes` (the recorder's
  `min_free_mb`, its ballast and an hour of recording in the box's format); else "refused",
  with the figures;
- at most `KEEP` copies stay in the cache: a new one takes the place of the oldest.

`GET /api/sessions/<id>/listening` reports {status: none|waiting|building|ready|failed|refused,
progress, reason?}; `POST` starts the build. `/api/sessions` lists session.mp3 in a session's
`media` once its copy is ready, and says where the copy stands in `listening`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path

from aiohttp import web

from recorder.core.manifest import Manifest
from recorder.media.deliverables import MP3_NAME
from recorder.store.sessions import SessionStore
from recorder.web.submission import Submissions

log = logging.getLogger(__name__)

KEEP = 3  # copies kept: about 29 MB per hour of session each
RESERVE_S = 3600  # the recording the card keeps room for after a copy: an hour
WATCH_S = 1.0  # how often a build in progress looks for a recording to give way to
WAITING = "the box is recording: the copy to listen to is made after the stop"


class Listening(Submissions):
    """The session.mp3 copies in `cache_dir/<session id>/` for sessions whose folder has none."""

    name = MP3_NAME
    from_start = False
    what = "the copy to listen to"  # in a refusal for lack of room
    waiting = WAITING

    def __init__(
        self,
        store: SessionStore,
        cache_dir: Path,
        reserve_bytes: int,
        executor: Executor | None = None,
    ) -> None:
        super().__init__(store, cache_dir, executor)
        self.reserve_bytes = reserve_bytes
        self._pid: int | None = None  # the build process, once started
        self._pid_of: Executor | None = None  # the pool it belongs to
        self._frozen = False  # guarded by _lock
        self._watching = False  # guarded by _lock: a thread follows the recording

    def recording(self) -> bool:
        """Whether a session is being recorded (its folder is in `recording/`)."""
        try:
            return any(
                not e.name.startswith(".") for e in self.store.state_dir("recording").iterdir()
            )
        except OSError:
            return False

    def _pool(self) -> Executor:
        pool = super()._pool()
        if pool is not self._pid_of:  # max_workers=1: the one process that builds
            self._pid = pool.submit(os.getpid).result(timeout=60)
            self._pid_of = pool
        return pool

    def room(self, manifest: Manifest, stamp: dict) -> str | None:
        """Why the copy may not be made for lack of room on the card; None when it fits."""
        need = self.expected_bytes(manifest, stamp)
        try:
            st = os.statvfs(self.store.root)
        except OSError:
            return None  # a failing statvfs is not a full card; the build will say what is wrong
        free = st.f_bavail * st.f_frsize  # as the recorder counts it (blocks for non-root)
        if free - need >= self.reserve_bytes:
            return None
        return (
            f"not enough room on the box: {self.what} needs {need / 1e6:.0f} MB, "
            f"{free / 1e6:.0f} MB are free and {self.reserve_bytes / 1e6:.0f} MB stay free "
            "for recording"
        )

    def start(self, session_id: str) -> dict | None:
        source = self._source(session_id)
        if source is None:
            return None
        now = self._status(session_id, source[2])
        if now["status"] in ("building", "ready"):
            return now
        if self.recording():
            return {"status": "waiting", "progress": 0.0, "reason": self.waiting}
        refusal = self.room(source[1], source[2])
        if refusal is not None:
            log.warning("%s of %s not made: %s", self.name, session_id, refusal)
            return {"status": "refused", "progress": 0.0, "reason": refusal}
        self._evict(session_id)
        answer = super().start(session_id)
        self._watch()
        return answer

    def _status(self, session_id: str, stamp: dict) -> dict:
        answer = super()._status(session_id, stamp)
        with self._lock:
            frozen = self._frozen
        if answer["status"] == "building" and frozen:
            answer["reason"] = self.waiting
        return answer

    def _evict(self, keep: str) -> None:
        """Make room for one more copy among the `KEEP`: the oldest built go."""
        try:
            entries = [e for e in self.cache_dir.iterdir() if e.name != keep and not e.is_symlink()]
        except FileNotFoundError:
            return
        built = []
        for entry in entries:
            with contextlib.suppress(OSError):
                built.append(((entry / self.name).stat().st_mtime_ns, entry))
        with self._lock:
            busy = {i for i, (f, _, _) in self._jobs.items() if not f.done()}
        for _, entry in sorted(built)[: max(0, len(built) - (KEEP - 1))]:
            if entry.name not in busy:
                for f in (entry / self.name, (entry / self.name).with_suffix(".json")):
                    f.unlink(missing_ok=True)

    def _building(self) -> bool:
        with self._lock:
            return any(not f.done() for f, _, _ in self._jobs.values())

    def _watch(self) -> None:
        """Follow the recording while a build runs: freeze the build while a session records."""
        with self._lock:
            if self._watching:
                return
            self._watching = True
        threading.Thread(target=self._follow, name="listening-watch", daemon=True).start()

    def _follow(self) -> None:
        stop = threading.Event()
        try:
            while self._building():
                self._freeze(self.recording())
                stop.wait(WATCH_S)
        finally:
            self._freeze(False)
            with self._lock:
                self._watching = False

    def _freeze(self, frozen: bool) -> None:
        with self._lock:
            if frozen == self._frozen or self._pid is None:
                return
            self._frozen = frozen
            pid = self._pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP if frozen else signal.SIGCONT)
        log.info("%s build %s", self.name, "frozen: a session records" if frozen else "resumed")

    def close(self) -> None:
        self._freeze(False)  # a stopped process would never end
        super().close()

    def annotate(self, records: list[dict]) -> list[dict]:
        """`/api/sessions`' records, each of the box's finished sessions whose folder has no
        session.mp3 with `listening` (where its copy stands) and session.mp3 in `media` once
        it is ready. Blocking (stat calls): run in a thread."""
        self._prune()  # no copy of a session retention or a discard deleted stays on the card
        for record in records:
            media = record.get("media")
            if (
                record.get("source") != "box"
                or record.get("state") == "recording"
                or not isinstance(media, list)
                or self.name in media
            ):
                continue
            status = self.status(str(record.get("id")))
            if status is None:
                continue
            if status["status"] == "none" and self.recording():
                status = {"status": "waiting", "progress": 0.0, "reason": self.waiting}
            record["listening"] = status
            if status["status"] == "ready":
                media.insert(0, self.name)
        return records


LISTENING_KEY = web.AppKey("listening", Listening)


def add_listening_routes(app: web.Application, listening: Listening) -> None:
    """`GET`/`POST /api/sessions/{session_id}/listening` (the login middleware guards them);
    `recorder.web.media` serves the copy and `recorder.web.api` lists it through the app key."""
    app[LISTENING_KEY] = listening

    async def answer(request: web.Request, call: Callable[[str], dict | None], code: int):
        session_id = request.match_info["session_id"]
        result = await asyncio.get_running_loop().run_in_executor(None, call, session_id)
        if result is None:
            raise web.HTTPNotFound()
        return web.json_response(result, status=code)

    async def status(request: web.Request) -> web.Response:
        return await answer(request, listening.status, 200)

    async def start(request: web.Request) -> web.Response:
        return await answer(request, listening.start, 202)

    app.router.add_get("/api/sessions/{session_id}/listening", status)
    app.router.add_post("/api/sessions/{session_id}/listening", start)

    async def close(_app: web.Application) -> None:
        listening.close()

    app.on_cleanup.append(close)


def reserve_bytes(min_free_mb: int, bytes_per_second: int, ballast: int) -> int:
    """What the card keeps free after a copy: the recorder's margin, its ballast, an hour."""
    return min_free_mb * 1_000_000 + ballast + RESERVE_S * bytes_per_second
