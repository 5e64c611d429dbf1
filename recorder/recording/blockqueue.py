"""The buffer between capture and the writer, bounded in frames of audio, never blocking capture.

A slow or stalled disk fills it; capture is then told no and records the loss as a gap instead
of waiting. Control items (session begin/end, markers, gaps) always fit: they are tiny and losing
one would lose a session's structure. The writer takes blocks in batches, woken when a batch's
worth has arrived rather than for every block: each wake-up costs more than the block's write.
"""

from __future__ import annotations

import threading
from collections import deque

from recorder.core.recording.blocks import Block, Item


class FrameQueue:
    def __init__(self, capacity_frames: int) -> None:
        self.capacity_frames = capacity_frames
        self._cond = threading.Condition()
        self._items: deque[Item] = deque()  # guarded by _cond
        self._frames = 0  # guarded by _cond
        # guarded by _cond: pre-roll frames still queued, at most. They were already held in
        # RAM by the ring, so they do not use up the room live audio has for a stalled disk.
        self._forced = 0
        self.peak_frames = 0  # guarded by _cond: high-water mark, for status and benchmarks
        self._controls = 0  # guarded by _cond: control items queued
        self._wanted = 0  # guarded by _cond: frames the waiting writer asked for

    @property
    def frames(self) -> int:
        with self._cond:
            return self._frames

    def put_audio(self, block: Block, force: bool = False, after: Item | None = None) -> bool:
        """Queue a block unless live audio would pass the bound; `force` is for the pre-roll,
        which is queued whole and counted outside the bound.

        `after` is a control item queued just before the block, only if the block fits.
        """
        with self._cond:
            live = self._frames - self._forced
            if not force and live + block.frames > self.capacity_frames:
                return False
            if force:
                self._forced += block.frames
            if after is not None:
                self._items.append(after)
            self._items.append(block)
            self._frames += block.frames
            self.peak_frames = max(self.peak_frames, self._frames)
            if self._frames >= self._wanted:
                self._cond.notify()
            return True

    def put_control(self, item: Item) -> None:
        with self._cond:
            self._items.append(item)
            self._controls += 1
            self._cond.notify()

    def get_batch(self, frames: int, timeout: float, most: int | None = None) -> list[Item]:
        """Whole blocks adding up to at least `frames` (or all there is, up to `most`) with the
        control items among them, in order. Waits until `frames` of audio or any control item is
        queued, or for `timeout`; an empty list means nothing came."""
        most = frames if most is None else max(frames, most)
        with self._cond:
            self._wanted = frames
            self._cond.wait_for(lambda: self._frames >= frames or self._controls, timeout)
            batch: list[Item] = []
            got = 0
            while self._items and got < most:
                item = self._items.popleft()
                if isinstance(item, Block):
                    got += item.frames
                    self._frames -= item.frames
                    # Older live blocks may leave first: that only ends the allowance early.
                    self._forced = max(0, self._forced - item.frames)
                else:
                    self._controls -= 1
                batch.append(item)
            return batch
