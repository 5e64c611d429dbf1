"""The transcript of one session, as plain data: who spoke when, and what they said.

Everything here is pure. Times are seconds from the start press (the pre-roll before it is not
part of the session a coach submits, so it is not part of its transcript either): a turn the
detector found in session frames is moved by `preroll_s` on the way in.

The same document gives every file: `transcript.txt`, `transcript.vtt` and `transcript.docx`
(recorder.core.transcript.text and recorder.transcript.docx_file) and `transcript.json`, which
holds it whole so another format can be made later without decoding the audio again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Literal

UNKNOWN_SPEAKER = "Coach/Client"  # one-microphone mode: the coach deletes the wrong one
ONE_MIC_NOTE = (
    "Recorded with one microphone: this transcript cannot tell the voices apart. Each paragraph "
    f'begins at a pause; replace "{UNKNOWN_SPEAKER}" with the right name.'
)

Mode = Literal["channels", "one-mic"]


@dataclass(frozen=True)
class Turn:
    """One stretch of speech from one channel, as the detector found it.

    `channel` is the input channel (0 = the first), or None in one-microphone mode where a
    turn is a paragraph between pauses and its speaker is not known. Overlapping turns of two
    channels are both kept, each marked `overlap`.
    """

    channel: int | None
    start_s: float
    end_s: float
    overlap: bool = False
    pauses: tuple[tuple[float, float], ...] = ()  # silences inside the turn: (start, end)


@dataclass(frozen=True)
class Word:
    """One recognised word: from an engine, times count from the start of the audio it got; in
    a Line, from the start press.

    `text` is the word as compared (no spaces around it); `display` is the piece as the engine
    wrote it, with the leading space it gives a new word and none where the piece goes on the
    word before (whisper's " day", "-to", "-day"), so `join_words` writes "day-to-day". None
    for an engine that gives whole words: a space, then `text`. `probability` is the engine's
    confidence in the word (0..1), None where it gives none.
    """

    text: str
    start_s: float
    end_s: float
    probability: float | None = None
    display: str | None = None


def join_words(words: Iterable[Word]) -> str:
    """The words as one line of text, each piece joined the way its engine wrote it."""
    return " ".join(
        "".join(w.display if w.display is not None else f" {w.text}" for w in words).split()
    )


@dataclass(frozen=True)
class Line:
    """One paragraph of the transcript: a turn with its speaker's name and words."""

    start_s: float
    end_s: float
    speaker: str  # a name from [transcript] speakers, or UNKNOWN_SPEAKER
    text: str
    overlap: bool = False
    words: tuple[Word, ...] = ()  # with times from the start press; () in older transcripts


@dataclass(frozen=True)
class MarkerLine:
    at_s: float
    label: str


@dataclass(frozen=True)
class TranscriptDoc:
    session_id: str
    title: str
    date: str  # ISO 8601 date of the session's start, as the manifest has it
    length_s: float  # from the start press to the stop
    speakers: tuple[str, ...]
    mode: Mode
    engine: str
    lines: tuple[Line, ...] = ()
    markers: tuple[MarkerLine, ...] = ()
    notes: tuple[str, ...] = field(default=())  # said at the top of every format

    @property
    def words(self) -> int:
        return sum(len(line.text.split()) for line in self.lines)

    @property
    def turns(self) -> int:
        """Turns of speech: a line whose speaker differs from the line before starts one."""
        return sum(
            1
            for i, line in enumerate(self.lines)
            if not i or line.speaker != self.lines[i - 1].speaker
        )

    @property
    def paragraphs(self) -> int:
        """Timestamped lines: a turn has more than one where its speaker paused long."""
        return len(self.lines)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TranscriptDoc:
        return cls(
            session_id=data["session_id"],
            title=data["title"],
            date=data["date"],
            length_s=float(data["length_s"]),
            speakers=tuple(data["speakers"]),
            mode=data["mode"],
            engine=data["engine"],
            lines=tuple(_line(line) for line in data.get("lines", ())),
            markers=tuple(MarkerLine(**m) for m in data.get("markers", ())),
            notes=tuple(data.get("notes", ())),
        )


def _line(data: dict) -> Line:
    words = tuple(Word(**w) for w in data.get("words", ()))
    return Line(**{**data, "words": words})
