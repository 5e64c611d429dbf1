"""The transcript as text: transcript.txt and transcript.vtt (pure).

ICF asks for coach and client on separate lines with a timestamp at every change of speaker;
each turn is one paragraph, `[00:12:34] Coach: …`. Markers sit between the lines at their time:
a marker that falls inside a turn comes after that turn's paragraph, so no sentence is cut.
"""

from __future__ import annotations

from recorder.core.transcript import Line, MarkerLine, TranscriptDoc

INAUDIBLE = "(inaudible)"
OVERLAP = "(overlapping)"
CUE_MAX_S = 7.0  # a caption a viewer can read before the next one
CUE_MAX_WORDS = 16  # about two caption lines


def timestamp(seconds: float) -> str:
    """HH:MM:SS, rounded down: a line said at 59.9 s is still in second 59."""
    whole = max(0, int(seconds))
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def vtt_time(seconds: float) -> str:
    ms = max(0, round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms % 3_600_000 // 60_000:02d}:{ms % 60_000 // 1000:02d}.{ms % 1000:03d}"


def entries(doc: TranscriptDoc) -> list[Line | MarkerLine]:
    """Lines and markers in time order; a marker inside a line goes after it."""
    out: list[Line | MarkerLine] = []
    markers = sorted(doc.markers, key=lambda m: m.at_s)
    lines = sorted(doc.lines, key=lambda line: line.start_s)
    i = 0
    for line in lines:
        while i < len(markers) and markers[i].at_s < line.start_s:
            out.append(markers[i])
            i += 1
        out.append(line)
    out += markers[i:]
    return out


def _header(doc: TranscriptDoc) -> list[str]:
    minutes, seconds = divmod(round(doc.length_s), 60)
    return [
        doc.title,
        f"Date: {doc.date}",
        f"Length: {minutes} min {seconds} s",
        f"Speakers: {', '.join(doc.speakers)}",
        f"Transcribed on the recorder by {doc.engine} (offline); check it against the recording.",
        *doc.notes,
    ]


def paragraph(entry: Line | MarkerLine) -> str:
    if isinstance(entry, MarkerLine):
        return f"[{timestamp(entry.at_s)}] — Marker: {entry.label}"
    text = entry.text or INAUDIBLE
    overlap = f" {OVERLAP}" if entry.overlap else ""
    return f"[{timestamp(entry.start_s)}] {entry.speaker}{overlap}: {text}"


def to_txt(doc: TranscriptDoc) -> str:
    return "\n\n".join([*_header(doc), *(paragraph(e) for e in entries(doc))]) + "\n"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cues(line: Line) -> list[tuple[float, float, str]]:
    """A turn as captions of at most CUE_MAX_S and CUE_MAX_WORDS, time shared by word count."""
    words = (line.text or INAUDIBLE).split()
    length = max(line.end_s - line.start_s, 0.001)
    pieces = max(1, -(-len(words) // CUE_MAX_WORDS), int(-(-length // CUE_MAX_S)))
    pieces = min(pieces, len(words))
    per = -(-len(words) // pieces)
    out = []
    for k in range(0, len(words), per):
        start = line.start_s + length * k / len(words)
        end = line.start_s + length * min(k + per, len(words)) / len(words)
        out.append((start, max(end, start + 0.001), " ".join(words[k : k + per])))
    return out


def to_vtt(doc: TranscriptDoc) -> str:
    """WebVTT with voice tags (`<v Coach>`), so a player shows who is speaking."""
    blocks = [
        "WEBVTT",
        f"NOTE\n{_escape(doc.title)}, {doc.date}. Times count from the start press.",
    ]
    cues: list[tuple[float, float, str]] = []
    for e in entries(doc):
        if isinstance(e, MarkerLine):
            cues.append((e.at_s, e.at_s + 2.0, f"[Marker: {_escape(e.label)}]"))
            continue
        voice = _escape(e.speaker)
        for start, end, text in _cues(e):
            cues.append((start, end, f"<v {voice}>{_escape(text)}"))
    cues.sort(key=lambda c: c[0])
    for n, (start, end, text) in enumerate(cues, 1):
        blocks.append(f"{n}\n{vtt_time(start)} --> {vtt_time(end)}\n{text}")
    return "\n\n".join(blocks) + "\n"
