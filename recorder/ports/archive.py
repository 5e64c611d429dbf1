"""What the web server reads of the encrypted archive: the sessions whose local copy retention
deleted are still there, and the box (which holds the rclone config) is the coach's key to them.

Implemented by `recorder.adapters.rclone.archive.RcloneArchive`. Every call blocks on rclone
(a process, the network): callers run them in a worker thread, never on an event loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol


class ArchiveError(Exception):
    """The archive cannot be read now (no network, a wrong key, rclone missing): says why."""


class ArchiveReader(Protocol):
    """The sessions on the archive, read only: decrypted bytes, exactly as the box sent them."""

    def read_each(self, name: str) -> list[bytes]:
        """The file `name` (manifest.json) of every session folder on the archive, read in one
        go, in no particular order; a folder without one is left out."""

    def size(self, session_id: str, name: str) -> int | None:
        """The decrypted size of a session's file in bytes, or None when it is not there."""

    def read_range(self, session_id: str, name: str, offset: int, count: int) -> Iterator[bytes]:
        """Exactly `count` bytes of the file from byte `offset`, in pieces as they arrive.

        Closing the iterator early ends the read (a player that seeks elsewhere)."""
