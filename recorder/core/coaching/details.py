"""Session details a coach gives after the fact: client, title, number and notes.

Sessions are ids such as `000001-20261202T211858Z-u`; a coach with ten clients needs names. ICF
asks that only first names or pseudonyms are used, so the client is a short name, not a record.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from recorder.core.inbound import echo, surrogate_problem

MAX_NAME = 80  # a first name or a pseudonym, or a title
MAX_NOTES = 4000
MAX_NUMBER = 100_000
DETAIL_FIELDS = ("client", "title", "number", "notes")


class DetailsError(ValueError):
    """A detail that cannot be stored; the message names the field and what is wrong."""


def _text(value: str, field: str) -> None:
    """Refuse an unpaired surrogate: it passes every category check below but no JSON encoder,
    log or manifest write takes it (the phone's `next` answered ok and the details were lost)."""
    problem = surrogate_problem(value, field)
    if problem is not None:
        raise DetailsError(problem)


@dataclass(frozen=True)
class Details:
    client: str = ""
    title: str = ""
    number: int | None = None
    notes: str = ""

    def to_json(self) -> dict:
        return {"client": self.client, "title": self.title, "number": self.number,
                "notes": self.notes}  # fmt: skip


def clean_name(value: object, field: str, limit: int = MAX_NAME) -> str:
    """One line of text: control characters and line breaks refused, spaces trimmed."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DetailsError(f"{field} must be text, not {type(value).__name__}")
    _text(value, field)
    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")), None)
    if bad is not None:
        raise DetailsError(
            f"{field} holds the control character U+{ord(bad):04X} at position "
            f"{value.index(bad) + 1}; use plain text on one line"
        )
    text = " ".join(value.split())
    if len(text) > limit:
        raise DetailsError(f"{field} is {len(text)} characters; at most {limit} are kept")
    return text


def clean_notes(value: object) -> str:
    """Free notes: several lines allowed, other control characters refused, bounded."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DetailsError(f"notes must be text, not {type(value).__name__}")
    _text(value, "notes")
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    bad = next(
        (c for c in text if c not in "\n\t" and unicodedata.category(c) in ("Cc", "Cf")), None
    )
    if bad is not None:
        raise DetailsError(f"notes hold the control character U+{ord(bad):04X}; use plain text")
    text = text.strip()
    if len(text) > MAX_NOTES:
        raise DetailsError(f"notes are {len(text)} characters; at most {MAX_NOTES} are kept")
    return text


def clean_number(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise DetailsError(f"number must be a whole number, not {echo(value)}")
    if not 1 <= value <= MAX_NUMBER:
        raise DetailsError(f"number {echo(value)} is outside 1..{MAX_NUMBER}")
    return value


def clean_changes(changes: dict) -> dict:
    """The given fields of a label request, each checked; at least one is needed."""
    unknown = set(changes) - set(DETAIL_FIELDS)
    if unknown:
        raise DetailsError(f"unknown detail(s) {echo(', '.join(sorted(unknown)))}")
    if not changes:
        raise DetailsError("give at least one of client, title, number or notes")
    out: dict = {}
    for key, value in changes.items():
        if key == "notes":
            out[key] = clean_notes(value)
        elif key == "number":
            out[key] = clean_number(value)
        else:
            out[key] = clean_name(value, key)
    return out


def read_details(raw: object) -> tuple[Details, str | None]:
    """The stored details, and a problem when what is stored is damaged (never dropped quietly:
    the problem is shown, the session keeps its id as its name)."""
    if raw is None:
        return Details(), None
    if not isinstance(raw, dict):
        return Details(), f"details: not an object ({type(raw).__name__})"
    try:
        return Details(
            client=clean_name(raw.get("client"), "client"),
            title=clean_name(raw.get("title"), "title"),
            number=clean_number(raw.get("number")),
            notes=clean_notes(raw.get("notes")),
        ), None
    except DetailsError as exc:
        return Details(), f"details: {exc}"


def apply_changes(raw: object, changes: dict, now: str) -> dict:
    """The stored details with `changes` (already cleaned) applied."""
    current, _ = read_details(raw)
    merged = {**current.to_json(), **changes, "updated_at": now}
    return merged


def when(started_at: str | None) -> str:
    """`3 Dec 2026 20:18` (the box's clock as recorded), or the raw text when unreadable."""
    if not started_at:
        return "unknown date"
    try:
        t = datetime.fromisoformat(started_at)
    except ValueError:
        return started_at
    return f"{t.day} {t:%b %Y %H:%M}"


def display_name(details: Details, started_at: str | None) -> str:
    """What a coach reads instead of an id: `Sam · Goals review`, `Sam · #3`, else the date."""
    label = details.title or (f"#{details.number}" if details.number else "")
    if details.client and label:
        return f"{details.client} · {label}"
    if details.client or label:
        return f"{details.client or label} · {when(started_at)}"
    return when(started_at)
