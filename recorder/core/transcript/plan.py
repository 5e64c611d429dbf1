"""From detected turns to the pieces an engine decodes and the lines of the document (pure).

The detector works on the whole recording in session seconds; the transcript counts from the
start press. Long turns are cut into pieces an engine can take at once (pocketsphinx and
whisper both do worse, and use more memory, on minutes of audio), at the quietest moment near
the limit so a cut rarely falls inside a word.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from recorder.core.transcript.doc import UNKNOWN_SPEAKER, Line, Turn, Word, join_words

MAX_PIECE_S = 30.0  # whisper's own window; pocketsphinx's search stays small
CUT_SEARCH_S = 8.0  # a cut is placed at the quietest window in the last seconds before the limit
PAD_S = 0.15  # audio given to the engine around a turn, so first and last words are whole
# A turn begun in the pre-roll is heard from at most this long before the press: a sentence or
# two for the engine to decode whole, not minutes of a long pre-roll decoded to be dropped.
HEARD_BEFORE_PRESS_S = 10.0
# The text before a turn given to an engine that takes it (whisper's prompt, which holds 224
# tokens; half of them is some 400 characters): names and spelling carry over from turn to turn.
CONTEXT_CHARS = 400


@dataclass(frozen=True)
class Piece:
    """One stretch an engine decodes: session seconds, the channel (None: all mixed)."""

    turn: int  # index into the turns
    channel: int | None
    start_s: float
    end_s: float


def press_turns(turns: list[Turn], preroll_s: float, length_s: float) -> list[tuple[Turn, Turn]]:
    """Each turn after the start press twice, in seconds from the press: as the transcript
    shows it (the pre-roll's part left out) and as the engine hears it (from where the voice
    began, before the press if it began in the pre-roll, up to HEARD_BEFORE_PRESS_S). Decoded
    alone, the last second of a sentence cut by the press makes whisper guess ("in last week"
    for "since last week") or invent a line; `from_the_press` then keeps the words said after
    the press."""
    out = []
    for t in turns:
        start, end = max(t.start_s - preroll_s, 0.0), min(t.end_s - preroll_s, length_s)
        if end > start:
            pauses = tuple((round(a - preroll_s, 3), round(b - preroll_s, 3)) for a, b in t.pauses)
            line = Turn(t.channel, round(start, 3), round(end, 3), t.overlap, pauses)
            began = t.start_s - preroll_s  # before the press (negative) for a cut sentence
            heard = began if began > 0 else max(began, -HEARD_BEFORE_PRESS_S)
            out.append((line, replace(line, start_s=round(heard, 3))))
    return out


def from_the_press(words: list[Word]) -> list[Word]:
    """The words said after the start press (most of the word after it: the audio from the
    press on holds at most a syllable of one that began before)."""
    return [w for w in words if w.start_s + w.end_s >= 0.0]


def plan_pieces(
    turn: Turn, index: int, quiet: np.ndarray, window_s: float, offset_s: float = 0.0
) -> list[Piece]:
    """One turn as pieces of at most MAX_PIECE_S, cut where `quiet` is lowest.

    `quiet` is a level per window (dB, the turn's channel or the mix) in session time;
    `offset_s` moves the turn (start-press time) into that time; `index` is the turn's.
    """
    pieces = []
    start, end = turn.start_s + offset_s, turn.end_s + offset_s
    while end - start > MAX_PIECE_S:
        lo = int((start + MAX_PIECE_S - CUT_SEARCH_S) / window_s)
        hi = max(lo + 1, int((start + MAX_PIECE_S) / window_s))
        window = quiet[lo:hi]
        cut = (lo + int(np.argmin(window))) * window_s if window.size else start + MAX_PIECE_S
        cut = min(max(cut, start + 1.0), start + MAX_PIECE_S)
        pieces.append(Piece(index, turn.channel, start, cut))
        start = cut
    pieces.append(Piece(index, turn.channel, start, end))
    return pieces


def speaker(turn: Turn, speakers: tuple[str, ...]) -> str:
    if turn.channel is None:
        return UNKNOWN_SPEAKER
    if turn.channel < len(speakers):
        return speakers[turn.channel]
    return f"Speaker {turn.channel + 1}"


def placed(words: list[Word], offset_s: float) -> list[Word]:
    """An engine's words moved by `offset_s`: from the start of the audio it got to the
    start press (times to the millisecond, as the rest of the document)."""
    return [
        replace(w, start_s=round(w.start_s + offset_s, 3), end_s=round(w.end_s + offset_s, 3))
        for w in words
    ]


def fit_to_voice(words: list[Word], turn: Turn) -> list[Word]:
    """A turn's words (start-press time) held to where its voice is, as the levels measured it.

    tiny.en puts a word that follows a pause up to 0.6 s late (its end is right): the word
    begins where the voice resumed when that is after the previous word ended. A start or end
    in a pause, or outside the turn, moves to the voice's edge. (Cutting the pauses short
    before decoding, as faster-whisper's VAD filter does, made tiny.en's times worse.)
    """
    onsets = [turn.start_s, *(b for _, b in turn.pauses)]
    out: list[Word] = []
    for w in words:
        start = max(w.start_s, turn.start_s)
        start = next((b for a, b in turn.pauses if a <= start < b), start)
        resumed = [o for o in onsets if o <= start and (not out or o > out[-1].end_s)]
        start = resumed[-1] if resumed else start
        end = min(w.end_s, turn.end_s)
        end = next((a for a, b in turn.pauses if a < end < b), end)
        out.append(replace(w, start_s=start, end_s=max(start, end)))
    return out


def context(previous: list[list[Word]], max_chars: int = CONTEXT_CHARS) -> str:
    """The end of what was said so far, whole words, for an engine that takes a prompt."""
    text = join_words(w for words in previous for w in words)
    if len(text) <= max_chars:
        return text
    cut = text[-max_chars:]
    return cut.split(" ", 1)[1] if " " in cut else cut


def lines(
    turns: list[Turn], words: list[list[Word]], speakers: tuple[str, ...]
) -> tuple[Line, ...]:
    """The document's lines: one per turn, in time order, with its speaker's name, its text
    joined from its words and the words themselves."""
    return tuple(
        Line(t.start_s, t.end_s, speaker(t, speakers), join_words(ws), t.overlap, tuple(ws))
        for t, ws in sorted(zip(turns, words, strict=True), key=lambda p: p[0].start_s)
    )
