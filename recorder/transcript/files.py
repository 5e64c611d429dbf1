"""The transcript files of a session folder, written all at once after the transcript is built."""

from __future__ import annotations

from pathlib import Path

from recorder.core.transcript.doc import TranscriptDoc
from recorder.core.transcript.text import to_txt, to_vtt
from recorder.store.files import fsync_dir
from recorder.transcript.docx_file import docx_bytes, write_atomically, write_docx
from recorder.transcript.status import FILES

__all__ = ["FILES", "write_all", "write_docx"]


def write_all(doc: TranscriptDoc, folder: Path) -> list[str]:
    """transcript.docx, .txt and .vtt in `folder`, each replaced atomically; their names.

    All three are made in memory first, so a document no format can take (ValueError) leaves
    the folder as it was rather than with one new file beside two old ones.
    """
    made = {
        "transcript.txt": to_txt(doc).encode("utf-8"),
        "transcript.vtt": to_vtt(doc).encode("utf-8"),
        "transcript.docx": docx_bytes(doc),
    }
    for name in FILES:
        write_atomically(folder / name, made[name], sync_dir=False)
    fsync_dir(folder)  # one directory sync makes all three renames durable
    return list(FILES)
