"""The one checked reader of raw outside input: bytes from MQTT or the control socket to JSON.

Every path that takes a request from outside (the phone over MQTT, `ctl` over the socket) reads
it here first, with the same limits, before `recorder.core.requests` decides what it asks for:

- at most `MAX_BYTES` (a label with 4000 characters of notes in any script fits);
- strict UTF-8, and no unpaired surrogates (`\\ud800` is legal JSON but not text: it cannot be
  stored, logged or sent back);
- brackets nested at most `MAX_DEPTH` deep, counted before `json.loads` (whose recursion would
  raise RecursionError on the caller's thread);
- no NaN or Infinity.

Anything else is a `RequestError` whose message says what is wrong; nothing else is raised.
Bad input is echoed back in messages and logs cut to `ECHO_CHARS`, never whole.
"""

from __future__ import annotations

import json
import math
import re

MAX_BYTES = 65536
MAX_DEPTH = 8  # a request is a flat object; a little room for future fields
ECHO_CHARS = 200

_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")
_QUOTE = ord('"')
_BACKSLASH = ord("\\")
_SURROGATE = re.compile("[\ud800-\udfff]")


class RequestError(ValueError):
    """A request that cannot be acted on; the message says what is wrong with it."""


def echo(value: object, limit: int = ECHO_CHARS) -> str:
    """`repr(value)` cut to `limit` characters, saying so when it was cut.

    Safe on anything: a repr escapes lone surrogates and control characters, and a value whose
    repr fails (an int of 5000 digits, nesting deeper than Python recurses) is named by type.
    """
    cut = isinstance(value, (str, bytes, bytearray)) and len(value) > limit
    try:
        text = repr(value[:limit] if cut else value)  # type: ignore[index]
    except (ValueError, RecursionError):
        return f"<a {type(value).__name__} too large to show>"
    if len(text) <= limit and not cut:
        return text
    return f"{text[:limit]}… (cut at {limit} characters)"


def surrogate_problem(text: str, what: str) -> str | None:
    """A sentence saying where `text` holds an unpaired surrogate, or None when it is text.

    `json.loads` turns `"\\ud800"` into one and `surrogateescape` turns a command-line byte that
    is not UTF-8 into one: neither can be stored, logged or sent back.
    """
    found = _SURROGATE.search(text)
    if found is None:
        return None
    return (
        f"{what} holds an unpaired surrogate (U+{ord(found.group()):04X}) at position "
        f"{found.start() + 1}: not text; send it as UTF-8"
    )


def nesting_depth(raw: bytes, limit: int = MAX_DEPTH) -> int:
    """How deep brackets nest outside strings, counting no further than `limit + 1`."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif byte in _CLOSE:
            depth = max(0, depth - 1)
    return deepest


def _no_constant(name: str) -> object:
    raise RequestError(f"{name} is not a number a request may hold")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 reads as inf, which no JSON reply can hold
        raise RequestError(f"{echo(text, 40)} is not a number a request may hold")
    return value


def _check_text(value: object, where: str) -> None:
    if isinstance(value, str):
        problem = surrogate_problem(value, where)
        if problem is not None:
            raise RequestError(problem)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, "a field name")
            _check_text(item, f"field {echo(key, 40)}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            _check_text(item, f"{where}[{n}]")


def decode(raw: bytes | bytearray | str, *, plain_words: bool = False) -> object:
    """The JSON value one request holds, checked against every limit above.

    `plain_words`: a bare word such as `start` (MQTT's text commands) reads as {"cmd": word}.
    """
    if isinstance(raw, str):
        try:
            raw = raw.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise RequestError(
                f"the request holds an unpaired surrogate at position {exc.start + 1}"
            ) from None
    raw = bytes(raw)
    if len(raw) > MAX_BYTES:
        raise RequestError(f"the request is {len(raw)} bytes; at most {MAX_BYTES} are read")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(
            f"the request is not UTF-8 (byte 0x{raw[exc.start]:02X} at position {exc.start + 1})"
        ) from None
    text = text.strip()
    if not text:
        raise RequestError('the request is empty; send a command such as {"cmd": "start"}')
    if plain_words and text[0] not in '{["':
        _check_text(text, "the command")
        return {"cmd": text}
    if nesting_depth(raw) > MAX_DEPTH:
        raise RequestError(f"brackets nested more than {MAX_DEPTH} deep: not a request")
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RequestError:
        raise
    except (ValueError, RecursionError) as exc:
        raise RequestError(f"not JSON: {echo(str(exc))}") from None
    _check_text(value, "the request")
    return value
