"""Requests from outside (the control socket, MQTT, the command line) checked into events.

Anything that arrives over a socket or a broker is untrusted: it becomes an event only if it is
well-formed, and otherwise a message that says what is wrong, with the bad input echoed cut
short (`inbound.echo`). The command line builds its payload itself and comes in at
`parse_request`, after `decode`: so every field cleaner checks for surrogates again.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from recorder.core.coaching.requests import COACH_FIELDS, CoachRequestError, coach_args
from recorder.core.inbound import RequestError, decode, echo, surrogate_problem
from recorder.core.recording.state import Event, Mark, Start, Stop
from recorder.core.session_id import is_valid_id

MAX_LABEL = 200
_PLAIN_NAME = re.compile(r"[a-z_]{1,40}")
COMMANDS = ("start", "stop", "mark", "status", "upload", "discard", "job", *COACH_FIELDS)
FIELDS = {"mark": {"label"}, "discard": {"session"}, "job": {"job"}, **COACH_FIELDS}
_JOB_ID = re.compile(r"[0-9a-f]{8}")  # recorder.threads.jobs: secrets.token_hex(4)


@dataclass(frozen=True)
class Query:
    """A request that does not go through the state machine: status, upload now, discard."""

    name: str
    session: str | None = None
    args: dict = field(default_factory=dict, compare=True)


def clean_label(label: object) -> str:
    """A marker label safe to store and show: text, no control characters, bounded length."""
    if label is None:
        return ""
    if not isinstance(label, str):
        raise RequestError(f"label must be text, not {type(label).__name__}")
    problem = surrogate_problem(label, "label")
    if problem is not None:  # not blanked like a control character: it is not text at all
        raise RequestError(problem)
    text = "".join(
        " " if unicodedata.category(c)[0] in "CZ" and c != " " else c for c in label
    ).strip()
    if len(text) > MAX_LABEL:
        raise RequestError(f"label is {len(text)} characters; at most {MAX_LABEL} are kept")
    return text


def _names(keys: set, shown: int = 5) -> str:
    """Field names as a person reads them: plain names bare, anything else echoed, a few."""
    plain = [k if isinstance(k, str) and _PLAIN_NAME.fullmatch(k) else echo(k, 40) for k in keys]
    names = sorted(plain)[:shown]
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(names) + more


def request_name(request: object) -> str:
    """The command a checked request carries out (`mark`, `discard`, …), for answers and logs."""
    return request.name if isinstance(request, Query) else type(request).__name__.lower()


def read_request(raw: bytes | str, source: str, *, plain_words: bool = False) -> Event | Query:
    """The one checked way in for raw outside input: limits (inbound.decode), then meaning."""
    return parse_request(decode(raw, plain_words=plain_words), source)


def parse_request(payload: object, source: str) -> Event | Query:
    """The event a request asks for, or the query it makes."""
    if not isinstance(payload, dict):
        raise RequestError('a request is a JSON object such as {"cmd": "start"}')
    cmd = payload.get("cmd")
    if cmd not in COMMANDS:
        raise RequestError(
            f"unknown command {echo(cmd, 60)}; expected one of {', '.join(COMMANDS)}"
        )
    extra = set(payload) - {"cmd"} - FIELDS.get(cmd, set())
    if extra:
        raise RequestError(f"unexpected field(s) {_names(extra)} in {cmd!r} request")
    event = _EVENTS.get(cmd)
    if event is not None:
        return event(payload, source)
    if cmd in COACH_FIELDS:
        try:
            session, args = coach_args(cmd, payload)
        except CoachRequestError as exc:
            raise RequestError(str(exc)) from None
        return Query(cmd, session, {**args, "source": source})
    return Query(cmd)


def _discard(payload: dict, _source: str) -> Query:
    session = payload.get("session")
    if not isinstance(session, str) or not is_valid_id(session):
        raise RequestError(f"'discard' needs a session id, not {echo(session)}")
    return Query("discard", session)


def _job(payload: dict, _source: str) -> Query:
    job = payload.get("job")
    if not isinstance(job, str) or not _JOB_ID.fullmatch(job):
        raise RequestError(f"'job' needs a job id such as 'a1b2c3d4', not {echo(job)}")
    return Query("job", args={"job": job})


# The requests that are not the coach's: what each one is, checked.
_EVENTS: dict[str, Callable[[dict, str], Event | Query]] = {
    "start": lambda _payload, source: Start(source),
    "stop": lambda _payload, source: Stop(source),
    "mark": lambda payload, source: Mark(clean_label(payload.get("label")), source),
    "discard": _discard,
    "job": _job,
}
