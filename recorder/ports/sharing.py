"""The share target: where plain copies for a mentor or a client go (never the archive)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class LinkResult:
    """A link to a shared file, or why there is none.

    `expires_s` is the lifetime the backend actually gave (S3 signs links for at most a week),
    None when the link does not expire or there is no link; `note` says what to do instead when
    the backend makes no links.
    """

    url: str | None
    expires_s: int | None = None
    note: str | None = None


class ShareError(Exception):
    """A share target that failed; `kind` as RcloneError's (network, auth, not_found, other)."""

    def __init__(self, message: str, kind: str = "other") -> None:
        super().__init__(message)
        self.kind = kind


class ShareTarget(Protocol):
    def put(self, local_dir: Path, files: Sequence[str], folder: str) -> None:
        """Copy `files` of `local_dir` into `folder` (`remote:path/sr-…`), verified."""

    def link(self, path: str, expire_s: int | None) -> LinkResult:
        """A public link to `path` (a file in a shared folder) valid for `expire_s` seconds."""

    def remove(self, folder: str) -> None:
        """Delete `folder` and what is in it; a folder that is not there is success."""

    def listing(self, folder: str) -> list[str]:
        """The file names in `folder` ([] when it is not there)."""
