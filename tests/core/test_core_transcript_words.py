"""Words in the transcript (pure): pieces joined as the engine wrote them, word times moved to
the start press, the context given to the next turn, turns and paragraphs counted apart, and
word timings kept in transcript.json while the text files stay clean."""

from __future__ import annotations

import json

from recorder.core.transcript.doc import Line, TranscriptDoc, Turn, Word, join_words
from recorder.core.transcript.plan import (
    HEARD_BEFORE_PRESS_S,
    context,
    fit_to_voice,
    from_the_press,
    lines,
    placed,
    press_turns,
)
from recorder.core.transcript.text import to_txt, to_vtt

# What faster-whisper (tiny.en) gave for espeak-ng speech, piece by piece (w.word, start, end,
# probability), recorded from WhisperEngine on the bundled model.
NINE_O_CLOCK = [
    (" We", 0.0, 0.4, 0.777),
    (" meet", 0.4, 0.7, 0.954),
    (" at", 0.7, 0.96, 0.979),
    (" 9", 0.96, 1.12, 0.183),
    (" o", 1.12, 1.28, 0.933),
    ("'clock", 1.28, 1.58, 0.979),
    (" to", 1.58, 1.9, 0.922),
    (" talk", 1.9, 2.12, 0.995),
    (" about", 2.12, 2.42, 0.929),
    (" my", 2.42, 2.76, 0.985),
    (" day", 2.76, 2.9, 0.787),
    ("-to", 2.9, 3.1, 0.864),
    ("-day", 3.1, 3.32, 0.996),
    (" work.", 3.32, 3.62, 0.997),
]
COLD_HEARTED = [
    (" It", 0.0, 0.42, 0.543),
    (" was", 0.42, 0.66, 0.716),
    (" a", 0.66, 0.82, 0.849),
    (" cold", 0.82, 1.18, 0.985),
    ("-hearted", 1.18, 1.58, 0.743),
    (" thing", 1.58, 2.0, 0.946),
    (" to", 2.0, 2.24, 0.976),
    (" say,", 2.24, 2.74, 0.997),
    (" wasn't", 3.0, 3.28, 0.928),
    (" it?", 3.28, 3.52, 0.995),
]


def whisper_words(pieces: list[tuple[str, float, float, float]]) -> list[Word]:
    return [Word(p.strip(), start, end, prob, p) for p, start, end, prob in pieces]


def test_whisper_pieces_are_joined_as_the_engine_wrote_them():
    assert (
        join_words(whisper_words(NINE_O_CLOCK))
        == "We meet at 9 o'clock to talk about my day-to-day work."
    )
    assert (
        join_words(whisper_words(COLD_HEARTED)) == "It was a cold-hearted thing to say, wasn't it?"
    )


def test_whole_words_without_a_display_are_joined_with_one_space():
    said = [Word("tell", 0.1, 0.3, 0.9), Word("me", 0.3, 0.4, None), Word("more", 0.4, 0.7, 0.5)]
    assert join_words(said) == "tell me more"
    assert join_words([]) == ""


def test_the_compared_text_has_no_spaces_and_the_display_keeps_the_engines():
    words = whisper_words(NINE_O_CLOCK)
    assert [w.text for w in words][9:13] == ["my", "day", "-to", "-day"]
    assert [w.display for w in words][9:13] == [" my", " day", "-to", "-day"]


def test_word_times_move_from_the_engines_audio_to_the_start_press():
    moved = placed(whisper_words(NINE_O_CLOCK[:2]), 61.85)
    assert [(w.text, w.start_s, w.end_s, w.probability) for w in moved] == [
        ("We", 61.85, 62.25, 0.777),
        ("meet", 62.25, 62.55, 0.954),
    ]


def test_the_context_is_the_end_of_what_was_said_in_whole_words():
    said = [whisper_words(NINE_O_CLOCK), whisper_words(COLD_HEARTED)]
    assert context(said) == join_words(whisper_words(NINE_O_CLOCK + COLD_HEARTED))
    assert context(said, max_chars=30) == "thing to say, wasn't it?"
    assert context([]) == ""


def test_lines_carry_the_joined_text_and_the_words_in_time_order():
    turns = [Turn(1, 5.0, 8.6), Turn(0, 1.0, 4.6)]
    words = [placed(whisper_words(COLD_HEARTED), 5.0), placed(whisper_words(NINE_O_CLOCK), 1.0)]
    out = lines(turns, words, ("Coach", "Client"))
    assert [(li.speaker, li.text) for li in out] == [
        ("Coach", "We meet at 9 o'clock to talk about my day-to-day work."),
        ("Client", "It was a cold-hearted thing to say, wasn't it?"),
    ]
    assert out[1].words[3] == Word("cold", 5.82, 6.18, 0.985, " cold")


def doc(*speakers_of_lines: str) -> TranscriptDoc:
    return TranscriptDoc(
        session_id="s",
        title="t",
        date="2026-12-06",
        length_s=60.0,
        speakers=("Coach", "Client"),
        mode="channels",
        engine="whisper",
        lines=tuple(Line(i * 5.0, i * 5.0 + 4, s, "yes") for i, s in enumerate(speakers_of_lines)),
    )


