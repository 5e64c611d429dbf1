"""The page's JSON API about sessions, read from the store (the daemon owns the folders; changes
go to it as commands through the `DaemonLink` port).

- `GET /api/sessions`: the `sessions --json` records (`recorder.views.sessions.session_json`)
  without local paths, each with `source` ("box" or "archive"), `media` (the files of
  /media/<id>/ it has) and `preroll_s`; then the sessions only the archive still holds.
- `GET /api/sessions/<id>/transcript`: the transcript document for the read-along, with
  `source`; for a session only the archive holds, its transcript.json read from the archive
  (404 when the archive has none: sessions sent before it was sent there).
- `POST /api/sessions/<id>/submission` starts building submission.mp3 (asking twice builds
  once); `GET` says where it stands: {"status": none|building|ready|failed, "progress"}.

Unknown ids are 404. Everything that reads files runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from recorder.core.manifest import Manifest
from recorder.ports.archive import ArchiveError
from recorder.ports.daemon import DaemonLink
from recorder.store.sessions import SessionStore, StoredSession
from recorder.transcript.status import (
    FILES,
    STATUS_FILE,
    TranscriptFileError,
    document_of,
    is_proofread,
    read_status,
    revision_of,
)
from recorder.views.sessions import session_json
from recorder.web.archived import ArchivedSessions
from recorder.web.listening import LISTENING_KEY
from recorder.web.media import (
    ARCHIVE_FILES,
    ARCHIVED_KEY,
    ARCHIVED_SUBMISSIONS_KEY,
    MEDIA_TYPES,
    SUBMISSIONS_KEY,
)
from recorder.web.submission import SUBMISSION

DAEMON_KEY = web.AppKey("daemon", DaemonLink)
_LOCAL_PATHS = ("path", "segments", "unreadable_segments")


def add_api_routes(app: web.Application, store: SessionStore, daemon: DaemonLink | None) -> None:
    """Register the session routes under /api/sessions (the login middleware guards them)."""
    if daemon is not None:
        app[DAEMON_KEY] = daemon  # for the routes that send the daemon commands
    api = _Api(store)
    app.router.add_get("/api/sessions", api.sessions)
    app.router.add_get("/api/sessions/{session_id}/transcript", api.transcript)
    app.router.add_get("/api/sessions/{session_id}/submission", api.submission_status)
    app.router.add_post("/api/sessions/{session_id}/submission", api.submission_start)


def public_record(s: StoredSession) -> dict:
    """A session's `sessions --json` record as the page gets it: no paths of this box."""
    record = {k: v for k, v in session_json(s).items() if k not in _LOCAL_PATHS}
    transcript = record.get("transcript")
    if isinstance(transcript, dict) and "files" in transcript:
        transcript["files"] = [Path(f).name for f in transcript["files"]]
    record["source"] = "box"
    record["media"] = [
        name for name in MEDIA_TYPES if name != SUBMISSION and (s.path / name).is_file()
    ]
    if s.manifest is not None:
        record["preroll_s"] = _preroll_s(s.manifest)
    return record


def archived_record(store: SessionStore, session_id: str, manifest: Manifest) -> dict:
    """A session only the archive holds, shown as the box would show it, with `source`
    "archive": its audio and documents are read from the archive (`recorder.web.media`)."""
    gone = StoredSession(session_id, "archived", store.root / "archive" / session_id, manifest)
    record = public_record(gone)
    record.update(
        source="archive",
        media=[
            n
            for n in ARCHIVE_FILES
            if n in manifest.upload.files or n in manifest.upload.transcript.files
        ],
    )
    sent = manifest.upload.transcript.files
    # the transcript files go to the archive only once it is done (recorder.transcript.runner)
    record["transcript"] = {
        "status": "done" if set(sent) & set(FILES) else "none",
        "files": [n for n in FILES if n in sent],
        "readalong": STATUS_FILE in sent,  # its document is there: GET .../transcript reads it
    }
    return record


def _preroll_s(manifest: Manifest) -> float:
    """Where the start press is in session.mp3/flac (transcript times count from it)."""
    return round(manifest.preroll_frames / manifest.audio.rate, 3)


class _Api:
    def __init__(self, store: SessionStore) -> None:
        self.store = store

    @staticmethod
    async def _off_loop(call: Callable, *args: object):
        return await asyncio.get_running_loop().run_in_executor(None, call, *args)

    async def sessions(self, request: web.Request) -> web.Response:
        archived = request.app.get(ARCHIVED_KEY)
        records = await self._off_loop(self._records, archived)
        listening = request.app.get(LISTENING_KEY)  # session.mp3 made to listen to, if any
        if listening is not None:
            records = await self._off_loop(listening.annotate, records)
        return web.json_response(records)

    def _records(self, archived) -> list[dict]:
        records = [public_record(s) for s in self.store.sessions()]
        if archived is not None:
            records += [archived_record(self.store, i, m) for i, m in archived.sessions()]
        return records

    async def transcript(self, request: web.Request) -> web.Response:
        session_id = request.match_info["session_id"]
        archived = request.app.get(ARCHIVED_KEY)
        try:
            answer = await self._off_loop(self._transcript, session_id, archived)
        except ArchiveError as exc:
            raise web.HTTPBadGateway(text=f"the archive cannot be read now: {exc}") from None
        if answer is None:
            raise web.HTTPNotFound()
        return web.json_response(answer)

    def _transcript(self, session_id: str, archived: ArchivedSessions | None) -> dict | None:
        found = self.store.find(session_id)
        if found is not None:
            if found.manifest is None:
                return None
            head = {"id": session_id, "source": "box", "preroll_s": _preroll_s(found.manifest)}
            return _transcript_answer(head, lambda: read_status(found.path))
        manifest = archived.manifest(session_id) if archived is not None else None
        if archived is None or manifest is None:
            return None
        head = {"id": session_id, "source": "archive", "preroll_s": _preroll_s(manifest)}
        try:
            data = archived.transcript(session_id)
        except TranscriptFileError as exc:
            return {**head, "status": "damaged", "error": str(exc), "doc": None}
        if data is None:
            return None  # sent before the archive got transcript.json: no read-along
        return _transcript_answer(head, lambda: data)

    async def submission_status(self, request: web.Request) -> web.Response:
        return await self._submission(request, start=False)

    async def submission_start(self, request: web.Request) -> web.Response:
        return await self._submission(request, start=True)

    async def _submission(self, request: web.Request, *, start: bool) -> web.Response:
        """The box's session's build, else the archive's session's (built from its FLAC)."""
        session_id = request.match_info["session_id"]
        answer = None
        for key in (SUBMISSIONS_KEY, ARCHIVED_SUBMISSIONS_KEY):
            builds = request.app.get(key)
            if builds is not None and answer is None:
                answer = await self._off_loop(builds.start if start else builds.status, session_id)
        if answer is None:
            raise web.HTTPNotFound()
        return web.json_response(answer, status=202 if start else 200)


def _transcript_answer(head: dict, read: Callable[[], dict]) -> dict:
    """The read-along's answer from transcript.json's content (`read` raises
    TranscriptFileError for a file that is not one), the same for the box's and the archive's."""
    try:
        data = read()  # read once: the document and its revision agree
        doc = document_of(data, STATUS_FILE)  # checked as every reader checks it
    except TranscriptFileError as exc:
        return {**head, "status": "damaged", "error": str(exc), "doc": None}
    return {
        **head,
        "status": data["status"],
        "revision": revision_of(data),  # the `base` a correction of this document names
        "proofread": is_proofread(data),
        "doc": doc.to_json() if doc is not None else None,
    }
