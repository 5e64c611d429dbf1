"""What bench/transcribe.py's figures mean: the normalisation before the WER and the speaker
accuracy, on inputs whose answers are known. The docs/benchmarks.md table is only as right as
these."""

from __future__ import annotations

import pytest

from bench.transcribe import labelled, normalise, number_words, score, speaker_changes


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("I get in at 9 o'clock.", "i get in at nine o'clock"),
        ("nine o'clock", "nine o'clock"),
        ("day-to-day problems", "day to day problems"),
        ("Fifty-five, maybe 55.", "fifty five maybe fifty five"),
        ("Mm-hm. Mhm, OK!", "mmhm mmhm okay"),
        ("I didn't \u2019say\u2019 it's 500 pounds", "i didn't say it's five hundred pounds"),
        ("half past 10", "half past ten"),
        ("and Mr. John Dashwood", "and mister john dashwood"),
        ("  -- \u2026 ", ""),
    ],
)
def test_normalise_makes_one_form_of_what_both_engines_may_write(text, words):
    assert normalise(text) == words.split()


def test_numbers_are_spelled_as_read():
    assert [number_words(n) for n in (0, 13, 40, 55, 100, 512, 2026)] == [
        "zero",
        "thirteen",
        "forty",
        "fifty five",
        "one hundred",
        "five hundred twelve",
        "two thousand twenty six",
    ]


def test_a_perfect_transcript_scores_zero_wer_and_every_word_to_its_speaker():
    lines = [("Coach", "Right."), ("Client", "It's 9 o'clock, day-to-day.")]
    s = score(
        labelled(lines), labelled([("Coach", "right"), ("Client", "it's nine o'clock day to day")])
    )
    assert (s.wer, s.words, s.attributed, s.right_speaker) == (0.0, 7, 7, 7)
    assert s.speaker_accuracy == 1.0 and s.hits == frozenset(range(7))


def test_speaker_accuracy_counts_aligned_words_on_the_wrong_speaker_and_ignores_missed_ones():
    reference = labelled([("Coach", "what would you like"), ("Client", "more time yes")])
    # "like" given to the client, "yes" missed, "time" misheard as "tame" (still attributed)
    hypothesis = labelled([("Coach", "what would you"), ("Client", "like more tame")])
    s = score(reference, hypothesis)
    assert s.words == 7
    assert s.wer == pytest.approx(2 / 7)  # one substitution, one deletion
    assert (s.attributed, s.right_speaker) == (6, 5)
    assert s.speaker_accuracy == pytest.approx(5 / 6)
    assert s.hits == frozenset({0, 1, 2, 3, 4})


def test_an_empty_transcript_is_all_wrong():
    s = score(labelled([("Coach", "hello there")]), [])
    assert (s.wer, s.attributed, s.speaker_accuracy) == (1.0, 0, 0.0)


def test_turns_are_changes_of_speaker():
    assert speaker_changes(["Coach", "Client", "Client", "Coach", "Coach"]) == 3
    assert speaker_changes([]) == 0
