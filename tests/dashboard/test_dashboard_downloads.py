"""The files to submit, downloaded from a finished session's view on the phone (issue 23, point
6), and the coach's "Proofread" mark (point 5).

Real parts: the built page served by the box's real web server (its media and API routes wired
as `session-recorder web` wires them, `recorder.app.web_server.extra_routes`) over a session
folder the recorder's own code wrote, a real mosquitto behind /mqtt, Debian's Chromium at
360×740 and its download API, python-docx, and `session-recorder export` run as a command.
The phone's state carries the session as the daemon's own view (`SessionViews`) shows it; a
paho client plays the daemon's MQTT side, and at the end the real recorder answers the mark.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import docx
import pytest
from playwright.sync_api import Download, Locator, Page, expect

from recorder.app.virtualmic import Feeder
from recorder.app.web_server import extra_routes
from recorder.media.deliverables import build_deliverables
from recorder.store.sessions import SessionStore
from recorder.transcript.revisions import mark_proofread
from recorder.views.phone import SessionViews
from tests.dashboard.page import (
    WAIT_MS,
    FakeDaemon,
    log_in,
    open_view,
    pulsing,
    screenshot,
    state,
    touch_targets_too_small,
)
from tests.factories import SESSION_ID, done_transcript, finished_session, tone
from tests.support import Running, cli, make_config, wait_until, write_config
from tests.web.serving import PageServer

RATE = 48000
MINUTES = 6  # long enough that the MP3's build is seen under way
NAME = "Sam · Goals review"  # what the session is called, so what its files are called


class Box:
    """A box's storage with a finished session, its web server, and its phone-state view."""

    def __init__(self, tmp_path: Path, broker: PageServer, dist: Path, **fields: object) -> None:
        self.cfg = make_config(tmp_path)
        self.config_path = write_config(tmp_path)  # the same storage, for the command line
        sessions = tmp_path / "sessions"
        self.store = SessionStore(sessions)
        self.store.prepare()
        frames = tone(RATE * 60 * MINUTES).tobytes()
        self.folder, _ = finished_session(
            sessions, [frames], RATE, preroll_frames=RATE * 5,
            details={"client": "Sam", "title": "Goals review"}, **fields,
        )  # fmt: skip
        self.views = SessionViews(self.store, None)
        self.web = PageServer(broker.broker, dist, tmp_path / "web", routes=extra_routes(self.cfg))

    def recent(self) -> list[dict]:
        return self.views.recent()


@pytest.fixture
def box(tmp_path: Path, broker: PageServer, dist: Path) -> Iterator[Box]:
    b = Box(tmp_path, broker, dist)
    done_transcript(b.folder)
    b.web.serve()
    try:
        yield b
    finally:
        b.web.shutdown()


def _download(page: Page, link: Locator) -> tuple[str, bytes]:
    with page.expect_download(timeout=60_000) as info:
        link.click()
    got: Download = info.value
    return got.suggested_filename, Path(got.path()).read_bytes()


def _docx_text(data: bytes) -> str:
    return "\n".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)


