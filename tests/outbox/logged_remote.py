"""The outbox's worker against rclone serving S3 on loopback, through a remote that logs each call.

path, cfg, store, remote = outbox_box(tmp_path, s3)   # remote: Logged(Rclone(...))
outbox_worker(cfg, store, remote).pass_once()
remote_files(cfg, f"{CRYPT_REMOTE}:box-1")            # what reached the remote
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from recorder.adapters.disk import StatvfsDisk
from recorder.adapters.rclone.client import Rclone
from recorder.outbox.worker import Hookup, OutboxWork, OutboxWorker
from recorder.store.sessions import SessionStore
from tests.rclone_server import CRYPT_REMOTE, rclone_binary, write_config
from tests.support import make_config
from tests.support import write_config as write_cfg

# Fail fast (the tests kill servers), and one transfer at a time: `rclone serve s3` now and then
# answers concurrent PutObjects into a folder just created with a 500 (a race in its VFS, "Dir.Rename
# error"), which with a single retry fails an attempt that tests expect to succeed first time.
FAST_FLAGS = [
    "--retries=1", "--low-level-retries=1", "--contimeout=2s", "--timeout=5s", "--transfers=1",
]  # fmt: skip


class Logged:
    """The real adapter behind the same `RemoteStore` port: every call is logged in order, and
    a test may act just before each verification (look, tamper, cut the network)."""

    def __init__(self, inner: Rclone, before_verify=None) -> None:
        self.inner = inner
        self.before_verify = before_verify
        self.calls: list[tuple] = []

    def upload(self, local_dir, files, remote_dir, force=False, progress=None) -> None:
        what = "manifest" if list(files) == ["manifest.json"] else "files"
        self.calls.append(("upload", Path(local_dir).name, what, force))
        self.inner.upload(local_dir, files, remote_dir, force, progress)

    def verify(self, local_dir, files, remote_dir) -> list[str]:
        self.calls.append(("verify", Path(local_dir).name))
        if self.before_verify is not None:
            self.before_verify(self)
        return self.inner.verify(local_dir, files, remote_dir)

    def purge(self, remote_dir) -> None:
        self.inner.purge(remote_dir)

    def link(self, remote_path) -> str | None:
        return self.inner.link(remote_path)

    def pause_transfers(self) -> None:
        self.inner.pause_transfers()

    def resume_transfers(self) -> None:
        self.inner.resume_transfers()

    def stop_transfers(self) -> None:
        self.inner.stop_transfers()

    def data_uploads(self, sid: str) -> list[tuple]:
        return [c for c in self.calls if c[0] == "upload" and c[1] == sid and c[2] == "files"]


def outbox_box(tmp_path, server, before_verify=None, **upload):
    """A config file (for the command line), the config, its store with the folders made, and
    a logged remote; uploads go to `secret:box-1`."""
    conf = write_config(tmp_path / "rclone.conf", server)
    values = {
        "remote": f"{CRYPT_REMOTE}:box-1",
        "rclone_config": str(conf),
        "rclone_binary": str(rclone_binary()),
        "retry_min_s": 0.5,
        "retry_max_s": 2.0,
        **upload,
    }
    path = write_cfg(tmp_path, upload=values)
    cfg = make_config(tmp_path, upload=values)
    store = SessionStore(cfg.storage.dir)
    store.prepare()
    remote = Logged(Rclone(conf, rclone_binary(), None, FAST_FLAGS), before_verify)
    return path, cfg, store, remote


def outbox_worker(cfg, store, remote, events=None, work=None) -> OutboxWorker:
    """The outbox's worker, not started: a test runs its passes (`pass_once`) itself."""
    emit = events.append if events is not None else lambda event: None
    return OutboxWorker(
        store, cfg.upload, remote, StatvfsDisk(), Hookup(lambda: False, emit), work or OutboxWork()
    )


def remote_files(cfg, path: str) -> list[str]:
    """What `rclone lsf -R` lists under `path` on the box's remote, sorted."""
    done = subprocess.run(
        [str(rclone_binary()), "--config", str(cfg.upload.rclone_config), "lsf", "-R", path],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return sorted(done.stdout.split())
