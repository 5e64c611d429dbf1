"""The coach's corrections to a transcript: change a line's words or speaker, split a line at a
word, merge a line with the next (pure).

A line's words are what a reader sees: its text split on spaces. Where the engine gave word
times, a word the coach left as it was keeps them (old and new words are aligned with difflib),
and a word the coach typed gets a time shared out evenly over the stretch it replaces, and no
probability: it is the coach's, not the engine's, so the page never marks it as unsure.

Lines and words are counted from 0, as in transcript.json's `doc.lines`; the operations of one
save are applied in order, each to the document the one before left.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from recorder.core.transcript.doc import Line, TranscriptDoc, Word, join_words

MAX_OPS = 200  # one save; a page sends what the coach changed since the last save
MAX_LINE_CHARS = 20_000  # a paragraph of some ten minutes of speech
MAX_SPEAKER = 80  # as a client's name (recorder.core.coaching.details.MAX_NAME)


class EditError(ValueError):
    """An operation that cannot be applied; the message names it and says why."""


@dataclass(frozen=True)
class SetText:
    line: int
    text: str


@dataclass(frozen=True)
class SetSpeaker:
    line: int
    speaker: str


@dataclass(frozen=True)
class Split:
    line: int
    word: int  # the first word of the new line (1 .. words - 1)


@dataclass(frozen=True)
class Merge:
    line: int  # merged with the line after it


Op = SetText | SetSpeaker | Split | Merge


def op_json(op: Op) -> dict:
    """An operation as a request and the revision history write it."""
    name = {SetText: "text", SetSpeaker: "speaker", Split: "split", Merge: "merge"}[type(op)]
    return {"op": name, **dataclasses.asdict(op)}


@dataclass(frozen=True)
class _Token:
    """One word as the reader sees it, with the engine's pieces that make it (none: untimed)."""

    text: str
    words: tuple[Word, ...] = ()


def _pieces(line: Line) -> list[Word]:
    """The line's words, each piece holding no space inside it (a rare piece such as " New
    York" is cut in two, its time shared), empty pieces left out."""
    out: list[Word] = []
    for w in line.words:
        piece = w.display if w.display is not None else f" {w.text}"
        parts = piece.split()
        if len(parts) <= 1:
            if parts:
                out.append(w)
            continue
        span = (w.end_s - w.start_s) / len(parts)
        lead = " " if piece[:1].isspace() else ""
        for k, part in enumerate(parts):
            start = w.start_s + span * k
            out.append(
                Word(part, round(start, 3), round(start + span, 3), w.probability,
                     (lead if k == 0 else " ") + part)
            )  # fmt: skip
    return out


def tokens(line: Line) -> list[_Token]:
    """The line's words as the page shows them, each with its engine pieces."""
    if not line.words:
        return [_Token(t) for t in line.text.split()]
    out: list[_Token] = []
    for w in _pieces(line):
        goes_on = w.display is not None and not w.display[:1].isspace()
        if goes_on and out:  # "day" "-to" "-day": one word
            last = out[-1]
            out[-1] = _Token(last.text + w.display.strip(), (*last.words, w))  # type: ignore[union-attr]
        else:
            out.append(_Token(join_words([w]), (w,)))
    return out


def _typed(texts: Sequence[str], start: float, end: float) -> list[Word]:
    """Words the coach typed, sharing [start, end] evenly; no probability."""
    end = max(end, start)
    step = (end - start) / max(len(texts), 1)
    return [
        Word(t, round(start + step * k, 3), round(start + step * (k + 1), 3), None, None)
        for k, t in enumerate(texts)
    ]


def _first_start(toks: Sequence[_Token], default: float) -> float:
    return next((t.words[0].start_s for t in toks if t.words), default)


