"""The disk guard: how much of the storage may be recorded into, and the room kept to finalize.

Built once by the composition root and handed to the controller and the writer. The controller
reads free space through it (`free_bytes`, the `DiskSpace` port): the ballast's missing room is
not free, so once the ballast was spent, recording starts again only when it fits too. The
writer thread asks it whether a write fits above `min_free_mb`, whether a failed write failed
for lack of space, and to release, restore or grow the ballast; only that thread changes it
once the recorder runs.
"""

from __future__ import annotations

import os
from pathlib import Path

from recorder.core.recording.disk import BLOCK, ballast_bytes, full_message
from recorder.ports.storage import DiskSpace
from recorder.store.ballast import Ballast, is_full_error


class DiskGuard:
    def __init__(self, root: Path, disk: DiskSpace, min_free_bytes: int) -> None:
        self.root = root
        self.disk = disk
        self.min_free_bytes = min_free_bytes
        self.ballast = Ballast(root, disk)

    def reserve(self) -> bool:
        """At start-up, once the storage is ours: adopt the ballast an earlier run left, or
        allocate it where room allows."""
        return self.ballast.create()

    def free_bytes(self, path: Path) -> int:
        """Free bytes as the controller sees them: the ballast's missing room is not free."""
        return self.disk.free_bytes(path) - self.ballast.missing

    def free(self, path: Path) -> int:
        """Free bytes that may be recorded into; 0 when the storage cannot say."""
        try:
            return self.free_bytes(path)
        except OSError:
            return 0

    def full_message(self, path: Path) -> str:
        """What the coach reads once the storage took its last bytes."""
        return full_message(self.free(path))

    def fits(self, path: Path, nbytes: int) -> bool:
        """Whether `nbytes` more leave `min_free_mb` free (the ballast's room counted free)."""
        try:
            free = self.disk.free_bytes(path)
        except OSError:
            return True  # a failing statvfs is not a full disk; the write will say what is wrong
        return free - nbytes >= self.min_free_bytes

    def is_full(self, exc: BaseException, path: Path) -> bool:
        """Whether a failed write failed for lack of space.

        libsndfile reports a failed write(2) without its errno, and free space read a moment
        earlier may not have seen another program take the rest: then one block is asked of
        the filesystem itself, which answers ENOSPC when it is full.
        """
        if is_full_error(exc):
            return True
        if isinstance(exc, OSError) and exc.errno is not None:
            return False
        probe = path / ".space-probe"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, BLOCK)
            finally:
                os.close(fd)
                probe.unlink()
        except OSError as probed:
            return is_full_error(probed)
        return False

    def restore(self) -> bool:
        """Allocate the ballast again when it fits above min_free_mb."""
        if not self.ballast.missing:
            return True
        if self.free(self.root) < self.min_free_bytes:
            return False
        return self.ballast.restore()

    def cover(self, need: int) -> None:
        """Grow the ballast when a session's finalize (`need` bytes) outgrew it."""
        size = ballast_bytes(need)
        if size > self.ballast.size:
            self.ballast.size = size  # counted as missing until it is allocated
            self.restore()

    @property
    def keeps_ballast(self) -> bool:
        """This storage has a ballast (one could be made, or was adopted)."""
        return self.ballast.active

    def make_room(self, need: int) -> None:
        """Before finalizing: release the ballast when free space cannot hold `need` bytes."""
        self.ballast.room_for(need)

    def release(self) -> int:
        """A write found the disk full: give the ballast's room to the last writes."""
        return self.ballast.release()

    def room_again(self, blocked_at: int | None) -> int | None:
        """Free bytes when there is room to finish what a full disk held up, else None: room
        for the ballast above the margin, and more free than when a try last found none."""
        try:
            free = self.disk.free_bytes(self.root)
        except OSError:
            return None
        if free - self.ballast.missing < self.min_free_bytes:
            return None  # no room yet for the ballast above the margin
        if blocked_at is not None and free <= blocked_at:
            return None  # nothing was freed since the last try found no room
        return free
