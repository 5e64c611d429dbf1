"""Property tests over every parser of outside input (issue 20): nothing escapes but its error.

Each parser is fed arbitrary input and mutations of valid input (bytes flipped, cut, spliced;
fields replaced by arbitrary JSON; lone surrogates, non-ASCII digits, huge numbers, deep
nesting). The property, for every one: it returns a value or raises its documented error, and
that error's message is short and is text (no lone surrogate: it can be logged and sent back).
What is accepted can be stored and sent back too.

Parsers: MQTT commands and ctl lines (`inbound.decode`, `requests.read_request`,
`parse_request`), the config (`load_config`, `parse_config`), manifests (`parse_manifest`,
`SessionStore.read_manifest`), consent entries, share entries and expiries, session details,
session ids.

Fast by default (the whole file in well under a minute on a busy 2-core machine). A longer run:
`SESSION_RECORDER_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/core/test_fuzz_parsers.py`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import tempfile
import tomllib
import typing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from recorder.config import Config, ConfigError, load_config, parse_config
from recorder.core.coaching.consent import (
    ConsentError,
    may_share,
    new_entry,
    read_history,
    standing,
)
from recorder.core.coaching.details import DetailsError, clean_changes, display_name, read_details
from recorder.core.coaching.shares import (
    ShareError,
    is_expired,
    parse_expire,
    read_shares,
    to_remove,
)
from recorder.core.inbound import RequestError, decode
from recorder.core.manifest import ManifestError, Marker, dump_manifest, parse_manifest
from recorder.core.requests import parse_request, read_request
from recorder.core.session_id import is_valid_id, make_id, sequence_of
from recorder.store.sessions import SessionStore
from tests.factories import write_session
from tests.support import ROOT

MAX_MESSAGE = 400
_RUN = os.environ.get("SESSION_RECORDER_FUZZ_EXAMPLES")


def fuzz(examples: int):
    """Settings for one property: `examples` in the suite, or the opt-in number for a long run."""
    return settings(
        max_examples=int(_RUN) if _RUN else examples,
        deadline=None,
        database=None,  # nothing written into the checkout; a failure prints its example
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def said(message: str, limit: int = MAX_MESSAGE) -> None:
    """An error message fit to log and send back: bounded, and text."""
    assert len(message) <= limit, f"{len(message)} characters: {message[:300]}…"
    message.encode("utf-8")  # raises on a lone surrogate


def storable(value: object) -> None:
    """What a parser accepted can be written to a manifest and sent as JSON."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    json.dumps(value, ensure_ascii=False, allow_nan=False, default=_plain).encode("utf-8")


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


# ---- strategies ---------------------------------------------------------------------------

