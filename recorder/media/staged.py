"""A deliverable is built into a temporary file beside its destination, fsynced, checked and
renamed into place, so a crash or a full card leaves either the old file or none, never half
of one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recorder.store.files import fsync_dir


@contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A temp file beside `out` to build into; removed if building it fails in any way."""
    tmp = out.with_name(f".{out.name}.tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fsync_file(path: Path) -> None:
    """Its data on the card before it is checked and renamed into place."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def place(tmp: Path, out: Path) -> Path:
    """The built and checked `tmp` renamed to `out`, the rename itself made durable."""
    os.replace(tmp, out)
    fsync_dir(out.parent)
    return out
