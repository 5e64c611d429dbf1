"""After the audio: the steps' files (the transcript), built, sent and verified on their own.

A session whose audio is verified on the remote gets its transcript built now, never before:
the audio is off the box first. The transcript files then go to the same folder on the remote
and are verified there, and the manifest (here and there) says so in `upload.transcript`. A
failure is retried with backoff like an upload; the audio's "verified" is never undone by it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from recorder.core.manifest import Manifest
from recorder.core.recording.state import UploadActivity
from recorder.core.upload_plan import retry_delay_s
from recorder.outbox.deliver import Delivery
from recorder.outbox.state import Link
from recorder.store.sessions import MANIFEST, StoredSession

log = logging.getLogger(__name__)

# what the follow-up phase still has to do for a verified session
UNSETTLED = ("waiting", "failed")


def unsettled(m: Manifest) -> bool:
    """Verified audio whose transcript is still to be built or sent."""
    return m.upload.status == "verified" and m.upload.transcript.status in UNSETTLED


class FollowUp:
    """The follow-up phase for one session at a time."""

    def __init__(self, link: Link, delivery: Delivery) -> None:
        self.link = link
        self.delivery = delivery

    def go(self, s: StoredSession, m: Manifest) -> None:
        """Build the steps' files, then send and verify them; "none" if there are none."""
        if not self.delivery.follow(s, m):
            return  # discarded or stopping
        files = self.delivery.followup_files(s.path)
        t = m.upload.transcript
        if not files:
            t.status = "none"
            t.last_error = None
            self._save(s, m)
            return
        link = self.link
        remote_dir = link.remote_dir(s.id, m)  # where the audio went
        sent = _signature(s.path, files)
        t.attempts += 1
        try:
            with link.state.working("current", s.id):
                link.emit(UploadActivity(True))
                log.info("session %s: sending its transcript to %s", s.id, remote_dir)
                link.remote.upload(s.path, files, remote_dir, progress=link.state.on_progress)
                wrong = link.remote.verify(s.path, files, remote_dir)
        except Exception as exc:  # RcloneError and anything unexpected: retried, never lost
            if not (link.state.was_cancelled(s.id) or link.stopping.is_set()):
                self._failed(s, m, getattr(exc, "kind", "other"), str(exc))
            return
        finally:
            link.emit(UploadActivity(False))
        if link.state.was_cancelled(s.id):
            return
        if _signature(s.path, files) != sent:
            self._changed_meanwhile(s)
            return
        if wrong:
            self._failed(s, m, "verify", f"not verified on the remote: {', '.join(wrong)}")
            return
        self._verified(s, files, sent, t.attempts)

    def _verified(self, s: StoredSession, files: list[str], sent: dict, attempts: int) -> None:
        """Record the transcript verified, unless the coach corrected it since it was sent.

        Checked and written under the store's manifest lock, which a correction's manifest
        change takes too: a correction is either seen here or marks the transcript "waiting"
        after this write.
        """
        link = self.link

        def change(m: Manifest, _state: str) -> bool:
            if _signature(s.path, files) != sent:
                return False
            t = m.upload.transcript
            t.status, t.attempts = "verified", attempts
            t.files = {f: size for f, (size, _) in sent.items()}
            t.verified_at = link.now_iso()
            t.last_error = None
            return True

        try:
            now, verified = link.store.update_manifest(s.id, change)
        except (KeyError, ValueError, OSError) as exc:  # discarded meanwhile, or a damaged manifest
            log.warning("session %s: transcript sent, but not recorded: %s", s.id, exc)
            return
        if not verified:
            self._changed_meanwhile(s)
            return
        self._send_manifest(now)
        link.state.succeeded(s.id)
        log.info("session %s: transcript verified on %s", s.id, now.manifest.upload.remote)

    def _changed_meanwhile(self, s: StoredSession) -> None:
        """The files changed while they were sent (a correction, a retitle): nothing is
        recorded of this copy; the next pass sends the new one."""
        log.info("session %s: the transcript changed while it was sent; it goes again", s.id)
        self.link.state.try_later(s.id, 0)

    def _save(self, s: StoredSession, m: Manifest) -> None:
        """Write the manifest here, and there too."""
        self.link.store.write_manifest(s.path, m)
        self._send_manifest(s)

    def _send_manifest(self, s: StoredSession) -> None:
        """The archive's copy of the manifest should say so as well (a convenience: the
        transcript's files are verified there whatever it says)."""
        remote_dir = self.link.remote_dir(s.id, s.manifest)
        try:
            self.link.remote.upload(s.path, [MANIFEST], remote_dir, force=True)
        except Exception as exc:
            log.warning("session %s: manifest not updated on the remote: %s", s.id, exc)

    def _failed(self, s: StoredSession, m: Manifest, kind: str, message: str) -> None:
        u = self.link.settings
        t = m.upload.transcript
        t.status = "failed"
        t.last_error = message
        delay = retry_delay_s(kind, t.attempts, u.retry_min_s, u.retry_max_s, self.link.rand())
        self.link.store.write_manifest(s.path, m)
        self.link.state.try_later(s.id, delay, f"{s.id}: transcript: {message}")
        log.warning(
            "session %s: transcript not sent (%s): %s; next try in %.0f s", s.id, kind, message,
            delay,
        )  # fmt: skip


def _signature(folder: Path, files: list[str]) -> dict[str, tuple[int, int]]:
    """Each file's size and change time: a rewrite (a correction) changes them."""
    out = {}
    for name in files:
        try:
            st = (folder / name).stat()
        except OSError:
            out[name] = (-1, -1)
            continue
        out[name] = (st.st_size, st.st_mtime_ns)
    return out
