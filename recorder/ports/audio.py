"""The audio source port and what it raises.

Imports nothing but typing: the capture helper process (recorder.adapters.alsa_helper) loads it.
"""

from __future__ import annotations

from typing import Protocol


class DeviceUnavailable(Exception):
    """The audio device cannot be opened (absent, busy, wrong name). The message says which."""


class DeviceLost(Exception):
    """The audio device went away while open (unplugged)."""


class DeviceStalled(Exception):
    """The audio device is open but has delivered nothing for a while (wedged, not unplugged).

    Raised by `read()` after waiting in vain; the next `read()` waits again.
    """


class Overrun(Exception):
    """Frames were lost because capture fell behind; `lost_frames` is the best estimate."""

    def __init__(self, lost_frames: int, estimated: bool = True) -> None:
        super().__init__(f"overrun: about {lost_frames} frames lost")
        self.lost_frames = lost_frames
        self.estimated = estimated


class AudioSource(Protocol):
    """A capture device that hands out exactly `period_frames` frames per read."""

    period_frames: int

    def open(self) -> None:
        """Open the device; raises DeviceUnavailable."""

    def read(self) -> bytes:
        """One period of raw interleaved frames; raises Overrun, DeviceLost or DeviceStalled."""

    def close(self) -> None: ...
