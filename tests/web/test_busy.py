"""The recording always wins: while the web server (its own process, at nice 10 with idle I/O,
as its unit runs it) streams a session's FLAC to three phones and a fourth downloads it whole,
again and again, a session recorded meanwhile is sample-exact, with no gap."""

from __future__ import annotations

import threading
from http.cookies import SimpleCookie

import httpx
import numpy as np
import pytest

from recorder.app.virtualmic import Feeder, random_periods
from recorder.core.formats import FORMATS
from recorder.core.recording.state import Start, Stop
from recorder.media.deliverables import build_deliverables
from recorder.web.auth import COOKIE
from tests.factories import SESSION_ID, finished_session
from tests.mosquitto import HOST, free_port
from tests.support import Running, expected_audio, make_config, sox_raw, write_config
from tests.web.serving import PASSWORD, WebProcess, page_dir, password_file

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

S16 = FORMATS["S16_LE"]
PIECE = 256 * 1024  # what a phone's player asks for at a time


class Client(threading.Thread):
    """A phone: the FLAC piece by piece with Range (a player), or whole (a download), until
    told to stop; every byte compared with the file."""

    def __init__(self, url: str, cookie: str, expected: bytes, whole: bool) -> None:
        super().__init__(daemon=True)
        self.url, self.cookie, self.expected, self.whole = url, cookie, expected, whole
        self.stopping = threading.Event()
        self.requests = 0
        self.bytes = 0
        self.wrong: list[str] = []

    def run(self) -> None:
        with httpx.Client(cookies={COOKIE: self.cookie}, timeout=60) as client:
            start = 0
            while not self.stopping.is_set():
                if self.whole:
                    answer = client.get(self.url)
                    want, status = self.expected, 200
                else:
                    end = min(start + PIECE, len(self.expected)) - 1
                    answer = client.get(self.url, headers={"Range": f"bytes={start}-{end}"})
                    want, status = self.expected[start : end + 1], 206
                    start = 0 if end + 1 >= len(self.expected) else end + 1
                self.requests += 1
                self.bytes += len(answer.content)
                if answer.status_code != status or answer.content != want:
                    self.wrong.append(f"{answer.status_code} {answer.headers}")


def test_a_session_recorded_while_four_phones_pull_a_flac_is_sample_exact(tmp_path, mic):
    sessions = tmp_path / "sessions"
    noise = np.random.default_rng(7).integers(-8000, 8000, 48000 * 60 * 2, dtype="<i2")
    folder, manifest = finished_session(sessions, [noise.tobytes()], 48000, channels=2)
    build_deliverables(folder, manifest)
    flac = (folder / "session.flac").read_bytes()

    port = free_port()
    web_dir = tmp_path / "web"
    web_dir.mkdir()
    web_config = write_config(
        web_dir,
        storage={"dir": str(sessions)},
        web={
            "host": HOST,
            "port": port,
            "password_file": str(password_file(web_dir)),
            "dashboard_dir": str(page_dir(web_dir)),
        },
    )
    cfg = make_config(tmp_path, warnings={"disk_minutes": 0, "clip_repeat": 1_000_000})
    feeder = Feeder(mic.infile, random_periods(S16, 2, 4800, None, seed=11), 0.1, record=True)
    with WebProcess(web_config, port, web_dir) as web, Running(cfg, feeder) as r:
        login = httpx.post(
            web.url + "api/login", json={"password": PASSWORD}, headers={"X-Requested-With": "t"}
        )
        cookie = SimpleCookie(login.headers["set-cookie"])[COOKIE].value
        url = f"{web.url}media/{SESSION_ID}/session.flac"
        clients = [Client(url, cookie, flac, whole=n == 3) for n in range(4)]
        r.wait_frames(r.rec.tap.position + 48000 // 4)
        started = r.request(Start())
        assert started["ok"], started
        for c in clients:
            c.start()
        r.wait_session_frames(48000 * 8, timeout=60)
        assert r.request(Stop())["ok"]
        for c in clients:
            c.stopping.set()
        for c in clients:
            c.join(120)
        session = r.wait_outbox(started["session_id"])

    m = session.manifest
    assert m.gaps == []
    assert sox_raw([str(session.path / s.file) for s in m.segments]) == expected_audio(feeder, m)
    for c in clients:
        assert c.requests > 0 and c.wrong == [], (c.requests, c.wrong[:3])
    served = sum(c.bytes for c in clients)
    print(
        f"served {served / 1e6:.1f} MB in {sum(c.requests for c in clients)} requests "
        f"(FLAC {len(flac) / 1e6:.1f} MB) while recording {m.frames / 48000:.1f} s"
    )
