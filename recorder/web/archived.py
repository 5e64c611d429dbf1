"""The sessions only the archive still holds: retention deleted their folder here, and nothing of
them stays on the box (`recorder.outbox.retention` removes the whole folder). So they are found
by listing the archive and reading each one's manifest.json there (what the outbox and
`recorder.coaching.archive_sync` keep up to date), through the `ArchiveReader` port.

Every manifest is read by one rclone (`read_each`) and kept for `LIST_TTL_S`, so a page that
polls /api/sessions starts no rclone process on most requests, and a hundred archived sessions
cost one process, not a hundred. A session's transcript.json (the read-along's document, sent
by the outbox beside the transcript files) is read whole when asked for and kept as long, for
the last `TRANSCRIPTS_KEPT` sessions only (an hour's with word timings is about 1 MB).
Blocking: callers run these in a worker thread.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict

from recorder.core.manifest import Manifest, ManifestError, parse_manifest
from recorder.core.session_id import is_valid_id, sequence_of
from recorder.ports.archive import ArchiveError, ArchiveReader
from recorder.store.sessions import MANIFEST, SessionStore
from recorder.transcript.status import STATUS_FILE, STATUSES, TranscriptFileError

log = logging.getLogger(__name__)

LIST_TTL_S = 300.0
TRANSCRIPTS_KEPT = 8
TRANSCRIPT_MAX_BYTES = 32 * 1024 * 1024  # far beyond a day's transcript: anything larger is not one


class ArchivedSessions:
    """The archive's sessions that have no folder here, with their manifests."""

    def __init__(self, store: SessionStore, archive: ArchiveReader) -> None:
        self.store = store
        self.archive = archive
        self._lock = threading.Lock()  # guards _read_at and _manifests
        self._read_at: float | None = None
        self._manifests: dict[str, Manifest] = {}
        # session id: (when read, transcript.json's content or None: the archive has none)
        self._transcripts: OrderedDict[str, tuple[float, dict | None]] = OrderedDict()

    def _all(self) -> dict[str, Manifest]:
        """Every manifest on the archive by session id, read again after LIST_TTL_S."""
        with self._lock:
            if self._read_at is not None and time.monotonic() - self._read_at < LIST_TTL_S:
                return self._manifests
        found: dict[str, Manifest] = {}
        for text in self.archive.read_each(MANIFEST):
            try:
                manifest = parse_manifest(text, f"archive: {MANIFEST}")
            except ManifestError as exc:
                log.warning("a session on the archive: %s", exc)
                continue
            if is_valid_id(manifest.id):
                found[manifest.id] = manifest
        with self._lock:
            self._manifests, self._read_at = found, time.monotonic()
        return found

    def manifest(self, session_id: str) -> Manifest | None:
        """The archive's manifest of a session that is not on the box; None for any other id
        (one on the box, one the archive does not hold, or an archive out of reach)."""
        if not is_valid_id(session_id) or self.store.folder_of(session_id) is not None:
            return None
        try:
            return self._all().get(session_id)
        except ArchiveError as exc:
            log.warning("the archive cannot be read: %s", exc)
            return None

    def _not_here(self) -> dict[str, Manifest] | None:
        """The archive's sessions that have no folder on the box; None when it cannot be read."""
        try:
            found = self._all()
        except ArchiveError as exc:
            log.warning("the archive cannot be read: %s", exc)
            return None
        return {i: m for i, m in found.items() if self.store.folder_of(i) is None}

    def sessions(self) -> list[tuple[str, Manifest]]:
        """Every archived session not on the box, oldest first; [] when the archive cannot be
        reached (the page still lists the box's own)."""
        found = self._not_here() or {}
        return [(i, found[i]) for i in sorted(found, key=lambda i: (sequence_of(i), i))]

    def listed(self) -> set[str] | None:
        """The ids of the archive's sessions not on the box; None when the archive cannot be
        read (so that nothing is taken for gone during an outage)."""
        found = self._not_here()
        return None if found is None else set(found)

    def transcript(self, session_id: str) -> dict | None:
        """The archived session's transcript.json as the box had it; None when the session is
        not an archived one or the archive holds no transcript.json (a session sent before the
        outbox sent it). Raises ArchiveError when the archive cannot be read, and
        TranscriptFileError for a file that is not a transcript status."""
        if self.manifest(session_id) is None:
            return None
        with self._lock:
            cached = self._transcripts.get(session_id)
            if cached is not None and time.monotonic() - cached[0] < LIST_TTL_S:
                self._transcripts.move_to_end(session_id)
                return cached[1]
        data = self._read_transcript(session_id)
        with self._lock:
            self._transcripts[session_id] = (time.monotonic(), data)
            self._transcripts.move_to_end(session_id)
            while len(self._transcripts) > TRANSCRIPTS_KEPT:
                self._transcripts.popitem(last=False)
        return data

    def _read_transcript(self, session_id: str) -> dict | None:
        size = self.archive.size(session_id, STATUS_FILE)
        if size is None:
            return None
        where = f"archive: {session_id}/{STATUS_FILE}"
        if size > TRANSCRIPT_MAX_BYTES:
            raise TranscriptFileError(f"{where}: {size} bytes, too large for a transcript")
        raw = b"".join(self.archive.read_range(session_id, STATUS_FILE, 0, size))
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TranscriptFileError(f"{where}: cannot be read: {exc}") from None
        if not isinstance(data, dict) or data.get("status") not in STATUSES:
            raise TranscriptFileError(f"{where}: not a transcript status (no known 'status')")
        return data