def test_turns_count_changes_of_speaker_and_paragraphs_count_lines():
    d = doc("Coach", "Client", "Client", "Coach", "Coach", "Coach", "Client")
    assert (d.turns, d.paragraphs) == (4, 7)
    assert (doc().turns, doc().paragraphs) == (0, 0)
    assert (doc("Coach").turns, doc("Coach").paragraphs) == (1, 1)


def test_word_timings_are_in_the_json_and_the_text_files_stay_clean():
    words = placed(whisper_words(NINE_O_CLOCK), 1.0)
    d = TranscriptDoc(
        session_id="s",
        title="t",
        date="2026-12-06",
        length_s=60.0,
        speakers=("Coach", "Client"),
        mode="channels",
        engine="whisper",
        lines=lines([Turn(0, 1.0, 4.62)], [words], ("Coach", "Client")),
    )
    data = json.loads(json.dumps(d.to_json()))
    first = data["lines"][0]["words"][0]
    assert first == {
        "text": "We",
        "start_s": 1.0,
        "end_s": 1.4,
        "probability": 0.777,
        "display": " We",
    }
    assert TranscriptDoc.from_json(data) == d
    txt, vtt = to_txt(d), to_vtt(d)
    assert "[00:00:01] Coach: We meet at 9 o'clock to talk about my day-to-day work.\n" in txt
    for text in (txt, vtt):
        assert "0.777" not in text and "probability" not in text and "start_s" not in text


def test_a_transcript_written_before_word_timings_still_reads():
    old = doc("Coach", "Client").to_json()
    for line in old["lines"]:
        del line["words"]
    back = TranscriptDoc.from_json(old)
    assert back == doc("Coach", "Client") and all(li.words == () for li in back.lines)


def times(words: list[Word]) -> list[tuple[float, float]]:
    return [(w.start_s, w.end_s) for w in words]


def test_a_word_after_a_pause_begins_where_the_voice_resumed():
    # what tiny.en gave for "Monday, Tuesday, Wednesday" said 0.6-0.7 s apart: the ends right,
    # the starts after a pause 0.2-0.4 s late; the levels measured the pauses to 20 ms
    turn = Turn(0, 1.0, 4.12, pauses=((1.54, 2.24), (2.84, 3.42)))
    heard = [
        Word("Monday,", 0.85, 1.61),
        Word("Tuesday,", 2.41, 2.83),
        Word("Wednesday,", 3.83, 4.13),
    ]
    assert times(fit_to_voice(heard, turn)) == [(1.0, 1.54), (2.24, 2.83), (3.42, 4.12)]


def test_words_with_no_pause_between_them_keep_the_engines_times():
    heard = placed(whisper_words(NINE_O_CLOCK), 1.0)  # 1.0-4.62, one word after another
    assert times(fit_to_voice(heard, Turn(0, 1.0, 4.62))) == times(heard)
    # a pause the engine's word runs through (its "9" ends after the voice came back) leaves
    # the next word where the engine put it
    assert (
        times(fit_to_voice(heard, Turn(0, 1.0, 4.62, pauses=((1.97, 2.08),))))[4:]
        == times(heard)[4:]
    )


def test_a_start_in_a_pause_moves_to_its_end_and_a_word_that_runs_on_ends_with_the_voice():
    turn = Turn(1, 5.0, 9.0, pauses=((6.0, 7.0),))
    heard = [Word("milk", 5.1, 5.9), Word("juice.", 6.6, 7.4)]
    # the first word begins with the turn: the voice started there
    assert times(fit_to_voice(heard, turn)) == [(5.0, 5.9), (7.0, 7.4)]
    assert times(fit_to_voice([Word("milk", 5.1, 6.4)], turn)) == [(5.0, 6.0)]


def test_the_pauses_inside_a_turn_move_with_it_to_the_start_press():
    [(turn, heard)] = press_turns([Turn(0, 3.0, 9.0, pauses=((4.0, 5.0),))], 2.0, 60.0)
    assert turn == heard == Turn(0, 1.0, 7.0, pauses=((2.0, 3.0),))


def test_a_turn_begun_in_the_pre_roll_is_shown_from_the_press_and_heard_from_its_start():
    found = [Turn(0, 1.0, 2.5), Turn(0, 8.0, 11.0, pauses=((9.0, 9.5),)), Turn(1, 12.0, 13.0)]
    # 10 s of pre-roll: the first turn is all before the press, the second is cut by it
    [(turn, heard), (after, same)] = press_turns(found, 10.0, 5.0)
    assert turn == Turn(0, 0.0, 1.0, pauses=((-1.0, -0.5),))
    assert heard == Turn(0, -2.0, 1.0, pauses=((-1.0, -0.5),))
    assert after == same == Turn(1, 2.0, 3.0)
    # a long pre-roll: heard from HEARD_BEFORE_PRESS_S before the press, not from minutes back
    [(turn, heard)] = press_turns([Turn(0, 5.0, 125.0)], 120.0, 60.0)
    assert (turn.start_s, heard.start_s) == (0.0, -HEARD_BEFORE_PRESS_S)


def test_the_words_kept_are_those_mostly_said_after_the_press():
    heard = [Word("since", -0.9, -0.5), Word("last", -0.3, 0.1), Word("week", 0.1, 0.6)]
    assert [w.text for w in from_the_press(heard)] == ["week"]
    assert [w.text for w in from_the_press([Word("last", -0.2, 0.3)])] == ["last"]
