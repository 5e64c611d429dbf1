"""The buffer between capture and the writer, bounded in frames of audio, never blocking capture.

A slow or stalled disk fills it; capture is then told no and records the loss as a gap instead
of waiting. Control items (session begin/end, markers, gaps) always fit: they are tiny and losing
one would lose a session's structure.
"""

from __future__ import annotations

import threading
from collections import deque

from recorder.core.blocks import Block, Item


class FrameQueue:
    def __init__(self, capacity_frames: int) -> None:
        self.capacity_frames = capacity_frames
        self._cond = threading.Condition()
        self._items: deque[Item] = deque()  # guarded by _cond
        self._frames = 0  # guarded by _cond
        self.peak_frames = 0  # guarded by _cond: high-water mark, for status and benchmarks

    @property
    def frames(self) -> int:
        with self._cond:
            return self._frames

    def put_audio(self, block: Block, force: bool = False, after: Item | None = None) -> bool:
        """Queue a block unless that would pass the bound; `force` is for the pre-roll.

        `after` is a control item queued just before the block, only if the block fits.
        """
        with self._cond:
            if not force and self._frames + block.frames > self.capacity_frames:
                return False
            if after is not None:
                self._items.append(after)
            self._items.append(block)
            self._frames += block.frames
            self.peak_frames = max(self.peak_frames, self._frames)
            self._cond.notify()
            return True

    def put_control(self, item: Item) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify()

    def get(self, timeout: float) -> Item | None:
        with self._cond:
            if not self._items and not self._cond.wait(timeout):
                return None
            if not self._items:
                return None
            item = self._items.popleft()
            if isinstance(item, Block):
                self._frames -= item.frames
            return item
