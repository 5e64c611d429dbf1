"""Room kept aside on the storage, so a session can be finalized even on a full disk.

Another program (a log, a copy, `dd`) can take the last free bytes between two checks of free
space; then the session's last writes — its final manifest, cue chunks and labels.txt — would
have nowhere to go, and it would stay half-finished in `recording/`. The ballast is a file of
allocated blocks in the storage dir (`.ballast`): released (truncated to nothing) when a write
finds the disk full, so the last writes fit, and allocated again once there is room.

Changed by one thread at a time (start-up, then the writer thread); `missing` may be read from
any thread.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

from recorder.core.recording.disk import BALLAST_FLOOR
from recorder.ports.storage import DiskSpace

log = logging.getLogger(__name__)

NAME = ".ballast"
FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def is_full_error(exc: BaseException) -> bool:
    """True for the errors of a full filesystem (or a spent quota)."""
    return isinstance(exc, OSError) and exc.errno in FULL_ERRNOS


class Ballast:
    def __init__(self, root: Path, disk: DiskSpace, size: int = BALLAST_FLOOR):
        self.path = root / NAME
        self.disk = disk
        self.size = size  # the room wanted
        self.held = 0  # bytes allocated now
        self.active = False  # create() was called: a recorder keeps this storage's ballast

    @property
    def missing(self) -> int:
        """Bytes the ballast lacks: free space that is not really free to record into."""
        return max(0, self.size - self.held) if self.active else 0

    def create(self) -> bool:
        """At start-up: adopt the ballast an earlier run left, or allocate it where room allows."""
        self.active = True
        try:
            self.held = self.path.stat().st_size
        except FileNotFoundError:
            self.held = 0
        except OSError as exc:
            log.error("ballast %s cannot be read: %s", self.path, exc)
            self.held = 0
        return self.restore()

    def restore(self, size: int | None = None) -> bool:
        """Allocate the ballast (at least `size` bytes); False when there is no room (or no way).

        A failed allocation is undone, so it never holds the last free bytes half-allocated.
        """
        if not self.active:
            return False
        if size is not None:
            self.size = max(self.size, size)
        if self.held >= self.size:
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            log.warning("ballast %s cannot be made: %s", self.path, exc.strerror or exc)
            return False
        try:
            try:
                os.posix_fallocate(fd, 0, self.size)
                os.fsync(fd)
            except OSError as exc:
                os.ftruncate(fd, self.held)
                if not is_full_error(exc):
                    log.warning("ballast %s not allocated: %s", self.path, exc.strerror or exc)
                return False
        finally:
            os.close(fd)
        log.info("storage room kept aside for finalizing: %d bytes in %s", self.size, self.path)
        self.held = self.size
        return True

    def release(self) -> int:
        """Give the ballast's room back to the filesystem; returns how many bytes were freed."""
        if not self.active or self.held == 0:
            return 0
        freed = self.held
        try:
            fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            self.held = 0
            return 0
        try:
            os.ftruncate(fd, 0)
            # ext4 reuses freed blocks only once the journal has committed the truncate.
            os.fsync(fd)
        except OSError as exc:
            log.error("ballast %s could not be released: %s", self.path, exc)
            return 0
        finally:
            os.close(fd)
        self.held = 0
        log.warning("storage full: released %d bytes kept aside, to finalize", freed)
        return freed

    def room_for(self, need: int) -> None:
        """Release the ballast when the free space cannot hold `need` bytes of last writes."""
        if not self.active or self.held == 0:
            return
        try:
            free = self.disk.free_bytes(self.path.parent)
        except OSError:
            return
        if free < need:
            self.release()