ODD = [
    "\ud800", "\udfff", "\udcff", "١٢٣٤٥٦", "０１", "\x00", "\x1b[31m", "\u2028", "\ufeff",
    "\u202e", "'", '"', "\\", "$(id)", "`id`", "../..", "-rf", "\n", "\r\n", "\t", " ",
]  # fmt: skip
chars = st.characters(exclude_categories=[])  # every code point, lone surrogates included
texts = st.one_of(
    st.text(chars, max_size=40),
    st.sampled_from(ODD),
    st.builds("".join, st.lists(st.one_of(st.sampled_from(ODD), st.text(chars, max_size=4)))),
    st.text(chars, min_size=300, max_size=2000),
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.sampled_from([0, 1, -1, 2**63, 10**4000, 1e308, float("nan"), float("inf")]),
)
json_leaves = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(texts, inner, max_size=5)),
    max_leaves=20,
)
TOKENS = [
    b'"', b"\\", b"{", b"}", b"[", b"]", b",", b":", b"\\ud800", b"\\udc00\\ud800", b"\xff",
    b"\xed\xa0\x80", b"\xc0\xaf", b"NaN", b"-Infinity", b"1e999", b"9" * 5000, b"\x00",
    "١٢٣".encode(), b"null", b"true", b"[" * 50, b"{}", b"\n", b" ", b"start",
]  # fmt: skip


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """A valid input with a few bytes changed: flipped, inserted, deleted, cut or spliced."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "insert", "token", "delete", "cut", "splice"]))
        if op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "token":
            data[at:at] = draw(st.sampled_from(TOKENS))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "cut":
            del data[at:]
        elif op == "splice":
            other = draw(st.sampled_from(seeds))
            start = draw(st.integers(0, len(other)))
            data[at:at] = other[start : start + draw(st.integers(1, 40))]
    return bytes(data)


@st.composite
def reshaped(draw, seeds: list[object]) -> object:
    """A valid JSON value with a few fields replaced, removed or added (values arbitrary)."""
    value = copy.deepcopy(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        path = _paths(value)
        parent, key = draw(st.sampled_from(path)) if path else (None, None)
        if parent is None:
            return draw(json_values)
        op = draw(st.sampled_from(["replace", "replace", "text", "remove", "add"]))
        if op == "replace":
            parent[key] = draw(json_values)
        elif op == "text":
            parent[key] = draw(texts)
        elif op == "remove":
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(texts)] = draw(json_values)
        else:
            parent.insert(key, draw(json_values))
    return value


def _paths(value: object) -> list[tuple[object, object]]:
    """Every (container, key) in a JSON value, for `reshaped` to pick from."""
    out: list[tuple[object, object]] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, (dict, list)):
            for key, child in list(node.items() if isinstance(node, dict) else enumerate(node)):
                out.append((node, key))
                stack.append(child)
    return out


def _json(value: object, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


# ---- MQTT commands and ctl lines ----------------------------------------------------------

SID = "000042-20261129T093000Z"
COMMANDS: list[dict] = [
    {"cmd": "start"},
    {"cmd": "stop"},
    {"cmd": "mark", "label": "insight"},
    {"cmd": "status"},
    {"cmd": "upload"},
    {"cmd": "discard", "session": SID},
    {"cmd": "label", "session": SID, "client": "Sam", "title": "Goals", "number": 3,
     "notes": "line one\nline two"},
    {"cmd": "next", "client": "Kim", "title": "Values"},
    {"cmd": "label_marker", "session": SID, "marker": 2, "label": "breakthrough"},
    {"cmd": "consent", "session": SID, "allow": "share", "to": "Alex", "ref": "signed"},
    {"cmd": "consent", "session": SID, "withdraw": "record", "ref": "asked by email"},
    {"cmd": "share", "session": SID, "to": "Alex", "what": "mp3", "expire": "14d"},
    {"cmd": "revoke", "session": SID, "share": "ab12cd34"},
    {"cmd": "consent_history", "session": SID},
]  # fmt: skip
LINES = [_json(c, ascii_only=False) for c in COMMANDS] + [b"start", b"stop", b"mark"]


def _read(raw: bytes | str, plain_words: bool) -> None:
    try:
        request = read_request(raw, "mqtt" if plain_words else "ctl", plain_words=plain_words)
    except RequestError as exc:
        said(str(exc))
        return
    storable(request)


@fuzz(300)
@given(raw=st.binary(max_size=300), plain_words=st.booleans())
@example(raw=b"[" * 60_000, plain_words=False)
@example(raw=b'{"cmd": "label_marker", "session": "%s", "marker": 1e999}' % SID.encode(),
         plain_words=False)  # fmt: skip
@example(raw=b'{"cmd": "mark", "label": "x\\ud800"}', plain_words=True)
@example(raw=b'{"cmd": "mark", "\\ud800": 1}', plain_words=False)
def test_arbitrary_bytes_are_a_request_or_a_request_error(raw, plain_words):
    _read(raw, plain_words)


@fuzz(400)
@given(raw=mutated(LINES), plain_words=st.booleans())
@example(raw=b'{"cmd": "discard", "session": "%s"}' % "١٢٣٤٥٦-20261206T080613Z".encode(),
         plain_words=True)  # fmt: skip
@example(raw=b'{"cmd": "label", "session": "%s", "number": %s}' % (SID.encode(), b"9" * 4000),
         plain_words=False)  # fmt: skip
def test_mutated_commands_are_a_request_or_a_request_error(raw, plain_words):
    _read(raw, plain_words)


@fuzz(250)
@given(payload=reshaped(COMMANDS), plain_words=st.booleans(), ascii_only=st.booleans())
@example(payload={"cmd": "revoke", "session": SID, "share": "../../x"}, plain_words=False,
         ascii_only=True)  # fmt: skip
@example(payload={"cmd": "share", "session": SID, "to": "A", "expire": "١٤d"}, plain_words=False,
         ascii_only=False)  # fmt: skip
@example(payload={"cmd": "label", "session": SID, "number": 10**4000}, plain_words=False,
         ascii_only=True)  # fmt: skip
def test_commands_with_arbitrary_fields_are_a_request_or_a_request_error(
    payload, plain_words, ascii_only
):
    try:
        raw = _json(payload, ascii_only)
    except ValueError:  # an int json.dumps will not write: no client could send it either
        return
    _read(raw, plain_words)


@fuzz(200)
@given(payload=st.one_of(reshaped(COMMANDS), json_values))
@example(payload={"cmd": "next", "client": "Kim\ud800"})
@example(payload={"cmd": "stop", 1: 2, "when": None})  # a key no JSON object has
@example(payload={"cmd": "label_marker", "session": SID, "marker": float("nan"), "label": ""})
@example(payload={"cmd": "share", "session": SID, "to": "Alex", "what": ["mp3"]})
def test_a_payload_built_without_decode_is_a_request_or_a_request_error(payload):
    """The command line builds its payload itself and enters at `parse_request`."""
    try:
        request = parse_request(payload, "cli")
    except RequestError as exc:
        said(str(exc))
        return
    storable(request)


@fuzz(100)
@given(text=st.text(chars, max_size=200), plain_words=st.booleans())
def test_a_request_given_as_text_is_a_request_or_a_request_error(text, plain_words):
    try:
        decode(text, plain_words=plain_words)
    except RequestError as exc:
        said(str(exc))


# ---- session ids --------------------------------------------------------------------------


@fuzz(150)
@given(text=st.one_of(texts, st.from_regex(r"[0-9١-٩]{5,8}-[0-9]{8}T[0-9]{6}Z(-u)?")))
@example(text="١٢٣٤٥٦-20261206T080613Z")
@example(text="1" * 300 + "-20261206T080613Z")
def test_a_valid_session_id_is_short_ascii_and_has_a_sequence(text):
    if is_valid_id(text):
        assert text.isascii() and len(text) < 100
        assert isinstance(sequence_of(text), int)
    else:
        assert sequence_of(text) is None


@fuzz(100)
@given(
    seq=st.integers(0, 10**18),
    wall=st.datetimes(timezones=st.just(UTC), min_value=datetime(1970, 1, 2)),
    synced=st.booleans(),
)
def test_every_id_the_box_makes_is_valid(seq, wall, synced):
    made = make_id(seq, wall, synced)
    assert is_valid_id(made) and sequence_of(made) == seq


# ---- session details, consent and shares --------------------------------------------------


@fuzz(150)
@given(changes=st.dictionaries(st.sampled_from(["client", "title", "number", "notes"]),
                               json_values, max_size=4))  # fmt: skip
@example(changes={"number": 10**4000})
@example(changes={"notes": "a\ud800"})
def test_details_are_clean_or_a_details_error(changes):
    try:
        clean = clean_changes(changes)
    except DetailsError as exc:
        said(str(exc))
        return
    storable(clean)


ENTRIES = [
    {"at": "2026-12-01T10:00:00+00:00", "action": "allow", "what": "share", "to": "Alex",
     "ref": "signed release", "source": "cli"},
    {"at": "2026-12-02T10:00:00+00:00", "action": "withdraw", "what": "record", "to": None,
     "ref": "asked by email", "source": "mqtt"},
]  # fmt: skip
SHARES = [
    {"id": "ab12cd34", "to": "Alex", "purpose": "share", "what": "mp3",
     "files": ["session.mp3"], "remote": "shares:coach/sr-x", "link": None,
     "link_expires_at": None, "link_note": None, "created_at": "2026-12-01T10:00:00+00:00",
     "expires_at": "2026-12-15T10:00:00+00:00", "removed_at": None, "removed": None},
]  # fmt: skip
DETAILS = {"client": "Sam", "title": "Goals", "number": 3, "notes": "x", "updated_at": "t"}
NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


@fuzz(150)
@given(raw=st.one_of(reshaped([ENTRIES]), json_values))
@example(raw=[{**ENTRIES[0], "ref": "\udcff"}])
@example(raw=[{**ENTRIES[0], "action": "x" * 10_000}] * 300)
# found by the fuzzer: a stored "to" far longer than a request may give went whole into the
# refusal ("sharing with 000…000 only, not Alex")
@example(raw=[{"at": "2026-12-01T10:00:00+00:00", "action": "allow", "what": "share",
               "to": "0" * 600, "ref": "signed release", "source": "cli"}])  # fmt: skip
def test_a_stored_consent_history_is_entries_and_problems(raw):
    entries, problems = read_history(raw)
    for problem in problems:
        said(problem)
    for entry in entries:
        storable(entry)
    now = standing(entries)
    _, why = may_share(entries, problems, "Alex", "Sam")
    if why is not None:
        said(why, limit=MAX_MESSAGE + 200)  # names up to three damaged entries
    storable(now.to_json())


@fuzz(150)
@given(
    action=st.one_of(st.sampled_from(["allow", "withdraw"]), texts),
    what=st.one_of(st.sampled_from(["record", "share", "copy"]), json_values),
    ref=st.one_of(texts, json_values),
    to=st.one_of(st.none(), texts, json_values),
)
def test_a_new_consent_entry_is_an_entry_or_a_consent_error(action, what, ref, to):
    try:
        entry = new_entry(action, what, ref, to, "2026-12-06T09:00:00+00:00", "cli")
    except ConsentError as exc:
        said(str(exc))
        return
    storable(entry)


@fuzz(150)
@given(raw=st.one_of(reshaped([SHARES]), json_values))
@example(raw=[{**SHARES[0], "expires_at": "2026-12-31T00:00:00"}])  # no time zone
@example(raw=[{**SHARES[0], "files": ["\ud800"]}])
def test_stored_shares_are_shares_and_problems(raw):
    shares, problems = read_shares(raw)
    for problem in problems:
        said(problem)
    for share in shares:
        storable(share.to_json())
        is_expired(share, NOW)
    to_remove(shares, NOW, {"share", "copy"})


@fuzz(200)
@given(text=st.one_of(texts, st.from_regex(r"\s*[0-9١-٩]{0,7}\s*[hdwHDW]?\s*", fullmatch=True)))
@example(text="١٤d")
@example(text="99999w")
@example(text=" 0 ")
def test_an_expiry_is_seconds_or_a_share_error(text):
    try:
        seconds = parse_expire(text)
    except ShareError as exc:
        said(str(exc))
        return
    assert seconds is None or 0 < seconds <= 99999 * 7 * 86400
    NOW + timedelta(seconds=seconds or 0)  # a time the box can hold


# ---- manifests ----------------------------------------------------------------------------


def _real_manifest() -> dict:
    """A manifest as the writer leaves it, with the coach's details, markers, consent, shares."""
    tone = bytes(1600)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_session(Path(tmp) / SID, [[tone], [tone]], 8000, 1, "S16_LE")
    manifest.markers = [Marker(frame=800, seconds=0.1, label="insight")]
    data = json.loads(dump_manifest(manifest))
    return {**data, "details": DETAILS, "consent": ENTRIES, "shares": SHARES}


