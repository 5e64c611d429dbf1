"""Verifying a session in uploaded/: rclone compares what arrived with what was sent.

A verified session is marked "verified" (here and on the remote) and may then be deleted by
retention; one whose copy is wrong or missing goes back to outbox/ to be sent again in full;
one whose check could not run (the remote unreachable) is checked again later, sending nothing.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from recorder.core.manifest import Manifest
from recorder.core.recording.state import SessionVerified, UploadActivity
from recorder.core.upload_plan import retry_delay_s, send_again_after
from recorder.media.deliverables import FLAC_NAME
from recorder.outbox.deliver import Delivery
from recorder.outbox.state import Link
from recorder.outbox.upload import back_off, failed
from recorder.store.sessions import MANIFEST, StoredSession

log = logging.getLogger(__name__)


class Verifier:
    """The verify phase for one session at a time."""

    def __init__(self, link: Link, delivery: Delivery) -> None:
        self.link = link
        self.delivery = delivery

    def verify(self, s: StoredSession, m: Manifest) -> None:
        """Check the session's data files on the remote.

        The data files are checked, not the manifest: it changes with every state (and with a
        failed verification's error) and is sent again at each change.
        """
        link = self.link
        remote_dir = link.remote_dir(s.id, m)
        sent = list(m.upload.files) or self.delivery.files(s.path, m)
        files = [f for f in sent if f != MANIFEST]
        try:
            with link.state.working("verifying", s.id):
                link.emit(UploadActivity(True))
                log.info("verifying session %s on %s", s.id, remote_dir)
                self._check(s, m, remote_dir, files)  # until the remote's manifest says verified
        finally:
            link.emit(UploadActivity(False))

    def _check(self, s: StoredSession, m: Manifest, remote_dir: str, files: list[str]) -> None:
        link = self.link
        try:
            wrong = link.remote.verify(s.path, files, remote_dir)
        except Exception as exc:
            if link.state.was_cancelled(s.id) or link.stopping.is_set():
                return  # rclone was stopped: verified at the next pass, nothing learned
            kind = getattr(exc, "kind", "other")
            if send_again_after(kind):
                self._send_again(s, m, kind, str(exc))
            else:
                self._verify_later(s, m, kind, str(exc))
            return
        if link.state.was_cancelled(s.id) or link.stopping.is_set():
            return
        if wrong:
            self._send_again(s, m, "verify", f"not verified on the remote: {', '.join(wrong)}")
            return
        self._verified(s, m, remote_dir, files)

    def _verified(self, s: StoredSession, m: Manifest, remote_dir: str, files: list[str]) -> None:
        link = self.link
        m.upload.status = "verified"
        m.upload.verified_at = link.now_iso()
        m.upload.last_error = m.upload.error_kind = None
        m.upload.force = False
        if not self.delivery.steps:
            m.upload.transcript.status = "none"  # no transcript follows: settled now
        if link.settings.share_link and files:
            target = FLAC_NAME if FLAC_NAME in files else files[-1]
            try:  # a link is a convenience: its failure must not undo a verified upload
                m.upload.link = link.remote.link(f"{remote_dir}/{target}")
            except Exception as exc:
                log.warning("session %s: no share link: %s", s.id, exc)
        link.store.write_manifest(s.path, m)
        try:  # the copy on the remote should say "verified" too; the audio is verified already
            link.remote.upload(s.path, [MANIFEST], remote_dir, force=True)
        except Exception as exc:
            log.warning("session %s: final manifest not updated on the remote: %s", s.id, exc)
        link.state.succeeded(s.id)
        log.info("session %s verified on %s", s.id, remote_dir)
        link.emit(SessionVerified(s.id, remote_dir))

    def _send_again(self, s: StoredSession, m: Manifest, kind: str, message: str) -> None:
        """The remote copy is wrong or missing: back to outbox/, to be sent again in full.

        Moved before its manifest is written: a crash in between leaves it in outbox/, where
        the next pass sends it again whatever its manifest says.
        """
        back = replace(s, path=self.link.store.move(s.path, "outbox"), state="outbox")
        m.upload.force = True
        failed(self.link, back, m, kind, message)

    def _verify_later(self, s: StoredSession, m: Manifest, kind: str, message: str) -> None:
        """Verification could not run (remote unreachable, refused, …): try again later with
        backoff, leaving the session "uploaded" in uploaded/; nothing is sent again."""
        u = self.link.settings
        m.upload.verify_attempts += 1
        delay = retry_delay_s(
            kind, m.upload.verify_attempts, u.retry_min_s, u.retry_max_s, self.link.rand()
        )
        m.upload.last_error = f"verification: {message}"
        m.upload.error_kind = kind
        back_off(self.link, s, m, kind, m.upload.last_error, delay)
