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

MAX_BYTES = 65536
MAX_DEPTH = 8  # a request is a flat object; a little room for future fields
ECHO_CHARS = 200

_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")
_QUOTE = ord('"')
_BACKSLASH = ord("\\")


class RequestError(ValueError):
    """A request that cannot be acted on; the message says what is wrong with it."""


def echo(value: object, limit: int = ECHO_CHARS) -> str:
    """`repr(value)` cut to `limit` characters, saying so when it was cut."""
    cut = isinstance(value, (str, bytes, bytearray)) and len(value) > limit
    text = repr(value[:limit] if cut else value)  # type: ignore[index]
    if len(text) <= limit and not cut:
        return text
    return f"{text[:limit]}… (cut at {limit} characters)"


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


def _check_text(value: object, where: str) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = value[exc.start]
            raise RequestError(
                f"{where} holds an unpaired surrogate (U+{ord(bad):04X}) at position "
                f"{exc.start + 1}: not text; send it as UTF-8"
            ) from None
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
        value = json.loads(text, parse_constant=_no_constant)
    except RequestError:
        raise
    except (ValueError, RecursionError) as exc:
        raise RequestError(f"not JSON: {echo(str(exc))}") from None
    _check_text(value, "the request")
    return value
