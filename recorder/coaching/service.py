"""The coach's commands (label, next, label_marker, bookmark, consent, share, revoke,
transcript_edit, proofread), as answers.

The daemon serves them on its control socket and over MQTT; the command line uses this same
object directly when no daemon runs. Each takes a checked `Query` and answers a dict with `ok`
and a `message` a person can read; nothing here raises for a refusal.

In the daemon, what needs a remote or the outbox (a share, a revocation, the discard that
withdrawing consent to keep the recording makes) is checked, answered at once as `queued` and
carried out by a job worker (`recorder.threads.jobs`); its result comes as an event and from `job`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recorder.coaching.next_session import NextSession
from recorder.coaching.records import RecordError, SessionRecords
from recorder.coaching.sharing import Sharer, ShareRequest, ShareWorker, shared_answer
from recorder.coaching.tags import Retagger
from recorder.core.coaching.shares import ShareError
from recorder.core.manifest import ManifestError
from recorder.core.requests import Query
from recorder.store.sessions import SessionStore, StorageError
from recorder.threads.jobs import JobWorker
from recorder.transcript.revisions import RevisionError, mark_proofread, save
from recorder.transcript.status import is_proofread, revision_of

log = logging.getLogger(__name__)

CONSENT_LOG = "consent.log"  # every consent change, kept even when the session is discarded


@dataclass(frozen=True)
class DaemonSide:
    """What the running daemon gives the coach's side; the command line gives none of it.

    `recording` freezes shares and retags while a session records; `emit` tells a share's
    result; `wake` runs the outbox (the retag is its chore); `changed` refreshes the phone page;
    revocations and a withdrawal's discard become `jobs`, refused at once for the reason
    `refuse_discard` gives.
    """

    recording: Callable[[], bool]
    emit: Callable[[dict], None]
    wake: Callable[[], None]
    changed: Callable[[], None]
    jobs: JobWorker
    refuse_discard: Callable[[str], str | None]


class Coaching:
    def __init__(
        self,
        store: SessionStore,
        records: SessionRecords,
        sharer: Sharer,
        next_session: NextSession,
        discard: Callable[[str], dict],
        daemon: DaemonSide | None = None,
        worker: ShareWorker | None = None,
        retagger: Retagger | None = None,
    ) -> None:
        self.store = store
        self.records = records
        self.sharer = sharer
        self.next = next_session
        self._discard = discard
        # something the phone page shows changed
        self._changed: Callable[[], None] = daemon.changed if daemon else lambda: None
        self.worker = worker
        self.retagger = retagger  # the daemon's: its `run` is an outbox chore
        # The daemon's: revocations and a withdrawal's discard become its jobs, refused at once
        # for a reason `refuse_discard` gives. None (the command line): done here and now.
        self.jobs = daemon.jobs if daemon else None
        self.refuse_discard: Callable[[str], str | None] = (
            daemon.refuse_discard if daemon else lambda _session: None
        )

    def queries(self) -> dict[str, Callable[[Query], dict]]:
        """The handlers by command name."""
        handlers = {
            "label": self.label,
            "next": self.set_next,
            "label_marker": self.label_marker,
            "bookmark": self.bookmark,
            "transcript_edit": self.transcript_edit,
            "proofread": self.proofread,
            "consent": self.consent,
            "consent_history": self.history,
            "share": self.share,
            "revoke": self.revoke,
        }
        return {name: _answering(handler) for name, handler in handlers.items()}

    def label(self, q: Query) -> dict:
        assert q.session is not None
        answer = self.records.label(q.session, q.args)
        self._changed()
        return {**answer, "session_id": q.session}

    def set_next(self, q: Query) -> dict:
        answer = self.next.set(q.args.get("client", ""), q.args.get("title", ""))
        self._changed()
        return answer

    def label_marker(self, q: Query) -> dict:
        assert q.session is not None
        answer = self.records.label_marker(
            q.session, q.args["marker"], q.args["label"], q.args.get("frame")
        )
        self._changed()
        return {**answer, "session_id": q.session}

    def bookmark(self, q: Query) -> dict:
        assert q.session is not None
        answer = self.records.bookmark(q.session, q.args["seconds"], q.args["label"])
        self._changed()
        return {**answer, "session_id": q.session}

    def transcript_edit(self, q: Query) -> dict:
        assert q.session is not None
        folder = self._finished_folder(q.session)
        saved = save(folder, q.args["base"], q.args["ops"], self.records.stamp(),
                     q.args.get("source", "ctl"))  # fmt: skip
        self.records.transcript_changed(q.session)
        self._changed()
        return {
            "ok": True,
            "session_id": q.session,
            "message": f"transcript of {q.session} saved as revision {saved['revision']}; "
            "its files are rebuilt and go to the archive again",
            "revision": saved["revision"],
            "proofread": False,
        }

    def proofread(self, q: Query) -> dict:
        assert q.session is not None
        folder = self._finished_folder(q.session)
        done = q.args["done"]
        marked = mark_proofread(folder, done, q.args.get("revision"), self.records.stamp(),
                                q.args.get("source", "ctl"))  # fmt: skip
        revision = revision_of(marked)
        said = f"marked proofread (revision {revision})" if done else "no longer marked proofread"
        self._changed()
        return {"ok": True, "session_id": q.session, "message": f"transcript of {q.session} {said}",
                "revision": revision, "proofread": is_proofread(marked)}  # fmt: skip

    def _finished_folder(self, session_id: str) -> Path:
        found = self.store.folder_of(session_id)
        if found is None:
            raise RecordError(f"no session {session_id} on this box")
        state, folder = found
        if state == "recording":
            raise RecordError(f"session {session_id} is still recording; it has no transcript yet")
        return folder

    def consent(self, q: Query) -> dict:
        assert q.session is not None
        entry = q.args["entry"]
        source = q.args.get("source", "ctl")
        discards = entry.action == "withdraw" and entry.what == "record"
        if discards:
            refusal = self.refuse_discard(q.session)
            if refusal:
                return {"ok": False, "session_id": q.session, "message": refusal}
        now = self.records.record_consent(q.session, entry, source)
        self._audit(q.session, now.entries[-1].to_json() if now.entries else entry.to_json())
        if discards:
            if self.jobs is None:
                return self._withdrawn(q.session)
            what = f"discard of {q.session} here, on the remote and every shared copy"
            queued = self.jobs.submit(
                "consent", q.session, what, lambda: _answering(self._discarded)(q),
                ("consent", q.session),
            )  # fmt: skip
            self._changed()
            return {**queued, "message": f"consent withdrawn for {q.session} ({entry.ref}); "
                    f"{queued['message']}"}  # fmt: skip
        self._changed()
        verb = "allowed" if entry.action == "allow" else "withdrawn"
        whom = f" with {entry.to}" if entry.to else ""
        tail = ""
        if entry.action == "withdraw":
            tail = "; shared copies it covered are deleted by the next outbox pass"
        return {
            "ok": True,
            "session_id": q.session,
            "message": f"{entry.what}{whom} {verb} for {q.session} ({entry.ref}){tail}",
            "consent": now.standing.to_json(),
        }

    def _discarded(self, q: Query) -> dict:
        assert q.session is not None
        return self._withdrawn(q.session)

    def _withdrawn(self, session_id: str) -> dict:
        """The discard that a withdrawal of consent to keep the recording makes."""
        record = self._discard(session_id)
        self._audit(session_id, {"discard": record})
        self._changed()
        return {
            "ok": True,
            "session_id": session_id,
            "message": f"consent withdrawn: {session_id} discarded: local {record['local']}, "
            f"remote {record['remote']}; its shared copies are deleted by the next pass",
            "discard": record,
        }

    def history(self, q: Query) -> dict:
        assert q.session is not None
        _, _, now = self.records.consent(q.session)
        return {
            "ok": True,
            "session_id": q.session,
            "message": f"{len(now.entries)} consent change(s)",
            "history": [e.to_json() for e in now.entries],
            "problems": now.problems,
            "consent": now.standing.to_json(),
        }

    def _request(self, q: Query) -> ShareRequest:
        assert q.session is not None
        return ShareRequest(
            q.session, q.args["to"], q.args["what"], q.args["expire_s"],
            q.args.get("source", "ctl"),
        )  # fmt: skip

    def share(self, q: Query) -> dict:
        request = self._request(q)
        if self.worker is None:  # the command line, no daemon: here and now
            share = self.sharer.share(request)
            self._changed()
            return shared_answer(q.session, share.to_json())
        self.sharer.check(request)  # refused at once, not after the queue
        return self.worker.submit_share(request)

    def revoke(self, q: Query) -> dict:
        assert q.session is not None
        share_id = q.args["share"]
        if self.jobs is None:
            return self._revoked(q)
        found = self.sharer.revocable(q.session, share_id)  # refused at once
        what = f"revoking share {share_id} of {q.session} (for {found.to})"
        return self.jobs.submit("revoke", q.session, what, lambda: _answering(self._revoked)(q),
                                ("revoke", q.session, share_id))  # fmt: skip

    def _revoked(self, q: Query) -> dict:
        assert q.session is not None
        share = self.sharer.revoke(q.session, q.args["share"])
        self._changed()
        return {
            "ok": True,
            "session_id": q.session,
            "message": f"share {share.id} for {share.to} revoked: {share.remote} deleted",
        }

    def _audit(self, session_id: str, entry: dict) -> None:
        line = json.dumps({"session": session_id, **entry}, ensure_ascii=False)
        with open(self.store.root / CONSENT_LOG, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())


def _answering(handler: Callable[[Query], dict]) -> Callable[[Query], dict]:
    """A handler whose refusals become answers: `ok` false and the reason."""

    def answer(q: Query) -> dict:
        try:
            return handler(q)
        except (
            RecordError,
            RevisionError,
            ShareError,
            ManifestError,
            StorageError,
            OSError,
        ) as exc:
            out: dict = {"ok": False, "message": str(exc)}
            if q.session:
                out["session_id"] = q.session
            return out

    answer.__name__ = getattr(handler, "__name__", "answer")
    return answer
