"""The sessions only the archive still holds: retention deleted their folder here, and nothing of
them stays on the box (`recorder.outbox.retention` removes the whole folder). So they are found
by listing the archive and reading each one's manifest.json there (what the outbox and
`recorder.coaching.archive_sync` keep up to date), through the `ArchiveReader` port.

The listing is cached for `LIST_TTL_S` and each manifest until the next listing, so a page that
polls /api/sessions starts no rclone process on most requests. Blocking: callers run these in
a worker thread.
"""

from __future__ import annotations

import logging
import threading
import time

from recorder.core.manifest import Manifest, ManifestError, parse_manifest
from recorder.core.session_id import is_valid_id, sequence_of
from recorder.ports.archive import ArchiveError, ArchiveReader
from recorder.store.sessions import MANIFEST, SessionStore

log = logging.getLogger(__name__)

LIST_TTL_S = 300.0


class ArchivedSessions:
    """The archive's sessions that have no folder here, with their manifests."""

    def __init__(self, store: SessionStore, archive: ArchiveReader) -> None:
        self.store = store
        self.archive = archive
        self._lock = threading.Lock()  # guards _listed_at, _ids and _manifests
        self._listed_at: float | None = None
        self._ids: list[str] = []
        self._manifests: dict[str, Manifest | None] = {}

    def _listing(self) -> list[str]:
        with self._lock:
            fresh = self._listed_at is not None and time.monotonic() - self._listed_at < LIST_TTL_S
            if fresh:
                return list(self._ids)
        ids = sorted(
            (i for i in self.archive.session_ids() if is_valid_id(i)),
            key=lambda i: (sequence_of(i), i),
        )
        with self._lock:
            self._ids, self._listed_at, self._manifests = ids, time.monotonic(), {}
        return ids

    def manifest(self, session_id: str) -> Manifest | None:
        """The archive's manifest of a session that is not on the box; None for any other id
        (one on the box, one the archive does not hold, a manifest that cannot be read)."""
        if not is_valid_id(session_id) or self.store.folder_of(session_id) is not None:
            return None
        try:
            if session_id not in self._listing():
                return None
        except ArchiveError as exc:
            log.warning("the archive cannot be listed: %s", exc)
            return None
        with self._lock:
            if session_id in self._manifests:
                return self._manifests[session_id]
        found: Manifest | None = None
        try:
            text = self.archive.read_small(session_id, MANIFEST)
            if text is not None:
                found = parse_manifest(text, f"archive: {session_id}/{MANIFEST}")
                found = found if found.id == session_id else None
        except (ArchiveError, ManifestError) as exc:
            log.warning("session %s on the archive: %s", session_id, exc)
            return None  # not cached: the network may be back next time
        with self._lock:
            self._manifests[session_id] = found
        return found

    def sessions(self) -> list[tuple[str, Manifest]]:
        """Every archived session not on the box whose manifest can be read, oldest first;
        [] when the archive cannot be reached (the page still lists the box's own)."""
        try:
            ids = self._listing()
        except ArchiveError as exc:
            log.warning("the archive cannot be listed: %s", exc)
            return []
        found = []
        for session_id in ids:
            manifest = self.manifest(session_id)
            if manifest is not None:
                found.append((session_id, manifest))
        return found
