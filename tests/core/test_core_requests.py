"""Untrusted requests become events only when well-formed."""

from __future__ import annotations

import pytest

from recorder.core.recording.state import Mark, Start, Stop
from recorder.core.requests import MAX_LABEL, Query, RequestError, clean_label, parse_request


def test_valid_requests():
    assert parse_request({"cmd": "start"}, "ctl") == Start("ctl")
    assert parse_request({"cmd": "stop"}, "mqtt") == Stop("mqtt")
    assert parse_request({"cmd": "mark", "label": "intro"}, "ctl") == Mark("intro", "ctl")
    assert parse_request({"cmd": "mark"}, "button") == Mark("", "button")
    assert parse_request({"cmd": "mark", "label": None}, "ctl") == Mark("", "ctl")
    assert parse_request({"cmd": "status"}, "ctl") == Query("status")


@pytest.mark.parametrize("payload", [["start"], "start", 42, 1.5, None, True, b"{}"])
def test_a_request_must_be_an_object(payload):
    with pytest.raises(RequestError, match="JSON object"):
        parse_request(payload, "ctl")


@pytest.mark.parametrize("cmd", ["explode", "START", "", None, 1, ["start"], {"a": 1}])
def test_unknown_command(cmd):
    with pytest.raises(RequestError, match="unknown command") as exc:
        parse_request({"cmd": cmd}, "ctl")
    assert "start, stop, mark, status" in str(exc.value)


def test_missing_command():
    with pytest.raises(RequestError, match="unknown command None"):
        parse_request({}, "ctl")


def test_extra_fields_are_named():
    with pytest.raises(RequestError, match=r"unexpected field\(s\) force, when in 'stop'"):
        parse_request({"cmd": "stop", "when": 1, "force": True}, "ctl")
    with pytest.raises(RequestError, match="unexpected field"):
        parse_request({"cmd": "mark", "label": "x", "source": "evil"}, "ctl")


@pytest.mark.parametrize("cmd", ["start", "stop", "status", "upload"])
def test_only_mark_takes_a_label(cmd):
    with pytest.raises(RequestError, match=f"unexpected field\\(s\\) label in '{cmd}' request"):
        parse_request({"cmd": cmd, "label": "x"}, "ctl")


def test_upload_and_discard_queries():
    assert parse_request({"cmd": "upload"}, "ctl") == Query("upload")
    sid = "000012-20261129T093000Z"
    assert parse_request({"cmd": "discard", "session": sid}, "ctl") == Query("discard", sid)
    for bad in (None, 12, "../../etc", "000012-20261129T093000Z; rm -rf /", sid + "\n"):
        with pytest.raises(RequestError, match="'discard' needs a session id"):
            parse_request({"cmd": "discard", "session": bad}, "ctl")


@pytest.mark.parametrize(
    ("label", "kind"), [(1, "int"), (["a"], "list"), ({"a": 1}, "dict"), (True, "bool")]
)
def test_non_string_label(label, kind):
    with pytest.raises(RequestError, match=f"label must be text, not {kind}"):
        parse_request({"cmd": "mark", "label": label}, "ctl")


def test_label_length_limit():
    assert parse_request({"cmd": "mark", "label": "x" * MAX_LABEL}, "ctl") == Mark(
        "x" * MAX_LABEL, "ctl"
    )
    with pytest.raises(
        RequestError, match=f"label is {MAX_LABEL + 1} characters; at most {MAX_LABEL}"
    ):
        parse_request({"cmd": "mark", "label": "x" * (MAX_LABEL + 1)}, "ctl")


def test_label_length_is_counted_after_trimming():
    assert clean_label("  " + "x" * MAX_LABEL + "\n") == "x" * MAX_LABEL


@pytest.mark.parametrize(
    ("label", "clean"),
    [
        ("a\nb", "a b"),
        ("a\r\nb", "a  b"),
        ("a\tb", "a b"),
        ("a\x00b\x07c\x1bd\x7fe", "a b c d e"),
        ("a\u2028b\u00a0c", "a b c"),  # line separator, no-break space
        ("a\u200bb", "a b"),  # zero-width space (format character)
        ("\n\x00 intro \t", "intro"),
        ("plain label", "plain label"),
        ("Ünïcödé — ok ✓", "Ünïcödé — ok ✓"),
        ("", ""),
        (None, ""),
    ],
)
def test_clean_label(label, clean):
    assert clean_label(label) == clean


def test_hostile_label_is_kept_as_plain_text():
    event = parse_request({"cmd": "mark", "label": "$(rm -rf /); `x` \n\x00"}, "mqtt")
    assert event == Mark("$(rm -rf /); `x`", "mqtt")
    assert all(c.isprintable() for c in event.label)


def test_request_error_is_a_value_error():
    assert issubclass(RequestError, ValueError)
