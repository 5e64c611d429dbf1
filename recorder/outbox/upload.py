"""Sending a session: its files, then its manifest marked "uploaded", and the move to uploaded/.

A failure of any kind is retried with backoff, never lost: the session stays in outbox/ with
its manifest saying why (`failed`, the error's kind) and when the next try is.
"""

from __future__ import annotations

import contextlib
import logging

from recorder.core.manifest import Manifest
from recorder.core.recording.state import SessionUploaded, UploadActivity
from recorder.core.upload_plan import is_due, retry_delay_s
from recorder.outbox.deliver import Delivery
from recorder.outbox.discard import remote_dir_for
from recorder.outbox.state import Link, timestamp
from recorder.store.sessions import MANIFEST, StoredSession

log = logging.getLogger(__name__)

NOT_DUE_RETRY_S = 30  # a session still inside the upload delay is looked at again after this


class Uploader:
    """The upload phase for one session at a time."""

    def __init__(self, link: Link, delivery: Delivery) -> None:
        self.link = link
        self.delivery = delivery

    def go(self, s: StoredSession, m: Manifest) -> None:
        """Send the session once the upload delay since it finished has passed."""
        finished = timestamp(m.ended_at or m.started_at)
        if not is_due(finished, self.link.wall(), self.link.settings.delay_min * 60):
            self.link.state.try_later(s.id, NOT_DUE_RETRY_S)
            return
        self.send(s, m)

    def send(self, s: StoredSession, m: Manifest) -> None:
        """Its files, then its manifest marked "uploaded"."""
        link = self.link
        remote_dir = remote_dir_for(link.settings.remote, s.id)
        files = self.delivery.files(s.path, m)
        m.upload.status = "uploading"
        m.upload.remote = remote_dir
        m.upload.attempts += 1
        m.upload.verify_attempts = 0
        link.store.write_manifest(s.path, m)
        try:
            with link.state.working("current", s.id):
                link.emit(UploadActivity(True))
                log.info(
                    "uploading session %s to %s (attempt %d)", s.id, remote_dir, m.upload.attempts
                )
                self._attempt(s, m, remote_dir, files)
        finally:
            link.emit(UploadActivity(False))

    def _attempt(self, s: StoredSession, m: Manifest, remote_dir: str, files: list[str]) -> None:
        link = self.link
        try:
            link.remote.upload(
                s.path, files, remote_dir, force=m.upload.force, progress=link.state.on_progress
            )
            if link.state.was_cancelled(s.id):
                return
            self._uploaded(s, m, remote_dir, files)
        except Exception as exc:  # RcloneError and anything unexpected: retried, never lost
            if link.state.was_cancelled(s.id):
                return
            failed(link, s, m, getattr(exc, "kind", "other"), str(exc))

    def _uploaded(self, s: StoredSession, m: Manifest, remote_dir: str, files: list[str]) -> None:
        """Every file is on the remote: say so there too, and move the session to uploaded/.

        The manifest saying "uploaded" must reach the remote, or the remote would show a
        session still "uploading": its failure fails the attempt (the next one re-sends only
        what changed).
        """
        link = self.link
        m.upload.status = "uploaded"
        m.upload.uploaded_at = link.now_iso()
        m.upload.files = {f: (s.path / f).stat().st_size for f in files}
        m.upload.last_error = m.upload.error_kind = None
        m.upload.force = False
        link.store.write_manifest(s.path, m)
        link.remote.upload(s.path, [MANIFEST], remote_dir, force=True)
        final = link.store.move(s.path, "uploaded")
        link.state.succeeded(s.id)
        log.info("session %s uploaded to %s; verification follows", s.id, remote_dir)
        link.emit(SessionUploaded(s.id, str(final), remote_dir))


def failed(link: Link, s: StoredSession, m: Manifest, kind: str, message: str) -> None:
    """An attempt failed: the session is marked "failed" and waits its backoff."""
    u = link.settings
    delay = retry_delay_s(kind, m.upload.attempts, u.retry_min_s, u.retry_max_s, link.rand())
    m.upload.status = "failed"
    m.upload.last_error = message
    m.upload.error_kind = kind
    back_off(link, s, m, kind, message, delay)


def back_off(
    link: Link, s: StoredSession, m: Manifest, kind: str, message: str, delay: float
) -> None:
    """Save the manifest saying why, and try the session again after `delay` seconds."""
    with contextlib.suppress(OSError):
        link.store.write_manifest(s.path, m)
    link.state.try_later(s.id, delay, f"{s.id}: {message}")
    level = logging.ERROR if kind in ("auth", "config") else logging.WARNING
    log.log(level, "upload of %s failed (%s): %s; next try in %.0f s", s.id, kind, message, delay)
