"""The coach's corrections to a transcript (recorder.core.transcript.edits), pure."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.core.inbound import RequestError
from recorder.core.requests import Query, read_request
from recorder.core.transcript.doc import Line, TranscriptDoc, Word
from recorder.core.transcript.edits import (
    EditError,
    Merge,
    SetSpeaker,
    SetText,
    Split,
    apply,
    read_ops,
    tokens,
)
from recorder.core.transcript.text import to_txt, to_vtt


def _w(text, start, end, p=0.9, display=None):
    return Word(text, start, end, p, display)


# whisper's pieces: " day" "-to" "-day" are one word a reader sees
LINE0 = Line(
    1.0, 5.0, "Coach", "What does day-to-day look like?", False,
    (_w("What", 1.0, 1.3, 0.9, " What"), _w("does", 1.3, 1.6, 0.8, " does"),
     _w("day", 1.6, 1.9, 0.7, " day"), _w("-to", 1.9, 2.0, 0.6, "-to"),
     _w("-day", 2.0, 2.3, 0.6, "-day"), _w("look", 2.4, 2.7, 0.9, " look"),
     _w("like?", 2.7, 3.2, 0.4, " like?")),
)  # fmt: skip
LINE1 = Line(
    6.0, 9.0, "Client", "Busy mostly.", False,
    (_w("Busy", 6.0, 6.5), _w("mostly.", 6.6, 7.4)),
)  # fmt: skip
LINE2 = Line(10.0, 14.0, "Coach", "An older line without word times", False, ())
DOC = TranscriptDoc(
    "000001-20261206T090000Z", "Session", "2026-12-06", 20.0, ("Coach", "Client"),
    "channels", "whisper", (LINE0, LINE1, LINE2),
)  # fmt: skip


def test_the_words_a_reader_sees_hold_the_engine_pieces_that_make_them():
    assert [t.text for t in tokens(LINE0)] == ["What", "does", "day-to-day", "look", "like?"]
    assert [len(t.words) for t in tokens(LINE0)] == [1, 1, 3, 1, 1]


def test_a_corrected_word_gets_a_time_within_what_it_replaced_and_no_probability():
    new = apply(DOC, [SetText(0, "What does your day-to-day look like?")])
    line = new.lines[0]
    assert line.text == "What does your day-to-day look like?"
    kept = {w.text: w for w in LINE0.words}
    by_text = {w.text: w for w in line.words}
    for text in ("What", "does", "day", "-to", "-day", "look", "like?"):
        assert by_text[text] == kept[text]  # unchanged words keep time and probability
    your = by_text["your"]
    assert your.probability is None and your.display is None
    assert kept["does"].end_s <= your.start_s <= your.end_s <= kept["day"].start_s
    # replaced: the new word takes the old one's stretch
    fixed = apply(DOC, [SetText(0, "What does day-to-day look like now?")]).lines[0]
    now = next(w for w in fixed.words if w.text == "now?")
    assert now.start_s >= kept["like?"].start_s and now.probability is None
    assert [w.start_s for w in fixed.words] == sorted(w.start_s for w in fixed.words)
    assert (fixed.start_s, fixed.end_s, fixed.speaker) == (1.0, 5.0, "Coach")


def test_a_line_without_word_times_changes_its_text_only():
    new = apply(DOC, [SetText(2, "  An   older line,\nfixed ")]).lines[2]
    assert new.text == "An older line, fixed" and new.words == ()


def test_speaker_split_and_merge():
    cut = apply(DOC, [SetSpeaker(1, "Sam"), Split(0, 3)])
    a, b = cut.lines[:2]
    assert a.text == "What does day-to-day" and b.text == "look like?"
    assert a.end_s <= b.start_s == 2.4 and b.end_s == 5.0 and a.start_s == 1.0
    assert cut.lines[2].speaker == "Sam"
    new = apply(cut, [Merge(1)])
    assert new.speakers == ("Coach", "Client", "Sam")
    a2, merged, older = new.lines
    assert a2 == a
    assert merged.text == "look like? Busy mostly." and merged.speaker == "Coach"
    assert (merged.start_s, merged.end_s) == (2.4, 9.0)
    assert older == LINE2
    # an untimed line splits by its share of the characters
    first, second = apply(DOC, [Split(2, 2)]).lines[2:]
    assert first.text == "An older" and second.text == "line without word times"
    assert 10.0 < first.end_s == second.start_s < 14.0
    # every format can still be written from it
    assert "[00:00:02] Coach: look like? Busy mostly." in to_txt(new)
    assert "<v Sam>" not in to_vtt(new) and "<v Coach>look like?" in to_vtt(new)


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ([SetText(3, "x")], "operation 1 (text): there is no line 3 (the transcript has 3"),
        ([Merge(2)], "operation 1 (merge): there is no line 2 to merge with the next"),
        ([Split(1, 0)], "operation 1 (split): a line of 2 word(s) is split before word 1..1"),
        ([Merge(0), Merge(0), Merge(0)], "operation 3 (merge): there is no line 0 to merge"),
    ],
)
def test_an_operation_that_cannot_apply_is_named_and_nothing_changes(ops, message):
    with pytest.raises(EditError) as err:
        apply(DOC, ops)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "ops is a list of one or more operations"),
        ("text", "ops is a list"),
        ([{"op": "text", "line": 0, "text": "x"}] * 201, "201 operations in one save"),
        ([{"op": "delete", "line": 0}], "op is one of text, speaker, split, merge"),
        ([{"op": "text", "line": -1, "text": "x"}], "line is a count from 0"),
        ([{"op": "text", "line": True, "text": "x"}], "line is a count from 0"),
        ([{"op": "text", "line": 0, "text": 5}], "text must be text"),
        ([{"op": "text", "line": 0, "text": "a\x00b"}], "control character U+0000"),
        ([{"op": "text", "line": 0, "text": "x" * 20_001}], "at most 20000"),
        ([{"op": "speaker", "line": 0, "speaker": " "}], "speaker must not be empty"),
        ([{"op": "speaker", "line": 0, "speaker": "A\u202eB"}], "U+202E"),
        ([{"op": "merge", "line": 0, "evil": 1}], "unexpected field(s) ['evil']"),
        ([["merge", 0]], "operation 1 is an object"),
    ],
)
def test_garbage_operations_are_refused_with_the_reason(raw, message):
    with pytest.raises(EditError) as err:
        read_ops(raw)
    assert message in str(err.value)


def test_read_operations_as_the_page_sends_them():
    assert read_ops(
        [{"op": "text", "line": 0, "text": "Hi\nthere"}, {"op": "speaker", "line": 1,
         "speaker": "Sam"}, {"op": "split", "line": 2, "word": 3}, {"op": "merge", "line": 0}]
    ) == (SetText(0, "Hi there"), SetSpeaker(1, "Sam"), Split(2, 3), Merge(0))  # fmt: skip


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 30) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
_ops = st.lists(
    st.fixed_dictionaries(
        {"op": st.sampled_from(["text", "speaker", "split", "merge"]), "line": st.integers(-1, 4)},
        optional={"text": st.text(max_size=30), "speaker": st.text(max_size=10),
                  "word": st.integers(-1, 8)},
    ),
    max_size=6,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(raw=_json | _ops)
def test_any_ops_are_either_applied_whole_or_refused_with_an_edit_error(raw):
    try:
        ops = read_ops(raw)
        new = apply(DOC, ops)
    except EditError:
        return
    for line in new.lines:
        assert line.start_s <= line.end_s
        assert all(line.start_s - 1e-6 <= w.start_s <= w.end_s for w in line.words)
    to_txt(new)
    to_vtt(new)


_request = st.fixed_dictionaries(
    {"cmd": st.just("transcript_edit"), "session": st.just("000001-20261206T090000Z")},
    optional={"base": st.integers(-2, 3) | st.text(max_size=3) | st.booleans(),
              "ops": _ops | _json, "extra": _json},
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(payload=_request)
def test_a_transcript_edit_through_the_request_reader_is_checked_or_refused(payload):
    raw = json.dumps(payload).encode()
    try:
        q = read_request(raw, "ctl")
    except RequestError as exc:
        assert len(str(exc)) <= 400
        return
    assert isinstance(q, Query) and q.name == "transcript_edit"
    assert set(q.args) == {"base", "ops", "source"} and q.args["ops"]
    try:
        apply(DOC, q.args["ops"])
    except EditError as exc:
        assert str(exc).startswith("operation ")
