"""Listening back on the phone, in Chromium at 360×740 against the real recorder: the page is
served by the real web server (its login, /mqtt, /media with Range and the session API) over
the running daemon's own session folder, which holds a finished session with session.mp3 built
by the recorder's code and a done transcript. The coach plays it, jumps to a marker, reads
along (the highlighted line follows the audio, a tap on a line plays from it, a search finds a
word, an unsure word is marked), marks a moment (the `bookmark` command reaches the daemon over
MQTT and lands in labels.txt), and comes back to where they left off after a reload. Then
corrects a line's words and speaker, splits a line and merges it back (`transcript_edit`), and
the corrections are read back from transcript.docx by python-docx.
"""

from __future__ import annotations

import io
import json
import queue
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docx
import pytest
from playwright.sync_api import Locator, Page, expect

from recorder.adapters.control_socket import send
from recorder.app.virtualmic import Feeder
from recorder.app.web_server import extra_routes
from recorder.config import Config
from recorder.core.transcript.doc import TranscriptDoc
from tests.dashboard.page import (
    REVIEW_PREROLL_S,
    WAIT_MS,
    log_in,
    open_view,
    play_until_heard,
    pulsing,
    review_session,
    screenshot,
    touch_targets_too_small,
)
from tests.mosquitto import Mosquitto
from tests.support import Running, make_config, wait_until
from tests.web.serving import PageServer

SEEK_TOLERANCE_S = 0.1


@pytest.fixture
def console(page: Page) -> Iterator[list[str]]:
    """The page's console errors and failed requests: none may appear, but the 404 of the
    optional /config.json (a box without one gets the defaults, settings.js)."""
    errors: list[str] = []

    def said(m) -> None:
        # a failed request is said here without its address: the response names it
        if m.type == "error" and not m.text.startswith("Failed to load resource"):
            errors.append(m.text)

    def answered(r) -> None:
        if r.status >= 400 and not r.url.endswith("/config.json"):
            errors.append(f"HTTP {r.status} {r.url}")

    page.on("console", said)
    page.on("response", answered)
    yield errors
    assert not errors, f"console errors: {errors}"


def audio(panel: Locator) -> Locator:
    return panel.locator(".player-sec audio")


def prop(panel: Locator, expression: str):
    """`expression` of the session's <audio> element (`a`)."""
    return audio(panel).evaluate(f"a => {expression}")


def seeked_to(panel: Locator, tap: Locator) -> float:
    """Tap, and where the audio was when its seek ended."""
    audio(panel).evaluate(
        "a => { a.dataset.seekedAt = ''; "
        "a.addEventListener('seeked', () => { a.dataset.seekedAt = String(a.currentTime) }, "
        "{once: true}) }"
    )
    tap.tap()
    expect(audio(panel)).not_to_have_attribute("data-seeked-at", "", timeout=WAIT_MS)
    return float(audio(panel).get_attribute("data-seeked-at"))


def set_time(panel: Locator, seconds: float) -> None:
    """Move the paused audio to `seconds`, as the timeline does."""
    audio(panel).evaluate(f"a => {{ a.pause(); a.currentTime = {seconds} }}")


def settled(page: Page) -> float:
    """Where the page is scrolled once it has not moved for ten frames."""
    return page.evaluate(
        """() => new Promise(done => {
            let last = -1, still = 0;
            const look = () => {
                still = window.scrollY === last ? still + 1 : 0;
                last = window.scrollY;
                if (still >= 10) done(last); else requestAnimationFrame(look);
            };
            requestAnimationFrame(look);
        })"""
    )


def current_line(panel: Locator) -> Locator:
    return panel.locator(".ra-line.current")


@dataclass
class Box:
    """The running daemon with a finished, transcribed session, and its web server."""

    cfg: Config
    server: PageServer
    folder: Path
    sid: str
    doc: TranscriptDoc
    heard: queue.Queue[bytes]  # what reaches the daemon's cmd topic, as sent

    def open(self, page: Page) -> Locator:
        """Log in as the coach and open the session's view."""
        log_in(page, self.server, self.server.broker.dashboard, "box-1")
        return open_view(page, self.sid)


