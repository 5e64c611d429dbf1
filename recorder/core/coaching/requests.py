"""The coach's requests after the stop (label, consent, share…), checked like every request.

Used by the control socket and MQTT alike, so the phone page meets the same checks as ctl: a
request becomes a Query with clean arguments, or a RequestError saying what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from recorder.core.coaching.consent import ConsentError, new_entry
from recorder.core.coaching.details import DETAIL_FIELDS, DetailsError, clean_changes, clean_name
from recorder.core.coaching.shares import WHATS, ShareError, parse_expire
from recorder.core.inbound import echo
from recorder.core.manifest import MAX_FRAME, MAX_SESSION_DAYS
from recorder.core.session_id import is_valid_id
from recorder.core.transcript.edits import EditError, read_ops

COACH_FIELDS = {
    "label": {"session", *DETAIL_FIELDS},
    "next": {"client", "title"},
    "label_marker": {"session", "marker", "label", "frame"},
    "bookmark": {"session", "seconds", "label"},
    "transcript_edit": {"session", "base", "ops"},
    "proofread": {"session", "done", "revision"},
    "consent": {"session", "allow", "withdraw", "to", "ref"},
    "share": {"session", "to", "what", "expire"},
    "revoke": {"session", "share"},
    "consent_history": {"session"},
}
MAX_SHARE_ID = 40
MAX_SESSION_S = MAX_SESSION_DAYS * 86400
MAX_REVISION = 1_000_000
SHARE_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_SHARE_ID}}}")  # made by secrets.token_hex


class CoachRequestError(ValueError):
    pass


def _session(payload: dict, cmd: str) -> str:
    session = payload.get("session")
    if not isinstance(session, str) or not is_valid_id(session):
        raise CoachRequestError(f"{cmd!r} needs a session id, not {echo(session)}")
    return session


def coach_args(cmd: str, payload: dict) -> tuple[str | None, dict]:
    """The session and checked arguments of a coach request (the `cmd` is already known)."""
    try:
        return _args(cmd, payload)
    except (DetailsError, ConsentError, ShareError, EditError) as exc:
        raise CoachRequestError(f"{cmd!r}: {exc}") from None


def _args(cmd: str, p: dict) -> tuple[str | None, dict]:
    check = _CHECKS.get(cmd)
    if check is None:
        raise CoachRequestError(f"unknown command {echo(cmd)}")
    return check(p)


def _label(p: dict) -> tuple[str | None, dict]:
    changes = {k: p[k] for k in DETAIL_FIELDS if k in p}
    return _session(p, "label"), clean_changes(changes)


def _next(p: dict) -> tuple[str | None, dict]:
    return None, {k: clean_name(p.get(k), k) for k in ("client", "title")}


def _label_marker(p: dict) -> tuple[str | None, dict]:
    n = p.get("marker")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise CoachRequestError(f"'label_marker' needs marker = 1, 2, …, not {echo(n)}")
    args = {"marker": n, "label": clean_name(p.get("label"), "label")}
    if "frame" in p:  # the marker's frame as the page saw it: a stale number is refused
        args["frame"] = _frame(p.get("frame"), "label_marker")
    return _session(p, "label_marker"), args


def _frame(value: object, cmd: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_FRAME:
        raise CoachRequestError(
            f"{cmd!r}: frame is the marker's frame (0, 1, …), not {echo(value)}"
        )
    return value


def _bookmark(p: dict) -> tuple[str | None, dict]:
    at = p.get("seconds")
    if isinstance(at, bool) or not isinstance(at, int | float) or not 0 <= at <= MAX_SESSION_S:
        raise CoachRequestError(f"'bookmark' needs seconds = where in the session, not {echo(at)}")
    return _session(p, "bookmark"), {
        "seconds": float(at),
        "label": clean_name(p.get("label"), "label"),
    }


def _revision(value: object, cmd: str, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_REVISION:
        raise CoachRequestError(
            f"{cmd!r} needs {field} = the transcript revision it was made on (0 = the engine's), "
            f"not {echo(value)}"
        )
    return value


def _transcript_edit(p: dict) -> tuple[str | None, dict]:
    base = _revision(p.get("base"), "transcript_edit", "base")
    return _session(p, "transcript_edit"), {"base": base, "ops": read_ops(p.get("ops"))}


def _proofread(p: dict) -> tuple[str | None, dict]:
    done = p.get("done", True)
    if not isinstance(done, bool):
        raise CoachRequestError(f"'proofread': done is true or false, not {echo(done)}")
    args: dict = {"done": done}
    if p.get("revision") is not None:
        args["revision"] = _revision(p.get("revision"), "proofread", "revision")
    return _session(p, "proofread"), args


def _consent(p: dict) -> tuple[str | None, dict]:
    allow, withdraw = p.get("allow"), p.get("withdraw")
    if (allow is None) == (withdraw is None):
        raise CoachRequestError("'consent' takes one of allow or withdraw")
    action, what = ("allow", allow) if allow is not None else ("withdraw", withdraw)
    # the time and source are filled in when it is recorded
    entry = new_entry(action, what, p.get("ref"), p.get("to"), "", "")
    return _session(p, "consent"), {"entry": entry}


def _share(p: dict) -> tuple[str | None, dict]:
    to = clean_name(p.get("to"), "to")
    if not to:
        raise CoachRequestError("'share' needs to = whom the copy is for")
    what = p.get("what", "mp3")
    if what not in WHATS:
        raise CoachRequestError(f"what = one of {', '.join(WHATS)}, not {echo(what)}")
    expire = p.get("expire")
    if expire is not None and not isinstance(expire, str):
        raise CoachRequestError('expire is text such as "14d"')
    seconds = parse_expire(expire) if expire is not None else "default"
    return _session(p, "share"), {"to": to, "what": what, "expire_s": seconds}


def _revoke(p: dict) -> tuple[str | None, dict]:
    share = p.get("share")
    if not isinstance(share, str) or not SHARE_ID.fullmatch(share):
        raise CoachRequestError(f"'revoke' needs share = a share id, not {echo(share)}")
    return _session(p, "revoke"), {"share": share}


def _consent_history(p: dict) -> tuple[str | None, dict]:
    return _session(p, "consent_history"), {}


# Each coach command's check: the session it names and its checked arguments.
_CHECKS: dict[str, Callable[[dict], tuple[str | None, dict]]] = {
    "label": _label,
    "next": _next,
    "label_marker": _label_marker,
    "bookmark": _bookmark,
    "transcript_edit": _transcript_edit,
    "proofread": _proofread,
    "consent": _consent,
    "share": _share,
    "revoke": _revoke,
    "consent_history": _consent_history,
}
