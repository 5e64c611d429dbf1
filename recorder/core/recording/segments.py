"""Where a session's frames go: which segment, at which offset, cut at exact frame counts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Piece:
    """`frames` frames taken from `offset` (in frames) of a block, written to segment `segment`.

    `opens` is true when this piece is the first of its segment: the writer opens the file.
    """

    segment: int
    offset: int
    frames: int
    opens: bool


class SegmentPlan:
    """Cuts a stream of blocks into segments of exactly `segment_frames` frames.

    Every frame lands in exactly one piece, in order; a block that straddles a boundary is split.
    `break_segment()` ends the current segment early (after a device came back) so the next
    frame opens a new one.
    """

    def __init__(self, segment_frames: int) -> None:
        if segment_frames <= 0:
            raise ValueError("segment_frames must be > 0")
        self.segment_frames = segment_frames
        self.index = -1  # no segment open yet
        self.filled = 0  # frames in the current segment

    def place(self, frames: int) -> list[Piece]:
        pieces: list[Piece] = []
        offset = 0
        while offset < frames:
            opens = self.index < 0 or self.filled >= self.segment_frames
            if opens:
                self.index += 1
                self.filled = 0
            take = min(frames - offset, self.segment_frames - self.filled)
            pieces.append(Piece(self.index, offset, take, opens))
            self.filled += take
            offset += take
        return pieces

    def break_segment(self) -> None:
        if self.index >= 0 and self.filled > 0:
            self.filled = self.segment_frames
