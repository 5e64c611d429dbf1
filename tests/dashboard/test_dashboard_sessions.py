"""The phone page's session view: a session's transcript status and its credential check, as the
daemon publishes them in the retained state message's `recent` list, shown in a real headless
Chromium (the built page served by a real mosquitto, a paho client playing the daemon).

The record the page reads, per session (both fields optional: an older daemon sends neither):
    "transcript": {"status", "engine", "words", "turns", "paragraphs", "progress" (0..1), "error"}
    "credential": {"ready", "checks": [{"name", "result": pass|fail|unknown, "message"}]}
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Locator, Page, expect

from tests.dashboard.page import (
    ARTIFACTS,
    WAIT_MS,
    FakeDaemon,
    log_in,
    open_view,
    row,
    screenshot,
    state,
    touch_targets_too_small,
)
from tests.mosquitto import Mosquitto

READY_ID = "000050-20261201T090000Z"
NOT_READY_ID = "000051-20261201T140000Z"

PASSES = [
    ("length", "31 min 5 s from the start press, within 20 to 60 minutes"),
    ("speakers", "Coach 14 min 2 s in 33 lines, Client 15 min 40 s in 31 lines"),
    ("gaps", "no audio is missing from the session"),
    ("ending", "stopped by the button, the phone or the command line"),
    ("transcript", "finished: 812 words in 64 lines, by pocketsphinx; transcript.docx is ready"),
    ("consent", "the client's written permission is on file"),
]
TOO_LONG = "61 min 0 s: 1 min 0 s over the 60-minute limit"
NO_CONSENT = (
    "the recorder keeps no consent records yet: make sure the client's written permission is "
    "on file (ICF requires it)"
)
CAVEAT = "ICF's rules change: confirm them with ICF before you submit."


def checks(**changes: tuple[str, str]) -> list[dict[str, str]]:
    """Every point passing, but those named: name=(result, message)."""
    out = []
    for name, passed in PASSES:
        result, message = changes.get(name, ("pass", passed))
        out.append({"name": name, "result": result, "message": message})
    return out


def done(words: int = 812, turns: int = 64, paragraphs: int | None = 70) -> dict[str, Any]:
    """A finished transcript's summary; `paragraphs` None as an older daemon sends it."""
    out = {"status": "done", "engine": "pocketsphinx", "words": words, "turns": turns}
    return out if paragraphs is None else {**out, "paragraphs": paragraphs}


READY_TEXT = (
    "Transcript: ready — 64 turns (changes of speaker) in 70 paragraphs, 812 words (pocketsphinx)"
)


def session(sid: str, **fields: Any) -> dict[str, Any]:
    """A `recent` record as Recorder._recent writes it, plus the new optional fields."""
    hour = sid[-7:-5]
    return {
        "id": sid,
        "state": "outbox",
        "seconds": 1865.0,
        "started_at": f"2026-12-01T{hour}:00:00+00:00",
        "upload_status": "pending",
        **fields,
    }


def two_sessions() -> list[dict[str, Any]]:
    return [
        session(READY_ID, transcript=done(), credential={"ready": True, "checks": checks()}),
        session(
            NOT_READY_ID,
            seconds=3660.0,
            transcript=done(words=1490, turns=118),
            credential={
                "ready": False,
                "checks": checks(length=("fail", TOO_LONG), consent=("unknown", NO_CONSENT)),
            },
        ),
    ]


@pytest.fixture
def console_errors(page: Page) -> Iterator[list[str]]:
    """Errors the page writes to its console (the `page` fixture fails on uncaught ones), but
    the 404 of the optional config.json, which the test broker does not serve."""
    errors: list[str] = []

    def seen(m: ConsoleMessage) -> None:
        if m.type == "error" and not m.location.get("url", "").endswith("/config.json"):
            errors.append(f"{m.text} ({m.location.get('url')})")

    page.on("console", seen)
    yield errors


def check_rows(panel: Locator) -> list[tuple[str, str, str]]:
    """(name, mark, message) of each row of the credential check, as shown."""
    rows = panel.locator(".check")
    return [
        (
            rows.nth(i).get_attribute("data-name") or "",
            rows.nth(i).locator(".check-mark").inner_text(),
            rows.nth(i).locator(".check-message").inner_text(),
        )
        for i in range(rows.count())
    ]


