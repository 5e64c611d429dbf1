"""A discarded session leaves nothing of the client's words on the box: the copies the web
server made to listen to or to submit (`<storage>/web-cache/<id>`) go with its folder.

Real parts: the real `session-recorder web` wiring (extra_routes over the config) builds the
submission MP3 over HTTP; the real discard command deletes the session.
"""

from __future__ import annotations

import httpx

from recorder.store.sessions import SessionStore
from tests.factories import SESSION_ID, finished_session, tone
from tests.support import cli, wait_until, write_config
from tests.web.media_support import media_server


def test_a_discard_deletes_the_copies_the_web_server_made(tmp_path):
    config = write_config(tmp_path)
    store = SessionStore(tmp_path / "sessions")
    store.prepare()
    finished_session(store.root, [tone(48000 * 4).tobytes()], 48000)
    cache = store.root / "web-cache"
    with media_server(store, cache) as base:
        url = f"{base}/api/sessions/{SESSION_ID}/submission"
        assert httpx.post(url, headers={"X-Requested-With": "t"}).status_code == 202
        wait_until(lambda: httpx.get(url).json()["status"] == "ready", 120, "the build")
    built = cache / SESSION_ID
    assert any(built.iterdir())

    done = cli("discard", SESSION_ID, "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert not built.exists()
    assert store.find(SESSION_ID) is None
