"""The phone page says where a session's transcript is: the audio reaches the cloud first, the
transcript follows on its own. The record is the daemon's own (`SessionViews.recent` over a
real session folder), shown by the built page in real headless Chromium."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from recorder.store.sessions import SessionStore
from recorder.views.phone import SessionViews
from tests.dashboard.page import WAIT_MS, FakeDaemon, log_in, open_view, row, state
from tests.factories import finished_session
from tests.mosquitto import Mosquitto

SID = "000080-20261206T090000Z"


def test_the_session_view_says_whether_the_transcript_followed_the_audio(
    tmp_path, page: Page, broker: Mosquitto, daemon: FakeDaemon
) -> None:
    store = SessionStore(tmp_path / "sessions")
    store.prepare()
    folder, m = finished_session(store.root, [b"\0\0" * 4800], 48000, id=SID)
    views = SessionViews(store, "archive:box-1")

    def publish(upload: str, transcript: str) -> None:
        m.upload.status, m.upload.transcript.status = upload, transcript
        store.write_manifest(folder, m)
        daemon.state(state(recent=views.recent()))

    publish("uploaded", "waiting")
    log_in(page, broker, broker.dashboard, "box-1")
    expect(row(page, SID)).to_have_attribute("data-transcript-upload", "waiting", timeout=WAIT_MS)
    facts = open_view(page, SID).locator(".session-facts > div")
    upload = facts.filter(has=page.locator("dt", has_text=re.compile("^Upload$"))).locator("dd")
    expect(upload).to_contain_text("In the cloud, being checked")

    publish("verified", "waiting")
    expect(upload).to_contain_text(
        "In the cloud, checked ✓; the transcript follows", timeout=WAIT_MS
    )
    publish("verified", "failed")
    expect(upload).to_contain_text("sending the transcript failed, retrying", timeout=WAIT_MS)
    publish("verified", "verified")
    expect(upload).to_contain_text("In the cloud, checked ✓; the transcript too", timeout=WAIT_MS)
    publish("verified", "none")
    expect(upload).to_have_text("In the cloud, checked ✓", timeout=WAIT_MS)


def test_the_box_says_it_writes_a_transcript_once_everything_is_sent(
    page: Page, broker: Mosquitto, daemon: FakeDaemon
) -> None:
    upload = {"enabled": True, "queue": 0, "current": None, "progress": None, "paused": False}
    daemon.state(state(upload={**upload, "last_error": None, "transcribing": SID}))
    log_in(page, broker, broker.dashboard, "box-1")
    expect(page.locator("#upload-summary")).to_have_text(
        "All sent; writing a transcript", timeout=WAIT_MS
    )
    daemon.state(state(upload={**upload, "last_error": None, "transcribing": None}))
    expect(page.locator("#upload-summary")).to_have_text("All sent", timeout=WAIT_MS)
