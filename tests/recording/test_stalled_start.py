"""A start while the card stalls or refuses writes: the press counts, and a refusal is said.

The stalled card is real: an ext4 image on a loop device frozen with `fsfreeze`, so every write
blocks in the kernel. The refusing card is a tmpfs remounted read-only.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.common import FreezableDisk
from recorder.adapters.disk import StatvfsDisk
from recorder.app.virtualmic import Feeder, random_periods
from recorder.core.formats import FORMATS
from recorder.core.recording.blocks import SessionBegin, SessionEnd
from recorder.core.recording.state import Mark, Start, Stop, WriterFailed
from recorder.recording.blockqueue import FrameQueue
from recorder.recording.tap import StartAck
from recorder.recording.writer import DiskGuard, WriterFrames, WriterHooks, WriterThread
from recorder.store.sessions import SessionStore
from tests.factories import make_manifest
from tests.support import Running, expected_audio, make_config, sox_raw

pytestmark = pytest.mark.root

WALL = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def _feeder(mic) -> Feeder:
    return Feeder(mic.infile, random_periods(FORMATS["S16_LE"], 2, 4800, None), 0.05, record=True)


@pytest.fixture
def frozen_disk(tmp_path):
    why = FreezableDisk.unavailable()
    if why:
        pytest.skip(why)
    try:
        with FreezableDisk(tmp_path, 64) as disk:
            yield disk
    except RuntimeError as exc:
        pytest.skip(str(exc))


def test_a_start_on_a_stalled_card_keeps_the_audio_from_the_press(tmp_path, mic, frozen_disk):
    cfg = make_config(tmp_path, storage={"dir": str(frozen_disk.mount / "sessions")})
    feeder = _feeder(mic)
    with Running(cfg, feeder) as r:
        try:
            r.wait_frames(2 * 48000)
            frozen_disk.freeze()
            pressed_at = r.rec.tap.position
            started = r.request(Start())
            # Answered while the card is still frozen: before, the controller waited for the
            # thaw inside mkdir and ctl gave up ("did not answer in time").
            assert started["ok"], started
            assert "slow to answer" in started["message"]
            assert frozen_disk.frozen
            assert r.rec.controller.status()["state"] == "recording"
            r.wait_session_frames(4 * 48000)  # 4 s of a stall, longer than the 1-s pre-roll
            marked = r.request(Mark("during the stall"))
            assert marked["ok"], marked
            frozen_disk.thaw()
            r.wait_session_frames(5 * 48000)
            stopped = r.request(Stop())
            session = r.wait_outbox(started["session_id"])
        finally:
            frozen_disk.thaw()
    m = session.manifest
    assert m.start_pos <= pressed_at  # the press is in the session, with its pre-roll before it
    assert pressed_at - m.start_pos >= 48000 - 4800
    assert m.gaps == [] and m.frames == stopped["frames"]
    assert [k.label for k in m.markers] == ["during the stall"]
    audio = sox_raw([str(session.path / s.file) for s in m.segments])
    assert audio == expected_audio(feeder, m)


@contextlib.contextmanager
def read_only(where: Path):
    """`where` refuses writes (EROFS) until the block ends: a read-only bind mount over it."""
    subprocess.run(["mount", "--bind", str(where), str(where)], check=True)
    try:
        done = subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(where)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            pytest.skip(f"cannot make a read-only bind mount here: {done.stderr.strip()}")
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_card_that_refuses_writes_refuses_the_start_and_says_why(tmp_path, mic):
    sessions = tmp_path / "sessions"
    cfg = make_config(tmp_path, storage={"dir": str(sessions)})
    feeder = _feeder(mic)
    with Running(cfg, feeder) as r:
        r.wait_frames(48000)
        with read_only(sessions / "recording"):
            refused = r.request(Start())
        assert not refused["ok"]
        assert "cannot start" in refused["message"]
        assert "Read-only file system" in refused["message"]
        assert str(sessions / "recording") in refused["message"]
        status = r.rec.controller.status()
        assert status["state"] != "recording" and "Read-only" in status["last_error"]
        # Writable again: the next start works and gets the next id, not the refused one.
        started = r.request(Start())
        assert started["ok"], started
        r.wait_session_frames(48000)
        r.request(Stop())
        session = r.wait_outbox(started["session_id"])
    assert started["session_id"].startswith("000002-")
    assert sox_raw([str(session.path / s.file) for s in session.manifest.segments]) == (
        expected_audio(feeder, session.manifest)
    )


def test_a_refusal_after_the_controller_stopped_waiting_ends_the_session(tmp_path):
    """The writer's later "no" must not be lost: it becomes a WriterFailed event instead."""
    store = SessionStore(tmp_path / "sessions")
    store.prepare()
    session_id, path = store.reserve(WALL, True)
    events: list = []
    writer = WriterThread(
        FrameQueue(48000),
        store,
        DiskGuard(store.root, StatvfsDisk(), 0),
        None,
        WriterFrames(segment=48000, sync=24000, report=12000),
        WriterHooks(emit=events.append),
    )
    ack = StartAck()
    assert ack.wait(0.01) == (False, None)  # the controller gave up waiting
    manifest = make_manifest(
        id=session_id, started_at=WALL.isoformat(), state="recording", start_source="test"
    )
    with read_only(store.state_dir("recording")):
        writer.handle(SessionBegin(path, manifest, 0, 0, ack))
        writer.handle(SessionEnd("requested", 0, WALL.isoformat()))
    # The refusal ends the session; then its end is counted down (it never reaches the outbox).
    assert [type(e) for e in events] == [WriterFailed, WriterFailed]
    assert session_id in events[0].error and "Read-only file system" in events[0].error
    assert events[0].session_id is None and events[1].session_id == session_id
    assert not path.exists()


def test_start_ack_answers_a_waiting_controller_once():
    ack = StartAck()
    threading.Timer(0.05, ack.deliver, args=("no room",)).start()
    assert ack.wait(10) == (True, "no room")
    late = StartAck()
    assert late.wait(0) == (False, None)
    assert late.deliver(None) is False  # nobody is waiting: the writer must say it otherwise
