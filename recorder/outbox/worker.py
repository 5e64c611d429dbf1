"""The outbox worker: deliverables, upload, verification, retention and discards.

Finalized sessions wait in `outbox/`. This thread, at low priority, builds each one's
deliverables (a lossless FLAC and an MP3 for credential submissions) and uploads them with the
manifest and label track; a session that arrived is marked "uploaded" and moved to `uploaded/`.
Only once every due session is off the box does rclone verify what arrived (verification costs
about a quarter of a copy: a backlog after an outage should not wait behind it). A verified
session is marked "verified"; one that fails goes back to `outbox/` to be sent again. Failures
are retried with backoff; the queue is the filesystem, so it survives restarts and power cuts.
Local copies are deleted only once verified.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import random
import shutil
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from recorder.config import UploadSection
from recorder.core.inbound import echo
from recorder.core.manifest import Manifest
from recorder.core.recording.state import Event, SessionUploaded, SessionVerified, UploadActivity
from recorder.core.session_id import is_valid_id
from recorder.core.upload_plan import Stored, is_due, retry_delay_s, send_again_after, to_delete
from recorder.media.deliverables import FLAC_NAME, MP3_NAME, DeliverableError, build_deliverables
from recorder.ports.outbox import RemoteStore, SessionStep
from recorder.ports.storage import DiskSpace
from recorder.store.files import atomic_write, fsync_dir
from recorder.store.markers import LABELS_FILE
from recorder.store.sessions import MANIFEST, STATES, SessionStore, StoredSession

log = logging.getLogger(__name__)

DISCARDS = "discards"  # <storage>/discards/<id>: remote deletions still to do
QUARANTINE = "quarantine"  # discards/quarantine/: entries that can never succeed, set aside
MAX_DISCARD_ENTRY = 4096  # bytes: an entry holds one remote folder
DISCARD_LOG = "discard.log"
IDLE_POLL_S = 60.0
LOW_PRIORITY = 10


class DiscardError(ValueError):
    pass


class OutboxWorker(threading.Thread):
    def __init__(
        self,
        store: SessionStore,
        upload: UploadSection | None,
        remote: RemoteStore | None,
        disk: DiskSpace,
        recording: Callable[[], bool],
        emit: Callable[[Event], None],
        rand: Callable[[], float] = random.random,
        wall: Callable[[], float] = time.time,
        deliverables: bool | None = None,
        steps: Sequence[SessionStep] = (),
        chores: Sequence[Callable[[], None]] = (),
    ) -> None:
        super().__init__(name="outbox", daemon=True)
        self.store = store
        self.upload = upload
        self.remote = remote if upload is not None else None
        self.disk = disk
        self.recording = recording
        self.emit = emit
        self.rand = rand
        self.wall = wall
        # FLAC and MP3 cost CPU and card space: built only for an upload that will send them
        # (`export` builds one on demand); the daemon passes its own decision.
        self.deliverables = (
            deliverables if deliverables is not None else bool(upload and upload.deliverables)
        )
        self.steps = tuple(steps)  # after the deliverables, before the upload (a transcript)
        self.chores = tuple(chores)  # once a pass, even while paused (expired shared copies)
        self._chores_at = 0.0
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._current: str | None = None  # guarded by _lock: being uploaded
        self._verifying: str | None = None  # guarded by _lock: being verified
        self._stepping: str | None = None  # guarded by _lock: in a step (its transcript)
        self._progress: dict | None = None  # guarded by _lock
        self._last_error: str | None = None  # guarded by _lock
        self._next_try: dict[str, float] = {}  # guarded by _lock: id -> monotonic time
        self._cancelled: set[str] = set()  # guarded by _lock: discarded while in flight
        self._busy = threading.Lock()  # held while one session is being worked on
        self._stopped_children = False  # guarded by _lock
        self._discard_said: dict[str, str] = {}  # this thread only: last warning per entry

    # ---- other threads ------------------------------------------------------------------------

    def wake(self) -> None:
        """Run a pass now (`session-recorder upload`, a session just finalized)."""
        with self._lock:
            self._next_try.clear()
        self._wake.set()

    @property
    def session_lock(self) -> threading.Lock:
        """Held while one session's files are worked on here or deleted by a discard; a chore
        that sends a session's files takes it too."""
        return self._busy

    def nudge(self) -> None:
        """Run a pass soon, without cutting short any back-off (a chore has work)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self._wake.set()
        self._signal_rclone(signal.SIGCONT)
        self._signal_rclone(signal.SIGTERM)
        self.join(timeout)

    def set_recording(self, recording: bool) -> None:
        """Called when recording starts or stops: freeze or thaw a transfer in flight."""
        if self.upload is None or not self.upload.pause_while_recording:
            return
        with self._lock:
            if recording == self._stopped_children:
                return
            self._stopped_children = recording
        self._signal_rclone(signal.SIGSTOP if recording else signal.SIGCONT)
        if not recording:
            self._wake.set()

    def status(self) -> dict:
        # Counted from the folder names: status runs every second while recording, and parsing
        # every waiting manifest that often would be wasted work on a Pi.
        outbox = self.store.state_dir("outbox")
        queue = [p for p in outbox.iterdir() if p.is_dir() and is_valid_id(p.name)]
        with self._lock:
            return {
                "enabled": self.upload is not None,
                "remote": self.upload.remote if self.upload else None,
                "queue": len(queue),
                "current": self._current,
                "verifying": self._verifying,
                "progress": dict(self._progress) if self._progress else None,
                "paused": self._paused(),
                "last_error": self._last_error,
            }

    # ---- the thread ---------------------------------------------------------------------------

    def run(self) -> None:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOW_PRIORITY)
        while not self.stopping.is_set():
            if self._paused():
                if time.monotonic() - self._chores_at >= IDLE_POLL_S:
                    self._run_chores()
                self._wake.wait(2.0)
                self._wake.clear()
                continue
            try:
                self.pass_once()
            except Exception:  # the worker must outlive any one bad session
                log.exception("outbox pass failed")
            release_heap()
            self._wake.wait(self._sleep_s())
            self._wake.clear()

    def _paused(self) -> bool:
        pause = self.upload is None or self.upload.pause_while_recording
        return pause and self.recording()

    def _sleep_s(self) -> float:
        with self._lock:
            if not self._next_try:
                return IDLE_POLL_S
            return max(0.5, min(IDLE_POLL_S, min(self._next_try.values()) - time.monotonic()))

    def pass_once(self) -> None:
        """Upload every due session, then verify what was uploaded, then pending remote
        deletions and retention.

        Uploads come first so that sessions leave the box as soon as the link allows (a backlog
        after an outage is not held up by verifying each one in turn); verification still
        gates every deletion.
        """
        try:
            if not self._upload_phase():
                return
            if self.remote is not None:
                if not self._verify_phase():
                    return
                self._retry_discards()
            self._retain()
        finally:
            self._run_chores()

    def _run_chores(self) -> None:
        self._chores_at = time.monotonic()
        for chore in self.chores:
            if self.stopping.is_set():
                return
            try:
                chore()
            except Exception:  # a chore is never a reason to stop uploading
                log.exception("outbox chore %s failed", getattr(chore, "__qualname__", chore))

    def _upload_phase(self) -> bool:
        """Deliverables and upload of each due session in the outbox; False if interrupted."""
        for s in self.store.sessions("outbox"):
            if not self._may_go_on():
                return False
            if s.manifest is None:
                continue  # damaged: reported by `sessions`, never touched
            if not self._due(s.id):
                continue
            with self._busy:
                if not s.path.exists():
                    continue  # discarded meanwhile
                self._process(s)
        return True

    def _verify_phase(self) -> bool:
        """Verify each session in uploaded/ not verified yet; False if interrupted.

        Any status but "verified" there counts: "uploaded" normally, or whatever a crash
        between writing a manifest and moving its folder left behind.
        """
        for s in self.store.sessions("uploaded"):
            if not self._may_go_on():
                return False
            if s.manifest is None or s.manifest.upload.status == "verified":
                continue
            if not self._due(s.id):
                continue
            with self._busy:
                if not s.path.exists():
                    continue  # discarded meanwhile
                self._verify(s, s.manifest)
        return True

    def _may_go_on(self) -> bool:
        return not self.stopping.is_set() and not self._paused()

    def _due(self, session_id: str) -> bool:
        with self._lock:
            return self._next_try.get(session_id, 0) <= time.monotonic()

    # ---- one session ------------------------------------------------------------------------------

    def _process(self, s: StoredSession) -> None:
        m = s.manifest
        assert m is not None
        if self.deliverables:
            try:
                build_deliverables(s.path, m)
            except (DeliverableError, OSError) as exc:
                log.error("session %s: building deliverables failed: %s", s.id, exc)
        if self.steps:
            with self._lock:
                self._stepping = s.id
            try:
                for step in self.steps:
                    if self.stopping.is_set():
                        return
                    try:
                        step.build(s.path, m)
                    except Exception:  # a step is an extra: it never stops the upload
                        log.exception("session %s: %s failed", s.id, type(step).__name__)
            finally:
                with self._lock:
                    self._stepping = None
            if self._was_cancelled(s.id) or self.stopping.is_set():
                return  # discarded while its transcript was built: never uploaded
        if self.remote is None or self.upload is None:
            return
        finished = _timestamp(m.ended_at or m.started_at)
        if not is_due(finished, self.wall(), self.upload.delay_min * 60):
            with self._lock:
                self._next_try[s.id] = time.monotonic() + 30
            return
        self._send(s, m)

    def _files(self, path: Path, m: Manifest) -> list[str]:
        files = [MANIFEST]
        if (path / LABELS_FILE).exists():
            files.append(LABELS_FILE)
        if (path / FLAC_NAME).exists():
            files.append(FLAC_NAME)  # lossless and verified against the segments: no WAVs needed
        else:
            files += [seg.file for seg in m.segments]
        if (path / MP3_NAME).exists():
            files.append(MP3_NAME)
        for step in self.steps:
            files += step.files(path)
        return files

    def _send(self, s: StoredSession, m: Manifest) -> None:
        """The upload phase for one session: its files, then its manifest marked "uploaded"."""
        assert self.remote is not None and self.upload is not None
        remote_dir = remote_dir_for(self.upload.remote, s.id)
        files = self._files(s.path, m)
        m.upload.status = "uploading"
        m.upload.remote = remote_dir
        m.upload.attempts += 1
        m.upload.verify_attempts = 0
        self.store.write_manifest(s.path, m)
        with self._lock:
            self._current, self._progress = s.id, None
        self.emit(UploadActivity(True))
        log.info("uploading session %s to %s (attempt %d)", s.id, remote_dir, m.upload.attempts)
        try:
            self.remote.upload(
                s.path, files, remote_dir, force=m.upload.force, progress=self._on_progress
            )
            if self._was_cancelled(s.id):
                return
            self._uploaded(s, m, remote_dir, files)
        except Exception as exc:  # RcloneError and anything unexpected: retried, never lost
            if self._was_cancelled(s.id):
                return
            kind = getattr(exc, "kind", "other")
            self._failed(s, m, kind, str(exc))
        finally:
            with self._lock:
                self._current, self._progress = None, None
            self.emit(UploadActivity(False))

    def _uploaded(self, s: StoredSession, m: Manifest, remote_dir: str, files: list[str]) -> None:
        """Every file is on the remote: say so there too, and move the session to uploaded/.

        The manifest saying "uploaded" must reach the remote, or the remote would show a
        session still "uploading": its failure fails the attempt (the next one re-sends only
        what changed).
        """
        assert self.remote is not None
        m.upload.status = "uploaded"
        m.upload.uploaded_at = self._now_iso()
        m.upload.files = {f: (s.path / f).stat().st_size for f in files}
        m.upload.last_error = m.upload.error_kind = None
        m.upload.force = False
        self.store.write_manifest(s.path, m)
        self.remote.upload(s.path, [MANIFEST], remote_dir, force=True)
        final = self.store.move(s.path, "uploaded")
        with self._lock:
            self._next_try.pop(s.id, None)
            self._last_error = None
        log.info("session %s uploaded to %s; verification follows", s.id, remote_dir)
        self.emit(SessionUploaded(s.id, str(final), remote_dir))

    # ---- verifying ----------------------------------------------------------------------------

    def _verify(self, s: StoredSession, m: Manifest) -> None:
        """The verify phase for one session in uploaded/.

        The data files are checked, not the manifest: it changes with every state (and with a
        failed verification's error) and is sent again at each change.
        """
        assert self.remote is not None and self.upload is not None
        remote_dir = m.upload.remote or remote_dir_for(self.upload.remote, s.id)
        sent = list(m.upload.files) or self._files(s.path, m)
        files = [f for f in sent if f != MANIFEST]
        with self._lock:
            self._verifying = s.id
        self.emit(UploadActivity(True))
        log.info("verifying session %s on %s", s.id, remote_dir)
        try:  # until the remote's manifest says verified too
            self._check(s, m, remote_dir, files)
        finally:
            with self._lock:
                self._verifying = None
            self.emit(UploadActivity(False))

    def _check(self, s: StoredSession, m: Manifest, remote_dir: str, files: list[str]) -> None:
        assert self.remote is not None
        try:
            wrong = self.remote.verify(s.path, files, remote_dir)
        except Exception as exc:
            if self._was_cancelled(s.id) or self.stopping.is_set():
                return  # rclone was stopped: verified at the next pass, nothing learned
            kind = getattr(exc, "kind", "other")
            if send_again_after(kind):
                self._send_again(s, m, kind, str(exc))
            else:
                self._verify_later(s, m, kind, str(exc))
            return
        if self._was_cancelled(s.id) or self.stopping.is_set():
            return
        if wrong:
            self._send_again(s, m, "verify", f"not verified on the remote: {', '.join(wrong)}")
            return
        self._verified(s, m, remote_dir, files)

    def _verified(self, s: StoredSession, m: Manifest, remote_dir: str, files: list[str]) -> None:
        assert self.remote is not None and self.upload is not None
        m.upload.status = "verified"
        m.upload.verified_at = self._now_iso()
        m.upload.last_error = m.upload.error_kind = None
        m.upload.force = False
        if self.upload.share_link and files:
            target = FLAC_NAME if FLAC_NAME in files else files[-1]
            try:  # a link is a convenience: its failure must not undo a verified upload
                m.upload.link = self.remote.link(f"{remote_dir}/{target}")
            except Exception as exc:
                log.warning("session %s: no share link: %s", s.id, exc)
        self.store.write_manifest(s.path, m)
        try:  # the copy on the remote should say "verified" too; the audio is verified already
            self.remote.upload(s.path, [MANIFEST], remote_dir, force=True)
        except Exception as exc:
            log.warning("session %s: final manifest not updated on the remote: %s", s.id, exc)
        with self._lock:
            self._next_try.pop(s.id, None)
            self._last_error = None
        log.info("session %s verified on %s", s.id, remote_dir)
        self.emit(SessionVerified(s.id, remote_dir))

    def _send_again(self, s: StoredSession, m: Manifest, kind: str, message: str) -> None:
        """The remote copy is wrong or missing: back to outbox/, to be sent again in full.

        Moved before its manifest is written: a crash in between leaves it in outbox/, where
        the next pass sends it again whatever its manifest says.
        """
        back = replace(s, path=self.store.move(s.path, "outbox"), state="outbox")
        m.upload.force = True
        self._failed(back, m, kind, message)

    def _verify_later(self, s: StoredSession, m: Manifest, kind: str, message: str) -> None:
        """Verification could not run (remote unreachable, refused, …): try again later with
        backoff, leaving the session "uploaded" in uploaded/; nothing is sent again."""
        assert self.upload is not None
        m.upload.verify_attempts += 1
        u = self.upload
        delay = retry_delay_s(
            kind, m.upload.verify_attempts, u.retry_min_s, u.retry_max_s, self.rand()
        )
        m.upload.last_error = f"verification: {message}"
        m.upload.error_kind = kind
        self._back_off(s, m, kind, m.upload.last_error, delay)

    def _failed(self, s: StoredSession, m: Manifest, kind: str, message: str) -> None:
        assert self.upload is not None
        delay = retry_delay_s(
            kind, m.upload.attempts, self.upload.retry_min_s, self.upload.retry_max_s, self.rand()
        )
        m.upload.status = "failed"
        m.upload.last_error = message
        m.upload.error_kind = kind
        self._back_off(s, m, kind, message, delay)

    def _back_off(
        self, s: StoredSession, m: Manifest, kind: str, message: str, delay: float
    ) -> None:
        with contextlib.suppress(OSError):
            self.store.write_manifest(s.path, m)
        with self._lock:
            self._next_try[s.id] = time.monotonic() + delay
            self._last_error = f"{s.id}: {message}"
        level = logging.ERROR if kind in ("auth", "config") else logging.WARNING
        log.log(
            level, "upload of %s failed (%s): %s; next try in %.0f s", s.id, kind, message, delay
        )

    def _now_iso(self) -> str:
        return datetime.fromtimestamp(self.wall(), UTC).isoformat(timespec="seconds")

    def _on_progress(self, p: dict) -> None:
        with self._lock:
            self._progress = p

    def _was_cancelled(self, session_id: str) -> bool:
        with self._lock:
            if session_id in self._cancelled:
                self._cancelled.discard(session_id)
                return True
        return False

    # ---- deleting -----------------------------------------------------------------------------

    def _retain(self) -> None:
        settings = self.upload
        if settings is None:
            return
        sessions = self.store.sessions("uploaded")
        stored = [
            Stored(
                s.id,
                verified=s.manifest is not None and s.manifest.upload.status == "verified",
                bytes=_folder_bytes(s.path),
                finished_at_s=_timestamp(s.manifest.ended_at) if s.manifest else None,
            )
            for s in sessions
        ]
        try:
            free = self.disk.free_bytes(self.store.root)
        except OSError:
            return
        for session_id in to_delete(
            stored, free, settings.keep_free_mb * 1_000_000, self.wall(), settings.keep_days
        ):
            path = self.store.state_dir("uploaded") / session_id
            shutil.rmtree(path)
            log.info("retention: deleted the local copy of %s (verified on the remote)", session_id)

    def discard(self, session_id: str, recording_id: str | None) -> dict:
        """Delete a session here and on the remote (a client withdrew consent)."""
        if session_id == recording_id:
            raise DiscardError(f"session {session_id} is being recorded: stop it first")
        with self._lock:
            in_flight = session_id in (self._current, self._verifying, self._stepping)
            if in_flight:
                self._cancelled.add(session_id)
        if in_flight:  # stop rclone: the discard must not wait for a long upload or check
            self._signal_rclone(signal.SIGCONT)
            self._signal_rclone(signal.SIGTERM)
        for step in self.steps:  # a transcript in the works would hold _busy for minutes
            step.cancel(self.store.state_dir("outbox") / session_id)
        with self._busy:
            return discard_session(self.store, self.remote, self.upload, session_id)

    def _retry_discards(self) -> None:
        """Retry each pending remote deletion; one that can never succeed is set aside.

        Retried for ever, such an entry warned at every pass and survived restarts. Only this
        session's folder under the configured remote is ever purged: an entry that names
        anything else (`remote:` alone would be the whole archive) is never acted on.
        """
        folder = self.store.root / DISCARDS
        if not folder.is_dir() or self.remote is None or self.upload is None:
            return
        for entry in sorted(folder.iterdir()):
            if entry.name == QUARANTINE or (entry.name.startswith(".") and entry.suffix == ".tmp"):
                continue  # set aside, or a discard writing its entry now (atomic_write)
            remote_dir, problem = self._pending_deletion(entry)
            if problem is None:
                try:
                    self.remote.purge(remote_dir)
                except ValueError as exc:  # the adapter refuses the path itself
                    problem = f"rclone refuses its path ({exc})"
                except Exception as exc:
                    self._say(
                        entry.name,
                        f"discard of {echo(entry.name)} on the remote still pending "
                        f"(retried at every pass; said again only when the reason changes): {exc}",
                    )
                    continue
                else:
                    entry.unlink()
                    self._discard_said.pop(entry.name, None)
                    _log_discard(self.store, {"id": entry.name, "remote": "deleted (retried)"})
                    continue
            self._quarantine(entry, problem, remote_dir)

    def _pending_deletion(self, entry: Path) -> tuple[str, str | None]:
        """The remote folder a pending deletion names, and why it can never succeed (or None)."""
        assert self.upload is not None
        expected = remote_dir_for(self.upload.remote, entry.name)
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
        self._discard_said.pop(entry.name, None)
        log.warning(
            "pending remote deletion %s can never succeed: %s. Moved to %s and not retried: if "
            "the remote still holds a copy of that session (%s), delete it with `rclone purge`, "
            "then delete the file",
            echo(entry.name), problem, target, echo(remote_dir),
        )  # fmt: skip

    def _say(self, name: str, message: str) -> None:
        """Warn about a pending deletion once, and again only when the message changes."""
        if self._discard_said.get(name) != message:
            self._discard_said[name] = message
            log.warning("%s", message)
        else:
            log.debug("%s", message)

    def _signal_rclone(self, sig: int) -> None:
        if self.upload is None:
            return
        config = str(Path(self.upload.rclone_config).absolute())
        for pid in _descendants_named("rclone", {"RCLONE_CONFIG": config}):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


def release_heap() -> None:
    """Give the memory freed since the last pass back to the kernel.

    glibc keeps freed pages resident: after the FLAC and LAME encoders of a pass, a few MB
    (the next session would record with that much more RSS than the first), and after a
    stalled disk or a long pre-roll, the whole backlog. Cheap; once a pass. A no-op where
    libc has no malloc_trim.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


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
    _log_discard(store, record)
    log.warning(
        "discarded session %s: local %s, remote %s", session_id, record["local"], record["remote"]
    )
    return record


def _log_discard(store: SessionStore, record: dict) -> None:
    line = json.dumps({"at": datetime.now(UTC).isoformat(timespec="seconds"), **record})
    with open(store.root / DISCARD_LOG, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def _timestamp(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


def _descendants_named(name: str, environ: dict[str, str]) -> list[int]:
    """Pids of this process's descendants running `name` with these environment variables.

    rclone-python starts rclone under a shell and does not hand out the process, so the
    transfers to freeze or stop are found in /proc: rclone processes of ours whose environment
    names our rclone config (the adapter passes it as RCLONE_CONFIG), and no other.
    """
    parents: dict[int, int] = {}
    comms: dict[int, str] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        pid = int(entry.name)
        comms[pid] = stat[stat.index("(") + 1 : stat.rindex(")")]
        parents[pid] = int(stat[stat.rindex(")") + 2 :].split()[1])
    me = os.getpid()
    wanted = {f"{k}={v}".encode() for k, v in environ.items()}
    found = []
    for pid, comm in comms.items():
        if comm != name or not _descends_from(pid, me, parents):
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = set(f.read().split(b"\0"))
        except OSError:
            continue
        if wanted <= env:
            found.append(pid)
    return found


def _descends_from(pid: int, ancestor: int, parents: dict[int, int]) -> bool:
    p = parents.get(pid)
    while p is not None and p > 1:
        if p == ancestor:
            return True
        p = parents.get(p)
    return False
