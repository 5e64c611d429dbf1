"""submission.mp3 over real HTTP: built on demand in a low-priority child process into the cache
(never the session folder), its progress reported, then served; the downloaded bytes are those
`session-recorder export SESSION --format mp3 --from-start` writes, byte for byte; a session
renamed since is built again rather than served with its old name in the tags."""

from __future__ import annotations

import os
from concurrent.futures import Future
from pathlib import Path

import httpx
import pytest

from recorder.store.sessions import SessionStore
from recorder.web.submission import Submissions
from tests.factories import SESSION_ID, finished_session, tone
from tests.support import cli, wait_until, write_config
from tests.web.media_support import media_server


def _ready(base: str, seen: list[dict]) -> bool:
    answer = httpx.get(f"{base}/api/sessions/{SESSION_ID}/submission").json()
    seen.append(answer)
    assert answer["status"] in ("building", "ready"), answer
    return answer["status"] == "ready"


def _spawned_children() -> list[int]:
    """This process's children that multiprocessing spawned: the build process."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"spawn_main" in command:
            found.append(int(entry.name))
    return found


@pytest.fixture
def box(tmp_path):
    config = write_config(tmp_path)  # storage dir: tmp_path/sessions
    sessions = tmp_path / "sessions"
    store = SessionStore(sessions)
    store.prepare()
    # 90 s, the first 5 s of them pre-roll (before the start press), two segments
    frames = [tone(48000 * 50).tobytes(), tone(48000 * 40, step=7).tobytes()]
    folder, _ = finished_session(
        sessions, frames, 48000, preroll_frames=48000 * 5, details={"client": "Sam"}
    )
    with media_server(store, tmp_path / "cache") as base:
        yield base, config, folder, store, tmp_path


def test_the_submission_download_is_export_from_start_byte_for_byte(box):
    base, config, folder, store, tmp_path = box
    url = f"{base}/media/{SESSION_ID}/submission.mp3"
    status = f"{base}/api/sessions/{SESSION_ID}/submission"
    before = sorted(p.name for p in folder.iterdir())
    assert httpx.get(status).json() == {"status": "none", "progress": 0.0}
    assert httpx.get(url).status_code == 404  # not built yet

    gone = tmp_path / "cache" / "000007-20261101T093000Z"  # a session retention deleted
    gone.mkdir(parents=True)
    (gone / "submission.mp3").write_bytes(b"an old build")
    first = httpx.post(status)
    assert first.status_code == 202
    assert first.json()["status"] in ("building", "ready")
    assert httpx.post(status).json()["status"] in ("building", "ready")  # asked twice
    seen: list[dict] = []
    wait_until(lambda: _ready(base, seen), 120, "submission.mp3 to be built")
    progress = [a["progress"] for a in seen]
    assert progress == sorted(progress) and all(0.0 <= p <= 1.0 for p in progress)
    assert seen[-1] == {"status": "ready", "progress": 1.0}
    builders = _spawned_children()  # kept for the next build
    assert builders and all(os.sched_getscheduler(p) == os.SCHED_IDLE for p in builders)

    got = httpx.get(url)
    assert got.status_code == 200
    assert got.headers["content-type"] == "audio/mpeg"
    assert got.headers["content-disposition"].startswith('inline; filename="Sam - 29 Nov 2026')
    assert got.headers["content-disposition"].split(";")[1].endswith(' submission.mp3"')
    exported = tmp_path / "exported.mp3"
    done = cli("export", SESSION_ID, "--format", "mp3", "--from-start", "-o", str(exported),
               "--config", str(config), timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert got.content == exported.read_bytes()
    ranged = httpx.get(url, headers={"Range": "bytes=1000-1999"})
    assert ranged.status_code == 206 and ranged.content == got.content[1000:2000]
    assert not gone.exists()  # the cache keeps no build of a session no longer here
    # built in the web server's cache, not in the session folder (the daemon's)
    assert sorted(p.name for p in folder.iterdir()) == before
    built = tmp_path / "cache" / SESSION_ID / "submission.mp3"
    mtime = built.stat().st_mtime_ns
    assert httpx.post(status).json() == {"status": "ready", "progress": 1.0}
    assert built.stat().st_mtime_ns == mtime  # ready: not built again

    # the coach names the session: the old file (its tags say "Sam") is not served any more
    store.update_manifest(
        SESSION_ID, lambda m, _s: m.__pydantic_extra__["details"].update(title="Intake")
    )
    assert httpx.get(status).json()["status"] == "none"
    assert httpx.get(url).status_code == 404
    httpx.post(status)
    wait_until(lambda: _ready(base, []), 120, "submission.mp3 to be built again")
    again = httpx.get(url)
    assert again.headers["content-disposition"].startswith('inline; filename="Sam - Intake ')
    done = cli("export", SESSION_ID, "--format", "mp3", "--from-start", "-o", str(exported),
               "--config", str(config), timeout=300)  # fmt: skip
    assert again.content == exported.read_bytes() != got.content


def test_a_failed_build_says_why_without_the_boxs_paths(box):
    base, _, folder, _, tmp_path = box
    (folder / "seg-0000.wav").write_bytes(b"not a wave file at all")
    status = f"{base}/api/sessions/{SESSION_ID}/submission"
    assert httpx.post(status, headers={"X-Requested-With": "test"}).status_code == 202

    def failed():
        answer = httpx.get(status).json()
        return answer if answer["status"] == "failed" else None

    answer = wait_until(failed, 120, "the build to fail")
    assert "seg-0000.wav" in answer["error"]  # what is wrong, for the coach
    assert str(tmp_path) not in answer["error"] and "/" not in answer["error"], answer


def test_progress_never_goes_back_while_the_build_finishes(tmp_path):
    """Between the build's rename of `.submission.mp3.tmp` to submission.mp3 and the end of
    its process the status is still "building": its progress stays at the top, not back to 0
    (the phone's bar jumped back to empty just before "ready")."""
    sessions = tmp_path / "sessions"
    store = SessionStore(sessions)
    store.prepare()
    finished_session(sessions, [tone(48000 * 10).tobytes()], 48000)
    builds = Submissions(store, tmp_path / "cache")
    stamp = builds._source(SESSION_ID)[2]
    running: Future = Future()  # the build process has not ended yet
    builds._jobs[SESSION_ID] = (running, stamp, 1000)
    out = tmp_path / "cache" / SESSION_ID / "submission.mp3"
    out.parent.mkdir(parents=True)
    tmp = out.with_name(".submission.mp3.tmp")
    tmp.write_bytes(b"x" * 400)
    assert builds.status(SESSION_ID) == {"status": "building", "progress": 0.4}
    tmp.rename(out)  # the encoder's last step; the stamp and the process's end come after
    assert builds.status(SESSION_ID) == {"status": "building", "progress": 0.99}
