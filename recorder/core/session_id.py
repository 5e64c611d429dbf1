"""Session ids that sort by start and stay unique when the clock is wrong.

A Pi without a real-time clock boots with an old time, so the wall clock alone can neither order
nor separate sessions. An id is `NNNNNN-YYYYMMDDTHHMMSSZ`: a sequence number kept on the
storage (never reused, so ids sort by start) followed by the wall time for people, with `-u`
appended when the clock was not synchronised. Only `[0-9A-Za-z-]`: safe in file names and shells.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

# ASCII digits only (`\d` and `str.isdigit` take `١٢٣٤٥٦` too), and a bounded sequence: an id
# of 300 digits would be a file name the kernel refuses (ENAMETOOLONG) wherever it is looked up.
MAX_SEQ_DIGITS = 64
ID_RE = re.compile(
    rf"(?P<seq>[0-9]{{6,{MAX_SEQ_DIGITS}}})-(?P<time>[0-9]{{8}}T[0-9]{{6}}Z)(?P<unsynced>-u)?",
    re.ASCII,
)


def make_id(seq: int, wall: datetime, clock_synced: bool) -> str:
    stamp = wall.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{seq:06d}-{stamp}{'' if clock_synced else '-u'}"


def sequence_of(session_id: str) -> int | None:
    m = ID_RE.fullmatch(session_id)
    return int(m["seq"]) if m else None


def is_valid_id(session_id: object) -> bool:
    """Whether `session_id` is an id this box could have made (anything else is refused)."""
    return isinstance(session_id, str) and ID_RE.fullmatch(session_id) is not None


def next_sequence(stored: int | None, existing_ids: Iterable[str]) -> int:
    """One more than anything used before, whether the counter file or a folder remembers it."""
    seen = [s for s in (sequence_of(i) for i in existing_ids) if s is not None]
    return max([stored or 0, *seen]) + 1
