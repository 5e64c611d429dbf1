"""WAV segments through soundfile/libsndfile, kept readable after a power cut.

libsndfile leaves the header's sizes at 0 until the file is closed, so after a crash sox would
read nothing. `sync()` asks libsndfile to rewrite the header now (SFC_UPDATE_HEADER_NOW) and then
fsyncs, so the file on disk is always a complete WAV up to the last sync. `repair()` fixes files
whose last sync never happened, from the real file size.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import soundfile
from soundfile import _snd  # libsndfile handle: SoundFile has no wrapper for this command

from recorder.core.formats import FORMATS, to_soundfile_buffer

SFC_UPDATE_HEADER_NOW = 0x1060


class SoundfileSegment:
    """One segment file; `frames` counts what has been handed to libsndfile."""

    def __init__(self, path: Path, rate: int, channels: int, fmt: str) -> None:
        self.path = path
        self.fmt = FORMATS[fmt]
        self.frames = 0
        self._file = soundfile.SoundFile(
            path, "w", samplerate=rate, channels=channels, subtype=self.fmt.subtype, format="WAV"
        )
        self.sync()

    def write(self, data: bytes | memoryview) -> None:
        buf, dtype = to_soundfile_buffer(data, self.fmt)
        self._file.buffer_write(buf, dtype)
        self.frames = self._file.frames

    def sync(self) -> None:
        _snd.sf_command(self._file._file, SFC_UPDATE_HEADER_NOW, soundfile._ffi.NULL, 0)
        self._file.flush()  # libsndfile's sf_write_sync: fsync of the file

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def file_sha256(path: Path, limit: int | None = None) -> str:
    """sha256 of the file, or of its first `limit` bytes."""
    digest = hashlib.sha256()
    left = limit
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20 if left is None else min(1 << 20, left)):
            digest.update(chunk)
            if left is not None:
                left -= len(chunk)
    return digest.hexdigest()


class WavError(ValueError):
    """A file that is not a WAV this recorder could have written."""


def find_chunks(f) -> tuple[int, int, int, int]:
    """(block_align, data_offset, declared_data_size, position of the data size field)."""
    head = f.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
        raise WavError("no RIFF/WAVE header")
    block_align = 0
    while True:
        hdr = f.read(8)
        if len(hdr) < 8:
            raise WavError("no data chunk")
        cid, size = hdr[:4], struct.unpack("<I", hdr[4:])[0]
        if cid == b"fmt ":
            fmt = f.read(size + (size & 1))
            if len(fmt) < 14:
                raise WavError("fmt chunk cut short")
            block_align = struct.unpack("<H", fmt[12:14])[0]
            continue
        if cid == b"data":
            if not block_align:
                raise WavError("no usable fmt chunk before the data chunk")
            return block_align, f.tell(), size, f.tell() - 4
        f.seek(size + (size & 1), os.SEEK_CUR)


def wav_frames(path: Path) -> int:
    """Frames the header declares."""
    with open(path, "rb") as f:
        block_align, _, size, _ = find_chunks(f)
    return size // block_align


def _chunks_fill(f, start: int, end: int) -> bool:
    """True when [start, end) is a walk of well-formed RIFF chunks ending exactly at `end`."""
    pos = start
    while pos < end:
        f.seek(pos)
        hdr = f.read(8)
        if len(hdr) < 8 or not all(32 <= c < 127 for c in hdr[:4]):
            return False
        pos += 8 + struct.unpack("<I", hdr[4:])[0]
        pos += pos & 1
    return pos == end


def repair(path: Path) -> tuple[int, bool]:
    """Make the header agree with the audio actually on disk; return (frames, changed).

    Audio past the declared size (written after the last header update) is kept, cut to whole
    frames. Well-formed chunks after the data chunk (a closed, finalized file) are left alone.
    """
    with open(path, "r+b") as f:
        block_align, offset, declared, size_pos = find_chunks(f)
        file_size = f.seek(0, os.SEEK_END)
        available = file_size - offset
        data_end = offset + declared + (declared & 1)
        if declared % block_align == 0 and (
            declared == available or (declared < available and _chunks_fill(f, data_end, file_size))
        ):
            return declared // block_align, False
        data = available - available % block_align
        f.truncate(offset + data)
        f.seek(4)
        f.write(struct.pack("<I", offset + data - 8))
        f.seek(size_pos)
        f.write(struct.pack("<I", data))
        f.flush()
        os.fsync(f.fileno())
    return data // block_align, True


def frames_on_disk(path: Path) -> int:
    """Whole frames of audio the file holds, whatever its header says: what `repair` would keep.

    Read-only, for files that must not be touched (a damaged session's segments).
    """
    with open(path, "rb") as f:
        block_align, offset, declared, _ = find_chunks(f)
        available = f.seek(0, os.SEEK_END) - offset
        data_end = offset + declared + (declared & 1)
        if declared % block_align == 0 and (
            declared == available
            or (declared < available and _chunks_fill(f, data_end, offset + available))
        ):
            return declared // block_align
    return max(available, 0) // block_align
