"""Sessions on disk: the filesystem is the queue between recording and uploading.

A session is a folder written under `recording/`, moved by one atomic rename to `outbox/` when
finalized, and later to `uploaded/`. Manifests are written to a temporary file, fsynced and
renamed, so a power cut leaves either the old manifest or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from recorder.core.manifest import (
    Manifest,
    ManifestError,
    dump_manifest,
    keep_coach_edits,
    parse_manifest,
)
from recorder.core.session_id import is_valid_id, make_id, next_sequence, sequence_of
from recorder.store.ballast import is_full_error
from recorder.store.files import atomic_write, fsync_dir

STATES = ("recording", "outbox", "uploaded")
# Copies the web server makes of a session (to listen to, to submit), one folder per session:
# part of the session for a discard, never uploaded.
CACHE_DIR = "web-cache"
ARCHIVE_CACHE = "archive"  # under CACHE_DIR: the copies made of sessions only the archive holds
MANIFEST = "manifest.json"
SEQUENCE_FILE = "sequence"
UPDATE_WAIT_S = 10.0  # a coach's edit waits this long for a write in progress (a slow card)

_MANIFEST_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_LOCK = threading.Lock()


def _manifest_lock(root: Path) -> threading.RLock:
    """One lock per storage dir for every manifest write and folder move in this process."""
    key = str(Path(root).absolute())
    with _LOCKS_LOCK:
        return _MANIFEST_LOCKS.setdefault(key, threading.RLock())


class StorageError(OSError):
    """The storage dir cannot be used; the message names the path and why."""


@dataclass(frozen=True)
class StoredSession:
    """One session folder as the store finds it (`recorder.views.sessions` shows it)."""

    id: str
    state: str  # one of STATES, or "damaged" when the manifest cannot be read
    path: Path
    manifest: Manifest | None
    error: str | None = None


class SessionStore:
    """The storage dir and the three state folders under it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock_fd: int | None = None
        self._last_seq: int | None = None  # the last id handed out; `reserve` (controller) only
        self._manifests = _manifest_lock(root)

    def state_dir(self, state: str) -> Path:
        return self.root / state

    @property
    def cache_dir(self) -> Path:
        """Where the web server keeps the copies it makes (`<id>/` each; those of sessions
        only the archive holds in `ARCHIVE_CACHE/<id>/`)."""
        return self.root / CACHE_DIR

    def prepare(self) -> str | None:
        """Create the folders and prove they are writable; None, or why the storage is full.

        A full storage (ENOSPC, a spent quota) is a state the recorder waits out while it
        answers, so it is returned, not raised. Raises StorageError, naming the path, when the
        storage cannot be used at all (not a directory, no permission, read-only).
        """
        for state in STATES:
            d = self.state_dir(state)
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                if is_full_error(exc):
                    return f"storage dir {d} cannot be made: {exc.strerror}"
                raise StorageError(
                    f"storage dir {d} is not writable: {exc.strerror or exc}"
                ) from None
        for state in STATES:
            d = self.state_dir(state)
            probe = d / ".write-test"
            try:
                with open(probe, "wb") as f:
                    f.write(b"ok")
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as exc:
                with contextlib.suppress(OSError):
                    probe.unlink()
                if is_full_error(exc):
                    return f"storage dir {d} is full: {exc.strerror}"
                raise StorageError(
                    f"storage dir {d} is not writable: {exc.strerror or exc}"
                ) from None
            probe.unlink()
        return None

    def lock(self) -> None:
        """Take the storage for this process alone, so no second daemon repairs a live session.

        The lock is an flock on the storage dir itself: it needs no file, so it works on a full
        disk, and the kernel releases it when the process ends, however it ends.
        """
        try:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise StorageError(
                f"storage dir {self.root} cannot be opened: {exc.strerror or exc}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StorageError(
                f"storage dir {self.root} is in use by another running recorder"
            ) from None
        self._lock_fd = fd
        self._load_sequence()  # read afresh: ids are this process's to hand out from now on

    def _load_sequence(self) -> None:
        """Read the last id handed out, so that `reserve` never has to touch the storage."""
        stored = None
        with contextlib.suppress(FileNotFoundError, ValueError):
            stored = int((self.root / SEQUENCE_FILE).read_text().strip())
        self._last_seq = next_sequence(stored, self._all_ids()) - 1

    def reserve(self, wall: datetime, clock_synced: bool) -> tuple[str, Path]:
        """A fresh id and where its folder will be, without writing anything.

        A start must not wait for a slow or stalled card, so the id comes from a counter kept in
        memory (read once, when the storage is locked); `create` writes it down. The lock makes
        this process the only one that hands out ids.
        """
        if self._last_seq is None:
            self._load_sequence()
        assert self._last_seq is not None
        self._last_seq += 1
        session_id = make_id(self._last_seq, wall, clock_synced)
        return session_id, self.state_dir("recording") / session_id

    def create(self, session_id: str) -> Path:
        """Make a reserved session's folder; its sequence number is saved first, never reused."""
        seq = sequence_of(session_id)
        if seq is None:
            raise ValueError(f"not a session id: {session_id!r}")
        atomic_write(self.root / SEQUENCE_FILE, f"{seq}\n")  # above every stored one: `reserve`
        path = self.state_dir("recording") / session_id
        path.mkdir()
        fsync_dir(path.parent)
        return path

    def write_manifest(self, session_dir: Path, manifest: Manifest) -> int:
        """Write the manifest whole (temp file, fsync, rename); returns its size in bytes.

        The coach's details, consent, shares and marker label edits are taken from the file on
        disk first: the writer and the outbox write copies they read long before, and must not
        undo an edit made meanwhile (`update_manifest`). `manifest` gets them too.
        """
        path = session_dir / MANIFEST
        with self._manifests:
            with contextlib.suppress(OSError, ValueError):
                keep_coach_edits(json.loads(path.read_bytes()), manifest)
            data = dump_manifest(manifest)
            atomic_write(path, data)
        return len(data.encode())

    def take_coach_edits(self, session_dir: Path, manifest: Manifest) -> None:
        """Bring `manifest` up to date with the coach's edits on disk (before using its labels)."""
        with self._manifests, contextlib.suppress(OSError, ValueError):
            keep_coach_edits(json.loads((session_dir / MANIFEST).read_bytes()), manifest)

    def update_manifest(
        self, session_id: str, change: Callable[[Manifest, str], object]
    ) -> tuple[StoredSession, object]:
        """Read a session's manifest, let `change(manifest, state)` edit it, write it back.

        For the coach's edits (details, consent, shares): read and written under the lock every
        manifest write and folder move takes, so neither a move nor another writer's stale copy
        loses the edit. Returns the session as written and what `change` returned; raises
        KeyError for an unknown session, ManifestError for a damaged one, StorageError when the
        storage stays busy.
        """
        if not is_valid_id(session_id):
            raise KeyError(f"{session_id!r} is not a session id")
        if not self._manifests.acquire(timeout=UPDATE_WAIT_S):
            raise StorageError(
                f"{self.root}: a manifest write has not finished in {UPDATE_WAIT_S:.0f} s "
                "(the storage is not answering); try again"
            )
        try:
            found = self.folder_of(session_id)
            if found is None:
                raise KeyError(f"no session {session_id} on this box")
            state, folder = found
            manifest = self.read_manifest(folder)
            result = change(manifest, state)
            atomic_write(folder / MANIFEST, dump_manifest(manifest))
            return StoredSession(session_id, state, folder, manifest), result
        finally:
            self._manifests.release()

    def read_manifest(self, session_dir: Path) -> Manifest:
        """The folder's manifest; any reason it cannot be used (missing, unreadable, corrupt,
        impossible values) is a ManifestError naming the file, so callers leave it alone."""
        path = session_dir / MANIFEST
        try:
            text = path.read_bytes()
        except FileNotFoundError:
            raise ManifestError(f"{path}: manifest missing") from None
        except OSError as exc:
            raise ManifestError(f"{path}: manifest unreadable: {exc.strerror or exc}") from None
        return parse_manifest(text, str(path))

    def move(self, session_dir: Path, state: str) -> Path:
        target = self.state_dir(state) / session_dir.name
        with self._manifests:
            os.replace(session_dir, target)
        fsync_dir(target.parent)
        fsync_dir(session_dir.parent)
        return target

    def folder_of(self, session_id: str) -> tuple[str, Path] | None:
        """The state and folder of a session, or None when there is no such session."""
        if not is_valid_id(session_id):
            return None
        for state in STATES:
            folder = self.state_dir(state) / session_id
            if folder.is_dir():
                return state, folder
        return None

    def find(self, session_id: str) -> StoredSession | None:
        """One session as `sessions()` lists it (damaged when its manifest cannot be read)."""
        found = self.folder_of(session_id)
        if found is None:
            return None
        state, folder = found
        try:
            return StoredSession(session_id, state, folder, self.read_manifest(folder))
        except ManifestError as exc:
            return StoredSession(session_id, "damaged", folder, None, str(exc))

    def _all_ids(self) -> list[str]:
        ids: list[str] = []
        for state in STATES:
            d = self.state_dir(state)
            if d.is_dir():
                ids.extend(p.name for p in d.iterdir() if p.is_dir())
        return ids

    def sessions(self, state: str | None = None) -> list[StoredSession]:
        """Every session, oldest first; an unreadable manifest shows as `damaged`, untouched."""
        found: list[StoredSession] = []
        for st in STATES if state is None else (state,):
            d = self.state_dir(st)
            if not d.is_dir():
                continue
            for path in d.iterdir():
                if not path.is_dir() or not is_valid_id(path.name):
                    continue
                try:
                    found.append(StoredSession(path.name, st, path, self.read_manifest(path)))
                except ManifestError as exc:
                    found.append(StoredSession(path.name, "damaged", path, None, str(exc)))
        return sorted(found, key=lambda s: (sequence_of(s.id), s.id))
