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


def lower_priority() -> list[str]:
    """Make this process idle-priority for CPU and disk; returns what could be set."""
    done = []
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        done.append("cpu: SCHED_IDLE")
    except (OSError, AttributeError):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, 19)
            done.append("cpu: nice 19")
    number = _IOPRIO_SET.get(platform.machine())
    if number is not None:
        libc = ctypes.CDLL(None, use_errno=True)
        value = _IOPRIO_CLASS_IDLE << _IOPRIO_CLASS_SHIFT
        if libc.syscall(number, _IOPRIO_WHO_PROCESS, 0, value) == 0:
            done.append("io: idle")
    if not done:
        log.warning("could not lower this process's priority")
    return done
