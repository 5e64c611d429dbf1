"""The pre-roll: the last few seconds of audio, held in RAM until a session wants them.

Modelled on picamera2's circular output: a deque of whole capture blocks bounded by duration.
On a start the whole ring is handed over at once and live blocks go straight through after it,
so the session file is never delayed by the ring's length.
"""

from __future__ import annotations

from collections import deque

from recorder.core.recording.blocks import Block, Gap


class PrerollRing:
    """Holds at most `capacity_frames` frames of audio, dropping the oldest whole blocks.

    Gaps are kept in order with the blocks so a session that starts with the pre-roll still
    knows where its first seconds were interrupted.
    """

    def __init__(self, capacity_frames: int) -> None:
        if capacity_frames < 0:
            raise ValueError("capacity_frames must be >= 0")
        self.capacity_frames = capacity_frames
        self._items: deque[Block | Gap] = deque()
        self._frames = 0

    @property
    def frames(self) -> int:
        """Frames of audio held (gaps do not count)."""
        return self._frames

    def push(self, item: Block | Gap) -> None:
        if self.capacity_frames == 0:
            return
        self._items.append(item)
        if isinstance(item, Block):
            self._frames += item.frames
            while self._frames > self.capacity_frames:
                old = self._items.popleft()
                if isinstance(old, Block):
                    self._frames -= old.frames
        while self._items and isinstance(self._items[0], Gap):
            self._items.popleft()

    def drain(self) -> list[Block | Gap]:
        """Everything held, oldest first; the ring is empty afterwards."""
        items = list(self._items)
        self._items.clear()
        self._frames = 0
        return items
