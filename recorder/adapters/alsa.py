"""ALSA capture through pyalsaaudio: blocking reads of exactly one period."""

from __future__ import annotations

import contextlib
import errno
import time

import alsaaudio

from recorder.ports import DeviceLost, DeviceUnavailable, Overrun

_FORMATS = {
    "S16_LE": alsaaudio.PCM_FORMAT_S16_LE,
    "S24_3LE": alsaaudio.PCM_FORMAT_S24_3LE,
    "S32_LE": alsaaudio.PCM_FORMAT_S32_LE,
}


class AlsaSource:
    """Reads an ALSA PCM by name (`plughw:CARD=<id>,DEV=0`, never a card index).

    `read()` blocks in alsa-lib with the GIL released. pyalsaaudio 0.11 answers an overrun with
    `(-EPIPE, b'')` after re-preparing the stream, and an unplugged device with ALSAAudioError.
    """

    def __init__(
        self, device: str, rate: int, channels: int, fmt: str, period_frames: int, periods: int = 4
    ) -> None:
        self.device = device
        self.rate = rate
        self.channels = channels
        self.fmt = fmt
        self.period_frames = period_frames
        self.periods = periods
        self._pcm: alsaaudio.PCM | None = None
        self._last_read = 0.0

    def open(self) -> None:
        try:
            self._pcm = alsaaudio.PCM(
                alsaaudio.PCM_CAPTURE,
                alsaaudio.PCM_NORMAL,
                device=self.device,
                rate=self.rate,
                channels=self.channels,
                format=_FORMATS[self.fmt],
                periodsize=self.period_frames,
                periods=self.periods,
            )
        except alsaaudio.ALSAAudioError as exc:
            raise DeviceUnavailable(f"cannot open ALSA device '{self.device}': {exc}") from None
        info = self._pcm.info()
        got = (info["rate"], info["channels"], info["format_name"], info["period_size"])
        want = (self.rate, self.channels, self.fmt, self.period_frames)
        if got != want:
            self.close()
            raise DeviceUnavailable(
                f"ALSA device '{self.device}' gives rate/channels/format/period {got}, "
                f"not the configured {want}; use a plughw: device or change [audio]"
            )
        self._last_read = time.monotonic()

    def read(self) -> bytes:
        if self._pcm is None:
            raise DeviceLost("device is not open")
        try:
            frames, data = self._pcm.read()
        except alsaaudio.ALSAAudioError as exc:
            raise DeviceLost(str(exc)) from None
        now = time.monotonic()
        elapsed, self._last_read = now - self._last_read, now
        if frames == -errno.EPIPE:
            # The ring in the driver held `periods` periods when it overflowed; what went missing
            # is at least that, and at most what the elapsed time says.
            lost = max(self.period_frames * self.periods, int(elapsed * self.rate))
            raise Overrun(lost, estimated=True)
        if frames < 0:
            raise DeviceLost(f"read failed: {errno.errorcode.get(-frames, frames)}")
        if frames != self.period_frames:
            # A short read only happens as a stream ends (device going away).
            raise DeviceLost(f"short read: {frames} of {self.period_frames} frames")
        return data

    def close(self) -> None:
        if self._pcm is not None:
            with contextlib.suppress(alsaaudio.ALSAAudioError):
                self._pcm.close()
            self._pcm = None
