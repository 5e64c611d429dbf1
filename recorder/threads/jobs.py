"""Work the control path hands off: discards, shares, revocations, a withdrawal's discard.

A request that needs the outbox or a remote is answered at once (`queued`, with a job id) and
carried out here, on a thread of its own at low priority: no remote that hangs and no upload
that holds the outbox can keep `stop`, `mark` or `status` waiting. The result is told as an
event (`JobBoard.tell`) and kept for a while, for `{"cmd": "job"}` (the command line polls it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from recorder.threads.supervision import Restarted, keep_running, logged

log = logging.getLogger(__name__)

KEEP = 64  # finished jobs remembered for `job` queries
QUEUE_MAX = 64  # jobs waiting on one worker; more are refused with a reason
LOW_PRIORITY = 10

Work = Callable[[], dict]  # does the job; returns the answer it would have had at once


@dataclass
class Job:
    id: str
    cmd: str
    session_id: str | None
    what: str  # in a sentence: "discard of 000042-…"
    work: Work
    key: tuple | None  # the same key while queued or running: the same job
    state: Literal["queued", "running", "done"] = "queued"  # guarded by the board's lock
    result: dict | None = None  # guarded by the board's lock; set once, with state "done"
    done: threading.Event = field(default_factory=threading.Event)


class JobBoard:
    """Every job by id: waiting, running, and the last `keep` finished ones."""

    def __init__(self, keep: int = KEEP, tell: Callable[[Job], None] = lambda _job: None) -> None:
        self.keep = keep
        self.tell = tell  # told each result (the daemon's: a `command` event)
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()  # guarded by _lock
        self._finished: list[str] = []  # guarded by _lock: ids, oldest first

    def add(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.id] = job

    def forget(self, job: Job) -> None:
        with self._lock:
            self._jobs.pop(job.id, None)

    def pending(self, key: tuple) -> Job | None:
        """The job with this key that is queued or running, if any."""
        with self._lock:
            return next(
                (j for j in self._jobs.values() if j.key == key and j.state != "done"), None
            )

    def running(self, job: Job) -> None:
        with self._lock:
            job.state = "running"

    def finish(self, job: Job, result: dict) -> None:
        """Record the job's result (once) and tell it."""
        result = {**result, "ok": bool(result.get("ok")), "message": str(result.get("message", ""))}
        if job.session_id:
            result.setdefault("session_id", job.session_id)
        with self._lock:
            if job.state == "done":
                return
            job.state, job.result = "done", result
            self._finished.append(job.id)
            while len(self._finished) > self.keep:
                self._jobs.pop(self._finished.pop(0), None)
        job.done.set()
        try:
            self.tell(job)
        except Exception:  # the result is kept for `job` either way
            log.exception("telling the result of job %s failed", job.id)

    def answer(self, job_id: str) -> dict:
        """The answer to `{"cmd": "job", "job": ID}`: its result once done, else how far it is."""
        with self._lock:
            job = self._jobs.get(job_id)
            state, result = (job.state, job.result) if job else (None, None)
        if job is None:
            return {
                "ok": False,
                "message": f"no job {job_id}: it ended long ago or the recorder restarted since; "
                "`session-recorder sessions` shows what is on the box",
            }
        if state == "done" and result is not None:
            return {**result, "job": job.id, "cmd": job.cmd, "state": "done"}
        how = "running" if state == "running" else "waiting its turn"
        answer = {"ok": True, "job": job.id, "cmd": job.cmd, "state": state,
                  "message": f"{job.what}: {how}"}  # fmt: skip
        if job.session_id:
            answer["session_id"] = job.session_id
        return answer


def queued_answer(job: Job, again: bool = False) -> dict:
    """What a request that became a job is answered at once."""
    how = "already queued" if again else "queued"
    answer = {
        "ok": True,
        "queued": True,
        "job": job.id,
        "message": f"{how}: {job.what} (job {job.id}); you will be told when it is done",
    }
    if job.session_id:
        answer["session_id"] = job.session_id
    return answer


class JobWorker(threading.Thread):
    """Runs its jobs one at a time, in order, at low priority.

    `hold` keeps the next job waiting while it is true (a share waits for the session being
    recorded to stop); a worker that holds is a worker of its own, so nothing else waits
    behind it. The loop is supervised: if it dies it runs again and `restarted` is told.
    """

    def __init__(
        self,
        name: str,
        board: JobBoard | None = None,
        hold: Callable[[], bool] = lambda: False,
        size: int = QUEUE_MAX,
        restarted: Restarted = logged,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.board = board or JobBoard()
        self.hold = hold
        self.size = size
        self.restarted = restarted
        self.jobs: queue.Queue[Job] = queue.Queue(maxsize=size)
        self.stopping = threading.Event()
        self._current: Job | None = None  # this thread only: the job in hand

    def submit(
        self, cmd: str, session_id: str | None, what: str, work: Work, key: tuple | None = None
    ) -> dict:
        """Queue a job; the answer to give now (queued, already queued, or too many waiting)."""
        if key is not None:
            same = self.board.pending(key)
            if same is not None:
                return queued_answer(same, again=True)
        job = Job(secrets.token_hex(4), cmd, session_id, what, work, key)
        self.board.add(job)
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            self.board.forget(job)
            refusal = {"ok": False, "busy": True,
                       "message": f"{self.size} jobs are waiting already; try again in a minute"}  # fmt: skip
            if session_id:
                refusal["session_id"] = session_id
            return refusal
        return queued_answer(job)

    def run(self) -> None:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOW_PRIORITY)
        keep_running(self.name, self._loop, self.stopping, self._restarted)

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(timeout)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                job = self.jobs.get(timeout=0.5)
            except queue.Empty:
                continue
            self._current = job
            while self.hold() and not self.stopping.is_set():
                self.stopping.wait(1.0)
            if self.stopping.is_set():
                self.board.finish(job, {"ok": False, "message": f"{job.what}: not done, the "
                                        "recorder is stopping; send it again"})  # fmt: skip
                return
            self.board.running(job)
            try:
                result = job.work()
            except Exception as exc:  # one bad job must not stop the ones after it
                log.error("job %s (%s) failed: %s: %s", job.id, job.what, type(exc).__name__, exc)
                log.debug("job %s: traceback", job.id, exc_info=True)
                result = _failed(job, f"{type(exc).__name__}: {exc}")
            self.board.finish(job, result)
            self._current = None

    def _restarted(self, name: str, why: str) -> None:
        job, self._current = self._current, None
        if job is not None:  # its client is told, like any other
            self.board.finish(job, _failed(job, why))
        self.restarted(name, why)


def _failed(job: Job, why: str) -> dict:
    return {"ok": False, "message": f"{job.what} failed: internal error ({why}); "
            "see the recorder's log"}  # fmt: skip
