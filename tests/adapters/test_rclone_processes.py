"""The rclone adapter owns its processes: it freezes, thaws and ends the rclone commands it runs
on its config (the outbox asks it to while a session records, at a discard, at shutdown), and
no other process, not even another rclone of this process on another config.

Real rclone children uploading to `rclone serve s3` on loopback (itself an rclone child of the
test, on no config: it must never be touched).
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from recorder.adapters.rclone.client import Rclone, RcloneError
from recorder.adapters.rclone.processes import descendants_named
from tests.rclone_server import CRYPT_REMOTE, S3Server, rclone_binary, write_config
from tests.support import wait_until

SESSION_ID = "000001-20261129T093000Z"
SIZE = 6 << 20  # at 512 KiB/s, about twelve seconds in flight
FLAGS = ("--bwlimit", "512K", "--transfers", "1", "--retries", "1", "--low-level-retries", "1")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[S3Server]:
    with S3Server(tmp_path / "s3") as s:
        yield s


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "outbox" / SESSION_ID
    path.mkdir(parents=True)
    (path / "session.flac").write_bytes(os.urandom(SIZE))
    return path


def _state(pid: int) -> str | None:
    """The process's state letter in /proc (`T`: stopped), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


class Upload:
    """`Rclone.upload` of the session folder on a thread of its own, as the outbox runs it."""

    def __init__(self, rc: Rclone, folder: Path, remote_dir: str) -> None:
        self.sent = 0
        self.outcome: dict[str, object] = {}
        self.thread = threading.Thread(target=self._run, args=(rc, folder, remote_dir))
        self.thread.start()

    def _run(self, rc: Rclone, folder: Path, remote_dir: str) -> None:
        def progress(p: dict) -> None:
            self.sent = p["bytes"]

        try:
            rc.upload(folder, ["session.flac"], remote_dir, progress=progress)
            self.outcome["ok"] = True
        except Exception as exc:
            self.outcome["error"] = exc

    def under_way(self) -> None:
        wait_until(lambda: self.sent > 0 or not self.thread.is_alive(), 60, "a transfer under way")
        assert self.thread.is_alive(), self.outcome

    def finished(self, timeout: float = 120) -> dict[str, object]:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the upload still runs"
        return self.outcome


def _frozen(rc: Rclone) -> list[int]:
    """The adapter's rclone pids once every one is stopped."""
    return wait_until(
        lambda: (pids := rc.processes.pids()) and {_state(p) for p in pids} == {"T"} and pids,
        10,
        "every rclone of the adapter stopped",
    )


def test_pause_freezes_the_transfer_in_flight_and_resume_lets_it_finish_intact(
    server: S3Server, tmp_path: Path, folder: Path
) -> None:
    rc = Rclone(write_config(tmp_path / "rclone.conf", server), rclone_binary(), None, FLAGS)
    remote_dir = f"{CRYPT_REMOTE}:box/{SESSION_ID}"
    upload = Upload(rc, folder, remote_dir)
    upload.under_way()
    rc.pause_transfers()  # from this thread: the transfer was started by another one
    try:
        frozen = _frozen(rc)
        assert _state(server.proc.pid) != "T"  # an rclone child too, on no config
    finally:
        rc.resume_transfers()
    wait_until(lambda: all(_state(p) != "T" for p in frozen), 10, "the rclone thawed")
    assert upload.finished() == {"ok": True}
    assert rc.verify(folder, ["session.flac"], remote_dir) == []


def test_stop_ends_a_frozen_transfer_and_its_upload_fails(
    server: S3Server, tmp_path: Path, folder: Path
) -> None:
    """A discard of the session being sent, or shutdown, while recording froze the transfer:
    it must end, not wait for the recording to stop."""
    rc = Rclone(write_config(tmp_path / "rclone.conf", server), rclone_binary(), None, FLAGS)
    upload = Upload(rc, folder, f"{CRYPT_REMOTE}:box/{SESSION_ID}")
    upload.under_way()
    rc.pause_transfers()
    try:
        _frozen(rc)
        rc.stop_transfers()
        outcome = upload.finished(60)
    finally:
        rc.resume_transfers()  # a failed test must not leave a frozen rclone behind
    assert isinstance(outcome.get("error"), RcloneError), outcome
    assert rc.processes.pids() == []
    assert server.proc.poll() is None  # the server runs on


def test_only_its_own_config_is_touched(server: S3Server, tmp_path: Path, folder: Path) -> None:
    """Another rclone of this process on another config (a share remote's, say) runs on while
    the adapter's own transfer is frozen."""
    ours = write_config(tmp_path / "rclone.conf", server)
    theirs = write_config(tmp_path / "other.conf", server)
    other = subprocess.Popen(
        [str(rclone_binary()), "copy", str(folder), f"{CRYPT_REMOTE}:other", "--bwlimit", "64K"],
        env={**os.environ, "RCLONE_CONFIG": str(theirs)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        found = wait_until(
            lambda: descendants_named("rclone", {"RCLONE_CONFIG": str(theirs)}), 10, "the other"
        )
        assert found == [other.pid]
        rc = Rclone(ours, rclone_binary(), None, FLAGS)
        upload = Upload(rc, folder, f"{CRYPT_REMOTE}:box/{SESSION_ID}")
        upload.under_way()
        rc.pause_transfers()
        try:
            frozen = _frozen(rc)
            assert other.pid not in frozen
            assert _state(other.pid) not in ("T", None)  # still copying, and not stopped
        finally:
            rc.resume_transfers()
        assert upload.finished() == {"ok": True}
    finally:
        other.kill()
        other.wait(10)
