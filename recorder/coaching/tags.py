"""New tags for a finished session's files after the coach renamed it or relabelled a marker.

session.flac and session.mp3 carry the display name, the client, the number and (the FLAC) the
marker labels (`recorder.media.deliverables.session_tags`); the transcript carries the name as its
title. Rebuilding them from the segments would cost minutes of encoding, so only the tags are
rewritten, with mutagen, and the audio stays bit for bit what it was.

Each file is tagged as a copy beside it, synced, then renamed over it: a power cut leaves the
old file or the new one, and a share copying the file meanwhile reads the old one whole. The
copy costs the file's size on the card for a moment; a full card leaves the old tags (logged,
tried again at the next pass). A file whose tags are already right is not touched, so `retag`
can run as often as wanted.

In the daemon the `Retagger` does it in the outbox's thread (the thread that builds these
files, so the two never race), never while a session is recording, and keeps a session until
all its files are right (a transcript being built is retitled once it is done).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mutagen import MutagenError
from mutagen.flac import FLAC
from mutagen.id3 import ID3, ID3NoHeaderError

from recorder.core.manifest import Manifest
from recorder.media.deliverables import (
    FLAC_NAME,
    ID3_VERSION,
    MP3_NAME,
    id3_tag,
    session_tags,
)
from recorder.store.files import fsync_dir
from recorder.store.sessions import SessionStore
from recorder.transcript.builder import transcript_markers, transcript_title
from recorder.transcript.files import write_all
from recorder.transcript.status import (
    TranscriptFileError,
    document,
    read_status,
    write_status,
)

log = logging.getLogger(__name__)

# libsndfile's string names as the Vorbis comment keys it writes
_VORBIS_KEYS = {
    "title": "TITLE",
    "artist": "ARTIST",
    "album": "ALBUM",
    "tracknumber": "TRACKNUMBER",
    "date": "DATE",
    "comment": "COMMENT",
    "software": "SOFTWARE",
}


class RetagError(OSError):
    """A file could not be retagged; the message names it. Its old version is still there."""


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    # A copy beside the file (same filesystem, so the rename is atomic), removed on failure.
    tmp = path.with_name(f".{path.name}.retag")
    try:
        shutil.copyfile(path, tmp)
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _flac_wanted(manifest: Manifest) -> dict[str, list[str]]:
    # SOFTWARE is left as the encoder wrote it (libsndfile adds its own version to it).
    tags = session_tags(manifest, with_markers=True)
    return {_VORBIS_KEYS[key]: [value] for key, value in tags.items() if key != "software"}


def _flac_has(f: FLAC) -> dict[str, list[str]]:
    if f.tags is None:
        return {}
    return {
        key.upper(): values
        for key, values in f.tags.as_dict().items()
        if key.upper() in _VORBIS_KEYS.values() and key.upper() != "SOFTWARE"
    }


def retag_flac(path: Path, manifest: Manifest) -> bool:
    """Give session.flac the session's tags; False when they were already right."""
    wanted = _flac_wanted(manifest)
    if _flac_has(FLAC(path)) == wanted:
        return False
    with _replacing(path) as tmp:
        f = FLAC(tmp)
        if f.tags is None:
            f.add_tags()
        for key in _VORBIS_KEYS.values():
            if key != "SOFTWARE" and key in f.tags:
                del f.tags[key]
        for key, values in wanted.items():
            f.tags[key] = values
        f.save()
    return True


def _id3_frames(tag: ID3) -> dict[str, list[str]]:
    return {key: [str(t) for t in frame.text] for key, frame in sorted(tag.items())}


def retag_mp3(path: Path, manifest: Manifest) -> bool:
    """Give session.mp3 the session's ID3v2 tag; False when it was already right."""
    wanted = id3_tag(session_tags(manifest, with_markers=False))
    try:
        has = ID3(path)
    except ID3NoHeaderError:
        has = ID3()
    if _id3_frames(has) == _id3_frames(wanted):
        return False
    with _replacing(path) as tmp:
        wanted.save(tmp, v2_version=ID3_VERSION, v1=0)
    return True


def retitle_transcript(folder: Path, manifest: Manifest) -> bool | None:
    """Give a finished transcript the session's name as its title and the markers' labels as
    they stand; False when it had them, None when it cannot be done now (being built: later)."""
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
    for name, fix in ((FLAC_NAME, retag_flac), (MP3_NAME, retag_mp3)):
        path = folder / name
        if not path.exists():
            continue
        try:
            if fix(path, manifest):
                log.info("session %s: %s retagged", manifest.id, name)
        except (MutagenError, OSError) as exc:
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
