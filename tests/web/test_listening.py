"""Listening back on a box that builds no session.mp3 (no [upload], no [share]): the web server
makes the copy on demand into its cache, says where it stands in `/api/sessions`, and serves it
once it is ready; the recording always wins (no build while a session records, one in progress
frozen) and so does its room on the card (no copy that would leave less than the reserve, at
most `KEEP` copies)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from recorder.store.sessions import SessionStore
from recorder.web import listening as listening_module
from recorder.web.api import add_api_routes
from recorder.web.listening import KEEP, WAITING, Listening, add_listening_routes
from recorder.web.media import add_media_routes
from tests.factories import SESSION_ID, finished_session, tone
from tests.mosquitto import HOST, free_port
from tests.support import ffprobe, wait_until, write_config
from tests.web.serving import PASSWORD, ServedApp, WebProcess, page_dir, password_file

pytestmark = pytest.mark.timeout(300)

RATE = 48000
MP3_FRAME_S = 1152 / RATE  # MP3 padding: the duration read back may differ by a frame or two


def _process_state(pid: int) -> str:
    """R, S, T (stopped)... as /proc says."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_box_without_upload_or_share_lets_the_coach_listen(tmp_path):
    """The real `session-recorder web` on a box with neither [upload] nor [share]: session.mp3
    is not in the folder, is made on request, and is then listed and served, as long as the
    session itself."""
    port = free_port()
    config = write_config(
        tmp_path,
        web={
            "host": HOST,
            "port": port,
            "password_file": str(password_file(tmp_path)),
            "dashboard_dir": str(page_dir(tmp_path)),
        },
    )
    assert "[upload]" not in config.read_text() and "[share]" not in config.read_text()
    sessions = tmp_path / "sessions"
    SessionStore(sessions).prepare()
    # 90 s, the first 5 s of them pre-roll, two segments
    chunks = [tone(RATE * 50).tobytes(), tone(RATE * 40, step=7).tobytes()]
    folder, _ = finished_session(sessions, chunks, RATE, preroll_frames=RATE * 5)
    before = sorted(p.name for p in folder.iterdir())
    assert "session.mp3" not in before

    with WebProcess(config, port, tmp_path) as served, httpx.Client(base_url=served.url) as web:
        origin = {"Origin": f"http://{HOST}:{port}"}
        assert web.post("api/login", json={"password": PASSWORD}, headers=origin).status_code == 200

        def record() -> dict:
            (found,) = [r for r in web.get("api/sessions").json() if r["id"] == SESSION_ID]
            return found

        first = record()
        assert "session.mp3" not in first["media"]  # not playable yet
        assert first["listening"] == {"status": "none", "progress": 0.0}
        mp3 = f"media/{SESSION_ID}/session.mp3"
        assert web.get(mp3).status_code == 404

        status = f"api/sessions/{SESSION_ID}/listening"
        started = web.post(status, headers=origin)
        assert started.status_code == 202
        assert started.json()["status"] in ("building", "ready")
        seen: list[dict] = []

        def ready() -> bool:
            answer = web.get(status).json()
            seen.append(answer)
            assert answer["status"] in ("building", "ready"), answer
            return answer["status"] == "ready"

        wait_until(ready, 240, "the copy to listen to")
        progress = [a["progress"] for a in seen]
        assert progress == sorted(progress) and seen[-1] == {"status": "ready", "progress": 1.0}

        now = record()
        assert now["media"][0] == "session.mp3"
        assert now["listening"] == {"status": "ready", "progress": 1.0}
        got = web.get(mp3)
        assert got.status_code == 200
        assert got.headers["content-type"] == "audio/mpeg"
        assert got.headers["accept-ranges"] == "bytes"
        ranged = web.get(mp3, headers={"Range": "bytes=1000-1999"})
        assert ranged.status_code == 206 and ranged.content == got.content[1000:2000]
        heard = tmp_path / "heard.mp3"
        heard.write_bytes(got.content)
        # the whole session, pre-roll included (the markers' and the transcript's times fit)
        assert abs(float(ffprobe(heard)["format"]["duration"]) - 90.0) <= 2 * MP3_FRAME_S
    # the session folder is the daemon's: the copy is in the web server's cache
    assert sorted(p.name for p in folder.iterdir()) == before
    assert (sessions / "web-cache" / SESSION_ID / "session.mp3").read_bytes() == got.content


@pytest.fixture
def box(tmp_path):
    """A store with a finished session, and the media, API and listening routes on loopback
    with the `Listening` the test makes (its reserve)."""
    sessions = tmp_path / "sessions"
    store = SessionStore(sessions)
    store.prepare()
    made: dict = {}

    @contextlib.contextmanager
    def serve(reserve: int = 0) -> Iterator[str]:
        cache = sessions / "web-cache"
        made["listening"] = listening = Listening(store, cache, reserve)
        app = web.Application()
        add_media_routes(app, store, cache, None)
        add_api_routes(app, store, None)
        add_listening_routes(app, listening)
        with ServedApp(app) as served:
            yield served.url.rstrip("/")

    return sessions, serve, made


def _recording(sessions: Path) -> Path:
    """A session being recorded: its folder in recording/."""
    folder = sessions / "recording" / "000002-20261206T100000Z"
    folder.mkdir()
    return folder


