"""The transcript as text: the layout shared by transcript.txt and .docx, and transcript.vtt.

Pure: a TranscriptDoc in, a string out. ICF asks for coach and client on separate lines with a
timestamp at every change of speaker, so each turn is one paragraph, `[00:12:34] Coach: …`.

Where a marker goes: before the first line that starts at or after it. So a marker pressed at
the very start of a turn comes before that turn, and one pressed while someone is talking comes
after that turn's paragraph (a paragraph is never cut in two), before the next turn.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence

from recorder.core.transcript.doc import (
    ONE_MIC_NOTE,
    UNKNOWN_SPEAKER,
    Line,
    MarkerLine,
    TranscriptDoc,
    Word,
    join_words,
)

NO_WORDS = "(no words recognised)"  # an empty line would look like a lost paragraph
OVERLAP = "(overlapping)"  # two people at once: both lines are kept, each says so
START_PRESS_NOTE = "Times [HH:MM:SS] count from the start press, not from the pre-roll."
MARKER = "— Marker:"  # a dash first, so a marker never reads as a speaker
CUE_MAX_S = 7.0  # a caption a viewer can read before the next one
CUE_MAX_CHARS = 84  # two caption lines of 42 characters
CUE_MIN_WORDS = 4  # a long turn of few recognised words is not cut into one-word captions
CUE_LINE_CHARS = 42  # with word times: a caption is at most two lines of this
CUE_MIN_CHARS = 21  # a caption cut early for a better break keeps at least half a line
CUE_PAUSE_S = 0.3  # a pause between two words is a good place to end a caption
CUE_GAP_S = 1.0  # a silence this long always ends a caption
MARKER_CUE_S = 2.0

# Characters XML 1.0 (and so .docx) cannot hold, and lone surrogates UTF-8 cannot encode.
_UNWRITABLE = re.compile("[\x00-\x08\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")

Entry = Line | MarkerLine


def timestamp(seconds: float) -> str:
    """HH:MM:SS, rounded down: a line begun at 59.9 s is still in second 59, as a player shows."""
    _check_time(seconds, "timestamp")
    whole = math.floor(max(0.0, seconds) + 1e-6)  # 12.999999999 from frame arithmetic is 13
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def vtt_time(seconds: float) -> str:
    """HH:MM:SS.mmm, the WebVTT cue time (hours always written, so any length fits)."""
    return _vtt_ms(_ms(seconds))


def clean(text: str) -> str:
    """One line of plain text: runs of whitespace (newlines too) become one space, and
    characters no file format can hold are dropped (a marker label can come from anywhere)."""
    return " ".join(_UNWRITABLE.sub("", text).split())


def entries(doc: TranscriptDoc) -> list[Entry]:
    """The lines and markers in time order (see the module note for where a marker goes).

    Lines keep their given order when they start together. Raises ValueError naming the line
    or marker whose times are not times.
    """
    for i, line in enumerate(doc.lines):
        _check_time(line.start_s, f"transcript line {i + 1} ({line.speaker!r}) start")
        _check_time(line.end_s, f"transcript line {i + 1} ({line.speaker!r}) end")
        if line.end_s < line.start_s:
            raise ValueError(
                f"transcript line {i + 1} ({line.speaker!r}) ends at {line.end_s} s, "
                f"before it starts at {line.start_s} s"
            )
    for i, marker in enumerate(doc.markers):
        _check_time(marker.at_s, f"transcript marker {i + 1} ({marker.label!r})")
    lines = sorted(doc.lines, key=lambda line: line.start_s)
    markers = sorted(doc.markers, key=lambda m: m.at_s)
    out: list[Entry] = []
    i = 0
    for line in lines:
        while i < len(markers) and markers[i].at_s <= line.start_s:
            out.append(markers[i])
            i += 1
        out.append(line)
    out.extend(markers[i:])
    return out


def header_lines(doc: TranscriptDoc) -> list[str]:
    """What every format says above the turns: title, date, length, speakers, engine, notes.

    The one-microphone note and the start-press note are added here when the document's own
    notes do not already say them, so no format can leave them out.
    """
    minutes, seconds = divmod(math.floor(max(0.0, doc.length_s) + 1e-6), 60)
    notes = [clean(n) for n in doc.notes if clean(n)]
    if doc.mode == "one-mic" and ONE_MIC_NOTE not in notes:
        notes.insert(0, ONE_MIC_NOTE)
    if not any("start press" in n.lower() for n in notes):
        notes.append(START_PRESS_NOTE)
    return [
        clean(doc.title) or f"Session {doc.session_id}",
        f"Date: {clean(doc.date)}",
        f"Length: {minutes} min {seconds:02d} s",
        f"Speakers: {', '.join(clean(s) for s in doc.speakers)}",
        f"Words: recognised by {clean(doc.engine)} on the recorder, offline; "
        "check them against the recording before you submit this transcript.",
        *notes,
    ]


def line_label(line: Line) -> str:
    """`[00:12:34] Coach:` (with `(overlapping)` when someone else spoke at the same time)."""
    overlap = f" {OVERLAP}" if line.overlap else ""
    return f"[{timestamp(line.start_s)}] {speaker(line)}{overlap}:"


def line_text(line: Line) -> str:
    return clean(line.text) or NO_WORDS


def speaker(line: Line) -> str:
    return clean(line.speaker) or UNKNOWN_SPEAKER


def marker_text(marker: MarkerLine) -> str:
    return f"[{timestamp(marker.at_s)}] {MARKER} {clean(marker.label) or 'marker'}"


def paragraph(entry: Entry) -> str:
    """One entry as the single paragraph the .txt and .docx show for it."""
    if isinstance(entry, MarkerLine):
        return marker_text(entry)
    return f"{line_label(entry)} {line_text(entry)}"


def to_txt(doc: TranscriptDoc) -> str:
    """The header lines, a blank line, then the paragraphs with a blank line between them."""
    head = "\n".join(header_lines(doc))
    return "\n\n".join([head, *(paragraph(e) for e in entries(doc))]) + "\n"


# ---- WebVTT ---------------------------------------------------------------------------------


def to_vtt(doc: TranscriptDoc) -> str:
    """WebVTT with voice tags (`<v Coach>`), so a player shows who is speaking.

    A paragraph with word times is cut into captions by `word_cues`, each timed by its own
    words. One without (a transcript from before word times) longer than a caption (CUE_MAX_S,
    CUE_MAX_CHARS) is split on its words into cues of equal word counts sharing the turn's time
    evenly; a cue stays up at most CUE_MAX_S even when few words were recognised in a long
    turn. A marker is a short cue of its own. Cues are in start order, each ending after it
    starts; every cue of a paragraph carries its speaker's voice tag.
    """
    note = [_note_safe(text) for text in header_lines(doc)]
    blocks = ["WEBVTT", "NOTE\n" + "\n".join(note)]
    cues: list[tuple[int, int, str]] = []
    for e in entries(doc):
        if isinstance(e, MarkerLine):
            start = _ms(e.at_s)
            label = _escape(clean(e.label) or "marker")
            cues.append((start, start + round(MARKER_CUE_S * 1000), f"{MARKER} {label}"))
            continue
        voice = _escape(speaker(e))  # the name alone, so a style can match `v[voice=Coach]`
        for start, end, text in _line_cues(e):
            cues.append((start, end, f"<v {voice}>{_escape(text)}"))
    cues.sort(key=lambda c: c[0])
    for n, (start, end, text) in enumerate(cues, 1):
        blocks.append(f"{n}\n{_vtt_ms(start)} --> {_vtt_ms(end)}\n{text}")
    return "\n\n".join(blocks) + "\n"


def _line_cues(line: Line) -> list[tuple[int, int, str]]:
    """A paragraph's cues: from its words' own times where it has them, else shared evenly."""
    if not clean(join_words(line.words)):
        return _even_cues(line)
    out = []
    for cue in word_cues(line.words):
        start = _ms(cue[0].start_s)
        text = clean(join_words(cue))
        if not text:  # pieces of nothing a file can hold
            continue
        out.append((start, max(_ms(cue[-1].end_s), start + 1), "\n".join(_layout(text) or [text])))
    return out


def word_cues(words: Sequence[Word]) -> list[list[Word]]:
    """A paragraph's words grouped into captions, each shown from its first word's start to its
    last word's end: at most CUE_MAX_S long and two lines of CUE_LINE_CHARS, and a
    silence of CUE_GAP_S always ends one (a caption is not on screen while nobody speaks).

    Where a caption must end, it ends at the best break in it (a sentence's end, then a pause,
    then a comma), the latest of those that still leaves it CUE_MIN_CHARS long: a caption reads
    as a phrase, not as words cut off mid-clause. A single word always makes a caption.
    """
    cues: list[list[Word]] = []
    cur: list[Word] = []
    for w in words:
        if cur and w.start_s - cur[-1].end_s >= CUE_GAP_S and not _goes_on(w):
            cues.append(cur)
            cur = []
        while cur and not _fits([*cur, w]):
            k = _best_cut(cur, w)
            cues.append(cur[:k])
            cur = cur[k:]
        cur.append(w)
    if cur:
        cues.append(cur)
    return cues


def _fits(words: list[Word]) -> bool:
    if words[-1].end_s - words[0].start_s > CUE_MAX_S:
        return False
    return len(words) == 1 or _layout(clean(join_words(words))) is not None


def _best_cut(cur: list[Word], following: Word) -> int:
    """How many of `cur` go into the caption that ends now (the rest begin the next one)."""
    best, best_rank = len(cur), -1
    for k in range(len(cur), 0, -1):
        if k < len(cur) and len(join_words(cur[:k])) < CUE_MIN_CHARS:
            break
        after = cur[k] if k < len(cur) else following
        if _goes_on(after):  # "day" "-to" "-day" is one word: never cut inside it
            continue
        rank = _break_rank(cur[k - 1], after)
        if rank > best_rank:
            best, best_rank = k, rank
    return best


def _goes_on(w: Word) -> bool:
    """Whether the piece continues the word before it (whisper writes no space before it)."""
    return w.display is not None and not w.display[:1].isspace()


def _break_rank(before: Word, after: Word) -> int:
    """How good a place to end a caption the gap between two words is (3 best)."""
    end = join_words([before]).rstrip("\"')]»”’")[-1:]
    if end and end in ".?!…":
        return 3
    if after.start_s - before.end_s >= CUE_PAUSE_S:
        return 2
    return 1 if end and end in ",;:–—" else 0


def _layout(text: str) -> list[str] | None:
    """The caption's lines: one if it fits CUE_LINE_CHARS, else two as even as the words allow
    (the balanced layout subtitle guides ask for); None when two lines cannot hold it."""
    if len(text) <= CUE_LINE_CHARS:
        return [text]
    words = text.split(" ")
    splits = [(" ".join(words[:i]), " ".join(words[i:])) for i in range(1, len(words))]
    fitting = [s for s in splits if max(map(len, s)) <= CUE_LINE_CHARS]
    return list(min(fitting, key=lambda s: max(map(len, s)))) if fitting else None


def _even_cues(line: Line) -> list[tuple[int, int, str]]:
    """Cues of a paragraph without word times (an older transcript): its words in pieces of
    equal word counts, sharing its time evenly."""
    words = line_text(line).split()
    start, end = _ms(line.start_s), _ms(line.end_s)
    span = max(end - start, 1)
    chars = len(" ".join(words))
    by_time = min(math.ceil(span / (CUE_MAX_S * 1000)), len(words) // CUE_MIN_WORDS)
    pieces = min(max(math.ceil(chars / CUE_MAX_CHARS), by_time, 1), len(words))
    cut = [k * len(words) // pieces for k in range(pieces + 1)]
    out = []
    for a, b in itertools.pairwise(cut):
        cue_start = start + span * a // len(words)
        cue_end = start + span * b // len(words)
        # few words over a long turn: the caption still stays up no longer than CUE_MAX_S
        cue_end = min(cue_end, cue_start + round(CUE_MAX_S * 1000))
        out.append((cue_start, max(cue_end, cue_start + 1), " ".join(words[a:b])))
    return out


def _escape(text: str) -> str:
    """Cue text and voice names: & < > as character references (which also rules out -->)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _note_safe(text: str) -> str:
    """A NOTE is not parsed, only ended: by a blank line (clean() leaves none) or by -->."""
    return text.replace("-->", "->")


def _ms(seconds: float) -> int:
    _check_time(seconds, "cue time")
    return max(0, round(seconds * 1000))


def _vtt_ms(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _check_time(seconds: float, what: str) -> None:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f"{what}: {seconds!r} is not a number of seconds")
    if not math.isfinite(seconds):
        raise ValueError(f"{what}: {seconds!r} is not a time")