@pytest.mark.timeout(600)  # three MP3 encodings of 6 minutes on a busy 2-core machine
def test_the_submission_mp3_is_built_with_progress_and_downloads_as_export_makes_it(
    page: Page, box: Box, daemon: FakeDaemon, tmp_path: Path
) -> None:
    # the FLAC and MP3 that the outbox makes with an [upload] or [share] section
    build_deliverables(box.folder, box.store.find(SESSION_ID).manifest)
    daemon.state(state(recent=box.recent()))
    log_in(page, box.web, box.web.dashboard, "box-1")
    panel = open_view(page, SESSION_ID)
    files = panel.locator(".credential .downloads")
    expect(files).to_have_attribute("data-mode", "buttons", timeout=WAIT_MS)
    expect(files.locator("code")).to_have_count(0)  # the commands gave way to buttons
    make = files.get_by_role("button", name="Make the submission MP3")
    expect(make).to_be_enabled(timeout=WAIT_MS)
    assert not touch_targets_too_small(page)
    screenshot(page, "dashboard-downloads-before.png")

    make.tap()
    label = files.locator(".build-label")
    expect(label).to_have_text(
        re.compile(r"^Making the submission MP3: [1-9]\d? %$"), timeout=60_000
    )
    expect(files.locator("progress.build-progress")).to_be_visible()
    screenshot(page, "dashboard-downloads-progress.png")
    link = files.get_by_role("link", name="Download the submission MP3")
    expect(link).to_be_visible(timeout=300_000)
    screenshot(page, "dashboard-downloads-ready.png")

    name, mp3 = _download(page, link)
    assert name == f"{NAME} submission.mp3"
    exported = tmp_path / "exported.mp3"
    done = cli("export", SESSION_ID, "--format", "mp3", "--from-start", "-o", str(exported),
               "--config", str(box.config_path), timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert mp3 == exported.read_bytes()

    name, data = _download(page, files.get_by_role("link", name="Download the transcript (.docx)"))
    assert name == f"{NAME} transcript.docx"
    assert "Client: My carrier goals" in _docx_text(data)

    # the FLAC, whole, under the session's name
    name, data = _download(page, files.get_by_role("link", name="Download the FLAC"))
    assert name == f"{NAME}.flac"
    assert data == (box.folder / "session.flac").read_bytes()


def test_mark_proofread_sends_the_revision_shown_and_the_check_follows_the_state(
    page: Page, box: Box, daemon: FakeDaemon
) -> None:
    daemon.state(state(recent=box.recent()))
    log_in(page, box.web, box.web.dashboard, "box-1")
    panel = open_view(page, SESSION_ID)
    line = panel.locator('.check[data-name="proofread"]')
    expect(line).to_have_attribute("data-result", "fail", timeout=WAIT_MS)
    expect(line.locator(".check-label")).to_have_text("Proofread")
    expect(line).to_contain_text("not proofread yet")

    line.get_by_role("button", name="Mark proofread").tap()
    sent = daemon.next_command(timeout=10)
    assert sent is not None and json.loads(sent) == {
        "cmd": "proofread", "session": SESSION_ID, "revision": 0, "done": True,
    }  # fmt: skip
    said = line.locator(".form-msg")
    expect(said).to_have_text("Sent, waiting for the box…")
    # the box marks it, answers and republishes its state, as the daemon does
    mark_proofread(box.folder, True, 0, "2026-12-06T10:00:00Z", "mqtt")
    daemon.publish("event", json.dumps({"event": "command", "cmd": "proofread", "ok": True,
                                        "message": "marked proofread (revision 0)",
                                        "session_id": SESSION_ID}))  # fmt: skip
    daemon.state(state(recent=box.recent()))
    expect(line).to_have_attribute("data-result", "pass", timeout=WAIT_MS)
    expect(said).to_have_text("marked proofread (revision 0)")
    expect(said).to_have_attribute("data-kind", "ok")
    expect(line.get_by_role("button", name="Mark not proofread")).to_be_visible()
    screenshot(page, "dashboard-downloads-proofread.png")

    line.get_by_role("button", name="Mark not proofread").tap()
    sent = daemon.next_command(timeout=10)
    assert sent is not None and json.loads(sent) == {
        "cmd": "proofread", "session": SESSION_ID, "revision": 0, "done": False,
    }  # fmt: skip


def test_a_failed_build_says_why(page: Page, box: Box, daemon: FakeDaemon) -> None:
    daemon.state(state(recent=box.recent()))
    log_in(page, box.web, box.web.dashboard, "box-1")
    panel = open_view(page, SESSION_ID)
    files = panel.locator(".credential .downloads")
    make = files.get_by_role("button", name="Make the submission MP3")
    expect(make).to_be_enabled(timeout=WAIT_MS)
    # the session's audio is damaged after the page was opened: the build fails
    (box.folder / "seg-0000.wav").write_bytes(b"RIFF, but not a WAV file")
    make.tap()
    why = files.locator(".build-error")
    expect(why).to_contain_text("Making the MP3 failed: ", timeout=120_000)
    expect(why).to_contain_text("seg-0000.wav: cannot read")  # the box's reason
    expect(files.get_by_role("button", name="Make the submission MP3 again")).to_be_visible()
    screenshot(page, "dashboard-downloads-failed.png")


def test_without_the_box_api_the_view_keeps_the_commands(
    page: Page, broker: PageServer, daemon: FakeDaemon, tmp_path: Path, dist: Path
) -> None:
    """A page whose server has no /api/sessions (an older setup) shows the two commands, and so
    does one whose box does not have the session (a central broker's other boxes)."""
    b = Box(tmp_path, broker, dist)
    done_transcript(b.folder)
    daemon.state(state(recent=b.recent()))
    older = PageServer(broker.broker, dist, tmp_path / "older").serve()  # no media or API
    try:
        # the fixture's server has the routes, not the session
        for server, said in ((older, "absent"), (broker, "known")):
            log_in(page, server, broker.dashboard, "box-1")
            panel = open_view(page, SESSION_ID)
            files = panel.locator(".credential .downloads")
            expect(files).to_have_attribute("data-served", said, timeout=WAIT_MS)
            expect(files).to_have_attribute("data-mode", "commands", timeout=WAIT_MS)
            expect(files.locator("code")).to_have_text([
                f"session-recorder export {SESSION_ID} --format mp3 --from-start",
                f"session-recorder transcript {SESSION_ID} --format docx",
            ])  # fmt: skip
            expect(files.locator(".build-btn")).to_have_count(0)
            page.goto("about:blank")
    finally:
        older.shutdown()


@pytest.mark.timeout(600)
def test_the_real_recorder_marks_the_transcript_proofread_from_the_page(
    page: Page, broker: PageServer, dist: Path, tmp_path: Path, mic
) -> None:
    """Against the running recorder: a session recorded, its submission MP3 downloaded (what
    `export --from-start` makes of the recorder's own session), "Mark proofread" goes over /mqtt to the daemon, which marks the revision
    shown, and the check's line turns to ✓ from the state it publishes."""
    pw = tmp_path / "mqtt.pass"
    pw.write_text(broker.recorder.password)
    cfg = make_config(
        tmp_path, device={"id": "box-1"}, transcript={"auto": False},
        mqtt={"host": "127.0.0.1", "port": broker.port,
              "username": broker.recorder.username, "password_file": str(pw)},
    )  # fmt: skip
    web = PageServer(broker.broker, dist, tmp_path / "web", routes=extra_routes(cfg)).serve()
    try:
        with Running(cfg, Feeder(mic.infile, pulsing(), 0.1)) as r:
            wait_until(lambda: r.rec.mqtt.connected, 10)
            sid = r.record(2.0)
            session = r.wait_outbox(sid, timeout=120)
            done_transcript(session.path, sid)
            r.rec.mqtt.refresh_recent()
            log_in(page, web, web.dashboard, "box-1")
            panel = open_view(page, sid)
            line = panel.locator('.check[data-name="proofread"]')
            expect(line).to_have_attribute("data-result", "fail", timeout=WAIT_MS)
            files = panel.locator(".credential .downloads")
            files.get_by_role("button", name="Make the submission MP3").tap()
            link = files.get_by_role("link", name="Download the submission MP3")
            expect(link).to_be_visible(timeout=120_000)
            name, mp3 = _download(page, link)
            assert name == f"{sid} submission.mp3"  # an unnamed session: its id
            exported = tmp_path / "exported.mp3"
            config = write_config(tmp_path, device={"id": "box-1"})  # the same storage
            done = cli("export", sid, "--format", "mp3", "--from-start", "-o", str(exported),
                       "--config", str(config), timeout=300)  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert mp3 == exported.read_bytes()

            line.get_by_role("button", name="Mark proofread").tap()
            expect(line).to_have_attribute("data-result", "pass", timeout=10_000)
            expect(line.locator(".form-msg")).to_have_attribute("data-kind", "ok")
            marked = json.loads((session.path / "transcript.json").read_text())["proofread"]
            assert marked["revision"] == 0 and marked["source"] == "mqtt"
            screenshot(page, "dashboard-downloads-real-proofread.png")
    finally:
        web.shutdown()
