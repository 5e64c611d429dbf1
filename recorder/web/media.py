"""`GET /media/<session id>/<file>`: a session's files for the player and for downloads.

Only the names in `MEDIA_TYPES` are served, only from the folder `SessionStore` finds for a
valid id (re.ASCII), never through a symlink (neither the folder nor the file) and never a
path that resolves outside the folder: everything else is 404. aiohttp's `FileResponse` does
the rest (checked in its source, aiohttp 3.14): `Accept-Ranges: bytes`, one range per request
(first, middle and suffix ranges get 206 with `Content-Range`; a range starting past the end,
or several ranges, get 416 with `Content-Range: bytes */size`), an ETag of mtime and size,
Last-Modified, conditional requests, and the file sent with sendfile off the event loop.

`submission.mp3` is not in the session folder: it is built on demand into the cache
(`recorder.web.submission`) and served once it is ready; so is session.mp3 for a session whose
folder has none (`recorder.web.listening`: a box that builds no deliverables). A session whose local copy
retention deleted is served from the encrypted archive (`recorder.ports.archive`), through
the same Range handling, with `X-Session-Source: archive`; its submission.mp3 is built from
the archive's FLAC (`recorder.web.archive_submission`) and says so too.
"""

from __future__ import annotations

import asyncio
import os
import stat
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from recorder.core.manifest import Manifest
from recorder.media.tags import coach_name
from recorder.ports.archive import ArchiveError, ArchiveReader
from recorder.store.sessions import SessionStore
from recorder.web.archive_submission import ArchivedSubmissions
from recorder.web.archived import ArchivedSessions
from recorder.web.listening import LISTENING_KEY
from recorder.web.submission import SUBMISSION, Submissions

# The files a page may ask for, and what they are (mimetypes knows no .flac or .vtt on
# Python 3.11, and a charset for the text ones).
MEDIA_TYPES: dict[str, str] = {
    "session.mp3": "audio/mpeg",
    "session.flac": "audio/flac",
    "transcript.docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "transcript.txt": "text/plain; charset=utf-8",
    "transcript.vtt": "text/vtt; charset=utf-8",
    "labels.txt": "text/plain; charset=utf-8",
    SUBMISSION: "audio/mpeg",
}
# What a download is called after the session's name: "<name><suffix>".
_SUFFIXES = {
    "session.mp3": ".mp3",
    "session.flac": ".flac",
    "transcript.docx": " transcript.docx",
    "transcript.txt": " transcript.txt",
    "transcript.vtt": " transcript.vtt",
    "labels.txt": " markers.txt",
    SUBMISSION: " submission.mp3",
}
ARCHIVE_FILES = ("session.mp3", "session.flac", "labels.txt", *(
    "transcript.docx", "transcript.txt", "transcript.vtt"))  # fmt: skip
ARCHIVE_THREADS = 8
# Shared with recorder.web.api, which reports the same builds and archived sessions.
SUBMISSIONS_KEY = web.AppKey("submissions", Submissions)
ARCHIVED_KEY = web.AppKey("archived", ArchivedSessions)
ARCHIVED_SUBMISSIONS_KEY = web.AppKey("archived_submissions", ArchivedSubmissions)


def download_name(manifest: Manifest | None, session_id: str, name: str) -> str:
    """The file's name for the person who downloads it: "Sam · Goals review transcript.docx",
    or the session's id when the coach gave it no name."""
    base = (coach_name(manifest) if manifest is not None else None) or session_id
    # no path separators, control characters or quotes in a file name
    clean = "".join(
        "-" if c in '/\\:*?"<>|' else c for c in base if unicodedata.category(c)[0] != "C"
    ).strip(" .")
    return (clean or session_id) + _SUFFIXES[name]


def content_disposition(filename: str, *, attachment: bool) -> str:
    """RFC 6266: an ASCII `filename` any browser reads, and the real one as RFC 5987 `filename*`."""
    ascii_name = (
        unicodedata.normalize("NFKD", filename.replace("·", "-"))
        .encode("ascii", "ignore")
        .decode("ascii")
    )
    ascii_name = "".join(c if c.isprintable() and c not in '"\\%' else "_" for c in ascii_name)
    kind = "attachment" if attachment else "inline"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def local_file(store: SessionStore, session_id: str, name: str) -> tuple[Path, Manifest] | None:
    """The regular file `name` in the session's own folder, with the manifest; None for
    anything else (unknown id or name, a symlink, a path leading out of the folder)."""
    if name not in MEDIA_TYPES or name == SUBMISSION:
        return None
    found = store.find(session_id)  # validates the id (re.ASCII) before any path is made
    if found is None or found.manifest is None:
        return None
    folder = found.path
    state_dir = store.state_dir(found.state).resolve()
    if folder.is_symlink() or folder.resolve().parent != state_dir:
        return None
    path = folder / name
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or path.resolve().parent != folder.resolve():
        return None
    return path, found.manifest


def add_media_routes(
    app: web.Application,
    store: SessionStore,
    cache_dir: Path,
    archive: ArchiveReader | None,
    reserve_bytes: int = 0,
) -> None:
    """Register `GET /media/{session_id}/{name}` (HEAD too). The submission builders (and the
    archive's sessions, when there is an archive) are kept on the app for `recorder.web.api`;
    the build processes end with the app. `reserve_bytes` stays free on the card after a
    build from the archive (`recorder.web.listening.reserve_bytes`)."""
    submissions = Submissions(store, cache_dir)
    app[SUBMISSIONS_KEY] = submissions
    archived = ArchivedSessions(store, archive) if archive is not None else None
    from_archive = None
    if archive is not None and archived is not None:
        app[ARCHIVED_KEY] = archived
        from_archive = ArchivedSubmissions(archive, archived, cache_dir, reserve_bytes)
        app[ARCHIVED_SUBMISSIONS_KEY] = from_archive
    media = _Media(store, submissions, archive, archived, from_archive)
    app.router.add_get("/media/{session_id}/{name}", media.get)

    async def close_builds(_app: web.Application) -> None:
        submissions.close()
        if from_archive is not None:
            from_archive.close()
        media.pool.shutdown(wait=False, cancel_futures=True)

    app.on_cleanup.append(close_builds)