@pytest.fixture
def box(broker, dist: Path, tmp_path: Path, mic) -> Iterator[Box]:
    mosquitto: Mosquitto = broker.broker
    pw = tmp_path / "mqtt.pass"
    pw.write_text(mosquitto.recorder.password)
    cfg = make_config(
        tmp_path,
        device={"id": "box-1"},
        mqtt={
            "host": "127.0.0.1",
            "port": mosquitto.port,
            "username": mosquitto.recorder.username,
            "password_file": str(pw),
        },
        warnings={"disk_minutes": 0},
    )
    folder, manifest, doc = review_session(cfg.storage.dir)
    # what the daemon receives on its cmd topic, read by a second client of the same account
    heard: queue.Queue[bytes] = queue.Queue()
    listener = mosquitto.client(mosquitto.recorder)
    listener.on_message = lambda _c, _u, msg: heard.put(msg.payload)
    listener.subscribe(mosquitto.topic("cmd", "box-1"), qos=1)
    # the web server as `session-recorder web` builds it, over the daemon's session folder
    server = PageServer(mosquitto, dist, tmp_path / "web", routes=extra_routes(cfg)).serve()
    feeder = Feeder(mic.infile, pulsing(), 0.1)
    try:
        with Running(cfg, feeder) as r:
            wait_until(lambda: r.rec.mqtt.connected, 10)
            yield Box(cfg, server, folder, manifest.id, doc, heard)
    finally:
        server.shutdown()
        listener.disconnect()
        listener.loop_stop()