MANIFEST = _real_manifest()
MANIFEST_TEXT = json.dumps(MANIFEST, indent=2).encode()


def _manifest(text: bytes | str) -> None:
    try:
        m = parse_manifest(text, "manifest.json")
    except ManifestError as exc:
        said(str(exc), limit=10**6)  # text; not yet bounded (see the known escape below)
        return
    written = dump_manifest(m)  # whatever was read can be written back …
    assert dump_manifest(parse_manifest(written, "again")) == written  # … and read again
    extra = m.model_extra or {}
    details, damaged = read_details(extra.get("details"))
    display_name(details, m.started_at)
    for problem in [damaged or "", *read_history(extra.get("consent"))[1]]:
        said(problem)
    read_shares(extra.get("shares"))


@fuzz(150)
@given(text=st.one_of(st.binary(max_size=300), st.builds(json.dumps, json_values)))
def test_arbitrary_json_is_a_manifest_or_a_manifest_error(text):
    _manifest(text)


@fuzz(200)
@given(text=mutated([MANIFEST_TEXT]))
def test_a_damaged_manifest_file_is_a_manifest_or_a_manifest_error(text):
    _manifest(text)


@fuzz(150)
@given(data=reshaped([MANIFEST]))
@example(data={**MANIFEST, "segments": [{**MANIFEST["segments"][0], "file": "seg-١٢٣٤.wav"}]})
@example(data={**MANIFEST, "id": "١٢٣٤٥٦-20261206T080613Z"})
def test_a_manifest_with_arbitrary_fields_is_a_manifest_or_a_manifest_error(data):
    try:
        text = json.dumps(data).encode()
    except ValueError:
        return
    _manifest(text)