class _Media:
    def __init__(
        self,
        store: SessionStore,
        submissions: Submissions,
        archive: ArchiveReader | None,
        archived: ArchivedSessions | None,
        from_archive: ArchivedSubmissions | None,
    ) -> None:
        self.store = store
        self.submissions = submissions
        self.archive = archive
        self.archived = archived
        self.from_archive = from_archive
        # Archive reads wait on the network (up to rclone's --timeout): their own threads, so
        # that a slow archive never takes the default pool's few (cores + 4) from the files here.
        self.pool = ThreadPoolExecutor(ARCHIVE_THREADS, thread_name_prefix="archive-read")

    async def get(self, request: web.Request) -> web.StreamResponse:
        session_id = request.match_info["session_id"]
        name = request.match_info["name"]
        if name not in MEDIA_TYPES:
            raise web.HTTPNotFound()
        loop = asyncio.get_running_loop()
        source = "box"
        if name == SUBMISSION:
            ready = await loop.run_in_executor(None, self.submissions.ready, session_id)
            if ready is None and self.from_archive is not None:
                ready = await loop.run_in_executor(self.pool, self.from_archive.ready, session_id)
                source = "archive"
            if ready is None:
                raise web.HTTPNotFound()
            path, manifest = ready
        else:
            found = await loop.run_in_executor(None, local_file, self.store, session_id, name)
            listening = request.app.get(LISTENING_KEY)
            if found is None and listening is not None and name == listening.name:
                found = await loop.run_in_executor(None, listening.ready, session_id)
            if found is None:
                return await self._from_archive(request, session_id, name)
            path, manifest = found
        response = web.FileResponse(path)
        _describe(response, request, manifest, session_id, name)
        if source == "archive":
            response.headers["X-Session-Source"] = "archive"
        return response

    async def _from_archive(
        self, request: web.Request, session_id: str, name: str
    ) -> web.StreamResponse:
        if self.archive is None or self.archived is None or name not in ARCHIVE_FILES:
            raise web.HTTPNotFound()
        loop = asyncio.get_running_loop()
        manifest = await loop.run_in_executor(self.pool, self.archived.manifest, session_id)
        if manifest is None:  # not an archived session (or a session here whose file is gone)
            raise web.HTTPNotFound()
        try:
            size = await loop.run_in_executor(self.pool, self.archive.size, session_id, name)
        except ArchiveError as exc:
            raise web.HTTPBadGateway(text=f"the archive cannot be read now: {exc}") from None
        if size is None:
            raise web.HTTPNotFound()
        response = web.StreamResponse()
        _describe(response, request, manifest, session_id, name)
        response.headers["X-Session-Source"] = "archive"
        response.headers["Accept-Ranges"] = "bytes"
        where = (session_id, name, size)
        return await _send_range(request, self.archive, where, response, self.pool)


def _describe(
    response: web.StreamResponse,
    request: web.Request,
    manifest: Manifest | None,
    session_id: str,
    name: str,
) -> None:
    """Content-Type, the download's name, and no caching without revalidation."""
    response.content_type = MEDIA_TYPES[name].split(";")[0]
    if "charset=" in MEDIA_TYPES[name]:
        response.charset = "utf-8"
    response.headers["Content-Disposition"] = content_disposition(
        download_name(manifest, session_id, name), attachment="download" in request.query
    )
    response.headers["Cache-Control"] = "private, no-cache"  # revalidated: ETag, 304
    response.headers["X-Content-Type-Options"] = "nosniff"


def _wanted(request: web.Request, size: int) -> tuple[int, int] | None:
    """(first byte, count) of the request's range as FileResponse reads it; None: 416."""
    try:
        rng = request.http_range
    except ValueError:
        return None
    start, end = rng.start, rng.stop
    if start is None:
        return 0, size
    if start < 0 and end is None:  # a suffix: the last bytes
        start = max(start + size, 0)
        return (start, size - start) if size else None
    if start >= size:
        return None
    return start, min(end if end is not None else size, size) - start


async def _send_range(
    request: web.Request,
    archive: ArchiveReader,
    where: tuple[str, str, int],
    response: web.StreamResponse,
    pool: ThreadPoolExecutor,
) -> web.StreamResponse:
    """The archive's file, or the requested range of it, read through rclone as it is sent."""
    session_id, name, size = where
    wanted = _wanted(request, size)
    if wanted is None:
        response.set_status(416)
        response.headers["Content-Range"] = f"bytes */{size}"
        await response.prepare(request)
        return response
    start, count = wanted
    if request.http_range.start is not None:
        response.set_status(206)
        response.headers["Content-Range"] = f"bytes {start}-{start + count - 1}/{size}"
    response.content_length = count
    await response.prepare(request)
    if request.method == "HEAD" or count == 0:
        return response
    loop = asyncio.get_running_loop()
    pieces: Iterator[bytes] = archive.read_range(session_id, name, start, count)
    try:
        while piece := await loop.run_in_executor(pool, next, pieces, b""):
            await response.write(piece)
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            await loop.run_in_executor(pool, close)
    await response.write_eof()
    return response
