"""ALSA capture through pyalsaaudio: reads of exactly one period, opened without blocking.

pyalsaaudio 0.11 calls `snd_pcm_open` with the GIL held, so a blocking open of a busy `hw:`
device stops every thread of the process. The PCM is therefore opened with `PCM_NONBLOCK`
(a busy device answers `EBUSY` at once) and reads wait in `poll()` on the PCM's descriptors,
which releases the GIL. Even so an open can block inside alsa-lib (a plugin opening a FIFO
nobody writes, a wedged USB interface): the daemon runs this class in a capture helper process
(`recorder.adapters.alsa_helper`, started by `recorder.adapters.alsa_process`), never in its
own. This module therefore imports only what the helper needs.
"""

from __future__ import annotations

import contextlib
import errno
import select
import time

import alsaaudio

from recorder.ports.audio import DeviceLost, DeviceUnavailable, Overrun

_FORMATS = {
    "S16_LE": alsaaudio.PCM_FORMAT_S16_LE,
    "S24_3LE": alsaaudio.PCM_FORMAT_S24_3LE,
    "S32_LE": alsaaudio.PCM_FORMAT_S32_LE,
}
_DISCONNECTED = 8  # SND_PCM_STATE_DISCONNECTED
POLL_S = 0.5  # how long one poll waits before the device's state is looked at


def open_error(device: str, exc: Exception) -> str:
    """The plain-language reason an open failed, from alsa-lib's message."""
    text = str(exc)
    if "busy" in text.lower():
        return f"the audio interface '{device}' is busy — another program is using it ({text})"
    return f"cannot open ALSA device '{device}': {text}"


class AlsaSource:
    """Reads an ALSA PCM by name (`plughw:CARD=<id>,DEV=0`, never a card index).

    pyalsaaudio answers an overrun with `(-EPIPE, b'')` after re-preparing the stream, and an
    unplugged device with ALSAAudioError or a disconnected state. A non-blocking read can return
    part of a period; the parts are joined so every `read()` is exactly one period.
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
        self._poll: select.poll | None = None
        self._pending = bytearray()
        self._frame_bytes = 0
        self._last_read = 0.0

    def open(self) -> None:
        try:
            self._pcm = alsaaudio.PCM(
                alsaaudio.PCM_CAPTURE,
                alsaaudio.PCM_NONBLOCK,
                device=self.device,
                rate=self.rate,
                channels=self.channels,
                format=_FORMATS[self.fmt],
                periodsize=self.period_frames,
                periods=self.periods,
            )
        except alsaaudio.ALSAAudioError as exc:
            raise DeviceUnavailable(open_error(self.device, exc)) from None
        info = self._pcm.info()
        got = (info["rate"], info["channels"], info["format_name"], info["period_size"])
        want = (self.rate, self.channels, self.fmt, self.period_frames)
        if got != want:
            self.close()
            raise DeviceUnavailable(
                f"ALSA device '{self.device}' gives rate/channels/format/period {got}, "
                f"not the configured {want}; use a plughw: device or change [audio]"
            )
        self._poll = select.poll()
        for fd, mask in self._pcm.polldescriptors():
            self._poll.register(fd, mask)
        self._frame_bytes = info["physical_bits"] // 8 * self.channels
        self._pending.clear()
        self._last_read = time.monotonic()

    def read(self) -> bytes:
        """One period; waits for it as long as it takes (the caller decides what a stall is)."""
        if self._pcm is None or self._poll is None:
            raise DeviceLost("device is not open")
        want = self.period_frames * self._frame_bytes
        while len(self._pending) < want:
            self._poll.poll(POLL_S * 1000)
            try:
                frames, data = self._pcm.read()
            except alsaaudio.ALSAAudioError as exc:
                raise DeviceLost(str(exc)) from None
            if frames == -errno.EPIPE:
                self._pending.clear()
                now = time.monotonic()
                elapsed, self._last_read = now - self._last_read, now
                # The ring in the driver held `periods` periods when it overflowed; what went
                # missing is at least that, and at most what the elapsed time says.
                lost = max(self.period_frames * self.periods, int(elapsed * self.rate))
                raise Overrun(lost, estimated=True)
            if frames in (-errno.EAGAIN, 0):
                if self._pcm.state() == _DISCONNECTED:
                    raise DeviceLost("the device was disconnected")
                continue
            if frames < 0:
                raise DeviceLost(f"read failed: {errno.errorcode.get(-frames, frames)}")
            if not self._pending and len(data) == want:
                self._last_read = time.monotonic()
                return data  # the usual case: one whole period, handed on without a copy
            self._pending += data
        self._last_read = time.monotonic()
        out = bytes(self._pending[:want])
        del self._pending[:want]
        return out

    def close(self) -> None:
        if self._pcm is not None:
            with contextlib.suppress(alsaaudio.ALSAAudioError):  # a device that went away
                self._pcm.close()
            self._pcm = None
            self._poll = None