def test_a_manifest_error_echoes_a_bad_value_cut_short():
    """Found by the property above: `audio.format` is echoed whole into the message."""
    data = {**MANIFEST, "audio": {**MANIFEST["audio"], "format": "x" * 5000}}
    with pytest.raises(ManifestError) as refused:
        parse_manifest(json.dumps(data), "manifest.json")
    said(str(refused.value))


def test_the_store_reads_a_damaged_manifest_file_as_a_manifest_error(tmp_path):
    folder = tmp_path / "outbox" / SID
    folder.mkdir(parents=True)
    store = SessionStore(tmp_path)
    for text in (b"", b"\xff", b"[" * 60_000, MANIFEST_TEXT[:100], b'{"id": "\\ud800"}'):
        (folder / "manifest.json").write_bytes(text)
        with pytest.raises(ManifestError) as refused:
            store.read_manifest(folder)
        said(str(refused.value))


# ---- the config ---------------------------------------------------------------------------

EXAMPLE_TEXT = (ROOT / "docs" / "config.example.toml").read_bytes()
EXAMPLE = tomllib.loads(EXAMPLE_TEXT.decode())
_CONFIG_DIR = Path(tempfile.mkdtemp(prefix="recorder-fuzz-config-"))


def _section_keys() -> dict[str, list[str]]:
    out = {}
    for name, field in Config.model_fields.items():
        for kind in (field.annotation, *typing.get_args(field.annotation)):
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                out[name] = list(kind.model_fields)
    return out