def test_listen_jump_read_along_bookmark_and_resume(
    page: Page, console: list[str], box: Box
) -> None:
    cfg, folder, sid, doc, heard = box.cfg, box.folder, box.sid, box.doc, box.heard
    panel = box.open(page)
    player = panel.locator(".player-sec")
    expect(player).to_be_visible(timeout=WAIT_MS)
    expect(panel.locator(".ra-line")).to_have_count(len(doc.lines), timeout=WAIT_MS)
    assert touch_targets_too_small(page) == []
    screenshot(page, "review-1-player.png")

    # the MP3 plays
    play_until_heard(page, player.locator(".player-play"), sid)
    expect(player.locator(".player-play")).to_have_text("Pause")
    screenshot(page, "review-2-playing.png")

    # a tap on a marker seeks there (the markers' seconds count from the first frame)
    markers = player.locator(".player-marker")
    expect(markers).to_have_count(2)
    expect(player.locator(".player-tick")).to_have_count(2)
    at = seeked_to(panel, markers.nth(1))
    assert abs(at - 15.5) < SEEK_TOLERANCE_S, at
    screenshot(page, "review-3-marker.png")

    # the lock screen shows the session's name (Media Session API)
    assert page.evaluate("() => navigator.mediaSession.metadata.title") == "Sam · Goals review"
    # −15 s / +15 s, the speeds, and the FLAC on request, keeping the place
    set_time(panel, 15.5)
    at = seeked_to(panel, player.locator(".player-back"))
    assert abs(at - 0.5) < SEEK_TOLERANCE_S, at
    at = seeked_to(panel, player.locator(".player-fwd"))
    assert abs(at - 15.5) < SEEK_TOLERANCE_S, at
    player.locator('.player-speed[data-speed="1.5"]').tap()
    assert prop(panel, "a.playbackRate") == 1.5
    expect(player.locator('.player-speed[aria-pressed="true"]')).to_have_text("1.5×")
    player.locator('.player-speed[data-speed="1"]').tap()
    player.locator(".player-flac").tap()
    expect(audio(panel)).to_have_attribute("src", f"/media/{sid}/session.flac")
    page.wait_for_function(
        "a => a.readyState >= 1 && Math.abs(a.currentTime - 15.5) < 0.1",
        arg=audio(panel).element_handle(),
        timeout=WAIT_MS,
    )
    player.locator(".player-flac").tap()
    expect(audio(panel)).to_have_attribute("src", f"/media/{sid}/session.mp3")

    # the highlighted line (and word) follows the audio, a transcript time + preroll, and is
    # scrolled into view
    page.evaluate("() => window.scrollTo(0, 0)")
    for i, line in ((2, doc.lines[2]), (0, doc.lines[0]), (3, doc.lines[3])):
        word = line.words[2]
        set_time(panel, REVIEW_PREROLL_S + word.start_s + 0.05)
        expect(current_line(panel)).to_have_attribute("data-i", str(i), timeout=WAIT_MS)
        expect(current_line(panel).locator(".ra-word.spoken")).to_have_text(word.text)
    expect(current_line(panel)).to_be_in_viewport()
    screenshot(page, "review-4-read-along.png")
    # … but not while the coach scrolls the page
    # a finger moving on the screen (touch events through the browser's input), then the page
    # at its top, away from the read-along
    cdp = page.context.new_cdp_session(page)
    for kind, y in (("touchStart", 600), ("touchMove", 500), ("touchMove", 400), ("touchEnd", 0)):
        points = [{"x": 180, "y": y}] if kind != "touchEnd" else []
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})
    settled(page)
    page.evaluate("() => window.scrollTo({top: 0, behavior: 'instant'})")
    top = settled(page)
    expect(panel.locator(".ra-line").nth(1)).not_to_be_in_viewport()
    set_time(panel, REVIEW_PREROLL_S + doc.lines[1].start_s + 0.1)
    expect(current_line(panel)).to_have_attribute("data-i", "1", timeout=WAIT_MS)
    assert settled(page) == top

    # a tap on a line's time plays from the line's start
    at = seeked_to(panel, panel.locator(".ra-line").nth(1).locator(".ra-time"))
    assert abs(at - (REVIEW_PREROLL_S + doc.lines[1].start_s)) < SEEK_TOLERANCE_S, at
    expect(current_line(panel)).to_have_attribute("data-i", "1", timeout=WAIT_MS)
    audio(panel).evaluate("a => a.pause()")

    # the word the engine was unsure of is marked; the one the coach typed is not
    expect(panel.locator(".ra-word.unsure")).to_have_text(["carrier"])
    sam = panel.locator(".ra-line").nth(0).locator(".ra-word", has_text="Sam")
    expect(sam).not_to_have_class("ra-word unsure")

    # search
    query = panel.locator(".ra-query")
    query.fill("career")
    expect(panel.locator(".ra-count")).to_have_text("1 found")
    expect(panel.locator(".ra-line.match")).to_have_attribute("data-i", "2")
    expect(panel.locator(".ra-word.hit")).to_have_text(["career"])
    panel.locator(".ra-next").tap()
    expect(panel.locator(".ra-count")).to_have_text("1 of 1")
    expect(panel.locator(".ra-line.match-current")).to_be_in_viewport()
    query.fill("nothing like this")
    expect(panel.locator(".ra-count")).to_have_text("not found")
    screenshot(page, "review-5-search.png")
    query.fill("")

    # a correction saved elsewhere (another phone, `ctl`) is read again: revision 1
    fix = {"cmd": "transcript_edit", "session": sid, "base": 0,
           "ops": [{"op": "text", "line": 1, "text": "My career goals for this year"}]}  # fmt: skip
    assert send(cfg.socket_path, fix)["ok"]
    expect(panel.locator(".ra-line").nth(1).locator(".ra-text")).to_have_text(
        "My career goals for this year", timeout=10000
    )
    expect(panel.locator(".ra-word.unsure")).to_have_count(0)  # the coach's word

    # mark this moment: the command, the box's answer, labels.txt, the new marker
    set_time(panel, 12.345)
    player.locator(".player-mark-label").fill("career part")
    player.locator(".player-mark-btn").tap()
    sent = json.loads(heard.get(timeout=10))
    assert sent == {"cmd": "bookmark", "session": sid, "seconds": 12.345,
                    "label": "career part"}  # fmt: skip
    expect(player.locator(f'[data-feedback="{sid}|bookmark"]')).to_have_attribute(
        "data-kind", "ok", timeout=10000
    )
    wait_until(
        lambda: (
            "12.345000\t12.345000\tcareer part" in (folder / "labels.txt").read_text().splitlines()
        ),
        20,
        "the bookmark in labels.txt",
    )
    expect(markers).to_have_count(3, timeout=10000)
    expect(markers.nth(1)).to_contain_text("career part")
    screenshot(page, "review-6-bookmark.png")

    # where the coach left off comes back after a reload
    set_time(panel, 7.0)
    page.wait_for_function(
        "() => Object.keys(localStorage).some(k => k.startsWith('session-recorder.resume|')"
        " && localStorage.getItem(k) === '7.0')"
    )
    page.reload()
    panel = box.open(page)
    panel.locator(".player-sec").scroll_into_view_if_needed()  # the file loads when seen
    expect(panel.locator(".player-resume")).to_have_text(
        "Resumed where you left off: 0:00:07", timeout=WAIT_MS
    )
    assert abs(prop(panel, "a.currentTime") - 7.0) < SEEK_TOLERANCE_S
    screenshot(page, "review-7-resumed.png")


