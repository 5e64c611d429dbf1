"""Test doubles for faults that cannot be produced on demand with real parts.

Each implements the same port as the real adapter and wraps it, so everything but the fault
itself is real: the audio still comes through ALSA, the segments are still libsndfile WAVs.
"""

from __future__ import annotations

import selectors
import threading
from pathlib import Path

from recorder.adapters.alsa import AlsaSource
from recorder.media.wav import SoundfileSegment
from recorder.ports.audio import DeviceLost, DeviceUnavailable, Overrun


class FaultySource:
    """An AlsaSource whose next read can overrun or whose device can be "unplugged".

    An overrun reads one period from the device and throws it away, as the driver would. An
    unplug closes the PCM (the feeder sees the reader vanish) and refuses to reopen until
    `replug()`.
    """

    def __init__(self, inner: AlsaSource) -> None:
        self.inner = inner
        self.period_frames = inner.period_frames
        self._overruns = 0  # guarded by _lock
        self._unplug = False  # guarded by _lock
        self._unplugged = threading.Event()
        self._lock = threading.Lock()
        self.dropped: list[bytes] = []

    def overrun_next(self, times: int = 1) -> None:
        with self._lock:
            self._overruns += times

    def unplug(self) -> None:
        with self._lock:
            self._unplug = True

    def replug(self) -> None:
        self._unplugged.clear()

    @property
    def is_unplugged(self) -> bool:
        return self._unplugged.is_set()

    def open(self) -> None:
        if self._unplugged.is_set():
            raise DeviceUnavailable(
                f"cannot open ALSA device '{self.inner.device}': No such device"
            )
        self.inner.open()

    def read(self) -> bytes:
        with self._lock:
            overrun, self._overruns = self._overruns > 0, max(0, self._overruns - 1)
            unplug, self._unplug = self._unplug, False
        if unplug:
            self._unplugged.set()
            self.inner.close()
            raise DeviceLost("No such device")
        data = self.inner.read()
        if overrun:
            self.dropped.append(data)
            raise Overrun(self.period_frames, estimated=False)
        return data

    def close(self) -> None:
        self.inner.close()


class StallingSegments:
    """Segment files whose writes block while `stall` is set: a disk that stops answering."""

    def __init__(self) -> None:
        self.stall = threading.Event()
        self.resume = threading.Event()
        self.stalled_writes = 0

    def __call__(self, path: Path, rate: int, channels: int, fmt: str) -> SoundfileSegment:
        outer = self
        seg = SoundfileSegment(path, rate, channels, fmt)
        real_write = seg.write

        def write(data: bytes) -> None:
            if outer.stall.is_set():
                outer.stalled_writes += 1
                outer.resume.wait()
            real_write(data)

        seg.write = write  # type: ignore[method-assign]
        return seg


class Dying(selectors.DefaultSelector):  # type: ignore[misc, valid-type]
    """The real selector, whose select() raises SystemExit (as a library calling exit() would)
    `failures` more times once `armed` is set: the serving loop itself dies, for real."""

    armed = threading.Event()
    failures = 0

    def select(self, timeout=None):
        if Dying.armed.is_set() and Dying.failures > 0:
            Dying.failures -= 1
            raise SystemExit("exit() called in a library")
        return super().select(timeout)
