"""Builds the coach's side (records, next session, sharing) for the daemon or the command line."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from recorder.coaching.next_session import NextSession
from recorder.coaching.records import SessionRecords
from recorder.coaching.service import Coaching, DaemonSide
from recorder.coaching.sharing import Sharer, ShareWorker
from recorder.coaching.tags import RetagError, Retagger, retag
from recorder.config import Config
from recorder.core.manifest import Manifest
from recorder.ports.sharing import ShareTarget
from recorder.store.sessions import SessionStore

log = logging.getLogger(__name__)


def now_utc() -> datetime:
    return datetime.now(UTC)


def share_target(cfg: Config) -> tuple[ShareTarget | None, str | None]:
    """The share remote, or why sharing is off (the box records and uploads either way)."""
    if cfg.share is None:
        return None, None
    # Imported here: rclone-python and its adapter load 64 modules (1.3 MB), for nothing when off.
    from recorder.adapters.rclone.client import Rclone, RcloneError
    from recorder.adapters.rclone.share import RcloneShareTarget, check_separate

    s = cfg.share
    config = cfg.share_rclone_config
    assert config is not None  # the config schema requires one
    binary = s.rclone_binary or (cfg.upload.rclone_binary if cfg.upload else None)
    password = s.config_password_file or (cfg.upload.config_password_file if cfg.upload else None)
    try:
        rclone = Rclone(config, binary, password)
        if cfg.upload is not None:
            refusal = check_separate(s.remote, cfg.upload.remote, rclone)
            if refusal:
                raise ValueError(refusal)
        return RcloneShareTarget(rclone), None
    except (RcloneError, ValueError, OSError) as exc:
        log.error("sharing is off: %s", exc)
        return None, str(exc)


def build_coaching(
    cfg: Config,
    store: SessionStore,
    discard: Callable[[str], dict],
    *,
    daemon: DaemonSide | None = None,
    target: ShareTarget | None = None,
    now: Callable[[], datetime] = now_utc,
) -> Coaching:
    """Everything the coach's commands need. For the daemon (`daemon` given) shares run on a
    worker thread of their own, the files are retagged by the outbox's chore
    (`Coaching.retagger`, which calls `daemon.wake` when it has work), and revocations and a
    withdrawal's discard are queued on `daemon.jobs`, whose board the share worker shares. For
    the command line all of it happens in the caller's thread."""
    records = SessionRecords(store, now)
    retagger = None
    if daemon is not None:
        retagger = Retagger(store, daemon.recording, daemon.wake)
        records.after_change.append(retagger.mark)
    else:
        records.after_change.append(retag_now)
    why_off = None
    if target is None:
        target, why_off = share_target(cfg)
    sharer = Sharer(store, records, cfg.share, target, why_off, now)
    worker = None
    if daemon is not None:
        jobs = daemon.jobs
        worker = ShareWorker(sharer, daemon.recording, daemon.emit, jobs.board, jobs.restarted)
    next_session = NextSession(store, records.label, daemon.changed if daemon else lambda: None)
    return Coaching(store, records, sharer, next_session, discard, daemon, worker, retagger)


def retag_now(folder: Path, manifest: Manifest) -> None:
    """The command line's hook (no daemon runs): the files get their new tags at once."""
    try:
        if not retag(folder, manifest):
            log.warning("session %s: its transcript is being built; it keeps its old title",
                        manifest.id)  # fmt: skip
    except RetagError as exc:
        log.error("session %s: %s", manifest.id, exc)
