"""A virtual ALSA microphone with no sound card: alsa-lib's `file` plugin reading a FIFO.

Used by `session-recorder demo`, the tests and the benchmarks. The null slave hands alsa-lib a
period of silence and the plugin overwrites it with one read() of the FIFO, so the feeder writes
whole periods, each in a single write() into a pipe enlarged to hold it, and only once the pipe
has room for all of it: Linux copies a pipe write atomically only while the whole of it fits.
Into a nearly full pipe it copies a part and sleeps, a read() can take that part alone, and the
plugin pads the rest of the period with silence, shifting every later frame.
"""

from __future__ import annotations

import array
import fcntl
import math
import os
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from recorder.core.formats import FORMATS, SampleFormat

F_SETPIPE_SZ = 1031
F_GETPIPE_SZ = 1032
PIPE_SIZE = 1 << 20
PAGE = 4096  # a pipe counts whole pages, not bytes

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
        self.pipe_size = PIPE_SIZE  # what the kernel granted, read at each open
        self.fd: int | None = None  # the FIFO's write end while open

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
        self.pipe_size = fcntl.fcntl(fd, F_GETPIPE_SZ)
        self.fd = fd
        return fd

    def unread(self) -> int:
        """Bytes written but not yet read (FIONREAD works on a pipe's write end too)."""
        assert self.fd is not None
        buf = array.array("i", [0])
        fcntl.ioctl(self.fd, termios.FIONREAD, buf)
        return buf[0]

    def _wait_for_room(self, size: int) -> bool:
        """Until the pipe can take `size` bytes in one piece; False when stopped meanwhile."""
        while self.unread() + size > self.pipe_size - 2 * PAGE:
            if self.stopping.wait(0.0005):
                return False
        return True

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
                    if not self._wait_for_room(len(chunk)):
                        return
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


# ---- speech-like audio: compresses and encodes like two people talking in a quiet room ----


def _voice_table(f0: float = 120.0, size: int = 2048) -> np.ndarray:
    """One glottal period: harmonics of f0 weighted by three formant-like bumps."""
    phase = np.arange(size) / size * 2 * np.pi
    wave = np.zeros(size)
    for k in range(1, 30):
        f = k * f0
        formants = ((500, 150, 1.0), (1500, 250, 0.5), (2500, 300, 0.25))
        amp = sum(a * np.exp(-(((f - fc) / bw) ** 2)) for fc, bw, a in formants)
        wave += amp / k**0.5 * np.sin(k * phase)
    return wave / np.abs(wave).max()


_VOICE = _voice_table()


def speech_like(
    frames: int, rate: int, channels: int, seed: int = 0, block: int = 1 << 16
) -> Iterator[np.ndarray]:
    """Seeded int16 blocks (n, channels) that compress like a voice in a quiet room.

    A voiced buzz and bursts of noise under a 4 Hz syllable envelope with pauses (5 s of talk
    in every 7), plus a -64 dBFS noise floor that differs per channel, as two real mics would.
    """
    start = 0
    while start < frames:
        n = min(block, frames - start)
        t = (start + np.arange(n)) / rate
        rng = np.random.default_rng([seed, start])
        phase = 120 * t + 3 * np.sin(2 * np.pi * 0.25 * t)
        voiced = _VOICE[((phase % 1.0) * len(_VOICE)).astype(np.int64)]
        syllable = np.floor(t * 4)
        loud = 0.4 + 0.6 * (np.sin(syllable * 12.9898 + seed) * 43758.5453 % 1.0)
        envelope = np.sin(np.pi * (t * 4 % 1.0)) ** 2 * loud * ((t % 7.0) < 5.0)
        x = envelope * (0.25 * voiced + 0.04 * rng.standard_normal(n) * (syllable % 3 == 0))
        out = np.empty((n, channels))
        for c in range(channels):
            out[:, c] = x * (1.0 - 0.2 * c) + 0.0006 * rng.standard_normal(n)
        yield np.clip(np.round(out * 32767), -32768, 32767).astype(np.int16)
        start += n


def speech_periods(
    fmt_name: str, rate: int, channels: int, period_frames: int, count: int, seed: int = 0
) -> Iterator[bytes]:
    """`speech_like` as raw periods in any sample format (16-bit audio in the high bits, as a
    24- or 32-bit interface delivers a quiet room), for the virtual microphone."""
    fmt = FORMATS[fmt_name]
    shift = 8 * fmt.width - 16
    for block in speech_like(count * period_frames, rate, channels, seed, block=period_frames):
        yield encode(block.astype(np.int64) << shift, fmt)