def retext(line: Line, text: str) -> Line:
    """The line with the coach's text; unchanged words keep their times."""
    new = text.split()
    old = tokens(line)
    if not line.words:
        return dataclasses.replace(line, text=" ".join(new))
    words: list[Word] = []
    matcher = SequenceMatcher(None, [t.text for t in old], new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            words += [w for t in old[i1:i2] for w in t.words]
        elif j2 > j1:  # replace or insert
            gone = [w for t in old[i1:i2] for w in t.words]
            after = words[-1].end_s if words else line.start_s
            if gone:
                start, end = max(gone[0].start_s, after), gone[-1].end_s
            else:
                start, end = after, _first_start(old[i2:], line.end_s)
            words += _typed(new[j1:j2], start, end)
    return dataclasses.replace(line, text=join_words(words), words=tuple(words))


def _line(lines: Sequence[Line], n: int, last_ok: bool = True) -> int:
    limit = len(lines) if last_ok else len(lines) - 1
    if not 0 <= n < limit:
        have = f"lines 0..{limit - 1}" if limit > 0 else "none"
        raise EditError(f"there is no line {n} {'to merge with the next ' if not last_ok else ''}"
                        f"(the transcript has {len(lines)}: {have})")  # fmt: skip
    return n


def split(line: Line, word: int) -> tuple[Line, Line]:
    toks = tokens(line)
    if not 1 <= word < len(toks):
        raise EditError(
            f"a line of {len(toks)} word(s) is split before word 1..{len(toks) - 1}, not {word}"
        )
    head, tail = toks[:word], toks[word:]
    span = line.end_s - line.start_s
    share = len(" ".join(t.text for t in head)) / max(len(" ".join(t.text for t in toks)), 1)
    cut = _first_start(tail, round(line.start_s + span * share, 3))
    cut = min(max(cut, line.start_s), line.end_s)

    def part(part_toks: list[_Token], start: float, end: float) -> Line:
        words = tuple(w for t in part_toks for w in t.words)
        text = join_words(words) if line.words else " ".join(t.text for t in part_toks)
        return dataclasses.replace(line, start_s=start, end_s=end, text=text, words=words)

    head_end = max([cut, *(w.end_s for t in head for w in t.words)])
    return part(head, line.start_s, min(head_end, line.end_s)), part(tail, cut, line.end_s)


def merge(a: Line, b: Line) -> Line:
    words = (*a.words, *b.words)
    text = join_words(words) if a.words or b.words else " ".join((a.text + " " + b.text).split())
    if bool(a.words) != bool(b.words):  # one untimed: keep the words as text only
        words, text = (), " ".join((a.text + " " + b.text).split())
    return Line(
        min(a.start_s, b.start_s), max(a.end_s, b.end_s), a.speaker, text,
        a.overlap or b.overlap, words,
    )  # fmt: skip


def apply(doc: TranscriptDoc, ops: Sequence[Op]) -> TranscriptDoc:
    """The document after the operations, in order. Raises EditError naming the first that
    cannot be applied (nothing is applied then: the caller keeps `doc`)."""
    lines = list(doc.lines)
    speakers = list(doc.speakers)
    for k, op in enumerate(ops, 1):
        try:
            match op:
                case SetText(n, text):
                    i = _line(lines, n)
                    lines[i] = retext(lines[i], text)
                case SetSpeaker(n, name):
                    i = _line(lines, n)
                    lines[i] = dataclasses.replace(lines[i], speaker=name)
                    if name not in speakers:
                        speakers.append(name)
                case Split(n, word):
                    i = _line(lines, n)
                    lines[i : i + 1] = split(lines[i], word)
                case Merge(n):
                    i = _line(lines, n, last_ok=False)
                    lines[i : i + 2] = [merge(lines[i], lines[i + 1])]
        except EditError as exc:
            raise EditError(f"operation {k} ({op_json(op)['op']}): {exc}") from None
    return dataclasses.replace(doc, lines=tuple(lines), speakers=tuple(speakers))


# ---- reading operations from a request ------------------------------------------------------

_FIELDS = {"text": {"line", "text"}, "speaker": {"line", "speaker"}, "split": {"line", "word"},
           "merge": {"line"}}  # fmt: skip
_LINE_BREAKS = frozenset("\n\r\t")


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1_000_000:
        raise EditError(f"{what} is a count from 0, not {_shown(value)}")
    return value


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


def _text(value: object, what: str, limit: int, *, empty_ok: bool) -> str:
    """One line of the coach's text: spaces collapsed; control characters refused (a line
    break is taken as a space)."""
    if not isinstance(value, str):
        raise EditError(f"{what} must be text, not {type(value).__name__}")
    bad = next((c for c in value if c not in _LINE_BREAKS and _control(c)), None)
    if bad is not None:
        raise EditError(f"{what} holds the control character U+{ord(bad):04X}; use plain text")
    text = " ".join(value.split())
    if len(text) > limit:
        raise EditError(f"{what} is {len(text)} characters; at most {limit} are kept")
    if not text and not empty_ok:
        raise EditError(f"{what} must not be empty")
    return text


def _control(c: str) -> bool:
    return unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")


def read_op(raw: object, k: int) -> Op:
    where = f"operation {k}"
    if not isinstance(raw, dict):
        raise EditError(f'{where} is an object such as {{"op": "text", "line": 0, "text": "…"}}')
    name = raw.get("op")
    if not isinstance(name, str) or name not in _FIELDS:
        raise EditError(f"{where}: op is one of {', '.join(_FIELDS)}, not {_shown(name)}")
    extra = set(raw) - {"op"} - _FIELDS[name]
    if extra:
        raise EditError(f"{where} ({name}): unexpected field(s) {_shown(sorted(map(str, extra)))}")
    line = _count(raw.get("line"), f"{where} ({name}): line")
    if name == "text":
        return SetText(line, _text(raw.get("text"), f"{where}: text", MAX_LINE_CHARS,
                                   empty_ok=True))  # fmt: skip
    if name == "speaker":
        return SetSpeaker(line, _text(raw.get("speaker"), f"{where}: speaker", MAX_SPEAKER,
                                      empty_ok=False))  # fmt: skip
    if name == "split":
        return Split(line, _count(raw.get("word"), f"{where} (split): word"))
    return Merge(line)


def read_ops(raw: object) -> tuple[Op, ...]:
    """The checked operations of a request's `ops`; EditError says what is wrong."""
    if not isinstance(raw, list) or not raw:
        raise EditError("ops is a list of one or more operations")
    if len(raw) > MAX_OPS:
        raise EditError(f"{len(raw)} operations in one save; at most {MAX_OPS}")
    return tuple(read_op(item, k) for k, item in enumerate(raw, 1))
