"""The transcript files of a session folder (the worker writes them all at once)."""

from recorder.transcript.docx_file import write_all, write_docx

__all__ = ["write_all", "write_docx"]
