"""A damaged session still shows its audio, and a manifest with impossible values is damaged.

Segments are real libsndfile WAVs; sox reads them independently; `sessions --json` is the real
command line in a subprocess.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from recorder.core.manifest import dump_manifest
from recorder.media.wav import SoundfileSegment, repair
from recorder.store.recovery import recover_all
from recorder.store.sessions import SessionStore
from recorder.views.sessions import session_json
from tests.factories import make_manifest, segment_infos
from tests.support import cli, write_config

RATE = 16000
SID = "000004-20260101T100000Z"


def sox_frames(path) -> int:
    out = subprocess.run(
        ["sox", "--i", "-s", str(path)], capture_output=True, text=True, check=True
    )
    return int(out.stdout)


def audio(frames: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return rng.integers(-20000, 20000, size=frames * 2, dtype=np.int16).tobytes()


def write_segment(path, frames: int, seed: int) -> None:
    seg = SoundfileSegment(path, RATE, 2, "S16_LE")
    seg.write(audio(frames, seed))
    seg.close()


def write_interrupted_segment(path, synced: int, after: int, seed: int) -> None:
    """A segment as a power cut leaves it: audio on disk past what the header declares."""
    data = audio(synced + after, seed)
    seg = SoundfileSegment(path, RATE, 2, "S16_LE")
    seg.write(data[: synced * 4])
    seg.sync()
    seg.write(data[synced * 4 :])
    seg._file.flush()
    shutil.copy(path, path.with_suffix(".cut"))
    seg._file.close()
    path.with_suffix(".cut").replace(path)


def good_manifest() -> dict:
    """The manifest of one segment, seg-0000.wav, of 4000 frames."""
    return json.loads(
        dump_manifest(make_manifest(id=SID, rate=RATE, segments=segment_infos([4000])))
    )


@pytest.fixture
def store(tmp_path):
    s = SessionStore(tmp_path / "sessions")
    s.prepare()
    return s


def test_unreadable_manifest_still_lists_the_segments_on_disk(store):
    folder = store.state_dir("recording") / SID
    folder.mkdir()
    (folder / "manifest.json").write_text('{"id": "' + SID + '", "frames": ')
    write_segment(folder / "seg-0000.wav", RATE, 1)
    write_segment(folder / "seg-0001.wav", 12345, 2)
    (folder / "labels.txt").write_text("not audio\n")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    [s] = store.sessions()
    record = session_json(s)
    assert record["state"] == "damaged" and "corrupt manifest" in record["error"]
    assert record["segments"] == [str(folder / "seg-0000.wav"), str(folder / "seg-0001.wav")]
    assert record["frames"] == sox_frames(folder / "seg-0000.wav") + sox_frames(
        folder / "seg-0001.wav"
    )
    assert record["frames"] == RATE + 12345
    assert (record["rate"], record["channels"]) == (RATE, 2)
    assert record["seconds"] == round((RATE + 12345) / RATE, 3)
    assert record["unreadable_segments"] == []
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # nothing touched


def test_frames_count_the_audio_a_power_cut_left_past_the_header(store, tmp_path):
    folder = store.state_dir("recording") / SID
    folder.mkdir()
    write_segment(folder / "seg-0000.wav", 8000, 3)
    write_interrupted_segment(folder / "seg-0001.wav", synced=4000, after=6000, seed=4)
    (folder / "seg-0002.wav").write_bytes(b"RIFF....not a wav at all")
    # the header says 4000 frames; the audio on disk is what repair (and recovery) would keep
    assert sox_frames(folder / "seg-0001.wav") == 4000
    repaired = tmp_path / "repaired.wav"
    shutil.copy(folder / "seg-0001.wav", repaired)
    repair(repaired)
    on_disk = sox_frames(repaired)
    assert on_disk == 10000
    [s] = store.sessions()
    record = session_json(s)
    assert record["state"] == "damaged" and "manifest missing" in record["error"]
    assert record["segments"] == [str(folder / f"seg-000{i}.wav") for i in range(3)]
    assert record["frames"] == 8000 + on_disk
    assert record["unreadable_segments"] == [str(folder / "seg-0002.wav")]


def set_path(data: dict, path: tuple, value) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


IMPOSSIBLE = [
    (("frames",), 10**30, "frames"),
    (("frames",), -1, "frames"),
    (("frames",), RATE * 86400 * 400, "frames"),  # 400 days
    (("audio", "rate"), 0, "audio.rate"),
    (("audio", "rate"), 10**9, "audio.rate"),
    (("audio", "channels"), 0, "audio.channels"),
    (("audio", "channels"), 65, "audio.channels"),
    (("audio", "format"), "U8", "audio.format"),
    (("start_pos",), -5, "start_pos"),
    (("segments", 0, "file"), "../../outbox/other/seg-0000.wav", "segments.0.file"),
    (("segments", 0, "file"), "/etc/passwd", "segments.0.file"),
    (("segments", 0, "file"), "seg-0.wav", "segments.0.file"),
    (("segments", 0, "frames"), 10**30, "segments.0.frames"),
    (("id",), "../000004", "id"),
]


@pytest.mark.parametrize(("path", "value", "field"), IMPOSSIBLE, ids=[i[2] for i in IMPOSSIBLE])
def test_impossible_values_make_a_damaged_session_that_names_the_field(store, path, value, field):
    folder = store.state_dir("outbox") / SID
    folder.mkdir()
    write_segment(folder / "seg-0000.wav", 4000, 5)
    data = good_manifest()
    set_path(data, path, value)
    (folder / "manifest.json").write_text(json.dumps(data))
    [s] = store.sessions()
    assert s.state == "damaged" and s.manifest is None
    assert f"{folder / 'manifest.json'}: corrupt manifest: {field}:" in s.error
    record = session_json(s)
    assert record["segments"] == [str(folder / "seg-0000.wav")]
    assert record["frames"] == sox_frames(folder / "seg-0000.wav") == 4000


def test_the_good_manifest_of_these_tests_is_accepted(store):
    """The control for the cases above: the same session with sane values is a normal one."""
    folder = store.state_dir("outbox") / SID
    folder.mkdir()
    write_segment(folder / "seg-0000.wav", 4000, 5)
    (folder / "manifest.json").write_text(json.dumps(good_manifest()))
    [s] = store.sessions()
    assert s.state == "outbox" and session_json(s)["frames"] == 4000


@pytest.mark.parametrize(
    ("path", "value", "field"), IMPOSSIBLE[:4], ids=[i[2] for i in IMPOSSIBLE[:4]]
)
def test_recovery_leaves_an_impossible_manifest_untouched(store, path, value, field):
    folder = store.state_dir("recording") / SID
    folder.mkdir()
    write_interrupted_segment(folder / "seg-0000.wav", synced=4000, after=2000, seed=6)
    data = good_manifest()
    set_path(data, path, value)
    (folder / "manifest.json").write_text(json.dumps(data))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    report = recover_all(store, "2026-01-02T00:00:00Z")
    assert len(report) == 1 and "left untouched" in report[0] and f"{field}:" in report[0]
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert not (store.state_dir("outbox") / SID).exists()


def test_sessions_json_on_the_command_line_shows_damaged_sessions_with_their_audio(tmp_path):
    config = write_config(tmp_path)
    store = SessionStore(tmp_path / "sessions")
    store.prepare()
    unreadable = store.state_dir("recording") / "000001-20260101T100000Z"
    unreadable.mkdir()
    (unreadable / "manifest.json").write_bytes(b"\xff\xfe garbage")
    write_segment(unreadable / "seg-0000.wav", 3000, 7)
    write_segment(unreadable / "seg-0001.wav", 2500, 8)
    absurd = store.state_dir("outbox") / SID
    absurd.mkdir()
    write_segment(absurd / "seg-0000.wav", 4000, 9)
    data = good_manifest()
    data["frames"] = 10**30
    (absurd / "manifest.json").write_text(json.dumps(data))

    done = cli("sessions", "--json", "--config", str(config))
    assert done.returncode == 0, done.stderr
    first, second = json.loads(done.stdout)
    assert first["id"] == "000001-20260101T100000Z" and first["state"] == "damaged"
    assert first["segments"] == [str(unreadable / f"seg-000{i}.wav") for i in range(2)]
    assert first["frames"] == sum(sox_frames(p) for p in first["segments"]) == 5500
    assert second["id"] == SID and second["state"] == "damaged"
    assert "frames: Input should be less than or equal to" in second["error"]
    assert second["segments"] == [str(absurd / "seg-0000.wav")] and second["frames"] == 4000

    table = cli("sessions", "--config", str(config))
    assert table.returncode == 0, table.stderr
    assert "damaged" in table.stdout and "0:00.344" in table.stdout  # 5500 frames at 16 kHz