def test_no_copy_starts_while_a_session_records_and_one_in_progress_is_frozen(box, monkeypatch):
    sessions, serve, made = box
    monkeypatch.setattr(listening_module, "WATCH_S", 0.1)
    # five minutes: long enough to be caught building
    chunks = [tone(RATE * 150).tobytes(), tone(RATE * 150, step=7).tobytes()]
    finished_session(sessions, chunks, RATE)
    with serve() as base:
        status = f"{base}/api/sessions/{SESSION_ID}/listening"
        recording = _recording(sessions)
        listed = httpx.get(f"{base}/api/sessions").json()
        assert [r["listening"] for r in listed if r["id"] == SESSION_ID] == [
            {"status": "waiting", "progress": 0.0, "reason": WAITING}
        ]
        assert httpx.post(status).json() == {
            "status": "waiting",
            "progress": 0.0,
            "reason": WAITING,
        }
        assert not (sessions / "web-cache" / SESSION_ID).exists()  # nothing started

        recording.rmdir()
        assert httpx.post(status).json()["status"] == "building"
        pid = made["listening"]._pid
        assert os.sched_getscheduler(pid) == os.SCHED_IDLE
        recording = _recording(sessions)  # the coach presses record meanwhile
        wait_until(lambda: _process_state(pid) == "T", 60, "the build to be frozen")
        frozen = httpx.get(status).json()
        assert frozen["status"] == "building" and frozen["reason"] == WAITING
        tmp = sessions / "web-cache" / SESSION_ID / ".session.mp3.tmp"
        size = tmp.stat().st_size if tmp.exists() else 0
        assert httpx.get(f"{base}/media/{SESSION_ID}/session.mp3").status_code == 404
        assert (tmp.stat().st_size if tmp.exists() else 0) == size  # not a byte while frozen

        recording.rmdir()  # stopped: the build goes on
        wait_until(lambda: httpx.get(status).json()["status"] == "ready", 240, "the copy")
        got = httpx.get(f"{base}/media/{SESSION_ID}/session.mp3")
        heard = sessions.parent / "heard.mp3"
        heard.write_bytes(got.content)
        assert abs(float(ffprobe(heard)["format"]["duration"]) - 300.0) <= 2 * MP3_FRAME_S


def test_a_copy_never_takes_the_room_recording_needs(box):
    sessions, serve, _ = box
    finished_session(sessions, [tone(RATE * 10).tobytes()], RATE)
    st = os.statvfs(sessions)
    free = st.f_bavail * st.f_frsize
    with serve(reserve=free) as base:  # after a copy, less than the reserve would be free
        answer = httpx.post(f"{base}/api/sessions/{SESSION_ID}/listening").json()
        assert answer["status"] == "refused"
        assert answer["reason"].startswith("not enough room on the box: the copy to listen to")
        assert not (sessions / "web-cache" / SESSION_ID).exists()


def test_the_cache_keeps_the_newest_copies(box):
    sessions, serve, _ = box
    ids = [f"00000{n}-20261129T09{n}000Z" for n in range(1, KEEP + 2)]
    for i, session_id in enumerate(ids):
        finished_session(sessions, [tone(RATE * 3, step=5 + i).tobytes()], RATE, id=session_id)
    with serve() as base:
        for session_id in ids:
            status = f"{base}/api/sessions/{session_id}/listening"
            httpx.post(status)
            wait_until(lambda s=status: httpx.get(s).json()["status"] == "ready", 120, session_id)
        gone = sessions / "web-cache" / "000009-20261101T093000Z"  # retention or a discard
        gone.mkdir()
        (gone / "session.mp3").write_bytes(b"a client's words")
        listed = {r["id"]: r for r in httpx.get(f"{base}/api/sessions").json()}
        assert not gone.exists()  # dropped as soon as the page lists the sessions
        assert [i for i in ids if "session.mp3" in listed[i]["media"]] == ids[1:]
        assert listed[ids[0]]["listening"] == {"status": "none", "progress": 0.0}
        assert httpx.get(f"{base}/media/{ids[0]}/session.mp3").status_code == 404


def test_a_build_process_killed_fails_and_the_next_request_builds_again(box, monkeypatch):
    """The kernel's OOM killer, say, takes the build process: the copy says it failed, and the
    coach's next request gets a new process instead of a broken pool for good."""
    sessions, serve, made = box
    monkeypatch.setattr(listening_module, "WATCH_S", 0.1)
    chunks = [tone(RATE * 150).tobytes(), tone(RATE * 150, step=7).tobytes()]
    finished_session(sessions, chunks, RATE)
    with serve() as base:
        status = f"{base}/api/sessions/{SESSION_ID}/listening"
        assert httpx.post(status).json()["status"] == "building"
        pid = made["listening"]._pid
        recording = _recording(sessions)  # held still (frozen) so that it dies mid-build
        wait_until(lambda: _process_state(pid) == "T", 60, "the build to be frozen")
        os.kill(pid, signal.SIGKILL)
        recording.rmdir()
        wait_until(lambda: httpx.get(status).json()["status"] == "failed", 60, "the failure")
        assert httpx.get(f"{base}/media/{SESSION_ID}/session.mp3").status_code == 404

        assert httpx.post(status).json()["status"] == "building"
        assert made["listening"]._pid != pid
        wait_until(lambda: httpx.get(status).json()["status"] == "ready", 240, "the copy")
        assert httpx.get(f"{base}/media/{SESSION_ID}/session.mp3").status_code == 200
