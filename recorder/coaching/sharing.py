"""Shared copies: a plain copy of some of a session's files for a mentor or the client.

A share is refused unless the client's recorded consent allows it. The copy goes to the coach's
`[share] remote` (never the encrypted archive) under an unguessable folder, gets a link where
the backend makes them, and is recorded in the manifest. Before any copy is made its folder is
written down under `<storage>/shares/`, outside the session: so a copy whose session was
discarded, whose consent was withdrawn or whose time is up is found and deleted by the outbox's
next pass (`sweep`), even after a crash in the middle of a share.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from recorder.coaching.records import SessionRecords, consent_of
from recorder.config import ShareSection
from recorder.core.coaching.consent import may_share
from recorder.core.coaching.details import read_details
from recorder.core.coaching.shares import (
    Share,
    ShareError,
    check_expire,
    describe,
    expires_at,
    files_for,
    folder_for,
    mark_removed,
    parse_expire,
    read_shares,
    to_remove,
    withdrawn_purposes,
)
from recorder.core.manifest import Manifest
from recorder.media.deliverables import FLAC_NAME, MP3_NAME
from recorder.ports.sharing import ShareError as TargetError
from recorder.ports.sharing import ShareTarget
from recorder.store.files import atomic_write, fsync_dir
from recorder.store.sessions import SessionStore
from recorder.threads.jobs import JobBoard, JobWorker
from recorder.threads.supervision import Restarted, logged

log = logging.getLogger(__name__)

INDEX = "shares"  # <storage>/shares/<share id>.json: every copy that may exist
SHARES_WAITING = 8  # queued shares; more are refused with a reason


@dataclass(frozen=True)
class ShareRequest:
    session_id: str
    to: str
    what: str
    expire_s: int | str | None  # "default": the config's
    source: str


class Sharer:
    """Makes, revokes and sweeps shared copies; `target` is None when sharing is off (`why`)."""

    def __init__(
        self,
        store: SessionStore,
        records: SessionRecords,
        section: ShareSection | None,
        target: ShareTarget | None,
        why_off: str | None,
        now: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.records = records
        self.section = section
        self.target = target
        self.why_off = why_off
        self.now = now
        self.index = store.root / INDEX
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()  # guarded by _lock: share ids being made

    # ---- making one -----------------------------------------------------------------------------

    def status(self) -> dict:
        """For the phone page: whether shares can be made, else why not; the default expiry."""
        if self.target is None or self.section is None:
            why = self.why_off or "no [share] remote is configured on this box"
            return {"enabled": False, "message": f"sharing is off: {why}"}
        return {"enabled": True, "expire": self.section.expire,
                "max_expire": self.section.max_expire}  # fmt: skip

    def _ready(self) -> ShareTarget:
        if self.target is None or self.section is None:
            raise ShareError(
                f"sharing is off: {self.why_off or 'no [share] section in the config'}"
            )
        return self.target

    def _expiry(self, expire_s: int | str | None) -> int | None:
        assert self.section is not None
        if expire_s == "default":
            expire_s = parse_expire(self.section.expire)
        assert not isinstance(expire_s, str)
        check_expire(expire_s, parse_expire(self.section.max_expire))
        return expire_s

    def _find(self, session_id: str) -> tuple[str, Path]:
        found = self.store.folder_of(session_id)
        if found is None:
            raise ShareError(f"no session {session_id} on this box")
        return found

    def check(self, r: ShareRequest) -> tuple[str, list[str], int | None, Path, Manifest]:
        """Everything that would refuse the share, before any copy is made."""
        self._ready()
        expire_s = self._expiry(r.expire_s)
        state, folder = self._find(r.session_id)
        if state == "recording":
            raise ShareError(f"session {r.session_id} is being recorded: stop it first")
        manifest = self.store.read_manifest(folder)
        purpose = self._allowed(manifest, r.to)
        present = {p.name for p in folder.iterdir() if p.is_file()}
        files = files_for(r.what, present, FLAC_NAME, MP3_NAME)
        return purpose, files, expire_s, folder, manifest

    def _allowed(self, manifest: Manifest, to: str) -> str:
        details, _ = read_details((manifest.model_extra or {}).get("details"))
        c = consent_of(manifest)
        purpose, refusal = may_share(c.entries, c.problems, to, details.client)
        if refusal:
            raise ShareError(f"not shared with {to}: {refusal}")
        return purpose

    def share(self, r: ShareRequest) -> Share:
        """Check, copy, link and record one share; raises ShareError saying why not."""
        purpose, files, expire_s, folder, _ = self.check(r)
        target = self._ready()
        assert self.section is not None
        share_id = secrets.token_hex(4)
        remote = folder_for(self.section.remote, secrets.token_urlsafe(18))
        made = self.now()
        entry = Share(
            share_id, r.to, purpose, r.what, tuple(files), remote,
            made.isoformat(timespec="seconds"), expires_at(made, expire_s),
        )  # fmt: skip
        with self._lock:
            self._in_flight.add(share_id)
        try:
            self._write_index(entry, r.session_id)
            log.info("sharing %s of %s with %s in %s", r.what, r.session_id, r.to, remote)
            try:
                target.put(folder, files, remote)
                entry = self._link(target, entry, expire_s)
            except TargetError as exc:
                self._discard_copy(target, share_id, remote)
                raise ShareError(f"not shared with {r.to}: {exc}") from None
            try:
                self._record(r.session_id, entry)
            except Exception:
                self._discard_copy(target, share_id, remote)
                raise
        finally:
            with self._lock:
                self._in_flight.discard(share_id)
        return entry

    def _link(self, target: ShareTarget, entry: Share, expire_s: int | None) -> Share:
        assert self.section is not None
        if not self.section.link:
            return _with(entry, link_note="links are off ([share] link = false): send the "
                         f"folder {entry.remote} another way")  # fmt: skip
        result = target.link(f"{entry.remote}/{entry.files[0]}", expire_s)
        link_expires = None
        if result.url and result.expires_s is not None:
            link_expires = expires_at(datetime.fromisoformat(entry.created_at), result.expires_s)
        note = result.note
        shorter = expire_s is None or (result.expires_s or expire_s) < expire_s
        if result.url and result.expires_s is not None and shorter:
            note = (
                f"this backend's links last at most {_days(result.expires_s)}; the copy "
                "stays until the share expires: make a new share for a new link"
            )
        return _with(entry, link=result.url, link_expires_at=link_expires, link_note=note)

    def _record(self, session_id: str, entry: Share) -> None:
        """Add the share to the manifest, checking consent again under the manifest's lock: a
        withdrawal recorded while the copy was being made wins."""

        def change(m: Manifest, _state: str) -> None:
            self._allowed(m, entry.to)
            extra = m.__pydantic_extra__
            assert extra is not None
            shares = extra.get("shares")
            if shares is None:
                shares = extra["shares"] = []
            if not isinstance(shares, list):
                raise ShareError(f"session {session_id}: its shares record is not a list")
            shares.append(entry.to_json())

        try:
            self.store.update_manifest(session_id, change)
        except KeyError:
            raise ShareError(f"session {session_id} was discarded while it was shared") from None

    def _discard_copy(self, target: ShareTarget, share_id: str, remote: str) -> None:
        try:
            target.remove(remote)
        except TargetError as exc:
            log.warning("share %s: the partial copy in %s stays for the next pass: %s",
                        share_id, remote, exc)  # fmt: skip
            return
        (self.index / f"{share_id}.json").unlink(missing_ok=True)

    def _write_index(self, entry: Share, session_id: str) -> None:
        self.index.mkdir(exist_ok=True)
        atomic_write(
            self.index / f"{entry.id}.json",
            json.dumps({"session": session_id, "remote": entry.remote,
                        "expires_at": entry.expires_at}) + "\n",
        )  # fmt: skip

    # ---- ending one ---------------------------------------------------------------------------

    def revocable(self, session_id: str, share_id: str) -> Share:
        """The share a revocation would delete; raises ShareError saying why there is none."""
        self._ready()
        _, folder = self._find(session_id)
        shares, _ = read_shares((self.store.read_manifest(folder).model_extra or {}).get("shares"))
        found = next((s for s in shares if s.id == share_id), None)
        if found is None:
            raise ShareError(f"session {session_id} has no share {share_id}")
        if not found.active:
            raise ShareError(f"share {share_id} was already removed ({found.removed})")
        return found

    def revoke(self, session_id: str, share_id: str, why: str = "revoked") -> Share:
        """Delete a share's copy now and record it; raises ShareError when it cannot be."""
        target = self._ready()
        found = self.revocable(session_id, share_id)
        try:
            target.remove(found.remote)
        except TargetError as exc:
            raise ShareError(f"share {share_id} could not be removed: {exc}; try again") from None
        self._mark(session_id, share_id, why)
        return _with(found, removed=why)

    def _mark(self, session_id: str, share_id: str, why: str) -> None:
        stamp = self.now().isoformat(timespec="seconds")

        def change(m: Manifest, _state: str) -> None:
            shares = (m.model_extra or {}).get("shares")
            if isinstance(shares, list):
                mark_removed(shares, share_id, stamp, why)

        with contextlib.suppress(KeyError):  # the session went meanwhile: its record with it
            self.store.update_manifest(session_id, change)
        (self.index / f"{share_id}.json").unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            fsync_dir(self.index)
        log.info("share %s of %s removed (%s)", share_id, session_id, why)

    def sweep(self) -> None:
        """Delete every copy that must go: expired, consent withdrawn, session discarded.

        Run by the outbox once a pass; a copy that cannot be deleted now stays in the index
        and is tried again at the next pass, with the ones after it.
        """
        if self.target is None or not self.index.is_dir():
            return
        now = self.now()
        for item in sorted(self.index.glob("*.json")):
            share_id = item.stem
            with self._lock:
                if share_id in self._in_flight:
                    continue
            try:
                entry = json.loads(item.read_text())
                session_id, remote = entry["session"], entry["remote"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.error("share index %s is damaged (%s); it is kept for a person to read",
                          item, exc)  # fmt: skip
                continue
            why = self._why_remove(session_id, share_id, now)
            if why is None:
                continue
            try:
                self.target.remove(remote)
            except TargetError as exc:
                # the share remote is away: the rest wait for the next pass, not for it each
                log.warning("share %s (%s): removal retried next pass: %s", share_id, why, exc)
                return
            self._mark(session_id, share_id, why)

    def _why_remove(self, session_id: str, share_id: str, now: datetime) -> str | None:
        try:
            _, folder = self._find(session_id)
            manifest = self.store.read_manifest(folder)
        except ShareError:
            return "session discarded"
        except ValueError:
            return None  # a damaged manifest: its shares stay until a person mends it
        shares, _ = read_shares((manifest.model_extra or {}).get("shares"))
        mine = [s for s in shares if s.id == share_id]
        if not mine:
            return "never recorded (interrupted)"
        if not mine[0].active:
            return mine[0].removed or "removed"
        gone = withdrawn_purposes(consent_of(manifest).standing)
        due = to_remove(mine, now, gone)
        return due[0][1] if due else None


def _days(seconds: int) -> str:
    return describe(seconds) if seconds >= 3600 else f"{seconds} s"


def _with(entry: Share, **changes) -> Share:
    return replace(entry, **changes)


def shared_answer(session_id: str | None, share: dict) -> dict:
    """The answer to a share that was made: where the copy is, and until when."""
    link = share.get("link")
    where = link or share["remote"]
    note = f" ({share['link_note']})" if share.get("link_note") else ""
    until = f", until {share['expires_at']}" if share.get("expires_at") else ""
    return {
        "ok": True,
        "session_id": session_id,
        "message": f"shared with {share['to']}{until}: {where}{note}",
        "share": share,
    }


class ShareWorker(JobWorker):
    """Makes shares one at a time at low priority, after any session being recorded stops.

    A worker of its own: a discard or a revocation (the daemon's other job worker) never
    waits behind a share that waits for a recording to end or for a slow share remote.
    """

    def __init__(
        self,
        sharer: Sharer,
        recording: Callable[[], bool],
        emit: Callable[[dict], None],
        board: JobBoard | None = None,
        restarted: Restarted = logged,
    ) -> None:
        super().__init__("share", board, hold=recording, size=SHARES_WAITING, restarted=restarted)
        self.sharer = sharer
        self.emit = emit

    def submit_share(self, request: ShareRequest) -> dict:
        """Queue a checked share; the answer to give now."""
        what = f"sharing {request.what} of {request.session_id} with {request.to}"
        key = ("share", request.session_id, request.to, request.what)
        return self.submit("share", request.session_id, what, lambda: self._share(request), key)

    def _share(self, request: ShareRequest) -> dict:
        try:
            share = self.sharer.share(request).to_json()
        except Exception as exc:  # told as share_failed, whatever it was
            if not isinstance(exc, (ShareError, ValueError, OSError)):
                log.exception("share of %s failed", request.session_id)
                exc = ShareError(f"internal error: {type(exc).__name__}: {exc}")
            self.emit({"event": "share_failed", "session_id": request.session_id,
                       "message": str(exc)})  # fmt: skip
            return {"ok": False, "session_id": request.session_id, "message": str(exc)}
        self.emit({"event": "share_ready", "session_id": request.session_id, "share": share})
        return shared_answer(request.session_id, share)
