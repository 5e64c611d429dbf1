"""New tags for a finished session's files after the coach renamed it or relabelled a marker.

session.flac and session.mp3 carry the display name, the client, the number and (the FLAC) the
marker labels (`recorder.media.tags.session_tags`); the transcript carries the name as its
title. Rebuilding them from the segments would cost minutes of encoding, so only the tags are
rewritten (`recorder.media.tag_files`, with mutagen), and the audio stays bit for bit what it
was. A full card leaves the old tags (logged, tried again at the next pass). A file whose tags
are already right is not touched, so `retag` can run as often as wanted.

In the daemon the `Retagger` does it in the outbox's thread (the thread that builds these
files, so the two never race), never while a session is recording, and keeps a session until
all its files are right (a transcript being built is retitled once it is done).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from recorder.core.manifest import Manifest
from recorder.media.deliverables import FLAC_NAME, MP3_NAME
from recorder.store.sessions import SessionStore
from recorder.transcript.files import write_all
from recorder.transcript.revisions import TRANSCRIPT_LOCK
from recorder.transcript.status import (
    TranscriptFileError,
    document,
    read_status,
    write_status,
)
from recorder.transcript.titles import transcript_markers, transcript_title

log = logging.getLogger(__name__)


class RetagError(OSError):
    """A file could not be retagged; the message names it. Its old version is still there."""


def retitle_transcript(folder: Path, manifest: Manifest) -> bool | None:
    """Give a finished transcript the session's name as its title and the markers' labels as
    they stand; False when it had them, None when it cannot be done now (being built: later)."""
    with TRANSCRIPT_LOCK:  # a correction saved meanwhile must not be written over
        status = read_status(folder)
        if status["status"] == "building":
            return None
        doc = document(folder)
        if doc is None:
            return False
        new = dataclasses.replace(
            doc, title=transcript_title(manifest), markers=transcript_markers(manifest)
        )
        if new == doc:
            return False
        write_all(new, folder)
        write_status(folder, {**status, "doc": new.to_json()})
        return True


def retag(folder: Path, manifest: Manifest) -> bool:
    """Bring every tagged file of a finished session in line with its manifest. True when all
    are right (or absent); False when something must be tried again later.

    Raises RetagError when a file cannot be read or written.
    """
    done = True
    for name in (FLAC_NAME, MP3_NAME):
        path = folder / name
        if not path.exists():
            continue
        # Here: mutagen (1.4 MB) is loaded only once there is a file to retag.
        from recorder.media.tag_files import TAG_ERRORS, retag_flac, retag_mp3

        fix = retag_flac if name == FLAC_NAME else retag_mp3
        try:
            if fix(path, manifest):
                log.info("session %s: %s retagged", manifest.id, name)
        except TAG_ERRORS as exc:
            raise RetagError(f"{path}: cannot retag: {exc}") from None
    try:
        titled = retitle_transcript(folder, manifest)
    except (TranscriptFileError, ValueError, OSError) as exc:
        raise RetagError(f"{folder}: cannot retitle the transcript: {exc}") from None
    if titled is None:
        done = False
    elif titled:
        log.info("session %s: transcript retitled", manifest.id)
    return done


class Retagger:
    """Sessions whose files wait for new tags, retagged by `run` (an outbox chore).

    `mark` is a `SessionRecords.after_change` hook. The first run checks every session the
    coach has touched, so a change whose retag a power cut interrupted is still made; it reads
    the manifests on the outbox's thread, not while the daemon starts.
    """

    def __init__(
        self,
        store: SessionStore,
        recording: Callable[[], bool],
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.recording = recording
        self.wake = wake
        self._pending: set[str] = set()
        self._scanned = False  # the run's thread only
        self._lock = threading.Lock()

    def mark(self, folder: Path, manifest: Manifest) -> None:
        with self._lock:
            self._pending.add(manifest.id)
        self.wake()

    def mark_edited(self) -> None:
        """Queue every session with details or an edited marker label (the first run does)."""
        for s in self.store.sessions():
            m = s.manifest
            if m is None or s.state == "recording":
                continue
            edited = any((mk.model_extra or {}).get("edited_at") for mk in m.markers)
            if (m.model_extra or {}).get("details") or edited:
                with self._lock:
                    self._pending.add(s.id)

    def pending(self) -> set[str]:
        with self._lock:
            return set(self._pending)

    def run(self) -> None:
        """Retag what waits; nothing while a session is recording (it copies whole files)."""
        if not self._scanned:
            self._scanned = True
            self.mark_edited()
        for session_id in sorted(self.pending()):
            if self.recording():
                return
            done = True
            s = self.store.find(session_id)  # None: discarded meanwhile
            if s is not None and s.manifest is not None and s.state != "recording":
                try:
                    done = retag(s.path, s.manifest)
                except RetagError as exc:
                    log.error("session %s: %s", session_id, exc)
                    done = False
            if done:
                with self._lock:
                    self._pending.discard(session_id)
