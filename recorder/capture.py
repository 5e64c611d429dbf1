"""The capture thread: read ALSA, hand each block to the tap, nothing else.

It never touches the disk, so a slow card cannot make it miss a read. A device that goes away is
reopened every `retry_s`; the time it was gone becomes a gap in the session.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from recorder.core.state import DeviceAbsent, DeviceLost, DeviceOpened, Event
from recorder.ports import AudioSource, DeviceUnavailable, Overrun
from recorder.ports import DeviceLost as DeviceLostError
from recorder.tap import CaptureTap

log = logging.getLogger(__name__)


class CaptureThread(threading.Thread):
    def __init__(
        self,
        source: AudioSource,
        tap: CaptureTap,
        emit: Callable[[Event], None],
        rate: int,
        retry_s: float = 1.0,
    ) -> None:
        super().__init__(name="capture", daemon=True)
        self.source = source
        self.tap = tap
        self.emit = emit
        self.rate = rate
        self.retry_s = retry_s
        self.stopping = threading.Event()
        self.overruns = 0  # written only by this thread; read by status (an int is atomic)
        self.last_read = 0.0  # monotonic time of the last good read
        self.heartbeat = time.monotonic()  # the loop is alive: every read and every retry

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.join(timeout)

    def run(self) -> None:
        lost_since: float | None = None
        frames = self.source.period_frames
        while not self.stopping.is_set():
            try:
                self.source.open()
            except DeviceUnavailable as exc:
                self.emit(DeviceAbsent(str(exc)))
                if self.stopping.wait(self.retry_s):
                    break
                self.heartbeat = time.monotonic()
                continue
            self.emit(DeviceOpened())
            if lost_since is not None:
                gone = int((time.monotonic() - lost_since) * self.rate)
                self.tap.lost("device_lost", gone, estimated=True)
                lost_since = None
            while not self.stopping.is_set():
                try:
                    data = self.source.read()
                except Overrun as exc:
                    self.overruns += 1
                    log.warning("ALSA overrun: about %d frames lost", exc.lost_frames)
                    self.tap.lost("overrun", exc.lost_frames, exc.estimated)
                    continue
                except DeviceLostError as exc:
                    lost_since = time.monotonic()
                    self.source.close()
                    self.emit(DeviceLost(str(exc)))
                    break
                self.tap.push(data, frames)
                self.last_read = self.heartbeat = time.monotonic()
        self.source.close()