def docx_text(path: Path) -> str:
    """transcript.docx as python-docx reads it."""
    return "\n".join(p.text for p in docx.Document(io.BytesIO(path.read_bytes())).paragraphs)


def test_correct_a_line_split_and_merge_read_back_from_the_docx(
    page: Page, console: list[str], box: Box
) -> None:
    panel = box.open(page)
    lines = panel.locator(".ra-line")
    expect(lines).to_have_count(len(box.doc.lines), timeout=WAIT_MS)
    ra = panel.locator(".readalong")
    ra.locator(".ra-correct").tap()
    expect(ra.locator(".ra-correct")).to_have_attribute("aria-pressed", "true")

    def save(op_line: int, tap: str, sent_ops: list[dict], base: int) -> None:
        lines.nth(op_line).locator(tap).tap()
        sent = json.loads(box.heard.get(timeout=10))
        assert sent == {"cmd": "transcript_edit", "session": box.sid, "base": base,
                        "ops": sent_ops}  # fmt: skip
        expect(ra.locator(f'[data-feedback="{box.sid}|edit"]')).to_have_attribute(
            "data-kind", "ok", timeout=10000
        )

    # a misheard word and the speaker of a line
    lines.nth(1).locator(".ra-text").tap()
    editor = lines.nth(1).locator(".ra-edit")
    expect(editor).to_be_visible()
    assert touch_targets_too_small(page) == []
    editor.locator("textarea").fill("My career goals for this year")
    editor.locator("select").select_option("Coach")
    screenshot(page, "review-8-correcting.png")
    fixed = [
        {"op": "text", "line": 1, "text": "My career goals for this year"},
        {"op": "speaker", "line": 1, "speaker": "Coach"},
    ]
    save(1, ".ra-edit-save", fixed, base=0)
    expect(lines.nth(1).locator(".ra-text")).to_have_text(
        "My career goals for this year", timeout=10000
    )
    expect(lines.nth(1).locator(".ra-speaker")).to_have_text("Coach")
    expect(panel.locator(".ra-word.unsure")).to_have_count(0)

    # split "Tell me more | about the career part" at the cursor, then merge it back
    lines.nth(2).locator(".ra-text").tap()
    text = lines.nth(2).locator(".ra-edit textarea")
    at = box.doc.lines[2].text.index("about")
    text.evaluate(f"t => t.setSelectionRange({at}, {at})")
    save(2, ".ra-edit-split", [{"op": "split", "line": 2, "word": 3}], base=1)
    expect(lines).to_have_count(len(box.doc.lines) + 1, timeout=10000)
    expect(lines.nth(2).locator(".ra-text")).to_have_text("Tell me more")
    expect(lines.nth(3).locator(".ra-text")).to_have_text("about the career part")
    screenshot(page, "review-9-split.png")
    lines.nth(2).locator(".ra-text").tap()
    save(2, ".ra-edit-merge", [{"op": "merge", "line": 2}], base=2)
    expect(lines).to_have_count(len(box.doc.lines), timeout=10000)
    expect(lines.nth(2).locator(".ra-text")).to_have_text("Tell me more about the career part")

    # the files the coach submits were rebuilt from the corrections
    text = docx_text(box.folder / "transcript.docx")
    assert "My career goals for this year" in text and "carrier" not in text
    assert "Tell me more about the career part" in text
    assert json.loads((box.folder / "transcript.json").read_text())["revision"] == 3
