"""Discards: a session deleted here and on the remote (a client withdrew consent).

When the remote cannot be reached, the deletion is remembered in `<storage>/discards/<id>` (the
remote folder, one line) and retried by the outbox at every pass, so a withdrawn consent is
honoured even if the network is down. An entry that can never succeed is set aside in
`discards/quarantine/` with one warning. Every discard is logged in `discard.log`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from recorder.config import UploadSection
from recorder.core.inbound import echo
from recorder.core.session_id import is_valid_id
from recorder.ports.outbox import RemoteStore
from recorder.store.files import atomic_write, fsync_dir
from recorder.store.sessions import ARCHIVE_CACHE, STATES, SessionStore

log = logging.getLogger(__name__)

DISCARDS = "discards"  # <storage>/discards/<id>: remote deletions still to do
QUARANTINE = "quarantine"  # discards/quarantine/: entries that can never succeed, set aside
MAX_DISCARD_ENTRY = 4096  # bytes: an entry holds one remote folder
DISCARD_LOG = "discard.log"


class DiscardError(ValueError):
    pass


def remote_dir_for(remote: str, session_id: str) -> str:
    """The session's folder under `remote:path` (`name:` alone is the remote's root)."""
    if remote.endswith(":"):
        return f"{remote}{session_id}"
    return f"{remote.rstrip('/')}/{session_id}"


def discard_session(
    store: SessionStore, remote: RemoteStore | None, upload: UploadSection | None, session_id: str
) -> dict:
    """Delete a session's folder here and its copy on the remote; log what was done.

    When the remote cannot be reached the deletion is remembered under `discards/` and retried
    by the outbox worker, so a withdrawn consent is honoured even if the network is down.
    """
    if not is_valid_id(session_id):
        raise DiscardError(f"{session_id!r} is not a session id")
    found = next(
        (
            store.state_dir(st) / session_id
            for st in STATES
            if (store.state_dir(st) / session_id).is_dir()
        ),
        None,
    )
    record: dict = {"id": session_id, "local": "not found", "remote": "never uploaded"}
    manifest = None
    if found is not None:
        with contextlib.suppress(Exception):
            manifest = store.read_manifest(found)
        shutil.rmtree(found)
        record["local"] = f"deleted from {found.parent.name}/"
    for copies in (store.cache_dir / session_id, store.cache_dir / ARCHIVE_CACHE / session_id):
        if copies.is_dir() and not copies.is_symlink():
            shutil.rmtree(copies)  # the web server's listening and submission copies
            record["copies"] = "deleted"
    sent = manifest is not None and manifest.upload.attempts > 0
    if (sent or found is None) and upload is not None:
        remote_dir = remote_dir_for(upload.remote, session_id)
        try:
            if remote is None:
                raise RuntimeError("no remote configured")
            remote.purge(remote_dir)
            record["remote"] = f"deleted {remote_dir}"
        except Exception as exc:
            (store.root / DISCARDS).mkdir(exist_ok=True)
            atomic_write(store.root / DISCARDS / session_id, remote_dir + "\n")
            record["remote"] = f"pending ({exc}); retried by the recorder"
    if found is None and record["remote"] == "never uploaded":
        raise DiscardError(f"no session {session_id} on this box")
    log_discard(store, record)
    log.warning(
        "discarded session %s: local %s, remote %s", session_id, record["local"], record["remote"]
    )
    return record


def log_discard(store: SessionStore, record: dict) -> None:
    """One line in `discard.log`, flushed to the card before the caller goes on."""
    line = json.dumps({"at": datetime.now(UTC).isoformat(timespec="seconds"), **record})
    with open(store.root / DISCARD_LOG, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


class PendingDeletions:
    """The remote deletions a discard could not do at once, retried by the outbox's thread."""

    def __init__(self, store: SessionStore, settings: UploadSection, remote: RemoteStore) -> None:
        self.store = store
        self.settings = settings
        self.remote = remote
        self._said: dict[str, str] = {}  # the outbox's thread only: last warning per entry

    def retry(self) -> None:
        """Retry each pending remote deletion; one that can never succeed is set aside.

        Retried for ever, such an entry warned at every pass and survived restarts. Only this
        session's folder under the configured remote is ever purged: an entry that names
        anything else (`remote:` alone would be the whole archive) is never acted on.
        """
        folder = self.store.root / DISCARDS
        if not folder.is_dir():
            return
        for entry in sorted(folder.iterdir()):
            if entry.name == QUARANTINE or (entry.name.startswith(".") and entry.suffix == ".tmp"):
                continue  # set aside, or a discard writing its entry now (atomic_write)
            remote_dir, problem = self._pending_deletion(entry)
            if problem is None:
                problem = self._purge(entry, remote_dir)
                if problem is None:
                    continue
            self._quarantine(entry, problem, remote_dir)

    def _purge(self, entry: Path, remote_dir: str) -> str | None:
        """Purge the entry's folder: None when done or worth trying again, else why it never
        can be."""
        try:
            self.remote.purge(remote_dir)
        except ValueError as exc:  # the adapter refuses the path itself
            return f"rclone refuses its path ({exc})"
        except Exception as exc:
            self._say(
                entry.name,
                f"discard of {echo(entry.name)} on the remote still pending "
                f"(retried at every pass; said again only when the reason changes): {exc}",
            )
            return None
        entry.unlink()
        self._said.pop(entry.name, None)
        log_discard(self.store, {"id": entry.name, "remote": "deleted (retried)"})
        return None

    def _pending_deletion(self, entry: Path) -> tuple[str, str | None]:
        """The remote folder a pending deletion names, and why it can never succeed (or None)."""
        expected = remote_dir_for(self.settings.remote, entry.name)
        if entry.is_symlink() or not entry.is_file():
            return expected, "it is not a plain file"
        if not is_valid_id(entry.name):
            return expected, "its name is not a session id"
        try:
            with open(entry, "rb") as f:
                data = f.read(MAX_DISCARD_ENTRY + 1)
        except OSError as exc:
            return expected, f"it cannot be read ({exc.strerror or exc})"
        if len(data) > MAX_DISCARD_ENTRY:
            size = entry.stat().st_size
            return expected, f"it holds {size} bytes, not one remote folder"
        try:
            named = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            return expected, "it is not UTF-8 text"
        if not named:
            return expected, "it is empty"
        if named != expected:
            return expected, (
                f"it names {echo(named)}, not this session's folder under the configured "
                f"remote ({echo(expected)})"
            )
        return expected, None

    def _quarantine(self, entry: Path, problem: str, remote_dir: str) -> None:
        """Move an entry that can never succeed to discards/quarantine/, with one warning."""
        aside = entry.parent / QUARANTINE
        target = aside / entry.name
        n = 1
        while target.exists() or target.is_symlink():
            n += 1
            target = aside / f"{entry.name}.{n}"
        try:
            aside.mkdir(exist_ok=True)
            os.rename(entry, target)
            fsync_dir(entry.parent)
        except OSError as exc:
            self._say(
                entry.name,
                f"pending remote deletion {echo(entry.name)} can never succeed ({problem}), and "
                f"it could not be moved to {aside} ({exc.strerror or exc}): remove {entry} by "
                f"hand; if {echo(remote_dir)} still holds a copy, delete it with rclone purge",
            )
            return
        self._said.pop(entry.name, None)
        log.warning(
            "pending remote deletion %s can never succeed: %s. Moved to %s and not retried: if "
            "the remote still holds a copy of that session (%s), delete it with `rclone purge`, "
            "then delete the file",
            echo(entry.name), problem, target, echo(remote_dir),
        )  # fmt: skip

    def _say(self, name: str, message: str) -> None:
        """Warn about a pending deletion once, and again only when the message changes."""
        if self._said.get(name) != message:
            self._said[name] = message
            log.warning("%s", message)
        else:
            log.debug("%s", message)
