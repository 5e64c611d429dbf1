"""The phone page as the dashboard tests drive it: state payloads as the contract describes them,
the daemon's side of the MQTT contract (FakeDaemon), and what a coach does on the page.

The fixtures (the built page, its broker, Chromium, a phone, the daemon's side) are in this
folder's conftest.py.
"""

from __future__ import annotations

import json
import queue
from pathlib import Path
from typing import Any

import numpy as np
from playwright.sync_api import Locator, Page, expect

from recorder.app.virtualmic import encode
from recorder.core.formats import FORMATS
from recorder.core.manifest import Manifest
from recorder.core.transcript.doc import Line, TranscriptDoc, Word, join_words
from recorder.media.deliverables import build_deliverables
from recorder.transcript.files import write_all
from recorder.transcript.status import write_status
from tests.factories import finished_session, tone
from tests.mosquitto import Credentials, Mosquitto
from tests.support import ROOT

DASHBOARD = ROOT / "dashboard"
ARTIFACTS = ROOT / "tests" / "artifacts"  # screenshots (git ignores them)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 360, "height": 740}
WAIT_MS = 5000

RECENT = [
    {
        "id": "000041-20261128T093000Z",
        "state": "uploaded",
        "seconds": 3120.0,
        "started_at": "2026-11-28T09:30:00+00:00",
        "upload_status": "verified",
    },
    {
        "id": "000042-20261128T140000Z",
        "state": "outbox",
        "seconds": 2700.0,
        "started_at": "2026-11-28T14:00:00+00:00",
        "upload_status": "failed",
    },
]


def state(device_id: str = "box-1", **changes: Any) -> dict[str, Any]:
    """A state payload exactly as the contract describes it, idle unless changed."""
    payload: dict[str, Any] = {
        "state": "idle",
        "device_id": device_id,
        "session_id": None,
        "elapsed_s": 0.0,
        "warnings": [],
        "levels": None,
        "disk_free_mb": 20480.0,
        "hours_left": 37.9,
        "upload": {
            "enabled": True,
            "queue": 1,
            "current": None,
            "progress": None,
            "paused": False,
            "last_error": "remote unreachable",
        },
        "last_error": None,
        "recent": RECENT,
        "version": "0.1.0",
        "ts": "2026-11-29T05:00:00+00:00",
    }
    payload.update(changes)
    return payload


def recording(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "state": "recording",
        "session_id": "000043-20261129T050000Z",
        "elapsed_s": 754.2,
        "levels": {"peak_dbfs": [-12.0, -20.0], "rms_dbfs": [-24.0, -30.0], "clipped": 0},
    }
    return state(**{**values, **changes})


class FakeDaemon:
    """The recorder's side of the contract, as user `recorder`; collects what arrives on cmd."""

    def __init__(self, broker: Mosquitto, device_id: str = "box-1") -> None:
        self.broker = broker
        self.device_id = device_id
        self.commands: queue.Queue[bytes] = queue.Queue()
        self.last_state: dict[str, Any] | None = None
        self.client = broker.client(
            broker.recorder, will=(broker.topic("availability", device_id), "offline")
        )
        self.client.on_message = lambda _c, _u, msg: self.commands.put(msg.payload)
        # after a broker restart paho reconnects: say online and re-send the state, as the daemon
        # does (without waiting for acks: this runs on paho's own thread, which delivers them)
        self.client.on_connect = lambda *_: self._hello(wait=False)
        self._hello(wait=True)

    def _hello(self, wait: bool) -> None:
        self.client.subscribe(self.broker.topic("cmd", self.device_id), qos=1)
        self.publish("availability", "online", retain=True, wait=wait)
        if self.last_state is not None:
            self.publish("state", json.dumps(self.last_state), retain=True, wait=wait)

    def publish(self, leaf: str, payload: str, retain: bool = False, wait: bool = True) -> None:
        info = self.client.publish(
            self.broker.topic(leaf, self.device_id), payload, qos=1, retain=retain
        )
        if wait:
            info.wait_for_publish(timeout=5)

    def online(self) -> None:
        self.publish("availability", "online", retain=True)

    def offline(self) -> None:
        self.publish("availability", "offline", retain=True)

    def state(self, payload: dict[str, Any]) -> None:
        self.last_state = payload
        self.publish("state", json.dumps(payload), retain=True)

    def level(self, peak: list[float], rms: list[float], elapsed: float, clipped: int = 0) -> None:
        self.publish(
            "level",
            json.dumps(
                {"peak_dbfs": peak, "rms_dbfs": rms, "clipped": clipped, "elapsed_s": elapsed}
            ),
        )

    def next_command(self, timeout: float = 5.0) -> bytes | None:
        try:
            return self.commands.get(timeout=timeout)
        except queue.Empty:
            return None


