"""The coach's corrections to a finished transcript, each save a revision, and "proofread".

transcript.json keeps holding the current document in `doc`, so every reader (the page, the
command line, the retagger, the outbox) reads the corrected one without knowing of revisions.
Beside it:

- `revision`: 0 (or absent) is the engine's; each save adds one.
- `revisions`: one entry per save, `{"revision", "at", "source", "ops"}`: what the coach did,
  in the operations of `recorder.core.transcript.edits`, small (a save is at most one 64 KiB
  request), so an hour's transcript is not copied whole at every save on the card.
- `transcript.original.json`: the engine's transcript.json as it was before the first save,
  written once. Replaying the saves on it gives any revision (`revision_doc`).
- `proofread`: `{"revision", "at", "source"}`, the revision the coach read through. An edit
  after it leaves it in place but no longer current: the transcript counts as proofread only
  while `proofread.revision` is the current revision (`status.is_proofread`). A correction can bring
  a new mistake (a split at the wrong word), so the coach says again that it is right.

A save names the revision it was made on (`base`); another one made meanwhile (a second
phone) makes it stale, and it is refused rather than undoing the other's work.

Every change here is made under one lock per process, which the retagger's retitle takes too
(`TRANSCRIPT_LOCK`): a retitle reads the document and writes it back, and must not write an
older one over a save.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

from recorder.core.transcript.doc import TranscriptDoc
from recorder.core.transcript.edits import EditError, Op, apply, op_json, read_ops
from recorder.store.files import atomic_write
from recorder.transcript.files import write_all
from recorder.transcript.status import (
    ORIGINAL_FILE,
    STATUS_FILE,
    TranscriptFileError,
    document,
    dumps,
    read_status,
    revision_of,
    write_status,
)

TRANSCRIPT_LOCK = threading.Lock()  # every in-process change of a finished transcript.json


class RevisionError(ValueError):
    """A save or a proofread mark that cannot be made; the message says why, for the coach."""


def _finished(folder: Path) -> tuple[dict, TranscriptDoc]:
    try:
        status = read_status(folder)
        doc = document(folder)
    except TranscriptFileError as exc:
        raise RevisionError(str(exc)) from None
    if doc is None:
        raise RevisionError(
            f"{folder.name} has no finished transcript to change (it is {status['status']})"
        )
    return status, doc


def _check_base(status: dict, base: int, what: str) -> int:
    current = revision_of(status)
    if base != current:
        raise RevisionError(
            f"the transcript changed since your page read it (revision {base}; it is at "
            f"{current} now): reload it, then make your {what} again"
        )
    return current


def save(folder: Path, base: int, ops: tuple[Op, ...], at: str, source: str) -> dict:
    """Apply one save's operations to the transcript at revision `base`; rebuild its files.

    Returns the new transcript.json. Nothing changes when it raises RevisionError.
    """
    with TRANSCRIPT_LOCK:
        status, doc = _finished(folder)
        current = _check_base(status, base, "change")
        try:
            new = apply(doc, ops)
        except EditError as exc:
            raise RevisionError(str(exc)) from None
        if current == 0:  # the engine's, kept before the first save (again after a rebuild)
            atomic_write(folder / ORIGINAL_FILE, dumps(status))
        try:
            write_all(new, folder)  # all three made in memory first: all or none written
        except ValueError as exc:
            raise RevisionError(f"the corrected transcript cannot be written: {exc}") from None
        entry = {"revision": current + 1, "at": at, "source": source,
                 "ops": [op_json(op) for op in ops]}  # fmt: skip
        history = status.get("revisions")
        saved = {
            **status,
            "doc": new.to_json(),
            "words": new.words,
            "turns": new.turns,
            "paragraphs": new.paragraphs,
            "speakers": list(new.speakers),
            "revision": current + 1,
            "revisions": [*(history if isinstance(history, list) else []), entry],
            "edited_at": at,
        }
        write_status(folder, saved)
        return saved


def mark_proofread(folder: Path, done: bool, revision: int | None, at: str, source: str) -> dict:
    """Set (or clear) "proofread" on the current revision; `revision`, when given, must be it
    (the coach read that one). Returns the new transcript.json."""
    with TRANSCRIPT_LOCK:
        status, _ = _finished(folder)
        current = revision_of(status)
        if revision is not None:
            _check_base(status, revision, "proofread mark")
        marked = {k: v for k, v in status.items() if k != "proofread"}
        if done:
            marked["proofread"] = {"revision": current, "at": at, "source": source}
        write_status(folder, marked)
        return marked


def revision_doc(folder: Path, n: int) -> TranscriptDoc:
    """The transcript's lines as they were at revision `n`, replayed from the engine's
    original (title and markers are today's: the session's name and marker labels)."""
    status, doc = _finished(folder)
    if n == revision_of(status):
        return doc
    try:
        original = read_status_file(folder / ORIGINAL_FILE)
        doc0 = TranscriptDoc.from_json(original["doc"])
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise RevisionError(f"{folder / ORIGINAL_FILE}: the engine's transcript: {exc}") from None
    ops = [
        op
        for entry in status.get("revisions", [])
        if entry.get("revision", 0) <= n
        for op in read_ops(entry.get("ops"))
    ]
    replayed = apply(doc0, ops)
    return dataclasses.replace(doc, lines=replayed.lines, speakers=replayed.speakers)


def read_status_file(path: Path) -> dict:
    """A transcript.json-shaped file by its path (the original is one)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a transcript ({STATUS_FILE} layout)")
    return data
