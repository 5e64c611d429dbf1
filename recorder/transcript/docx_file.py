"""transcript.docx through python-docx: ICF takes transcripts as .doc/.docx, not PDF."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime
from pathlib import Path

from docx import Document
from docx.shared import Pt

from recorder.core.transcript import Line, MarkerLine, TranscriptDoc
from recorder.core.transcript_text import INAUDIBLE, OVERLAP, _header, entries, timestamp
from recorder.storage import atomic_write, fsync_dir


def docx_bytes(doc: TranscriptDoc) -> bytes:
    d = Document()
    d.core_properties.title = doc.title
    d.core_properties.author = "Session Recorder"
    d.core_properties.created = datetime.now(UTC)
    d.styles["Normal"].font.size = Pt(11)
    title, *rest = _header(doc)
    d.add_heading(title, level=1)
    for text in rest:
        d.add_paragraph(text).runs[0].font.size = Pt(9)
    for e in entries(doc):
        p = d.add_paragraph()
        if isinstance(e, MarkerLine):
            p.add_run(f"[{timestamp(e.at_s)}] — Marker: {e.label}").italic = True
            continue
        assert isinstance(e, Line)
        overlap = f" {OVERLAP}" if e.overlap else ""
        p.add_run(f"[{timestamp(e.start_s)}] {e.speaker}{overlap}:").bold = True
        p.add_run(f" {e.text or INAUDIBLE}")
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def write_docx(doc: TranscriptDoc, path: Path) -> None:
    """Written beside `path`, fsynced and renamed: a crash leaves the old file or none."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(docx_bytes(doc))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_all(doc: TranscriptDoc, folder: Path) -> list[str]:
    """transcript.docx, .txt and .vtt in a session folder; returns their names."""
    from recorder.core.transcript_text import to_txt, to_vtt

    write_docx(doc, folder / "transcript.docx")
    atomic_write(folder / "transcript.txt", to_txt(doc))
    atomic_write(folder / "transcript.vtt", to_vtt(doc))
    return ["transcript.docx", "transcript.txt", "transcript.vtt"]
