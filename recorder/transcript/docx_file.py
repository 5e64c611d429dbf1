"""transcript.docx through python-docx: ICF takes a transcript as .doc/.docx, not as PDF.

The paragraphs are the same as transcript.txt's (recorder.core.transcript.text), with the
`[00:12:34] Coach:` label in bold so the coach's and the client's lines stand apart, and
markers in italic. python-docx and lxml (7.8 MB) are imported when a .docx is made, not with
this module: the daemon imports it to retitle finished transcripts, and a box without
transcripts never makes one.
"""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime
from pathlib import Path

from recorder.core.transcript.doc import MarkerLine, TranscriptDoc
from recorder.core.transcript.text import (
    clean,
    entries,
    header_lines,
    line_label,
    line_text,
    marker_text,
)
from recorder.store.files import fsync_dir

CORE_TEXT_MAX = 255  # python-docx refuses a longer core property


def docx_bytes(doc: TranscriptDoc, now: datetime | None = None) -> bytes:
    """The whole .docx in memory: nothing is written until it is complete."""
    # Here: python-docx and lxml cost 7.8 MB, paid only when a transcript is written.
    from docx import Document
    from docx.shared import Pt

    now = now or datetime.now(UTC)
    d = Document()
    props = d.core_properties
    props.title = (clean(doc.title) or doc.session_id)[:CORE_TEXT_MAX]
    props.subject = f"Transcript of session {doc.session_id}"[:CORE_TEXT_MAX]
    props.author = props.last_modified_by = "Session Recorder"
    props.comments = f"Words recognised by {doc.engine}; times count from the start press."[
        :CORE_TEXT_MAX
    ]
    props.created = props.modified = now.astimezone(UTC)  # python-docx writes it as UTC
    props.revision = 1
    d.styles["Normal"].paragraph_format.space_after = Pt(6)  # turns apart, as in the .txt
    title, *head = header_lines(doc)
    d.add_heading(title, level=1)
    for text in head:
        d.add_paragraph(text)
    for e in entries(doc):
        p = d.add_paragraph()
        if isinstance(e, MarkerLine):
            p.add_run(marker_text(e)).italic = True
        else:
            p.add_run(line_label(e)).bold = True
            p.add_run(f" {line_text(e)}")
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def write_docx(doc: TranscriptDoc, path: Path) -> None:
    """transcript.docx at `path`, replaced atomically (see write_atomically)."""
    write_atomically(path, docx_bytes(doc))


def write_atomically(path: Path, data: bytes, *, sync_dir: bool = True) -> None:
    """Written to a temp file beside `path`, fsynced and renamed: a crash or a full disk
    leaves the old file or none, never half of one (and no temp file behind)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)
