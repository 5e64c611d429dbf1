"""The capture thread: read the audio source, hand each block to the tap, nothing else.

It never touches the disk, so a slow card cannot make it miss a read. A device that cannot be
opened is tried again with a growing pause (`retry_s` doubling up to `retry_max_s`); one that
goes away is reopened the same way, and the time it was gone becomes a gap in the session. One
that stays open but stops delivering (wedged, not unplugged) is reported as stalled after the
source's read timeout, and when sound comes back the silent stretch becomes a gap too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from recorder.core.recording.state import (
    DeviceAbsent,
    DeviceLost,
    DeviceOpened,
    DeviceResumed,
    DeviceStalled,
    Event,
)
from recorder.ports.audio import AudioSource, DeviceUnavailable, Overrun
from recorder.ports.audio import DeviceLost as DeviceLostError
from recorder.ports.audio import DeviceStalled as DeviceStalledError
from recorder.recording.tap import CaptureTap

log = logging.getLogger(__name__)


def next_retry(delay: float, longest: float) -> float:
    """The pause after one more failed open."""
    return min(longest, delay * 2)


class CaptureThread(threading.Thread):
    def __init__(
        self,
        source: AudioSource,
        tap: CaptureTap,
        emit: Callable[[Event], None],
        rate: int,
        retry_s: float = 1.0,
        retry_max_s: float = 10.0,
    ) -> None:
        super().__init__(name="capture", daemon=True)
        self.source = source
        self.tap = tap
        self.emit = emit
        self.rate = rate
        self.retry_s = retry_s
        self.retry_max_s = retry_max_s
        self.stopping = threading.Event()
        self.overruns = 0  # written only by this thread; read by status (an int is atomic)
        self.last_read = 0.0  # monotonic time of the last good read
        self.heartbeat = time.monotonic()  # the loop is alive: every read, timeout and retry

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.join(timeout)

    def run(self) -> None:
        lost_since: float | None = None
        delay = self.retry_s
        while not self.stopping.is_set():
            try:
                self.source.open()
            except Exception as exc:  # DeviceUnavailable, or anything else: capture goes on
                if not isinstance(exc, DeviceUnavailable):
                    log.exception("capture: opening the audio source failed")
                    self.source.close()
                self.emit(DeviceAbsent(str(exc)))
                self.heartbeat = time.monotonic()
                if self.stopping.wait(delay):
                    break
                delay = next_retry(delay, self.retry_max_s)
                self.heartbeat = time.monotonic()
                continue
            delay = self.retry_s
            self.emit(DeviceOpened())
            self.last_read = self.heartbeat = time.monotonic()
            if lost_since is not None:
                gone = int((time.monotonic() - lost_since) * self.rate)
                self.tap.lost("device_lost", gone, estimated=True)
                lost_since = None
            lost_since = self._read_until_lost()
        self.source.close()

    def _read_until_lost(self) -> float | None:
        """Read until the device goes away (returns when it was last heard) or capture stops."""
        frames = self.source.period_frames
        stalled = False
        while not self.stopping.is_set():
            try:
                data = self.source.read()
            except DeviceStalledError as exc:
                self.heartbeat = time.monotonic()
                if not stalled:
                    stalled = True
                    log.warning("%s", exc)
                    self.emit(DeviceStalled(str(exc)))
                continue
            except Overrun as exc:
                self.overruns += 1
                log.warning("ALSA overrun: about %d frames lost", exc.lost_frames)
                # After a stall the driver's count covers the silent stretch as well.
                self.tap.lost("overrun", exc.lost_frames, exc.estimated)
                self.last_read = self.heartbeat = time.monotonic()
                if stalled:
                    stalled = False
                    self.emit(DeviceResumed())
                continue
            except Exception as exc:  # DeviceLost, or anything else the source did not expect
                if not isinstance(exc, DeviceLostError):
                    log.exception("capture: reading the audio source failed")
                since = self.last_read
                self.source.close()
                self.emit(DeviceLost(str(exc)))
                return since
            now = time.monotonic()
            if stalled:
                stalled = False
                silent = int((now - self.last_read) * self.rate) - frames
                if silent > 0:
                    self.tap.lost("device_stalled", silent, estimated=True)
                self.emit(DeviceResumed())
            self.tap.push(data, frames)
            self.last_read = self.heartbeat = now
        return None
