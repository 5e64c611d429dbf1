"""The capture helper process: owns the ALSA device so the daemon never calls ALSA itself.

Started by `recorder.adapters.alsa_process` as `python -S -m recorder.adapters.alsa_helper`,
with only pyalsaaudio and this package on its path: it imports nothing else it does not need,
which keeps it a few MB (it runs for as long as the daemon does).

Protocol: the daemon writes `o` to stdin to ask for an open; the helper answers on stdout with
records of one kind byte, a little-endian 32-bit payload length and the payload.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import struct
import sys

from recorder.ports.audio import DeviceLost, DeviceUnavailable, Overrun

HEADER = struct.Struct("<cI")
OVERRUN_INFO = struct.Struct("<QB")  # frames lost, estimated
OPENED, FAILED, DATA, OVERRUN, LOST = b"O", b"E", b"D", b"X", b"L"
PR_SET_PDEATHSIG = 1


def _send(kind: bytes, payload: bytes = b"") -> None:
    os.write(1, HEADER.pack(kind, len(payload)))
    data = memoryview(payload)
    while data:
        data = data[os.write(1, data) :]


def main(argv: list[str]) -> int:
    """Open the device when asked on stdin and stream what it records to stdout."""
    # Die with the daemon even while blocked in an open; stop and restart are the daemon's.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    parent, device, rate, channels, fmt, period, periods = argv
    if os.getppid() != int(parent):  # the daemon died before the line above
        return 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Imported here, in the helper process only: the daemon imports this module for its protocol
    # and must not load pyalsaaudio (the device is the helper's).
    from recorder.adapters.alsa import AlsaSource

    source = AlsaSource(device, int(rate), int(channels), fmt, int(period), int(periods))
    try:
        while os.read(0, 1):
            try:
                source.open()
            except DeviceUnavailable as exc:
                _send(FAILED, str(exc).encode())
                continue
            _send(OPENED)
            while True:
                try:
                    data = source.read()
                except Overrun as exc:
                    _send(OVERRUN, OVERRUN_INFO.pack(exc.lost_frames, exc.estimated))
                    continue
                except DeviceLost as exc:
                    source.close()
                    _send(LOST, str(exc).encode())
                    break
                _send(DATA, data)
    except BrokenPipeError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
