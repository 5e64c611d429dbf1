"""A pending remote deletion that can never succeed is set aside once, not retried for ever.

`<storage>/discards/<id>` remembers a deletion the remote missed (a withdrawn consent while the
network was down); the outbox retries it every pass. The issue saw a discard of
`١٢٣٤٥٦-20261206T080613Z` (non-ASCII digits passed the id check) leave an entry that rclone's
path check refused on every pass: 93 warnings in 6 minutes, surviving restarts. Real worker,
real rclone, a real S3 server on loopback.
"""

from __future__ import annotations

import json
import logging
import os

import pytest

from recorder.outbox.discard import (
    DISCARDS,
    QUARANTINE,
    DiscardError,
    discard_session,
    remote_dir_for,
)
from tests.outbox.logged_remote import outbox_box, outbox_worker, remote_files
from tests.rclone_server import CRYPT_REMOTE

GOOD = "000100-20261206T080613Z"
PASSES = 4


def _warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "recorder.outbox.discard" and r.levelno >= logging.WARNING
    ]


def test_a_pending_deletion_that_cannot_succeed_is_quarantined_with_one_warning(
    tmp_path, s3, caplog
):
    _, cfg, store, remote = outbox_box(tmp_path, s3)
    remote_root = cfg.upload.remote
    # a session on the remote whose deletion is pending, and must still happen
    local = tmp_path / "good"
    local.mkdir()
    (local / "note.txt").write_text("kept until its consent is withdrawn\n")
    remote.inner.upload(local, ["note.txt"], remote_dir_for(remote_root, GOOD))
    assert remote_files(cfg, remote_root) == [f"{GOOD}/", f"{GOOD}/note.txt"]

    pending = store.root / DISCARDS
    pending.mkdir()
    (pending / GOOD).write_text(remote_dir_for(remote_root, GOOD) + "\n")
    arabic = "١٢٣٤٥٦-20261206T080613Z"
    never = {
        arabic: f"{remote_root}/{arabic}\n".encode(),  # the entry
        "000007-20261206T080613Z": f"{CRYPT_REMOTE}:\n".encode(),  # the whole remote!
        "000008-20261206T080613Z": f"{remote_root}/000009-20261206T080613Z\n".encode(),
        "000010-20261206T080613Z": b"",
        "000011-20261206T080613Z": b"x" * 100_000,
        "000012-20261206T080613Z": b"\xff\xfe not UTF-8",
        "notes.txt": f"{remote_root}/notes.txt\n".encode(),
    }
    for name, content in never.items():
        (pending / name).write_bytes(content)
    (pending / "000013-20261206T080613Z").mkdir()  # a folder, not an entry
    target = tmp_path / "elsewhere"
    target.write_text(remote_dir_for(remote_root, "000014-20261206T080613Z") + "\n")
    os.symlink(target, pending / "000014-20261206T080613Z")
    odd = [*never, "000013-20261206T080613Z", "000014-20261206T080613Z"]
    writing = pending / ".000015-20261206T080613Z.tmp"  # a discard writing its entry right now
    writing.write_text(remote_dir_for(remote_root, "000015-20261206T080613Z"))

    caplog.set_level(logging.INFO, logger="recorder.outbox.discard")
    worker = outbox_worker(cfg, store, remote)
    for _ in range(PASSES):
        worker.pass_once()

    # the good one was done: gone on the remote, its entry removed, the discard log says so
    assert remote_files(cfg, remote_root) == []
    assert not (pending / GOOD).exists()
    log = [json.loads(x) for x in (store.root / "discard.log").read_text().splitlines()]
    assert log == [{"at": log[0]["at"], "id": GOOD, "remote": "deleted (retried)"}]

    # every other entry: set aside with its content, and exactly one warning each
    quarantine = pending / QUARANTINE
    assert sorted(p.name for p in pending.iterdir()) == [writing.name, QUARANTINE]
    assert sorted(p.name for p in quarantine.iterdir()) == sorted(odd)
    for name, content in never.items():
        assert (quarantine / name).read_bytes() == content
    assert target.exists()  # a symlink is moved, never followed
    said = _warnings(caplog)
    assert len(said) == len(odd), said
    for name in odd:
        [warning] = [w for w in said if repr(name) in w]
        assert "can never succeed" in warning and str(quarantine) in warning
        assert "then delete the file" in warning and len(warning) < 800
    [whole] = [w for w in said if "000007" in w]
    assert f"names {CRYPT_REMOTE + ':'!r}" in whole
    assert repr(remote_dir_for(remote_root, "000007-20261206T080613Z")) in whole
    assert "not a session id" in next(w for w in said if repr(arabic) in w)
    assert "100000 bytes" in next(w for w in said if "000011" in w)
    assert "not UTF-8" in next(w for w in said if "000012" in w)
    assert "not a plain file" in next(w for w in said if "000013" in w)

    # a restart does not bring them back
    caplog.clear()
    again = outbox_worker(cfg, store, remote)
    for _ in range(PASSES):
        again.pass_once()
    assert _warnings(caplog) == []
    assert sorted(p.name for p in quarantine.iterdir()) == sorted(odd)


def test_a_pending_deletion_the_remote_refuses_for_now_warns_once_and_still_happens(
    tmp_path, s3, caplog
):
    """A remote that is down is a reason to retry, not to set the entry aside; and saying the
    same failure again at every pass would flood the log the same way."""
    _, cfg, store, remote = outbox_box(tmp_path, s3)
    local = tmp_path / "good"
    local.mkdir()
    (local / "note.txt").write_text("x\n")
    remote.inner.upload(local, ["note.txt"], remote_dir_for(cfg.upload.remote, GOOD))
    pending = store.root / DISCARDS
    pending.mkdir()
    (pending / GOOD).write_text(remote_dir_for(cfg.upload.remote, GOOD) + "\n")

    caplog.set_level(logging.INFO, logger="recorder.outbox.discard")
    worker = outbox_worker(cfg, store, remote)
    s3.stop()
    for _ in range(PASSES):
        worker.pass_once()
    still = [w for w in _warnings(caplog) if "still pending" in w]
    assert len(still) == 1 and repr(GOOD) in still[0], _warnings(caplog)
    assert (pending / GOOD).exists() and not (pending / QUARANTINE).exists()

    s3.start()
    worker.pass_once()
    assert not (pending / GOOD).exists()
    assert remote_files(cfg, cfg.upload.remote) == []


@pytest.mark.parametrize("name", ["١٢٣٤٥٦-20261206T080613Z", "1" * 300 + "-20261206T080613Z"])
def test_a_discard_of_an_id_that_is_not_ascii_or_too_long_leaves_nothing_pending(
    tmp_path, s3, name
):
    """The issue's discard itself: refused, so no entry is made in the first place."""
    _, cfg, store, remote = outbox_box(tmp_path, s3)
    with pytest.raises(DiscardError, match="is not a session id"):
        discard_session(store, remote, cfg.upload, name)
    assert not (store.root / DISCARDS).exists()
