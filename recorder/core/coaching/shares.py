"""Shared copies: which files a share holds, when it expires, and which copies must go.

A share is a plain copy of some of a session's files in the coach's share remote, under an
unguessable folder, with a link where the backend makes one. Its entry in the manifest stays
after the copy is removed (revoked, expired or consent withdrawn): that is the record of who
had what.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from recorder.core.coaching.consent import Standing
from recorder.core.inbound import echo, surrogate_problem

WHATS = ("mp3", "flac", "transcript", "all")
TRANSCRIPT_FILES = ("transcript.docx", "transcript.txt", "transcript.vtt")
FOREVER = ("0", "never")
_EXPIRE = re.compile(r"([0-9]{1,5})\s*([hdw])", re.ASCII)  # `١٤d` is not an expiry
_UNIT_S = {"h": 3600, "d": 86400, "w": 7 * 86400}


class ShareError(ValueError):
    """A share request that cannot be honoured; the message says what is wrong."""


@dataclass(frozen=True)
class Share:
    id: str
    to: str
    purpose: str
    what: str
    files: tuple[str, ...]
    remote: str
    created_at: str
    expires_at: str | None = None
    link: str | None = None
    link_expires_at: str | None = None
    link_note: str | None = None
    removed_at: str | None = None
    removed: str | None = None

    @property
    def active(self) -> bool:
        return self.removed_at is None

    def to_json(self) -> dict:
        return {
            "id": self.id, "to": self.to, "purpose": self.purpose, "what": self.what,
            "files": list(self.files), "remote": self.remote, "link": self.link,
            "link_expires_at": self.link_expires_at, "link_note": self.link_note,
            "created_at": self.created_at, "expires_at": self.expires_at,
            "removed_at": self.removed_at, "removed": self.removed,
        }  # fmt: skip


def _split(remote: str) -> tuple[str, list[str]]:
    name, _, path = remote.partition(":")
    return name, [p for p in path.split("/") if p]


def overlaps(a: str, b: str) -> bool:
    """Whether two rclone `remote:path`s are the same folder or one holds the other."""
    (na, pa), (nb, pb) = _split(a), _split(b)
    if na != nb:
        return False
    n = min(len(pa), len(pb))
    return pa[:n] == pb[:n]


def folder_for(remote: str, token: str) -> str:
    """The share's folder under `remote:path`: `sr-<token>`, unguessable with a random token."""
    name = f"sr-{token}"
    return f"{remote}{name}" if remote.endswith(":") else f"{remote.rstrip('/')}/{name}"


def parse_expire(text: str | None) -> int | None:
    """`14d`, `36h`, `2w` as seconds; `0` or `never` as None (the copy stays until revoked)."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise ShareError(f"expiry {echo(text)}: write it as text such as 14d")
    problem = surrogate_problem(text, "the expiry")
    if problem is not None:
        raise ShareError(problem)
    t = text.strip().lower()
    if t in FOREVER:
        return None
    m = _EXPIRE.fullmatch(t)
    if m is None or int(m.group(1)) == 0:
        raise ShareError(
            f"expiry {echo(text)}: write a number of hours, days or weeks: 36h, 14d, 2w"
        )
    return int(m.group(1)) * _UNIT_S[m.group(2)]


def check_expire(seconds: int | None, max_seconds: int | None) -> None:
    if max_seconds is None:
        return
    if seconds is None:
        raise ShareError(f"a share must expire within {describe(max_seconds)} on this box")
    if seconds > max_seconds:
        raise ShareError(
            f"expiry {describe(seconds)} is longer than this box allows ({describe(max_seconds)})"
        )


def describe(seconds: int) -> str:
    if seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day{'s' if days != 1 else ''}"
    hours = round(seconds / 3600)
    return f"{hours} hour{'s' if hours != 1 else ''}"


def files_for(what: str, present: set[str], flac: str, mp3: str) -> list[str]:
    """The files a share of `what` holds, from those `present` in the session folder."""
    if what not in WHATS:
        raise ShareError(f"what to share: one of {', '.join(WHATS)}, not {echo(what)}")
    wanted = {
        "mp3": [mp3],
        "flac": [flac],
        "transcript": list(TRANSCRIPT_FILES),
        "all": [mp3, flac, *TRANSCRIPT_FILES],
    }[what]
    have = [f for f in wanted if f in present]
    if not have:
        kind = "a transcript" if what == "transcript" else f"the {what} file"
        if what == "all":
            kind = "any file to share"
        raise ShareError(f"the session has no {kind} yet")
    return have


def _share(raw: object, n: int) -> Share:
    if not isinstance(raw, dict):
        raise ShareError(f"share entry {n}: not an object")
    need = ("id", "to", "purpose", "what", "remote", "created_at")
    missing = [k for k in need if not isinstance(raw.get(k), str)]
    files = raw.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        missing.append("files")
    if missing:
        raise ShareError(f"share entry {n}: {', '.join(missing)} missing or not text")
    optional = ("expires_at", "link", "link_expires_at", "link_note", "removed_at", "removed")
    bad = [k for k in optional if raw.get(k) is not None and not isinstance(raw.get(k), str)]
    if bad:
        raise ShareError(f"share entry {n}: {', '.join(bad)} must be text or null")
    texts = [(k, raw.get(k)) for k in (*need, *optional)] + [("files", f) for f in files]
    for key, value in texts:
        problem = surrogate_problem(value or "", key)
        if problem is not None:  # could be neither shown nor written back
            raise ShareError(f"share entry {n}: {problem}")
    return Share(
        raw["id"], raw["to"], raw["purpose"], raw["what"], tuple(files), raw["remote"],
        raw["created_at"], *(raw.get(k) for k in optional),
    )  # fmt: skip


def read_shares(raw: object) -> tuple[list[Share], list[str]]:
    """The readable share entries in order, and one problem per damaged one."""
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], [f"shares: not a list ({type(raw).__name__})"]
    shares, problems = [], []
    for n, item in enumerate(raw, 1):
        try:
            shares.append(_share(item, n))
        except ShareError as exc:
            problems.append(str(exc))
    return shares, problems


def expires_at(now: datetime, seconds: int | None) -> str | None:
    return None if seconds is None else (now + timedelta(seconds=seconds)).isoformat("T", "seconds")


def is_expired(share: Share, now: datetime) -> bool:
    if not share.active or share.expires_at is None:
        return False
    try:
        return datetime.fromisoformat(share.expires_at) <= now
    except (ValueError, TypeError):  # TypeError: a time without its zone, written by hand
        return True  # an unreadable expiry is treated as passed: the copy must not linger


def to_remove(shares: list[Share], now: datetime, purposes: set[str]) -> list[tuple[Share, str]]:
    """Active shares to delete now and why: expired, or of a purpose whose consent is gone."""
    out = []
    for s in shares:
        if not s.active:
            continue
        if s.purpose in purposes:
            out.append((s, "consent withdrawn"))
        elif is_expired(s, now):
            out.append((s, "expired"))
    return out


def withdrawn_purposes(now: Standing) -> set[str]:
    """Purposes whose active copies consent no longer covers."""
    gone: set[str] = set()
    if not now.record or not now.copy:
        gone.add("copy")
    if not now.record or not now.share:
        gone.add("share")
    return gone


def mark_removed(raw: list, share_id: str, at: str, why: str) -> bool:
    """Record in the stored list that a share's copy is gone; False when no such active share."""
    for item in raw:
        if isinstance(item, dict) and item.get("id") == share_id and item.get("removed_at") is None:
            item["removed_at"] = at
            item["removed"] = why
            return True
    return False
