"""Putting the calling process behind recording: idle CPU scheduling and idle disk I/O.

SCHED_IDLE runs a process only when no normal one wants the CPU, which is stronger than any
nice value: the capture and writer threads always go first. The I/O class "idle" does the
same for the card (CFQ/BFQ honour it; with other schedulers it is harmless).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import platform

log = logging.getLogger(__name__)

# ioprio_set has no wrapper in Python or glibc: its number differs per architecture.
_IOPRIO_SET = {"x86_64": 251, "aarch64": 30, "armv7l": 314, "armv6l": 314, "i686": 289}
_IOPRIO_WHO_PROCESS = 1
_IOPRIO_CLASS_IDLE = 3
_IOPRIO_CLASS_SHIFT = 13


def lower_priority(nice: int | None = None) -> list[str]:
    """Make this process idle-priority for CPU and disk; returns what could be set.

    `nice`: a plain nice value instead of SCHED_IDLE, for a process that must still answer
    while lower-priority work (encoding, uploads at nice 10) keeps the CPU busy.
    """
    done = []
    if nice is None:
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            done.append("cpu: SCHED_IDLE")
        except (OSError, AttributeError):
            nice = 19
    if nice is not None:
        with contextlib.suppress(OSError):
            level = max(nice, os.getpriority(os.PRIO_PROCESS, 0))  # never raise it back
            os.setpriority(os.PRIO_PROCESS, 0, level)
            done.append(f"cpu: nice {level}")
    number = _IOPRIO_SET.get(platform.machine())
    if number is not None:
        libc = ctypes.CDLL(None, use_errno=True)
        value = _IOPRIO_CLASS_IDLE << _IOPRIO_CLASS_SHIFT
        if libc.syscall(number, _IOPRIO_WHO_PROCESS, 0, value) == 0:
            done.append("io: idle")
    if not done:
        log.warning("could not lower this process's priority")
    return done
