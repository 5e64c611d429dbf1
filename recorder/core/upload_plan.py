"""Upload decisions without I/O: when to try again, what may be deleted, what is due.

Retries back off exponentially with jitter so a fleet of boxes does not hammer a remote that
just came back; an authentication or configuration error waits the longest, since only a
person can fix it. A failed verification sends the session again only when the remote copy is
wrong or missing; one that could not run is tried again on its own. Retention deletes only
sessions verified on the remote, oldest first: an uploaded but unverified one is never chosen,
and one whose transcript is still to come only when the card is short of space.
"""

from __future__ import annotations

from dataclasses import dataclass

PATIENT_KINDS = ("auth", "config")  # a person must act: no tight retry loop
RESEND_KINDS = ("verify", "not_found")  # what a verification can say of the remote copy itself


def retry_delay_s(kind: str, attempt: int, min_s: float, max_s: float, rand: float) -> float:
    """Seconds before attempt `attempt + 1`, `rand` drawn uniformly from [0, 1)."""
    if kind in PATIENT_KINDS:
        return max_s
    ceiling = min(max_s, min_s * 2 ** max(0, attempt - 1))
    return ceiling * (0.5 + rand / 2)  # "equal jitter": never less than half the ceiling


def send_again_after(kind: str) -> bool:
    """After verification raised an error of `kind`: upload the session again?

    Only when the copy on the remote is wrong or missing. An unreachable remote, refused
    credentials or an unexplained failure say nothing about the copy, and re-sending hundreds of
    MB over a link that just failed would only delay every other session.
    """
    return kind in RESEND_KINDS


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
    verified: bool  # verified on the remote (status "verified"; "uploaded" is not)
    bytes: int
    finished_at_s: float | None
    settled: bool = True  # what follows the audio (the transcript) is verified or will not come


def to_delete(
    sessions: list[Stored], free_bytes: int, keep_free_bytes: int, now_s: float, keep_days: float
) -> list[str]:
    """Ids of local copies to delete, oldest first in each group (`sessions` in start order).

    Settled verified sessions older than `keep_days` go (when keep_days > 0); then more of the
    oldest settled verified ones while free space is under `keep_free_bytes`; then, only if
    space is still short, verified ones whose transcript is still to come: the card must have
    room for the next session, whose audio matters more than a transcript of one already safe
    in the archive. An unverified session is never chosen.
    """
    chosen: list[str] = []
    free = free_bytes
    for s in sessions:
        if not (s.verified and s.settled):
            continue
        old = (
            keep_days > 0
            and s.finished_at_s is not None
            and (now_s - s.finished_at_s >= keep_days * 86400)
        )
        if old or free < keep_free_bytes:
            chosen.append(s.id)
            free += s.bytes
    for s in sessions:
        if free >= keep_free_bytes:
            break
        if s.verified and not s.settled:
            chosen.append(s.id)
            free += s.bytes
    return chosen
