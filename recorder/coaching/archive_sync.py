"""The coach's later edits, sent to the encrypted archive.

The outbox sends a session's manifest when it uploads and verifies it. A name, a consent
change, a share or a relabelled marker made after that would otherwise stay on the box only,
and the box deletes its copy once the archive holds a verified one (retention): the consent
history, which must outlive the box, would go with it. So once a pass (an outbox chore) every
verified session whose record changed since the archive last got it sends its small files
again: manifest.json, labels.txt and the transcript files. The audio is not sent again: its
samples are verified and unchanged, so the archive's FLAC and MP3 keep the tags they were
uploaded with.

What the archive holds is remembered as a digest in `.archive-record` in the session folder (a
dot file: never uploaded). A session without one has the record it had when it was verified:
it sends it again only when the coach changed something since.

A discard must not race a send (the send would put a deleted session's record back on the
archive), so each send holds the outbox's session lock, which a discard takes too. The first
send that fails ends the run: the archive is away, and the outbox's pass must not wait for it
once per session.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from recorder.core.manifest import COACH_FIELDS, Manifest, latest_coach_edit
from recorder.ports.outbox import RemoteStore
from recorder.store.files import atomic_write
from recorder.store.sessions import MANIFEST, SessionStore
from recorder.transcript.status import FILES as TRANSCRIPT_FILES

log = logging.getLogger(__name__)

SENT = ".archive-record"
LABELS = "labels.txt"


def record_files(folder: Path) -> list[str]:
    """The files that carry the coach's record, as they are in the folder."""
    return [MANIFEST] + [n for n in (LABELS, *TRANSCRIPT_FILES) if (folder / n).is_file()]


def record_digest(folder: Path, manifest: Manifest) -> str:
    """What the archive should hold of the record: the coach's fields, the marker labels and
    the other files' sizes and times (the upload state is left out: it changes on its own)."""
    extra = manifest.model_extra or {}
    files = {}
    for name in record_files(folder)[1:]:  # the manifest's part is the fields above
        st = (folder / name).stat()
        files[name] = [st.st_size, st.st_mtime_ns]
    record = {
        "coach": {k: extra.get(k) for k in COACH_FIELDS},
        "markers": [(m.frame, m.label) for m in manifest.markers],
        "files": files,
    }
    text = json.dumps(record, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def edited_since_verified(manifest: Manifest) -> bool:
    """Whether the coach changed the session after the archive got its verified manifest (an
    edit in the same second counts as after: sending once too often is harmless)."""
    edited = latest_coach_edit(manifest)
    if edited is None:
        return False
    try:
        verified = datetime.fromisoformat(manifest.upload.verified_at or "")
    except ValueError:
        return True
    return edited >= verified.replace(microsecond=0)


class ArchiveSync:
    """Sends changed records of verified sessions to the archive; an outbox chore."""

    def __init__(
        self,
        store: SessionStore,
        remote: RemoteStore,
        recording: Callable[[], bool],
        session_lock: threading.Lock,
    ) -> None:
        self.store = store
        self.remote = remote
        self.recording = recording
        self.session_lock = session_lock

    def run(self) -> None:
        for s in self.store.sessions("uploaded"):
            if self.recording():
                return  # the next pass; a new session's upload must not wait for these
            m = s.manifest
            if m is None or m.upload.status != "verified" or not m.upload.remote:
                continue
            sent = s.path / SENT
            try:
                digest = record_digest(s.path, m)
                if sent.read_text().strip() == digest:
                    continue
            except FileNotFoundError:
                if not sent.parent.is_dir():
                    continue  # discarded meanwhile
                if not edited_since_verified(m):
                    atomic_write(sent, digest + "\n")  # the archive has this record already
                    continue
            except OSError as exc:
                log.warning("session %s: record not checked: %s", s.id, exc)
                continue
            if not self._send(s.id, s.path, m.upload.remote, digest):
                return

    def _send(self, session_id: str, folder: Path, remote_dir: str, digest: str) -> bool:
        with self.session_lock:
            if not folder.is_dir():
                return True  # discarded while we looked: nothing to send, ever
            try:
                self.remote.upload(folder, record_files(folder), remote_dir, force=True)
                atomic_write(folder / SENT, digest + "\n")
            except Exception as exc:  # the remote is down: the next pass tries again
                log.warning("session %s: the archive's record not updated yet: %s", session_id,
                            exc)  # fmt: skip
                return False
        log.info("session %s: the archive's record updated", session_id)
        return True
