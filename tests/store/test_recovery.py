"""Start-up repair of sessions left in recording/, built here from real libsndfile files."""

from __future__ import annotations

import shutil

import numpy as np

from recorder.core.manifest import GapInfo, Manifest, Marker, SegmentInfo
from recorder.media.wav import SoundfileSegment, file_sha256
from recorder.store.recovery import recover_all
from recorder.store.sessions import SessionStore
from tests.factories import make_manifest, segment_infos
from tests.support import sox_raw, sox_seconds

RATE = 8000


def _audio(seconds: float, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return rng.integers(-20000, 20000, size=int(seconds * RATE) * 2, dtype=np.int16).tobytes()


def test_interrupted_session_is_repaired_and_finalized(tmp_path):
    store = SessionStore(tmp_path / "sessions")
    store.prepare()
    sid = "000003-20260101T100000Z-u"
    path = store.state_dir("recording") / sid
    path.mkdir()
    first, second = _audio(1.0, 1), _audio(0.75, 2)
    seg0 = SoundfileSegment(path / "seg-0000.wav", RATE, 2, "S16_LE")
    seg0.write(first)
    seg0.close()
    seg1 = SoundfileSegment(path / "seg-0001.wav", RATE, 2, "S16_LE")
    seg1.write(second[: len(second) // 3])
    seg1.sync()
    seg1.write(second[len(second) // 3 :])  # on disk, but the header was never updated
    shutil.copy(path / "seg-0001.wav", tmp_path / "stale.wav")
    seg1._file.close()
    shutil.copy(tmp_path / "stale.wav", path / "seg-0001.wav")  # as a power cut leaves it
    assert sox_seconds(path / "seg-0001.wav") < 0.75
    manifest = make_manifest(
        id=sid,
        rate=RATE,
        state="recording",
        frames=0,
        start_pos=100,
        segments=[
            *segment_infos([RATE], first_pos=100, folder=path),
            SegmentInfo(
                file="seg-0001.wav", index=1, first_frame=RATE, first_pos=100 + RATE, frames=0
            ),
            SegmentInfo(
                file="seg-0002.wav", index=2, first_frame=RATE, first_pos=200 + RATE, frames=0
            ),
        ],
        markers=[Marker(frame=RATE + 10, seconds=1.001, label="late")],
    )
    store.write_manifest(path, manifest)

    report = recover_all(store, "2026-01-02T00:00:00+00:00")

    assert len(report) == 1 and f"recovered session {sid}" in report[0]
    [s] = store.sessions()
    assert s.state == "outbox" and s.path == store.state_dir("outbox") / sid
    m = s.manifest
    assert m.stop_reason == "interrupted" and m.state == "finalized"
    assert m.recovery["repaired_segments"] == ["seg-0001.wav"]
    assert m.recovery["missing_segments"] == ["seg-0002.wav"]
    assert [g.file for g in m.segments] == ["seg-0000.wav", "seg-0001.wav"]
    assert m.segments[1].frames == int(0.75 * RATE) and m.segments[1].repaired
    assert m.frames == RATE + int(0.75 * RATE) == m.levels["frames"]
    assert m.segments[1].sha256 == file_sha256(s.path / "seg-0001.wav")
    assert sox_raw([str(s.path / g.file) for g in m.segments]) == first + second
    assert [k.label for k in m.markers] == ["late"]
    samples = np.frombuffer(first + second, dtype="<i2").reshape(-1, 2).astype(np.int64)
    assert m.levels["peak"] == np.abs(samples).max(axis=0).tolist()


def test_damaged_session_is_reported_and_not_moved(tmp_path):
    store = SessionStore(tmp_path / "sessions")
    store.prepare()
    path = store.state_dir("recording") / "000001-20260101T100000Z"
    path.mkdir()
    (path / "manifest.json").write_text("{ not json")
    report = recover_all(store, "now")
    assert len(report) == 1 and "left untouched" in report[0] and "corrupt manifest" in report[0]
    assert path.is_dir() and (path / "manifest.json").read_text() == "{ not json"


def _one_segment_session(store: SessionStore, sid: str, audio: bytes, **fields) -> Manifest:
    path = store.state_dir("recording") / sid
    path.mkdir()
    seg = SoundfileSegment(path / "seg-0000.wav", RATE, 2, "S16_LE")
    seg.write(audio)
    seg.close()
    segments = segment_infos([len(audio) // 4], folder=path)
    fields = {"state": "recording", **fields}
    manifest = make_manifest(id=sid, rate=RATE, segments=segments, **fields)
    store.write_manifest(path, manifest)
    return manifest


def test_a_session_the_disk_filled_keeps_its_reason_and_its_lost_audio_after_a_crash(tmp_path):
    """The writer saves `disk_full` and the gap as soon as the disk fills; a crash before the
    stop must not turn them into `interrupted` with no gap."""
    store = SessionStore(tmp_path / "sessions")
    store.prepare()
    audio = _audio(1.0, 3)
    gap = GapInfo(kind="disk_full", at_frame=RATE, pos=RATE, frames=2400, seconds=0.3)
    _one_segment_session(
        store, "000004-20260101T100000Z-u", audio, stop_reason="disk_full", gaps=[gap]
    )

    report = recover_all(store, "2026-01-02T00:00:00+00:00")

    assert "stop reason disk_full" in report[0]
    [s] = store.sessions("outbox")
    m = s.manifest
    assert m.stop_reason == "disk_full" and m.gaps == [gap]
    assert "storage filled" in m.recovery["reason"] and "power cut" in m.recovery["reason"]
    assert sox_raw([str(s.path / "seg-0000.wav")]) == audio


def test_a_finalized_session_not_yet_moved_keeps_its_reason(tmp_path):
    store = SessionStore(tmp_path / "sessions")
    store.prepare()
    _one_segment_session(
        store,
        "000005-20260101T100000Z-u",
        _audio(0.5, 4),
        state="finalized",
        stop_reason="requested",
    )
    recover_all(store, "now")
    [s] = store.sessions("outbox")
    assert s.manifest.stop_reason == "requested"
    assert s.manifest.recovery["reason"].startswith("finalized, but not yet moved")
