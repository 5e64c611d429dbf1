"""The writer's parts on their own: segments cut at exact frame counts, the journal's gaps, and
the disk guard on a real filesystem that fills up.

Real parts throughout: libsndfile's segments read back by sox and soundfile, the session store
on disk, statvfs, and (root) a small tmpfs filled by `dd`.
"""

from __future__ import annotations

import errno
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import soundfile

from recorder.adapters.disk import StatvfsDisk
from recorder.core.formats import FORMATS
from recorder.core.recording.disk import BALLAST_FLOOR
from recorder.core.recording.segments import SegmentPlan
from recorder.media.wav import SoundfileSegment, file_sha256
from recorder.recording.writer import DiskGuard, SegmentWriter, SessionJournal
from recorder.store.sessions import SessionStore
from tests import support
from tests.factories import make_manifest
from tests.support import fill, sox_raw

WALL = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
RATE = 8000
FB = FORMATS["S16_LE"].frame_bytes(2)
START_POS = 5000  # capture position of the session's first frame
SEGMENT = 1000


def _session(root: Path) -> tuple[SessionStore, SessionJournal]:
    store = SessionStore(root / "sessions")
    store.prepare()
    session_id, path = store.reserve(WALL, True)
    manifest = make_manifest(
        id=session_id, rate=RATE, started_at=WALL.isoformat(), start_pos=START_POS,
        state="recording", start_source="test",
    )  # fmt: skip
    guard = DiskGuard(store.root, StatvfsDisk(), 0)
    journal = SessionJournal(path, manifest, store, guard, lambda event: None, RATE // 4)
    journal.create()
    return store, journal


def _segments(journal: SessionJournal, sync_frames: int = 250) -> SegmentWriter:
    plan = SegmentPlan(SEGMENT)
    return SegmentWriter(
        journal.path, journal.manifest, SoundfileSegment, plan, sync_frames, journal
    )


def _audio(frames: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return rng.integers(-32768, 32767, size=frames * 2, dtype=np.int16).tobytes()


def _files(path: Path) -> list[str]:
    return sorted(p.name for p in path.glob("seg-*.wav"))


def test_segments_roll_over_at_exact_frame_counts(tmp_path):
    """A write that ends on a boundary opens no empty segment; the next frame opens it, and a
    write across a boundary is cut at the exact frame. sox reads back every byte, in order."""
    store, journal = _session(tmp_path)
    segments = _segments(journal)
    path, written, pos = journal.path, [], START_POS
    for n, frames in enumerate((SEGMENT, 1, SEGMENT + 499, 500)):
        data = _audio(frames, n)
        segments.write(data, pos, frames)
        written.append(data)
        pos += frames
        if n == 0:
            assert _files(path) == ["seg-0000.wav"]  # full, but nothing asked for a new one
        if n == 1:
            # The manifest on the card names the new segment the moment it is opened.
            saved = store.read_manifest(path)
            assert [(s.file, s.closed) for s in saved.segments] == [
                ("seg-0000.wav", True),
                ("seg-0001.wav", False),
            ]
    segments.close()

    m = journal.manifest
    assert _files(path) == ["seg-0000.wav", "seg-0001.wav", "seg-0002.wav"]
    assert [(s.first_frame, s.first_pos, s.frames) for s in m.segments] == [
        (0, START_POS, SEGMENT),
        (SEGMENT, START_POS + SEGMENT, SEGMENT),
        (2 * SEGMENT, START_POS + 2 * SEGMENT, SEGMENT),
    ]
    files = [path / s.file for s in m.segments]
    assert [soundfile.info(str(f)).frames for f in files] == [SEGMENT] * 3
    assert sox_raw([str(f) for f in files]) == b"".join(written)
    saved = store.read_manifest(path)
    assert saved.frames == 3 * SEGMENT
    assert all(s.closed and s.sha256 == file_sha256(path / s.file) for s in saved.segments)
    assert [s.bytes for s in saved.segments] == [f.stat().st_size for f in files]


def test_a_lost_device_starts_a_new_segment_for_the_audio_after_the_gap(tmp_path):
    _, journal = _session(tmp_path)
    segments = _segments(journal)
    before, after = _audio(300, 1), _audio(200, 2)
    segments.write(before, START_POS, 300)
    segments.close()
    segments.break_segment()
    segments.write(after, START_POS + 300 + 4000, 200)  # 4000 frames never captured
    segments.close()

    m = journal.manifest
    assert [(s.file, s.first_frame, s.first_pos, s.frames) for s in m.segments] == [
        ("seg-0000.wav", 0, START_POS, 300),
        ("seg-0001.wav", 300, START_POS + 4300, 200),
    ]
    assert sox_raw([str(journal.path / "seg-0001.wav")]) == after


def test_the_header_is_brought_up_to_date_every_sync_frames(tmp_path):
    """What another reader (or a power cut) sees of the open segment: the frames up to the
    last sync, never fewer."""
    _, journal = _session(tmp_path)
    segments = _segments(journal, sync_frames=300)
    open_file = str(journal.path / "seg-0000.wav")
    segments.write(_audio(299, 1), START_POS, 299)
    segments.sync()
    assert soundfile.info(open_file).frames == 0  # the header as opened: no frames yet
    assert segments.frames_to_sync == 1
    segments.write(_audio(1, 2), START_POS + 299, 1)
    segments.sync()
    assert soundfile.info(open_file).frames == 300
    assert segments.frames_to_sync == 300
    segments.write(_audio(10, 3), START_POS + 300, 10)
    segments.sync(now=True)  # the pre-roll is all written: synced at once
    assert soundfile.info(open_file).frames == 310
    segments.close()


def test_audio_lost_in_one_stretch_is_one_gap(tmp_path):
    """The journal grows the last gap while the storage goes on refusing; a loss of another
    kind, or after audio was written again, is a gap of its own."""
    store, journal = _session(tmp_path)
    journal.lose("disk_full", START_POS, 800)
    journal.lose("disk_full", START_POS + 800, 1200)
    journal.lose("write_error", START_POS + 2000, 400)
    journal.lose("write_error", START_POS + 9000, 400)
    journal.save()
    gaps = store.read_manifest(journal.path).gaps
    assert [(g.kind, g.pos, g.frames, g.seconds) for g in gaps] == [
        ("disk_full", START_POS, 2000, 0.25),
        ("write_error", START_POS + 2000, 400, 0.05),
        ("write_error", START_POS + 9000, 400, 0.05),
    ]
    assert journal.frames_lost_to_disk == 2800


class _LibsndfileStyleError(RuntimeError):
    """libsndfile's error for a failed write(2): no errno to tell a full disk by."""


@pytest.mark.root
def test_the_guard_tells_a_full_disk_and_keeps_the_ballast_out_of_free_space(tmp_path):
    with support.small_disk(tmp_path / "disk", "8m") as disk:
        root = disk / "sessions"
        root.mkdir()
        statvfs = StatvfsDisk()
        guard = DiskGuard(root, statvfs, 1_000_000)
        assert guard.reserve()
        assert (root / ".ballast").stat().st_size == BALLAST_FLOOR
        assert guard.free_bytes(root) == statvfs.free_bytes(root)  # nothing missing
        no_errno = _LibsndfileStyleError("Error : could not write to file")
        assert not guard.is_full(no_errno, root)

        filler = fill(disk)
        assert guard.is_full(no_errno, root)  # the filesystem itself says so
        assert guard.is_full(OSError(errno.ENOSPC, "No space left on device"), root)
        assert not guard.is_full(OSError(errno.EIO, "Input/output error"), root)
        assert not guard.fits(root, 1)
        assert list(root.iterdir()) == [root / ".ballast"]  # the probe left nothing behind

        assert guard.release() == BALLAST_FLOOR
        # The room given back is not room to record into: the controller does not count it.
        assert guard.free_bytes(root) == statvfs.free_bytes(root) - BALLAST_FLOOR
        assert not guard.is_full(no_errno, root)
        assert not guard.restore()  # no room above the margin yet

        filler.unlink()
        assert guard.restore()
        assert (root / ".ballast").stat().st_size == BALLAST_FLOOR
        assert guard.free_bytes(root) == statvfs.free_bytes(root)
