"""`session-recorder transcript SESSION`: build a session's transcript, or export one format.

The build runs in the same low-priority worker process the daemon uses, with a progress bar
on the terminal (rich). A transcript already built is exported from transcript.json without
decoding the audio again.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

from recorder.config import Config
from recorder.core.transcript.text import to_txt, to_vtt
from recorder.store.files import atomic_write
from recorder.store.sessions import StoredSession
from recorder.transcript.docx_file import write_docx
from recorder.transcript.runner import TranscriptError, TranscriptRunner
from recorder.transcript.settings import Settings
from recorder.transcript.status import (
    STATUS_FILE,
    TranscriptFileError,
    counts,
    document,
    read_status,
    revision_of,
)

FORMATS = ("docx", "txt", "vtt")
CORRECTED_FILE = "transcript.corrected.json"  # the coach's, kept when a rebuild replaces it


def run(
    cfg: Config,
    s: StoredSession,
    fmt: str | None,
    output: Path | None,
    rebuild: bool,
    discard_corrections: bool = False,
) -> int:
    """For a session the command line found (with a manifest)."""
    if s.state == "recording":
        print(
            f"session-recorder: session {s.id} is still recording: stop it first", file=sys.stderr
        )
        return 1
    try:
        found = read_status(s.path)
    except TranscriptFileError as exc:
        print(f"session-recorder: {exc}; building it again", file=sys.stderr)
        found = {"status": "none"}
    status = found["status"]
    if rebuild and status == "done" and not _corrections_kept(s, found, discard_corrections):
        return 1
    if rebuild or status != "done":
        settings = Settings.from_section(cfg.transcript)
        try:
            summary = _build(s.path, settings)
        except TranscriptError as exc:
            print(f"session-recorder: session {s.id}: transcript not built: {exc}", file=sys.stderr)
            return 1
        print(
            f"transcript of {s.id}: {counts(summary)} ({summary.get('engine')})",
            file=sys.stderr,
        )
    doc = document(s.path)
    if doc is None:
        print(f"session-recorder: session {s.id}: no transcript", file=sys.stderr)
        return 1
    if fmt is None and output is None:
        for name in ("transcript.docx", "transcript.txt", "transcript.vtt"):
            print(s.path / name)
        return 0
    fmt = fmt or (output.suffix.lstrip(".") if output and output.suffix else "docx")
    if fmt not in FORMATS:
        print(f"session-recorder: --format must be one of {', '.join(FORMATS)}", file=sys.stderr)
        return 2
    out = output or Path.cwd() / f"{s.id}-transcript.{fmt}"
    write_format(doc, fmt, out)
    print(out)
    return 0


def _corrections_kept(s: StoredSession, found: dict, discard: bool) -> bool:
    """Whether a rebuild may go on: never over the coach's corrections unasked, and even when
    asked, the corrected transcript is kept beside the new one."""
    saves = revision_of(found)
    if saves == 0:
        return True
    if not discard:
        print(
            f"session-recorder: session {s.id}: its transcript holds {saves} "
            f"save{'s' if saves != 1 else ''} of corrections; --rebuild would replace them with "
            "the engine's words. Add --discard-corrections to rebuild anyway (the corrected "
            f"transcript is kept as {CORRECTED_FILE})",
            file=sys.stderr,
        )
        return False
    shutil.copy2(s.path / STATUS_FILE, s.path / CORRECTED_FILE)
    print(
        f"session-recorder: session {s.id}: the corrected transcript is kept in {CORRECTED_FILE}",
        file=sys.stderr,
    )
    return True


def write_format(doc, fmt: str, path: Path) -> None:
    if fmt == "docx":
        write_docx(doc, path)
    else:
        atomic_write(path, to_txt(doc) if fmt == "txt" else to_vtt(doc))


def _build(folder: Path, settings: Settings) -> dict:
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        # named by the engine the worker chose once it says, not by "auto"
        task = bar.add_task("transcript", total=1.0)
        return TranscriptRunner().run(
            folder,
            settings,
            lambda fraction: bar.update(task, completed=fraction),
            lambda engine: bar.update(task, description=f"transcript ({engine})"),
        )
