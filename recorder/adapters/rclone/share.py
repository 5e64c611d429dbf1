"""The share target over rclone: plain copies in the coach's share remote, and their links."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from recorder.adapters.rclone.client import _NO_LINKS, Rclone, RcloneError, vet
from recorder.core.coaching.shares import overlaps
from recorder.ports.sharing import LinkResult, ShareError

_REDUCED = re.compile(r"Reducing expiry to (\d+)([smhdw])", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class RcloneShareTarget:
    """ShareTarget on one configured rclone (its timeouts bound every call)."""

    def __init__(self, rclone: Rclone) -> None:
        self.rclone = rclone

    def _refuse_crypt(self, path: str) -> None:
        if self.rclone.remote_type(path) == "crypt":
            raise ShareError(f"{path} is on a crypt remote: its links give ciphertext", "config")

    def put(self, local_dir: Path, files: Sequence[str], folder: str) -> None:
        self._refuse_crypt(folder)
        try:
            self.rclone.upload(local_dir, files, folder)
            different = self.rclone.verify(local_dir, files, folder)
        except RcloneError as exc:
            raise ShareError(str(exc), exc.kind) from None
        if different:
            raise ShareError(f"{', '.join(different)} did not arrive intact in {folder}")

    def link(self, path: str, expire_s: int | None) -> LinkResult:
        self._refuse_crypt(path)
        args = [f"--expire={expire_s}s"] if expire_s else []
        code, out, err = self.rclone._run(f'link "{vet(path, "shared file")}"', args)
        if code != 0:
            if _NO_LINKS.search(err):
                kind = self.rclone.remote_type(path) or "this"
                return LinkResult(None, None, (
                    f"{kind} remotes make no public links: send the folder {path.rsplit('/', 1)[0]} "
                    "another way (the storage's own sharing page), or use an S3, Dropbox or Google Drive remote"
                ))  # fmt: skip
            raise ShareError(f"rclone link {path} failed: {err.strip()[-300:]}")
        reduced = _REDUCED.search(err)
        given = expire_s
        if reduced:
            given = int(reduced.group(1)) * _UNIT_S[reduced.group(2).lower()]
        return LinkResult(out.strip() or None, given)

    def remove(self, folder: str) -> None:
        try:
            self.rclone.purge(folder)
        except RcloneError as exc:
            raise ShareError(str(exc), exc.kind) from None

    def listing(self, folder: str) -> list[str]:
        code, out, err = self.rclone._run(f'lsf "{vet(folder, "shared folder")}"')
        if code != 0:
            if "not found" in err.lower():
                return []
            raise ShareError(f"rclone lsf {folder} failed: {err.strip()[-300:]}")
        return [line for line in out.splitlines() if line]


def check_separate(share_remote: str, archive_remote: str, rclone: Rclone) -> str | None:
    """Why `share_remote` would put plain audio beside the encrypted archive, or None."""
    if overlaps(share_remote, archive_remote):
        return f"[share] remote {share_remote} is the archive {archive_remote} or inside it"
    try:
        if rclone.remote_type(share_remote) == "crypt":
            return f"[share] remote {share_remote} is a crypt remote: shared copies must be plain"
    except RcloneError as exc:
        return f"[share] remote {share_remote} cannot be checked: {exc}"
    return None
