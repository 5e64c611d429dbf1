"""The wall clock, and whether the kernel believes it is synchronised.

A Pi has no real-time clock: until NTP (or a GPS, or an RTC hat) sets it, the time is whatever
was saved at shutdown. adjtimex(2) reports TIME_ERROR while the kernel's clock is unsynchronised.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from datetime import UTC, datetime

TIME_ERROR = 5
_TIMEX_SIZE = 256  # struct timex is 208 bytes on 64-bit Linux; room to spare


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def synchronised(self) -> bool:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            buf = ctypes.create_string_buffer(_TIMEX_SIZE)  # modes = 0: read only
            return libc.adjtimex(buf) not in (-1, TIME_ERROR)
        except (OSError, AttributeError):
            return False
