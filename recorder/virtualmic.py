"""A virtual ALSA microphone with no sound card: alsa-lib's `file` plugin reading a FIFO.

Used by `session-recorder demo`, the tests and the benchmarks. The null slave hands alsa-lib a
period of silence and the plugin overwrites it with one read() of the FIFO, so the feeder writes
whole periods, each in a single write() into a pipe enlarged to hold it.
"""

from __future__ import annotations

import fcntl
import math
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from recorder.core.formats import FORMATS, SampleFormat

F_SETPIPE_SZ = 1031
PIPE_SIZE = 1 << 20

ASOUNDRC = (
    'pcm.{name} {{ type file  slave.pcm "null"  file "/dev/null"  infile "{infile}"  '
    'format "raw" }}\n'
)


class VirtualMic:
    """An ALSA PCM named `name`, defined in `<home>/.asoundrc`, that captures from `infile`.

    alsa-lib reads `~/.asoundrc` once per process, so a process that uses it must have HOME set
    to `home` before its first ALSA call (`env()` gives such an environment).
    """

    def __init__(self, home: Path, name: str = "virtualmic", infile: Path | None = None) -> None:
        self.home = home
        self.name = name
        self.infile = infile or home / "virtualmic.fifo"

    def install(self, fifo: bool = True) -> VirtualMic:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / ".asoundrc").write_text(ASOUNDRC.format(name=self.name, infile=self.infile))
        if fifo:
            self.make_fifo()
        return self

    def make_fifo(self) -> None:
        if self.infile.exists() or self.infile.is_symlink():
            self.infile.unlink()
        os.mkfifo(self.infile)

    def env(self) -> dict[str, str]:
        return {**os.environ, "HOME": str(self.home)}


class Feeder(threading.Thread):
    """Writes periods into the FIFO, paced at real time or as fast as the reader takes them.

    `record` keeps every byte written so a test can compare the recording with it exactly.
    After the chunks run out the FIFO stays open (the reader blocks instead of reading
    silence) until `stop()`.
    """

    def __init__(
        self,
        fifo: Path,
        chunks: Iterator[bytes],
        period_s: float | None,
        record: bool = False,
        reconnect: bool = False,
    ) -> None:
        super().__init__(name="virtualmic-feeder", daemon=True)
        self.fifo = fifo
        self.chunks = chunks
        self.period_s = period_s
        self.recorded = bytearray() if record else None
        self.reconnect = reconnect  # reopen the FIFO when the reader closes it (an "unplug")
        self.reconnects = 0
        self.written = 0  # bytes
        self.stopping = threading.Event()
        self.paused = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BrokenPipeError:
            pass  # the reader went away: the recorder stopped
        except BaseException as exc:  # reported to the test or demo that owns the feeder
            self.error = exc

    def _open(self) -> int:
        fd = os.open(self.fifo, os.O_WRONLY)
        fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)
        return fd

    def _run(self) -> None:
        fd = self._open()
        try:
            start = time.monotonic()
            for sent, chunk in enumerate(self.chunks):
                if self.stopping.is_set():
                    return
                while self.paused.is_set() and not self.stopping.wait(0.01):
                    start = time.monotonic() - sent * (self.period_s or 0)
                if self.period_s:
                    delay = start + sent * self.period_s - time.monotonic()
                    if delay > 0 and self.stopping.wait(delay):
                        return
                while True:
                    try:
                        os.write(fd, chunk)
                        break
                    except BrokenPipeError:
                        if not self.reconnect:
                            raise
                        os.close(fd)
                        fd = self._open()  # blocks until the device is "plugged in" again
                        self.reconnects += 1
                        start = time.monotonic() - sent * (self.period_s or 0)
                if self.recorded is not None:
                    self.recorded += chunk
                self.written += len(chunk)
            self.stopping.wait()
        finally:
            os.close(fd)

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)


def random_periods(
    fmt: SampleFormat, channels: int, period_frames: int, count: int | None, seed: int = 1
) -> Iterator[bytes]:
    """Random samples: any dropped, repeated or reordered frame shows in a comparison."""
    rng = np.random.default_rng(seed)
    size = period_frames * channels * fmt.width
    n = 0
    while count is None or n < count:
        yield rng.integers(0, 256, size=size, dtype=np.uint8).tobytes()
        n += 1


def demo_periods(
    fmt_name: str, rate: int, channels: int, period_frames: int, count: int | None = None
) -> Iterator[bytes]:
    """A signal you can recognise by ear and in a spectrum: a 440 Hz tone at -12 dBFS with a
    0.1 s beep at the start of every second, its pitch stepping 800, 900, ... 1200 Hz and round
    again, so neighbouring seconds (and segments) differ. The same on every channel.
    """
    fmt = FORMATS[fmt_name]
    amp = fmt.full_scale * 10 ** (-12 / 20)
    frame = 0
    n = 0
    while count is None or n < count:
        t = (np.arange(period_frames) + frame) / rate
        pitch = 800 + 100 * (np.floor(t) % 5)
        tone = np.where(
            (t % 1.0) < 0.1, np.sin(2 * math.pi * pitch * t), np.sin(2 * math.pi * 440 * t)
        )
        samples = np.repeat((tone * amp).astype(np.int64)[:, None], channels, axis=1)
        yield encode(samples, fmt)
        frame += period_frames
        n += 1


def encode(samples: np.ndarray, fmt: SampleFormat) -> bytes:
    """(frames, channels) integers as raw little-endian bytes in `fmt`."""
    flat = samples.reshape(-1)
    if fmt.width == 2:
        return flat.astype("<i2").tobytes()
    if fmt.width == 4:
        return flat.astype("<i4").tobytes()
    wide = flat.astype("<i4").view(np.uint8).reshape(-1, 4)
    return wide[:, :3].tobytes()