SECTION_KEYS = _section_keys()
toml_leaves = st.one_of(
    st.booleans(),
    numbers.filter(lambda n: not isinstance(n, int) or abs(n) < 2**63),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=60),
    st.sampled_from(["", "/", "\x00", "a\x00b", "../..", "١٢", "-x", "1" * 5000, "x" * 300]),
    st.datetimes(),
)
toml_values = st.one_of(
    toml_leaves,
    st.lists(toml_leaves, max_size=4),
    st.dictionaries(st.text(max_size=10), toml_leaves, max_size=3),
)


@st.composite
def config_data(draw) -> dict:
    """The documented example config with a few real keys (and a stray one) set at random."""
    data = copy.deepcopy(EXAMPLE)
    for _ in range(draw(st.integers(1, 4))):
        section = draw(st.sampled_from(sorted(SECTION_KEYS)))
        key = draw(st.one_of(st.sampled_from(SECTION_KEYS[section]), st.text(max_size=12)))
        data.setdefault(section, {})[key] = draw(toml_values)
    if draw(st.integers(0, 9)) == 0:
        data[draw(st.sampled_from(sorted(SECTION_KEYS)))] = draw(toml_values)
    return data


def _config_said(exc: ConfigError) -> None:
    """One line per problem, each text; not yet bounded (see the known escapes below)."""
    for line in str(exc).splitlines():
        said(line, limit=10**6)


@fuzz(250)
@given(data=config_data())
@example(data={**EXAMPLE, "share": {**EXAMPLE["share"], "expire": "١٤d"}})
@example(data={**EXAMPLE, "audio": {**EXAMPLE["audio"], "device": "x" * 5000}})
@example(data={**EXAMPLE, "mqtt": {**EXAMPLE["mqtt"], "port": 2**63 - 1}})
def test_random_values_for_real_keys_are_a_config_or_a_config_error(data):
    if _nul_in_storage_dir(data):
        return  # a known escape, below
    try:
        parse_config(data, _CONFIG_DIR / "config.toml")
    except ConfigError as exc:
        _config_said(exc)


@fuzz(200)
@given(text=mutated([EXAMPLE_TEXT]))
@example(text=EXAMPLE_TEXT + b"\nx = " + b"1" * 300 + b"\n")
@example(text=EXAMPLE_TEXT.replace(b"[device]", b"[device\x00]"))
def test_a_damaged_config_file_is_a_config_or_a_config_error(text):
    if b"9" * 4300 in text or b"[" * 500 in text:
        return  # known escapes, below
    path = _CONFIG_DIR / "config.toml"
    path.write_bytes(text)
    try:
        load_config(path)
    except ConfigError as exc:
        _config_said(exc)


def _nul_in_storage_dir(data: dict) -> bool:
    storage = data.get("storage")
    return isinstance(storage, dict) and "\x00" in str(storage.get("dir"))


# Found by the properties above, in recorder/config.py: a ValueError or a RecursionError instead
# of a ConfigError naming the file, and a bad value echoed whole.


@pytest.mark.parametrize(
    "tail",
    [b"x = " + b"9" * 5000, b"x = " + b"[" * 5000],  # tomllib: int() limit, recursion
    ids=["an-int-of-5000-digits", "arrays-nested-5000-deep"],
)
def test_a_config_file_tomllib_cannot_read_is_a_config_error(tail):
    path = _CONFIG_DIR / "escape.toml"
    path.write_bytes(EXAMPLE_TEXT + b"\n" + tail + b"\n")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    _config_said(refused.value)


def test_a_config_error_echoes_a_bad_value_cut_short():
    data = {**EXAMPLE, "audio": "1" * 5000}
    with pytest.raises(ConfigError) as refused:
        parse_config(data, _CONFIG_DIR / "config.toml")
    said(str(refused.value), limit=MAX_MESSAGE + len(str(_CONFIG_DIR)))


def test_a_relative_storage_dir_with_a_nul_byte_is_a_config_error():
    data = {**EXAMPLE, "storage": {**EXAMPLE["storage"], "dir": "a\x00b"}}
    with pytest.raises(ConfigError):
        parse_config(data, _CONFIG_DIR / "config.toml")
