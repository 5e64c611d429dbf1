"""The outbox worker: the thread, and the one small front over the outbox's steps.

Finalized sessions wait in `outbox/`. This thread, at low priority, makes each one ready
(`deliver`: a lossless FLAC, an MP3 for credential submissions) and sends it with the manifest
and label track (`upload`); a session that arrived is marked "uploaded" and moved to
`uploaded/`. Only once every due session is off the box does rclone verify what arrived
(`verify`; verification costs about a quarter of a copy: a backlog after an outage should not
wait behind it). A verified session is marked "verified"; one that fails goes back to `outbox/`
to be sent again. Failures are retried with backoff; the queue is the filesystem, so it survives
restarts and power cuts. Then pending remote deletions (`discard`), the transcripts of verified
sessions, built, sent and verified on their own (`followup`), and `retention`: local copies are
deleted only once verified, and after their transcript unless the card is short of space.

Other threads use the front only: `wake`, `set_recording`, `status`, `discard`, `stop`, or
set the wake event they share (`Hookup.wake`). A transfer in flight is frozen, thawed or ended through the remote (its port's
`pause_transfers`, `resume_transfers`, `stop_transfers`), which owns its processes.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from recorder.config import UploadSection
from recorder.core.recording.state import Event
from recorder.core.session_id import is_valid_id
from recorder.outbox.deliver import Delivery
from recorder.outbox.discard import DiscardError, PendingDeletions, discard_session
from recorder.outbox.followup import FollowUp, unsettled
from recorder.outbox.retention import Retention
from recorder.outbox.state import Link, OutboxState
from recorder.outbox.upload import Uploader
from recorder.outbox.verify import Verifier
from recorder.ports.outbox import RemoteStore, SessionStep
from recorder.ports.storage import DiskSpace
from recorder.store.sessions import SessionStore

# The command line and the daemon import these from here.
__all__ = ["Hookup", "OutboxWork", "OutboxWorker", "release_heap"]

log = logging.getLogger(__name__)

IDLE_POLL_S = 60.0
LOW_PRIORITY = 10


@dataclass(frozen=True)
class OutboxWork:
    """What a pass does besides sending: the deliverables, the steps before an upload (the
    transcript), and the chores after it (expired shares, retags, the archive sync)."""

    deliverables: bool | None = None  # None: as [upload] deliverables says
    steps: Sequence[SessionStep] = ()
    chores: Sequence[Callable[[], None]] = ()  # once a pass, even while paused


@dataclass(frozen=True)
class Hookup:
    """What the outbox shares with the rest of the box. The composition root makes the wake
    event and the session lock first, so parts built before the outbox (the coach's retagger,
    the archive sync) can ask for a pass or hold a session."""

    recording: Callable[[], bool]
    emit: Callable[[Event], None]
    # set: a pass soon, without cutting short any back-off (a chore has work); `wake()` also
    # clears the back-off
    wake: threading.Event = field(default_factory=threading.Event)
    # held while one session's files are worked on or deleted; the archive sync takes it too
    session_lock: threading.Lock = field(default_factory=threading.Lock)


class OutboxWorker(threading.Thread):
    """The outbox's thread and its front: each pass runs the steps in order; other threads
    ask through the public methods, which take the shared state's lock."""

    def __init__(
        self,
        store: SessionStore,
        upload: UploadSection | None,
        remote: RemoteStore | None,
        disk: DiskSpace,
        hookup: Hookup,
        work: OutboxWork = OutboxWork(),
        rand: Callable[[], float] = random.random,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name="outbox", daemon=True)
        self.store = store
        self.upload = upload
        self.remote = remote if upload is not None else None
        self.recording = hookup.recording
        self.chores = tuple(work.chores)
        self._chores_at = 0.0
        self.stopping = threading.Event()
        self._wake = hookup.wake
        self.state = OutboxState()
        self._busy = hookup.session_lock  # held while one session is being worked on
        self._frozen = False  # guarded by _frozen_lock: transfers paused for a recording
        self._frozen_lock = threading.Lock()
        # FLAC and MP3 cost CPU and card space: built only for an upload that will send them
        # (`export` builds one on demand); the daemon passes its own decision.
        build = work.deliverables
        if build is None:
            build = bool(upload and upload.deliverables)
        self.delivery = Delivery(self.state, build, work.steps, self.stopping)
        self.retention = Retention(store, upload, disk, wall) if upload is not None else None
        self.uploader: Uploader | None = None
        self.verifier: Verifier | None = None
        self.deletions: PendingDeletions | None = None
        self.followup: FollowUp | None = None
        if upload is not None and self.remote is not None:
            link = Link(
                store, upload, self.remote, self.state, hookup.emit, self.stopping, rand, wall
            )
            self.uploader = Uploader(link, self.delivery)
            self.verifier = Verifier(link, self.delivery)
            self.deletions = PendingDeletions(store, upload, self.remote)
            self.followup = FollowUp(link, self.delivery)

    # ---- other threads ------------------------------------------------------------------------

    def wake(self) -> None:
        """Run a pass now (`session-recorder upload`, a session just finalized)."""
        self.state.try_all_now()
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self._wake.set()
        if self.remote is not None:
            self.remote.stop_transfers()
        self.join(timeout)

    def set_recording(self, recording: bool) -> None:
        """Called when recording starts or stops: freeze or thaw a transfer in flight."""
        if self.upload is None or not self.upload.pause_while_recording:
            return
        with self._frozen_lock:
            if recording == self._frozen:
                return
            self._frozen = recording
        if self.remote is not None:
            if recording:
                self.remote.pause_transfers()
            else:
                self.remote.resume_transfers()
        if not recording:
            self._wake.set()

    def status(self) -> dict:
        # Counted from the folder names: status runs every second while recording, and parsing
        # every waiting manifest that often would be wasted work on a Pi.
        outbox = self.store.state_dir("outbox")
        queue = [p for p in outbox.iterdir() if p.is_dir() and is_valid_id(p.name)]
        doing = self.state.snapshot()
        return {
            "enabled": self.upload is not None,
            "remote": self.upload.remote if self.upload else None,
            "queue": len(queue),
            "current": doing["current"],
            "verifying": doing["verifying"],
            "transcribing": doing["transcribing"],  # a transcript being built (the session's id)
            "progress": doing["progress"],
            "paused": self._paused(),
            "last_error": doing["last_error"],
        }

    def discard(self, session_id: str, recording_id: str | None) -> dict:
        """Delete a session here and on the remote (a client withdrew consent)."""
        if session_id == recording_id:
            raise DiscardError(f"session {session_id} is being recorded: stop it first")
        if self.state.cancel(session_id) and self.remote is not None:
            # stop rclone: the discard must not wait for a long upload or check
            self.remote.stop_transfers()
        # a transcript in the works would hold the session lock for minutes
        for folder in ("outbox", "uploaded"):
            self.delivery.cancel(self.store.state_dir(folder) / session_id)
        with self._busy:
            return discard_session(self.store, self.remote, self.upload, session_id)

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
            self._wake.wait(self.state.sleep_s(IDLE_POLL_S))
            self._wake.clear()

    def _paused(self) -> bool:
        pause = self.upload is None or self.upload.pause_while_recording
        return pause and self.recording()

    def pass_once(self) -> None:
        """Upload every due session, then verify what was uploaded, then pending remote
        deletions, then the transcripts of verified sessions, then retention.

        Uploads come first so that sessions leave the box as soon as the link allows (a backlog
        after an outage is not held up by verifying each one in turn); verification still
        gates every deletion. A transcript is built only once its audio is verified, and the
        phase gives way to a session that arrives in the outbox meanwhile.
        """
        try:
            if not self._upload_phase():
                return
            if self.verifier is not None and self.deletions is not None:
                if not self._verify_phase(self.verifier):
                    return
                self.deletions.retry()
            if self.followup is not None and not self._followup_phase(self.followup):
                return
            if self.retention is not None:
                self.retention.run()
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
            if not self.state.due(s.id):
                continue
            with self._busy:
                if not s.path.exists():
                    continue  # discarded meanwhile
                self.delivery.prepare(s, s.manifest)
                if self.uploader is not None:
                    self.uploader.go(s, s.manifest)
                else:  # nothing leaves the box: the transcript is built at once
                    self.delivery.follow(s, s.manifest)
        return True

    def _verify_phase(self, verifier: Verifier) -> bool:
        """Verify each session in uploaded/ not verified yet; False if interrupted.

        Any status but "verified" there counts: "uploaded" normally, or whatever a crash
        between writing a manifest and moving its folder left behind.
        """
        for s in self.store.sessions("uploaded"):
            if not self._may_go_on():
                return False
            if s.manifest is None or s.manifest.upload.status == "verified":
                continue
            if not self.state.due(s.id):
                continue
            with self._busy:
                if not s.path.exists():
                    continue  # discarded meanwhile
                verifier.verify(s, s.manifest)
        return True

    def _followup_phase(self, followup: FollowUp) -> bool:
        """The transcripts of verified sessions, one at a time; False if interrupted, or if a
        session waits in the outbox (its audio goes first: the next pass starts at once)."""
        for s in self.store.sessions("uploaded"):
            if not self._may_go_on():
                return False
            if s.manifest is None or not unsettled(s.manifest) or not self.state.due(s.id):
                continue
            with self._busy:
                if not s.path.exists():
                    continue  # discarded meanwhile
                followup.go(s, s.manifest)
            if self._outbox_due():
                self._wake.set()
                return False
        return True

    def _outbox_due(self) -> bool:
        outbox = self.store.state_dir("outbox")
        return any(
            p.is_dir() and is_valid_id(p.name) and self.state.due(p.name) for p in outbox.iterdir()
        )

    def _may_go_on(self) -> bool:
        return not self.stopping.is_set() and not self._paused()


def release_heap() -> None:
    """Give the memory freed since the last pass back to the kernel.

    glibc keeps freed pages resident: after the FLAC and LAME encoders of a pass, a few MB
    (the next session would record with that much more RSS than the first), and after a
    stalled disk or a long pre-roll, the whole backlog. Cheap; once a pass. A no-op where
    libc has no malloc_trim.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)
