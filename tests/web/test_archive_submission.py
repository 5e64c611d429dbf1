"""The fetch behind a submission MP3 made from the archive: a read that breaks off resumes where
it stopped, and a FLAC that is not the manifest's session is refused by name.

A connection that drops at a chosen byte (rclone's timeout while a build sat frozen behind a
recording) cannot be made with the loopback server, so these reads come from the archive's
port over bytes in memory; the whole path through real rclone and crypt is in
test_archive_media.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import soundfile

from recorder.core.manifest import SegmentInfo
from recorder.ports.archive import ArchiveError
from recorder.web.archive_submission import FETCHING, as_one_segment, fetch
from tests.factories import make_manifest

SID = "000042-20261129T093000Z"


class BreakingArchive:
    """`ArchiveReader` over `data`; read number i stops after `cuts[i]` bytes of the file, then
    fails as rclone does when its connection is lost."""

    def __init__(self, data: bytes, cuts: list[int]) -> None:
        self.data = data
        self.cuts = list(cuts)
        self.asked: list[int] = []

    def read_each(self, name: str) -> list[bytes]:
        return []

    def size(self, session_id: str, name: str) -> int | None:
        return len(self.data)

    def read_range(self, session_id: str, name: str, offset: int, count: int) -> Iterator[bytes]:
        self.asked.append(offset)
        end = offset + count
        cut = self.cuts.pop(0) if self.cuts else None
        if cut is not None:
            end = min(end, cut)
        for at in range(offset, end, 1000):
            yield self.data[at : min(at + 1000, end)]
        if cut is not None:
            raise ArchiveError(f"rclone cat: {offset + count - end} bytes missing: timeout")


def test_a_fetch_that_breaks_off_resumes_where_it_stopped(tmp_path):
    data = np.random.default_rng(7).bytes(25_000)
    archive = BreakingArchive(data, cuts=[9_500, 17_001])
    fetch(archive, SID, "session.flac", len(data), tmp_path / "session.flac")
    assert (tmp_path / "session.flac").read_bytes() == data
    assert archive.asked == [0, 9_500, 17_001]
    assert not (tmp_path / FETCHING).exists()


def test_a_fetch_that_keeps_breaking_fails_and_leaves_nothing(tmp_path):
    data = bytes(range(256)) * 100
    archive = BreakingArchive(data, cuts=[100, 200, 300, 400, 500, 600])
    with pytest.raises(ArchiveError, match=f"session.flac of {SID}: 500 of 25600 bytes"):
        fetch(archive, SID, "session.flac", len(data), tmp_path / "session.flac")
    assert list(tmp_path.iterdir()) == []


def test_a_flac_that_is_not_the_manifests_session_is_refused(tmp_path):
    segment = SegmentInfo(file="seg-0000.wav", index=0, first_frame=0, first_pos=0, frames=48000)
    manifest = make_manifest(channels=2, segments=[segment])
    flac = tmp_path / "session.flac"
    soundfile.write(flac, np.zeros((24000, 2), dtype=np.int16), 48000, subtype="PCM_16")
    with pytest.raises(ArchiveError, match="24000 frames of PCM_16 on the archive, the manifest"):
        as_one_segment(manifest, flac)
    soundfile.write(flac, np.zeros((48000, 2), dtype=np.int16), 48000, subtype="PCM_16")
    one = as_one_segment(manifest, flac)
    assert [(s.file, s.frames) for s in one.segments] == [("session.flac", 48000)]
    assert one.audio.format == "S16_LE" and manifest.segments != one.segments
