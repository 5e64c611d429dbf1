"""The audio device behind a process boundary: a small capture helper process owns the PCM.

pyalsaaudio opens a PCM with the GIL held, and an open can block inside alsa-lib for as long as
the device pleases (a plugin opening a FIFO nobody writes, a USB interface that stopped
answering, a `hw:` device opened blocking while another program holds it). In the daemon's own
process that would stop every thread: no ctl answer, no LED, no MQTT, no watchdog. So the
daemon never calls ALSA itself. `AlsaProcessSource` runs the capture helper
(`recorder.adapters.alsa_helper`, which imports little beyond pyalsaaudio) and waits for its
words in `select`, which releases the GIL, always with a timeout:

- an open that does not answer within `answer_s` is reported ("does not answer") and waited for
  again at the next try, without spawning another helper;
- an open device that delivers nothing for `stall_s` raises DeviceStalled from `read()`;
- a helper that dies (or is killed) is a lost device; the next `open()` starts a new one.

Each record is read with reads of exactly its size, so a period reaches the tap as the one
bytes object the pipe gave, without copies.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import logging
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import recorder
from recorder.adapters.alsa_helper import (
    DATA,
    FAILED,
    HEADER,
    LOST,
    OPENED,
    OVERRUN,
    OVERRUN_INFO,
)
from recorder.ports.audio import DeviceLost, DeviceStalled, DeviceUnavailable, Overrun

log = logging.getLogger(__name__)

ANSWER_S = 2.0  # how long an open may take before the device is said not to answer
STALL_S = 1.0  # how long an open device may deliver nothing before it is said to be stalled
F_SETPIPE_SZ = 1031
PIPE_SIZE = 1 << 20  # about 5 s of 48 kHz stereo S16: slack for a daemon that is briefly slow


class HelperGone(Exception):
    """The helper process ended; the message says what it last printed."""


class AlsaProcessSource:
    """An AudioSource whose ALSA calls all run in a helper process (see the module docstring)."""

    def __init__(
        self,
        device: str,
        rate: int,
        channels: int,
        fmt: str,
        period_frames: int,
        periods: int = 4,
        answer_s: float = ANSWER_S,
        stall_s: float = STALL_S,
    ) -> None:
        self.device = device
        self.period_frames = period_frames
        self.answer_s = answer_s
        self.stall_s = stall_s
        self._argv = [
            sys.executable, "-S", "-m", "recorder.adapters.alsa_helper", str(os.getpid()), device,
            str(rate), str(channels), fmt, str(period_frames), str(periods),
        ]  # fmt: skip
        self._proc: subprocess.Popen | None = None
        self._asked = False  # an open was asked for and not answered yet
        self._record: _Record | None = None  # the record being read
        self._stderr_tail: list[str] = []
        self._err_buf = b""
        self._stuck: list[subprocess.Popen] = []  # killed helpers not reaped yet

    # ---- the port ---------------------------------------------------------------------------

    def open(self) -> None:
        self._reap()
        if self._proc is None:
            try:
                self._spawn()
            except OSError as exc:  # no memory, no processes left, the interpreter gone
                raise DeviceUnavailable(f"cannot start the capture helper: {exc}") from None
        assert self._proc is not None and self._proc.stdin is not None
        if not self._asked:
            try:
                self._proc.stdin.write(b"o")
                self._proc.stdin.flush()
            except OSError:
                self.close()
                raise DeviceUnavailable(f"the capture helper for '{self.device}' ended") from None
            self._asked = True
        try:
            record = self._next(self.answer_s)
        except HelperGone as exc:
            self.close()
            raise DeviceUnavailable(str(exc)) from None
        if record is None:
            raise DeviceUnavailable(
                f"the audio interface '{self.device}' does not answer: opening it does not "
                "return (waiting for it)"
            )
        kind, payload = record
        self._asked = False
        if kind == OPENED:
            return
        if kind == FAILED:
            raise DeviceUnavailable(payload.decode(errors="replace"))
        self.close()
        raise DeviceUnavailable(f"the capture helper said {kind!r} before opening the device")

    def read(self) -> bytes:
        if self._proc is None:
            raise DeviceLost("device is not open")
        try:
            record = self._next(self.stall_s)
        except HelperGone as exc:
            raise DeviceLost(str(exc)) from None
        if record is None:
            raise DeviceStalled(
                f"the audio interface '{self.device}' is open but delivers no sound"
            )
        kind, payload = record
        if kind == DATA:
            return payload
        if kind == OVERRUN:
            lost, estimated = OVERRUN_INFO.unpack(payload)
            raise Overrun(lost, bool(estimated))
        if kind == LOST:
            raise DeviceLost(payload.decode(errors="replace"))
        raise DeviceLost(f"the capture helper sent {kind!r} while recording")

    def close(self) -> None:
        proc, self._proc = self._proc, None
        self._asked = False
        self._record = None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            proc.kill()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                pipe.close()  # type: ignore[union-attr]
        self._stuck.append(proc)
        self._reap()

    # ---- the helper process -------------------------------------------------------------------

    def _spawn(self) -> None:
        self._stderr_tail = []
        self._err_buf = b""
        self._proc = subprocess.Popen(
            self._argv,
            env=helper_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            close_fds=True,
        )
        assert self._proc.stdout is not None
        with contextlib.suppress(OSError):  # a smaller pipe only means less slack
            fcntl.fcntl(self._proc.stdout.fileno(), F_SETPIPE_SZ, PIPE_SIZE)

    def _reap(self) -> None:
        """Collect killed helpers; one stuck in the kernel is left and tried again later."""
        self._stuck = [p for p in self._stuck if p.poll() is None]

    def _next(self, timeout: float) -> tuple[bytes, bytes] | None:
        """The next record, or None when none came within `timeout` seconds."""
        assert self._proc is not None
        out, err = self._proc.stdout, self._proc.stderr
        assert out is not None and err is not None
        deadline = time.monotonic() + timeout
        if self._record is None:
            self._record = _Record()
        record = self._record
        while not record.done:
            left = deadline - time.monotonic()
            if left <= 0:
                return None  # the part read so far waits for the next call
            readable, _, _ = select.select([out, err], [], [], left)
            if err in readable:
                self._stderr(os.read(err.fileno(), 4096))
            if out in readable:
                chunk = os.read(out.fileno(), record.wanted)
                if not chunk:
                    if _ready(err):
                        self._stderr(os.read(err.fileno(), 4096))
                    said = f": {self._stderr_tail[-1]}" if self._stderr_tail else ""
                    raise HelperGone(f"the capture helper for '{self.device}' ended{said}")
                record.add(chunk)
        self._record = None
        return record.kind, record.payload()

    def _stderr(self, chunk: bytes) -> None:
        """alsa-lib's own messages: kept for the error that follows, logged only for debugging."""
        self._err_buf += chunk
        *lines, self._err_buf = self._err_buf.split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace").strip()
            if line:
                log.debug("capture helper: %s", line)
                self._stderr_tail = [*self._stderr_tail[-4:], line]


def _ready(f) -> bool:
    return bool(select.select([f], [], [], 0)[0])


class _Record:
    """One record being read: its header first, then exactly as many bytes as it says."""

    def __init__(self) -> None:
        self.kind = b""
        self._header = b""
        self._parts: list[bytes] = []
        self.wanted = HEADER.size
        self.done = False

    def add(self, chunk: bytes) -> None:
        self.wanted -= len(chunk)
        if not self.kind:
            self._header += chunk
            if self.wanted == 0:
                self.kind, self.wanted = HEADER.unpack(self._header)
                self.done = self.wanted == 0
            return
        self._parts.append(chunk)
        self.done = self.wanted == 0

    def payload(self) -> bytes:
        return self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)


def helper_env() -> dict[str, str]:
    """The helper runs with `-S` (no site: no .pth files, no editable-install finder, a few MB
    less), so its path is given: pyalsaaudio's folder and this package's."""
    spec = importlib.util.find_spec("alsaaudio")
    folders = [str(Path(recorder.__file__).resolve().parent.parent)]
    if spec is not None and spec.origin:
        folders.insert(0, str(Path(spec.origin).parent))
    if os.environ.get("PYTHONPATH"):
        folders.append(os.environ["PYTHONPATH"])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(folders)}
