"""What an audio source raises. Imports nothing: the capture helper process loads it."""


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
