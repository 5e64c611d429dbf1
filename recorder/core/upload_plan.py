"""Upload decisions without I/O: when to try again, what may be deleted, what is due.

Retries back off exponentially with jitter so a fleet of boxes does not hammer a remote that
just came back; an authentication or configuration error waits the longest, since only a
person can fix it. Retention deletes only sessions verified on the remote, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass

PATIENT_KINDS = ("auth", "config")  # a person must act: no tight retry loop


def retry_delay_s(kind: str, attempt: int, min_s: float, max_s: float, rand: float) -> float:
    """Seconds before attempt `attempt + 1`, `rand` drawn uniformly from [0, 1)."""
    if kind in PATIENT_KINDS:
        return max_s
    ceiling = min(max_s, min_s * 2 ** max(0, attempt - 1))
    return ceiling * (0.5 + rand / 2)  # "equal jitter": never less than half the ceiling


def is_due(finished_at_s: float | None, now_s: float, delay_s: float) -> bool:
    """A finished session may leave the box once the upload delay has passed.

    A clock that moved backwards (a Pi setting its time from NTP) must not hold a session
    back for ever: a finish time in the future counts as passed.
    """
    if delay_s <= 0 or finished_at_s is None:
        return True
    return now_s - finished_at_s >= delay_s or now_s < finished_at_s


@dataclass(frozen=True)
class Stored:
    """What retention needs to know of a session on the box."""

    id: str
    verified: bool  # uploaded and verified on the remote
    bytes: int
    finished_at_s: float | None


def to_delete(
    sessions: list[Stored], free_bytes: int, keep_free_bytes: int, now_s: float, keep_days: float
) -> list[str]:
    """Ids of local copies to delete, oldest first (`sessions` must be in start order).

    Verified sessions older than `keep_days` go (when keep_days > 0); then more of the oldest
    verified ones while free space is under `keep_free_bytes`. Nothing else is ever chosen.
    """
    chosen: list[str] = []
    free = free_bytes
    for s in sessions:
        if not s.verified:
            continue
        old = (
            keep_days > 0
            and s.finished_at_s is not None
            and (now_s - s.finished_at_s >= keep_days * 86400)
        )
        if old or free < keep_free_bytes:
            chosen.append(s.id)
            free += s.bytes
    return chosen
