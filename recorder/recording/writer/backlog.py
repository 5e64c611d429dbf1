"""What a full disk held up, finished by the writer thread once there is room again.

The storage's folders (start-up found no room to make them), the ballast, sessions whose final
writes found no room (they wait in memory), and the repair of sessions a crash left: each is
tried again, in the order it is needed, only when free space grew since the last try.

Run by the writer thread only (set up before it starts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from recorder.recording.writer.guard import DiskGuard
from recorder.recording.writer.journal import SessionJournal
from recorder.store.recovery import recover_sessions
from recorder.store.sessions import SessionStore, StorageError

log = logging.getLogger(__name__)


class Backlog:
    def __init__(
        self,
        store: SessionStore,
        guard: DiskGuard,
        now: Callable[[], str],
        recovered: Callable[[Path], None],
    ) -> None:
        self.store = store
        self.guard = guard
        self.now = now  # the wall clock, for the repair of sessions a crash left
        self.recovered = recovered  # a session reached the outbox late
        self.unfinished: list[SessionJournal] = []  # ended sessions that could not be finalized
        self.prepare_pending = False  # the storage's folders are not all made yet
        self.recovery_pending = False  # sessions a crash left wait for room to be repaired
        self._blocked_at: int | None = None  # free bytes when a try last found no room

    def wait_for_room(self, prepare: bool, recovery: bool) -> None:
        """What start-up could not do on a full disk, to do later."""
        self.prepare_pending = prepare
        self.recovery_pending = recovery

    def finish(self, idle: bool) -> None:
        """Finish, once there is room, what a full disk held up (in the order it is needed);
        sessions a crash left are repaired only while no session records (`idle`)."""
        if not (
            self.prepare_pending
            or self.recovery_pending
            or self.unfinished
            or self.guard.ballast.missing
        ):
            return
        free = self.guard.room_again(self._blocked_at)
        if free is None:
            return
        blocked = not self._prepare()
        if not blocked and not self.guard.restore():
            blocked = True
        if not self._finalize():
            blocked = True
        if self.recovery_pending and idle and not self.prepare_pending and not self._recover():
            blocked = True
        self._blocked_at = free if blocked else None

    def _prepare(self) -> bool:
        """Make the storage's folders; False when there is still no room."""
        if not self.prepare_pending:
            return True
        try:
            why = self.store.prepare()
        except StorageError as exc:
            log.error("%s", exc)
            why = None
        if why is not None:
            return False
        self.prepare_pending = False
        log.info("storage %s: its folders are ready", self.store.root)
        return True

    def _finalize(self) -> bool:
        """Finalize the sessions that found no room; False when one still cannot be."""
        done = True
        for journal in list(self.unfinished):
            try:
                final = journal.finalize()
            except OSError as exc:
                log.error("session %s still cannot be finalized: %s", journal.manifest.id, exc)
                done = False
                continue
            self.unfinished.remove(journal)
            log.warning(
                "session %s finalized late, once there was room: %s", journal.manifest.id, final
            )
            self.recovered(final)
        return done

    def _recover(self) -> bool:
        """Repair the sessions a crash left; False while some still wait for room."""
        result = recover_sessions(
            self.store,
            self.now(),
            self.guard.ballast,
            skip={j.manifest.id for j in self.unfinished},
            report_damaged=False,
        )
        self.recovery_pending = bool(result.waiting)
        for final in result.recovered:
            self.recovered(final)
        return not self.recovery_pending