def test_ready_and_not_ready_sessions(
    page: Page, broker: Mosquitto, daemon: FakeDaemon, console_errors: list[str]
) -> None:
    """A coach checks which session can go to ICF: each point with ✓ ✗ ?, the verdict naming
    what stands in the way, the caveat and the commands that make the files."""
    page.set_viewport_size({"width": 390, "height": 844})
    daemon.state(state(recent=two_sessions()))
    log_in(page, broker, broker.dashboard, "box-1")
    expect(row(page, READY_ID).locator(".transcript-tag")).to_contain_text(
        "Transcript ✓", timeout=WAIT_MS
    )
    expect(row(page, NOT_READY_ID).locator(".transcript-tag")).to_contain_text("Transcript ✓")
    expect(page.locator("#recent-hint")).to_be_visible()
    assert page.locator(".session-panel:visible").count() == 0  # closed until tapped

    ready = open_view(page, READY_ID)
    expect(ready).to_contain_text(READY_ID)
    expect(ready).to_contain_text("31 min 5 s")  # the length
    expect(ready).to_contain_text("2026")  # the date
    expect(ready.locator(".session-transcript")).to_have_text(READY_TEXT)
    assert check_rows(ready) == [(name, "✓", message) for name, message in PASSES]
    expect(ready.locator(".verdict")).to_have_text("✓ Ready for an ICF submission")
    expect(ready.locator(".caveat")).to_have_text(CAVEAT)
    expect(ready.locator(".commands code")).to_have_text(
        [
            f"session-recorder export {READY_ID} --format mp3 --from-start",
            f"session-recorder transcript {READY_ID} --format docx",
        ]
    )
    assert touch_targets_too_small(page) == []

    # the keyboard opens the other one (a button: Enter), and only one view is open at a time
    other = row(page, NOT_READY_ID).locator("button.session-head")
    other.focus()
    page.keyboard.press("Enter")
    expect(other).to_have_attribute("aria-expanded", "true")
    expect(ready).to_be_hidden()
    not_ready = page.locator(f"#{other.get_attribute('aria-controls')}")
    shown = check_rows(not_ready)
    assert shown[0] == ("length", "✗", TOO_LONG)
    assert shown[-1] == ("consent", "?", NO_CONSENT)
    assert [mark for _, mark, _ in shown[1:-1]] == ["✓"] * 4
    expect(not_ready).to_contain_text("1 h 01 min 0 s")
    expect(not_ready.locator(".verdict")).to_have_text(
        "✗ Not ready: Length failed, Consent not known"
    )
    expect(not_ready.locator(".verdict")).to_have_attribute("data-ready", "false")
    not_ready.scroll_into_view_if_needed()
    screenshot(page, "dashboard-session-view.png")
    not_ready.locator(".commands").scroll_into_view_if_needed()
    screenshot(page, "dashboard-session-verdict.png")
    page.screenshot(path=str(ARTIFACTS / "dashboard-session-view-full.png"), full_page=True)

    # the box republishes its state (upload progress, say): the view stays open and focused
    daemon.state(state(recent=two_sessions(), hours_left=12.0))
    expect(page.locator("#hours-left")).to_have_text("12 h", timeout=WAIT_MS)
    expect(other).to_have_attribute("aria-expanded", "true")
    expect(not_ready).to_be_visible()
    assert other.evaluate("e => e === document.activeElement")
    page.keyboard.press("Enter")  # and closes again
    expect(other).to_have_attribute("aria-expanded", "false")
    expect(not_ready).to_be_hidden()
    assert console_errors == []


def test_sessions_without_the_fields_show_nothing_extra(
    page: Page, broker: Mosquitto, daemon: FakeDaemon, console_errors: list[str]
) -> None:
    """An older daemon (or a damaged session) sends neither field, or something unusable:
    the rows stay as they were, with no view to open and no error."""
    recent = [
        session("000060-20261202T090000Z"),
        session("000061-20261202T100000Z", transcript=None, credential=None),
        session("000062-20261202T110000Z", state="damaged", transcript="done", credential=[1]),
        session(READY_ID, transcript=done(), credential={"ready": True, "checks": checks()}),
    ]
    daemon.state(state(recent=recent))
    log_in(page, broker, broker.dashboard, "box-1")
    rows = page.locator("#recent > li")
    expect(rows).to_have_count(4, timeout=WAIT_MS)
    for sid in ("000060-20261202T090000Z", "000061-20261202T100000Z", "000062-20261202T110000Z"):
        r = row(page, sid)
        expect(r).to_contain_text(sid)
        expect(r.locator("button")).to_have_count(0)
        expect(r.locator("[aria-expanded]")).to_have_count(0)
        expect(r.locator(".session-panel, .transcript-tag, .credential")).to_have_count(0)
    expect(row(page, "000062-20261202T110000Z")).to_contain_text("Damaged: see the box")
    expect(row(page, READY_ID).locator("button.session-head")).to_have_count(1)

    # a state from an older daemon altogether: no hint, nothing to open
    daemon.state(state())
    expect(page.locator("#recent > li")).to_have_count(2, timeout=WAIT_MS)
    expect(page.locator("#recent .session-panel")).to_have_count(0)
    expect(page.locator("#recent-hint")).to_be_hidden()
    assert console_errors == []