def log_in(
    page: Page, broker: Mosquitto, user: Credentials, device: str, url: str | None = None
) -> None:
    """What a coach does: open the box's address, type the user, password and box id (and,
    for a central broker, its address under the advanced settings)."""
    page.goto(broker.http_url)
    expect(page.locator("#login")).to_be_visible()
    # the default broker address is the page's own origin: the web server carries it at /mqtt
    assert page.locator("#f-url").input_value() == broker.ws_url
    if url is not None:
        page.locator("#advanced summary").tap()
        page.fill("#f-url", url)
    page.fill("#f-user", user.username)
    page.fill("#f-pass", user.password)
    page.fill("#f-device", device)
    page.click("#connect-btn")
    # the header names the box's state, not the broker link: that shows only when it is down
    expect(page.locator("#conn")).to_have_attribute("data-broker", "up", timeout=WAIT_MS)


def row(page: Page, sid: str) -> Locator:
    return page.locator(f'#recent > li[data-session="{sid}"]')


def open_view(page: Page, sid: str) -> Locator:
    """Tap the session's row; its view (the panel the row controls) opens."""
    head = row(page, sid).locator("button.session-head")
    expect(head).to_have_attribute("aria-expanded", "false", timeout=WAIT_MS)
    head.tap()
    expect(head).to_have_attribute("aria-expanded", "true")
    panel = page.locator(f"#{head.get_attribute('aria-controls')}")
    expect(panel).to_be_visible()
    return panel


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path


def touch_targets_too_small(page: Page) -> list[str]:
    """Visible buttons and fields smaller than 48×48 CSS px."""
    return page.evaluate(
        """() => [...document.querySelectorAll('button, input, summary')]
            .filter(e => e.offsetParent !== null)
            .filter(e => { const r = e.getBoundingClientRect(); const cb = e.type === 'checkbox';
                           return !cb && (r.width < 48 || r.height < 48); })
            .map(e => e.id || e.className || e.tagName)"""
    )


def pulsing(rate: int = 48000, period: int = 4800):
    """A 440 Hz tone whose level jumps between -30 and -6 dBFS every half second."""

    n = 0
    while True:
        t = (np.arange(period) + n * period) / rate
        amp = np.where((t % 1.0) < 0.5, 10 ** (-30 / 20), 10 ** (-6 / 20)) * 32767
        x = (np.sin(2 * np.pi * 440 * t) * amp).astype(np.int64)
        yield encode(np.repeat(x[:, None], 2, axis=1), FORMATS["S16_LE"])
        n += 1


# ---- a session to listen back to ------------------------------------------------------------------

REVIEW_PREROLL_S = 1.0  # the start press falls 1 s into session.mp3: transcript times count from it


def _words(line: str, start: float, end: float, unsure: dict[str, float | None]) -> list[Word]:
    """`line`'s words spread evenly from `start` to `end`, probability 0.9 unless `unsure` says
    (None: a word the coach typed)."""
    texts = line.split()
    step = (end - start) / len(texts)
    return [
        Word(t, start + i * step, start + (i + 1) * step, unsure.get(t, 0.9), f" {t}")
        for i, t in enumerate(texts)
    ]


def review_session(sessions: Path, seconds: float = 20.0) -> tuple[Path, Manifest, TranscriptDoc]:
    """A finished session as the recorder leaves it once transcribed: its segment, manifest (two
    markers, 1 s of pre-roll), session.mp3 and session.flac built by the recorder's own code, and
    a done transcript (transcript.json and its files as the transcript worker writes them) of
    four lines, "carrier" (0.2) the one word the engine was unsure of and "Sam" typed by the
    coach (no probability)."""
    rate = 48000
    frames = int((seconds + REVIEW_PREROLL_S) * rate)
    folder, manifest = finished_session(
        sessions,
        [tone(frames).tobytes()],
        rate,
        markers=[(6 * rate, "goal"), (int(15.5 * rate), "team")],
        details={"client": "Sam", "title": "Goals review"},
        preroll_frames=int(REVIEW_PREROLL_S * rate),
    )
    build_deliverables(folder, manifest)
    spoken = [
        (0.5, 3.5, "Coach", "What would you like to work on today Sam"),
        (4.0, 8.0, "Client", "My carrier goals for this year"),
        (9.0, 13.0, "Coach", "Tell me more about the career part"),
        (14.0, 18.0, "Client", "I want to lead a team"),
    ]
    unsure: dict[str, float | None] = {"carrier": 0.2, "Sam": None}
    lines = []
    for start, end, speaker, text in spoken:
        words = tuple(_words(text, start, end, unsure))
        lines.append(Line(start, end, speaker, join_words(words), False, words))
    doc = TranscriptDoc(
        session_id=manifest.id,
        title="Sam · Goals review",
        date="2026-11-29",
        length_s=seconds,
        speakers=("Coach", "Client"),
        mode="channels",
        engine="whisper",
        lines=tuple(lines),
    )
    files = write_all(doc, folder)
    write_status(
        folder,
        {
            "status": "done",
            "engine": "whisper",
            "files": files,
            "words": doc.words,
            "turns": doc.turns,
            "paragraphs": doc.paragraphs,
            "doc": doc.to_json(),
        },
    )
    return folder, manifest, doc


def play_until_heard(page: Page, play: Locator, sid: str, timeout_ms: int = 20000) -> None:
    """Tap the session's Play and wait until its audio has played past half a second."""
    play.tap()
    page.wait_for_function(
        f"() => document.querySelector('.player-sec[data-session=\"{sid}\"] audio')"
        ".currentTime > 0.5",
        timeout=timeout_ms,
    )
