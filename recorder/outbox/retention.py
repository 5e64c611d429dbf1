"""Retention: the local copies of verified sessions are deleted, oldest first, to keep free space
and an age limit (`[upload] keep_free_mb`, `keep_days`); an unverified one is never chosen, and
one whose transcript is still to come only when the card is short of space."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from recorder.config import UploadSection
from recorder.core.upload_plan import Stored, to_delete
from recorder.outbox.followup import unsettled
from recorder.outbox.state import timestamp
from recorder.ports.storage import DiskSpace
from recorder.store.sessions import SessionStore

log = logging.getLogger(__name__)


class Retention:
    """The last step of a pass: what `to_delete` chooses in uploaded/ is deleted."""

    def __init__(
        self,
        store: SessionStore,
        settings: UploadSection,
        disk: DiskSpace,
        wall: Callable[[], float],
    ) -> None:
        self.store = store
        self.settings = settings
        self.disk = disk
        self.wall = wall

    def run(self) -> None:
        stored = [
            Stored(
                s.id,
                verified=s.manifest is not None and s.manifest.upload.status == "verified",
                settled=s.manifest is not None and not unsettled(s.manifest),
                bytes=_folder_bytes(s.path),
                finished_at_s=timestamp(s.manifest.ended_at) if s.manifest else None,
            )
            for s in self.store.sessions("uploaded")
        ]
        try:
            free = self.disk.free_bytes(self.store.root)
        except OSError:
            return
        keep_free = self.settings.keep_free_mb * 1_000_000
        waiting = {s.id for s in stored if not s.settled}
        for session_id in to_delete(stored, free, keep_free, self.wall(), self.settings.keep_days):
            shutil.rmtree(self.store.state_dir("uploaded") / session_id)
            if session_id in waiting:
                log.warning(
                    "retention: the card is short of space: deleted the local copy of %s "
                    "(verified on the remote) before its transcript was sent", session_id,
                )  # fmt: skip
            else:
                log.info(
                    "retention: deleted the local copy of %s (verified on the remote)", session_id
                )


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