def test_transcript_being_written_shows_its_progress(
    page: Page, broker: Mosquitto, daemon: FakeDaemon, console_errors: list[str]
) -> None:
    """While the box writes the transcript the row says so and the view gives the percent; when
    it is done the open view says so without being reopened."""
    sid = "000070-20261203T090000Z"
    building = {"status": "building", "engine": "pocketsphinx", "progress": 0.4}
    transcript_unknown = checks(transcript=("fail", "still being built (40% done)"))
    daemon.state(
        state(
            recent=[
                session(
                    sid,
                    transcript=building,
                    credential={"ready": False, "checks": transcript_unknown},
                )
            ]
        )
    )
    log_in(page, broker, broker.dashboard, "box-1")
    expect(row(page, sid).locator(".transcript-tag")).to_contain_text(
        "Transcript …", timeout=WAIT_MS
    )
    panel = open_view(page, sid)
    expect(panel.locator(".session-transcript")).to_have_text("Transcript: being written: 40 %")
    expect(panel.locator(".verdict")).to_have_text("✗ Not ready: Transcript failed")

    daemon.state(
        state(
            recent=[session(sid, transcript=done(), credential={"ready": True, "checks": checks()})]
        )
    )
    expect(panel.locator(".session-transcript")).to_have_text(READY_TEXT, timeout=WAIT_MS)
    expect(row(page, sid).locator(".transcript-tag")).to_contain_text("Transcript ✓")
    expect(panel.locator(".verdict")).to_have_text("✓ Ready for an ICF submission")

    one = done(words=1, turns=1, paragraphs=1)
    daemon.state(state(recent=[session(sid, transcript=one)]))
    expect(panel.locator(".session-transcript")).to_have_text(
        "Transcript: ready — 1 turn (changes of speaker) in 1 paragraph, 1 word (pocketsphinx)",
        timeout=WAIT_MS,
    )
    older = done(paragraphs=None)  # an older daemon counts no paragraphs
    daemon.state(state(recent=[session(sid, transcript=older)]))
    expect(panel.locator(".session-transcript")).to_have_text(
        "Transcript: ready — 64 turns, 812 words (pocketsphinx)", timeout=WAIT_MS
    )

    failed = {"status": "failed", "engine": "pocketsphinx", "error": "out of memory"}
    daemon.state(state(recent=[session(sid, transcript=failed)]))
    expect(panel.locator(".session-transcript")).to_have_text(
        "Transcript: failed: out of memory", timeout=WAIT_MS
    )
    expect(panel.locator(".credential")).to_have_count(0)  # none sent: none shown
    assert console_errors == []


def test_messages_from_the_box_are_shown_as_text(
    page: Page, broker: Mosquitto, daemon: FakeDaemon, console_errors: list[str]
) -> None:
    """What arrives over MQTT is data: markup in a message appears literally, never as HTML."""
    sid = "000080-20261204T090000Z"
    markup = "<b>x</b>"
    daemon.state(
        state(
            recent=[
                session(
                    sid,
                    transcript={
                        "status": "failed",
                        "error": f"<img src=x onerror=alert(1)>{markup}",
                    },
                    credential={
                        "ready": False,
                        "checks": checks(gaps=("fail", markup)),
                    },
                )
            ]
        )
    )
    log_in(page, broker, broker.dashboard, "box-1")
    panel = open_view(page, sid)
    gaps = panel.locator('.check[data-name="gaps"]')
    expect(gaps.locator(".check-message")).to_have_text(markup)
    expect(gaps.locator(".check-mark")).to_have_text("✗")
    expect(panel.locator(".session-transcript")).to_contain_text(
        f"<img src=x onerror=alert(1)>{markup}"
    )
    expect(panel.locator("b, img")).to_have_count(0)
    expect(panel.locator(".verdict")).to_have_text("✗ Not ready: No gaps failed")
    assert console_errors == []
