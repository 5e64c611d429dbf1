"""Consent on record: what the client allowed for one session, as an append-only history.

The coaching agreement promises that no recording is shared with a mentor, supervisor or
assessor without the client's consent for that recording, that the client may have a copy, and
that the client may ask that none be kept. Each change is a new entry (who recorded it, when,
and how it was obtained), so the manifest keeps an audit trail; what is allowed now is worked
out from the whole history. A damaged entry is reported and blocks sharing: it may have been a
withdrawal.
"""

from __future__ import annotations

from dataclasses import dataclass

from recorder.core.coaching.details import MAX_NAME, DetailsError, clean_name
from recorder.core.inbound import echo, surrogate_problem

ACTIONS = ("allow", "withdraw")
WHATS = ("record", "share", "copy")
MAX_REF = 300
SHOWN_PROBLEMS = 3  # a refusal names the first few damaged entries, and how many more
SHOWN_NAMES = 3  # … and the first few names a consent covers


class ConsentError(ValueError):
    """A consent change that cannot be recorded, or a share it does not allow."""


@dataclass(frozen=True)
class Entry:
    at: str
    action: str
    what: str
    ref: str
    to: str | None = None
    source: str = "cli"

    def to_json(self) -> dict:
        return {"at": self.at, "action": self.action, "what": self.what, "to": self.to,
                "ref": self.ref, "source": self.source}  # fmt: skip


@dataclass(frozen=True)
class Standing:
    """What the history allows now. `share_to` None with `share` True: anyone the coach names."""

    record: bool = True
    share: bool = False
    share_to: tuple[str, ...] | None = None
    copy: bool = False

    def to_json(self) -> dict:
        return {
            "record": self.record,
            "share": self.share,
            "share_to": list(self.share_to) if self.share_to is not None else None,
            "copy": self.copy,
        }


def new_entry(action: str, what: str, ref: object, to: object, at: str, source: str) -> Entry:
    """A checked entry for `consent --allow/--withdraw`; the reference is required."""
    if action not in ACTIONS:
        raise ConsentError(f"action must be one of {', '.join(ACTIONS)}, not {echo(action)}")
    allowed = WHATS if action == "withdraw" else ("share", "copy")
    if what not in allowed:
        raise ConsentError(f"--{action} takes one of {', '.join(allowed)}, not {echo(what)}")
    try:
        reference = clean_name(ref, "ref", MAX_REF)
        name = clean_name(to, "to") or None
    except DetailsError as exc:
        raise ConsentError(str(exc)) from None
    if not reference:
        raise ConsentError(
            'say how consent was obtained or withdrawn: --ref "signed release 2026-12-01"'
        )
    if name is not None and what != "share":
        raise ConsentError(f"--to names who may receive a share; it does not apply to {what!r}")
    return Entry(at, action, what, reference, name, source)


def _entry(raw: object, n: int) -> Entry:
    if not isinstance(raw, dict):
        raise ConsentError(f"consent entry {n}: not an object ({type(raw).__name__})")
    missing = [k for k in ("at", "action", "what", "ref") if not isinstance(raw.get(k), str)]
    if missing:
        raise ConsentError(f"consent entry {n}: {', '.join(missing)} missing or not text")
    if raw["action"] not in ACTIONS:
        raise ConsentError(f"consent entry {n}: unknown action {echo(raw['action'], 40)}")
    if raw["what"] not in WHATS:
        raise ConsentError(f"consent entry {n}: unknown permission {echo(raw['what'], 40)}")
    to = raw.get("to")
    if to is not None and not isinstance(to, str):
        raise ConsentError(f"consent entry {n}: to must be text or null")
    source = raw.get("source")
    if not isinstance(source, str):  # only shown: an odd source does not make the entry unsure
        source = "" if source is None else echo(source, 40)
    for key, value in (("at", raw["at"]), ("ref", raw["ref"]), ("to", to), ("source", source)):
        problem = surrogate_problem(value or "", key)
        if problem is not None:  # it could be neither shown nor written back
            raise ConsentError(f"consent entry {n}: {problem}")
    return Entry(raw["at"], raw["action"], raw["what"], raw["ref"], to, source)


def read_history(raw: object) -> tuple[list[Entry], list[str]]:
    """The readable entries in order, and one problem per damaged entry (numbered from 1)."""
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], [f"consent: not a list ({type(raw).__name__}); the history is unreadable"]
    entries: list[Entry] = []
    problems: list[str] = []
    for n, item in enumerate(raw, 1):
        try:
            entries.append(_entry(item, n))
        except ConsentError as exc:
            problems.append(str(exc))
    return entries, problems


def standing(entries: list[Entry]) -> Standing:
    """What the history allows now: each entry changes one permission, the latest wins.

    Share consent may name its recipients: allowing share to Alex and then to Kim allows both;
    an allow without a name allows anyone; withdrawing share withdraws it for everyone.
    """
    record, share, copy = True, False, False
    share_to: set[str] | None = set()
    for e in entries:
        allow = e.action == "allow"
        if e.what == "record":
            record = allow
        elif e.what == "copy":
            copy = allow
        elif allow:
            share = True
            if e.to is None:
                share_to = None
            elif share_to is not None:
                share_to.add(e.to)
        else:
            share, share_to = False, set()
    names = None if share_to is None else tuple(sorted(share_to, key=str.casefold))
    return Standing(record, share, names if share else (), copy)


def may_share(
    entries: list[Entry], problems: list[str], to: str, client: str
) -> tuple[str, str | None]:
    """The purpose of a share to `to` ("copy" for the session's client, else "share") and the
    reason it is refused, or None when consent allows it."""
    purpose = "copy" if client and to.casefold() == client.casefold() else "share"
    if problems:
        shown = "; ".join(problems[:SHOWN_PROBLEMS])
        if len(problems) > SHOWN_PROBLEMS:
            shown += f"; and {len(problems) - SHOWN_PROBLEMS} more"
        return purpose, (
            f"the consent record is damaged ({shown}); nothing is shared "
            "until it is mended, since a damaged entry may have been a withdrawal"
        )
    s = standing(entries)
    if not s.record:
        return purpose, "the client withdrew consent to keep this recording"
    if purpose == "copy":
        if not s.copy:
            return purpose, (
                f"{_shown(to)} is this session's client and has not asked for a copy: record it "
                "first with `consent SESSION --allow copy --ref …`"
            )
        return purpose, None
    if not s.share:
        return purpose, (
            "the client has not consented to sharing this recording: record their consent "
            "first with `consent SESSION --allow share --to NAME --ref …`"
        )
    if s.share_to is not None and to.casefold() not in {n.casefold() for n in s.share_to}:
        names = ", ".join(_shown(n) for n in s.share_to[:SHOWN_NAMES])
        more = len(s.share_to) - SHOWN_NAMES
        if more > 0:
            names += f" and {more} more"
        return purpose, f"the client consented to sharing with {names} only, not {_shown(to)}"
    return purpose, None


def _shown(name: str) -> str:
    """A name as a message shows it: a stored history may hold one far longer than a request
    may give (a damaged or hand-edited manifest), and a refusal must stay a sentence."""
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"
