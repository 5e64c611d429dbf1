"""`transcript.json` in a session folder: where a transcript stands, and the document itself.

Only the transcript package writes it (the worker while it builds, the command line when it
exports), never the manifest's writers, so the two never race. Readers get a summary that a
broken or half-written file cannot break: `sessions --json` must list every session.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from recorder.core.transcript.doc import TranscriptDoc
from recorder.store.files import atomic_write

STATUS_FILE = "transcript.json"
FILES = ("transcript.docx", "transcript.txt", "transcript.vtt")
ORIGINAL_FILE = "transcript.original.json"  # the engine's own, kept at the coach's first correction
# none: never built; building: a worker is at it (or died at it: see `error`); done; failed
STATUSES = ("none", "building", "done", "failed")


class TranscriptFileError(ValueError):
    """transcript.json cannot be read; the message names the file."""


def read_status(folder: Path) -> dict:
    """The whole transcript.json, or {"status": "none"} when there is none.

    Raises TranscriptFileError for a file that is not what the worker writes.
    """
    path = folder / STATUS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"status": "none"}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TranscriptFileError(f"{path}: cannot be read: {exc}") from None
    if not isinstance(data, dict) or data.get("status") not in STATUSES:
        raise TranscriptFileError(f"{path}: not a transcript status (no known 'status')")
    return data


def summary(folder: Path) -> dict:
    """The `transcript` field of `sessions --json`: status, engine, files, words, turns
    (changes of speaker), paragraphs (timestamped lines)."""
    try:
        data = read_status(folder)
    except TranscriptFileError as exc:
        return {
            "status": "damaged",
            "engine": None,
            "files": [],
            "words": 0,
            "turns": 0,
            "paragraphs": 0,
            "error": str(exc),
        }
    files = [str(folder / name) for name in data.get("files", []) if (folder / name).exists()]
    out = {
        "status": data["status"],
        "engine": data.get("engine"),
        "files": files,
        "words": int(data.get("words", 0)),
        "turns": int(data.get("turns", 0)),
        # before paragraphs were counted apart, `turns` counted the lines
        "paragraphs": int(data.get("paragraphs", data.get("turns", 0))),
    }
    for key in ("engine_reason", "mode", "speakers", "error", "progress", "built_at", "edited_at"):
        if data.get(key) is not None:
            out[key] = data[key]
    if data["status"] == "done":
        # the coach's corrections (recorder.transcript.revisions): 0 is the engine's
        mark = data.get("proofread")
        out["revision"] = revision_of(data)
        out["proofread"] = is_proofread(data)
        if isinstance(mark, dict):
            out["proofread_revision"] = mark.get("revision")
            out["proofread_at"] = mark.get("at")
    return out


def revision_of(data: dict) -> int:
    """The revision of a finished transcript: 0 is the engine's, each save of the coach's
    corrections adds one (recorder.transcript.revisions)."""
    value = data.get("revision", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def is_proofread(data: dict) -> bool:
    """The coach marked the current revision proofread (an edit since leaves it unmarked)."""
    mark = data.get("proofread")
    return isinstance(mark, dict) and mark.get("revision") == revision_of(data)


def counts(t: dict) -> str:
    """A summary's counts as a coach reads them: "31 turns (changes of speaker) in 34
    paragraphs, 512 words". A turn ends where the other person speaks; a paragraph also
    after a long pause, so there are at least as many paragraphs as turns."""

    def n(key: str, one: str) -> str:
        value = int(t.get(key) or 0)
        return f"{value} {one if value == 1 else one + 's'}"

    return (
        f"{n('turns', 'turn')} (changes of speaker) in {n('paragraphs', 'paragraph')}, "
        f"{n('words', 'word')}"
    )


def document(folder: Path) -> TranscriptDoc | None:
    """The finished transcript, or None when there is none yet."""
    return document_of(read_status(folder), str(folder / STATUS_FILE))


def document_of(data: dict, where: str) -> TranscriptDoc | None:
    """The finished transcript in transcript.json's content `data` (read from `where`: a
    file here, or the archive's copy), or None when there is none yet."""
    if data["status"] != "done" or not isinstance(data.get("doc"), dict):
        return None
    try:
        return TranscriptDoc.from_json(data["doc"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TranscriptFileError(f"{where}: damaged transcript: {exc}") from None


def write_status(folder: Path, data: dict) -> None:
    atomic_write(folder / STATUS_FILE, dumps(data))


def dumps(data: dict) -> str:
    """transcript.json's text: indented, but each word of the document on one line of its own.

    Indented key by key, an hour's 9,000 words took 68,400 lines and 1.40 MB; a word a line,
    14,400 lines and 1.07 MB (with no indentation at all, 1.00 MB, but a person could no longer
    read the rest), still plain JSON that any reader parses. Times and probabilities are
    written as the engine gave them: nothing is rounded away.
    """
    lines = (data.get("doc") or {}).get("lines")
    if not isinstance(lines, list | tuple) or not all(isinstance(li, dict) for li in lines):
        return json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    # each line's words stand in as a string the encoder cannot make of any text ("\x00" is
    # written \u0000; a text's own backslash is doubled), then are put back one per line
    held = [li.get("words") for li in lines]
    doc = {
        **data["doc"],
        "lines": [
            {**li, "words": f"\x00{i}\x00"} if "words" in li else li for i, li in enumerate(lines)
        ],
    }
    text = json.dumps({**data, "doc": doc}, indent=1, ensure_ascii=False)

    def words(match: re.Match[str]) -> str:
        indent, found = match.group(1), held[int(match.group(2))]
        if not isinstance(found, list | tuple) or not found:
            return f'{indent}"words": {json.dumps(found, ensure_ascii=False)}'
        one = [indent + " " + json.dumps(w, ensure_ascii=False) for w in found]
        return f'{indent}"words": [\n' + ",\n".join(one) + f"\n{indent}]"

    return _HELD.sub(words, text) + "\n"


_HELD = re.compile(r'^( *)"words": "\\u0000(\d+)\\u0000"', re.MULTILINE)
