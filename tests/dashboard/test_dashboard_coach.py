"""The phone page as the coach's place (issue 14, point 4): display names, the session view's forms
(details, marker labels, consent, shares, discard), the markers while recording, the next
session, one status word for the box and a neutral badge when uploads are off.

Real parts only: the built page served by a real mosquitto, a real headless Chromium at 360×740,
a paho client playing the daemon (what the page sends is what that subscriber receives), a real QR
decoder (zxing-cpp) reading the code from a screenshot that ffmpeg decodes, and at the end the
real Recorder with gpiozero's mock pins and the loopback S3 server as the share remote.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from gpiozero.pins.mock import MockFactory, MockPWMPin
from playwright.sync_api import Locator, Page, expect

from recorder.app.daemon import Parts
from recorder.app.virtualmic import Feeder
from recorder.media.deliverables import MP3_NAME
from tests.dashboard.page import (
    ARTIFACTS,
    WAIT_MS,
    FakeDaemon,
    log_in,
    open_view,
    pulsing,
    recording,
    row,
    screenshot,
    state,
    touch_targets_too_small,
)
from tests.mosquitto import Mosquitto
from tests.rclone_server import BUCKET, S3_REMOTE, S3Server, rclone_binary
from tests.rclone_server import write_config as write_rclone
from tests.support import Running, make_config, wait_until

try:
    import zxingcpp
except ImportError as exc:  # a missing dev dependency is a failure, not a skip
    raise ImportError("the QR code tests need zxing-cpp: pip install -e '.[dev]'") from exc


SID = "000090-20261203T093000Z"
OTHER = "000089-20261202T140000Z"
REC = "000091-20261204T090000Z"
REMOTE = f"secret:box-1/{SID}"
LINK = (
    "http://127.0.0.1:9/bucket/shares/sr-Vq3kX9mZp2LwT7sYb4Rn8JcA/session.mp3"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=testkey%2F20261203%2Fus-east-1%2Fs3"
    "%2Faws4_request&X-Amz-Date=20261203T104500Z&X-Amz-Expires=604800&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=9f2c4e61d8b07a35c1e94f0a6b2d87e3f51c0a9b4d6e2f8a7c3b1d05e9f4a6c2"
)
NO_LINK_NOTE = "this remote makes no public links: send the folder through Nextcloud's own sharing"


def history(*entries: tuple[str, str, str | None, str]) -> list[dict[str, Any]]:
    return [
        {"action": a, "what": w, "to": to, "ref": ref, "at": "2026-12-03T10:40:00+00:00",
         "source": "mqtt"}
        for a, w, to, ref in entries
    ]  # fmt: skip


def share(sid: str = "a1b2c3d4", **changes: Any) -> dict[str, Any]:
    """A share as recorder/core/coaching/shares.py writes it (newest first in the state)."""
    s = {
        "id": sid, "to": "Alex", "purpose": "share", "what": "mp3", "files": ["session.mp3"],
        "remote": "s3remote:bucket/shares/sr-Vq3kX9mZp2LwT7sYb4Rn8JcA", "link": LINK,
        "link_expires_at": "2026-12-10T10:45:00+00:00", "link_note": None,
        "created_at": "2026-12-03T10:45:00+00:00", "expires_at": "2026-12-17T10:45:00+00:00",
        "removed_at": None, "removed": None,
    }  # fmt: skip
    s.update(changes)
    return s


def coach(sid: str = SID, **changes: Any) -> dict[str, Any]:
    """A `recent` entry as the daemon sends it: Recorder._recent plus coach_view."""
    entry: dict[str, Any] = {
        "id": sid,
        "state": "uploaded",
        "seconds": 3125.0,
        "started_at": "2026-12-03T09:30:00+00:00",
        "upload_status": "verified",
        "name": "Sam · Goals review",
        "details": {"client": "Sam", "title": "Goals review", "number": 3, "notes": ""},
        "markers": [
            {
                "n": 1,
                "frame": 3129600,
                "seconds": 65.2,
                "label": "",
                "edited": False,
                "source": "button",
            },
            {"n": 2, "seconds": 1800.0, "label": "goal set", "edited": True},
        ],
        "consent": {
            "record": True,
            "share": True,
            "share_to": ["Alex"],
            "copy": False,
            "history": history(("allow", "share", "Alex", "signed release 2026-12-01")),
            "problems": [],
        },
        "shares": [],
        "where": {"local": "uploaded/", "remote": REMOTE, "active_shares": 0},
    }
    entry.update(changes)
    return entry


def unnamed(sid: str = OTHER) -> dict[str, Any]:
    """A session with no details: the daemon names it by its date and time."""
    return coach(
        sid,
        name="2 Dec 2026 14:00",
        started_at="2026-12-02T14:00:00+00:00",
        details={"client": "", "title": "", "number": None, "notes": ""},
        markers=[],
        consent={
            "record": True,
            "share": False,
            "share_to": None,
            "copy": False,
            "history": [],
            "problems": [],
        },
        upload_status="pending",
        state="outbox",
        where={"local": "outbox/", "remote": None, "active_shares": 0},
    )


def idle(**changes: Any) -> dict[str, Any]:
    return state(**{"recent": [unnamed(), coach()], "next_session": None, **changes})


def sent(daemon: FakeDaemon, timeout: float = 5.0) -> dict[str, Any]:
    """The next command the daemon's paho subscriber received, as JSON."""
    raw = daemon.next_command(timeout)
    assert raw is not None, "the page sent nothing"
    return json.loads(raw)


def nothing_sent(daemon: FakeDaemon) -> bool:
    return daemon.next_command(timeout=1.0) is None


def answer(daemon: FakeDaemon, cmd: str, ok: bool, message: str, sid: str | None = None) -> None:
    told: dict[str, Any] = {"event": "command", "cmd": cmd, "ok": ok, "message": message}
    if sid:
        told["session_id"] = sid
    daemon.publish("event", json.dumps(told))


def no_horizontal_scroll(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def decode_qr(png: Path) -> list[str]:
    """What a real QR decoder reads in a screenshot: ffmpeg decodes the PNG, zxing-cpp the code."""
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of", "json",
         str(png)], capture_output=True, text=True, check=True,
    )  # fmt: skip
    size = json.loads(probe.stdout)["streams"][0]
    gray = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(png), "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True,
        check=True,
    ).stdout
    image = np.frombuffer(gray, np.uint8).reshape(size["height"], size["width"])
    return [b.text for b in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


def qr_screenshot(page: Page, figure: Locator, name: str) -> Path:
    """The QR code in the middle of the phone's screen (clear of the fixed controls), shot."""
    figure.evaluate("e => e.scrollIntoView({block: 'center'})")
    return screenshot(page, name)


# ---- the list, the header, the badge ------------------------------------------------------------


def test_display_names_status_word_and_neutral_badge(
    page: Page, broker: Mosquitto, daemon: FakeDaemon
) -> None:
    """Rows by name (the id only small in the view), one word for the box in the header, and a
    box with uploads off on purpose shows "On the box" without the amber of a warning."""
    off = {"enabled": False, "remote": None, "queue": 1, "current": None, "progress": None,
           "paused": False, "last_error": None}  # fmt: skip
    daemon.state(idle(upload=off))
    log_in(page, broker, broker.dashboard, "box-1")
    conn = page.locator("#conn")
    expect(conn).to_have_text("Online", timeout=WAIT_MS)

    named, dated = row(page, SID), row(page, OTHER)
    expect(named.locator(".session-when")).to_have_text("Sam · Goals review")
    expect(dated.locator(".session-when")).to_have_text("2 Dec 2026 14:00")
    for r, sid in ((named, SID), (dated, OTHER)):
        assert sid not in r.locator(".session-head").inner_text()
    panel = open_view(page, SID)
    expect(panel.locator(".session-name")).to_have_text("Sam · Goals review")
    expect(panel.locator(".session-ref")).to_have_text(f"Session id {SID}")
    expect(panel).to_contain_text("52 min 5 s")
    expect(panel).to_contain_text("In the cloud, checked ✓")
    expect(panel).to_contain_text(REMOTE)

    # uploads off on purpose: a plain fact, not a warning
    badge = dated.locator(".upload-tag")
    expect(badge).to_have_text("• On the box")
    expect(badge).to_have_attribute("data-kind", "local")
    colours = badge.evaluate(
        """e => { const s = getComputedStyle(e), b = getComputedStyle(document.body);
                  return [s.color, b.color, s.backgroundColor]; }"""
    )
    assert colours[0] == colours[1], colours  # the ordinary text colour, not amber
    assert colours[2] == "rgba(0, 0, 0, 0)", colours
    expect(page.locator("#recent-summary")).to_have_attribute("data-kind", "neutral")
    expect(page.locator("#recent-summary")).to_have_text(
        "Uploads are off: sessions stay on the box."
    )
    screenshot(page, "dashboard-coach-list.png")

    # events name the session too
    daemon.publish("event", json.dumps({"event": "session_verified", "session_id": SID}))
    expect(page.locator("#toast")).to_have_text(
        "Checked in the cloud: Sam · Goals review", timeout=WAIT_MS
    )

    # with uploads on, a session waiting to go is still said so in amber
    daemon.state(idle())
    expect(dated.locator(".upload-tag")).to_have_attribute("data-kind", "wait", timeout=WAIT_MS)

    daemon.state(recording(recent=[unnamed(), coach()], next_session=None))
    expect(conn).to_have_text("Recording", timeout=WAIT_MS)
    daemon.offline()
    expect(conn).to_have_text("Offline", timeout=WAIT_MS)
    expect(page.locator("#banner")).to_contain_text("Box offline")
    assert "Connected" not in page.locator("header").inner_text()
    daemon.online()
    expect(conn).to_have_text("Recording", timeout=WAIT_MS)
    assert no_horizontal_scroll(page)


# ---- the session view's forms --------------------------------------------------------------------


def test_session_view_forms_send_the_commands_and_show_refusals(
    page: Page, broker: Mosquitto, daemon: FakeDaemon
) -> None:
    """Details, a marker's label, consent and a share: each form sends exactly its command, and
    the box's answer — a refusal's reason too — appears beside the form that sent it."""
    daemon.state(idle())
    log_in(page, broker, broker.dashboard, "box-1")
    panel = open_view(page, SID)

    # details: only what changed is sent
    details = panel.locator(".details-form")
    expect(details.locator("input").first).to_have_value("Sam")
    details.get_by_label("Title").fill("Goals review, part 2")
    details.get_by_label("Session number").fill("4")
    # the box republishes the session (uploaded → verified): what is being typed stays
    daemon.state(idle(hours_left=12.0, recent=[unnamed(), coach(upload_status="uploaded")]))
    expect(panel).to_contain_text("In the cloud, being checked", timeout=WAIT_MS)
    expect(details.get_by_label("Title")).to_have_value("Goals review, part 2")
    details.get_by_role("button", name="Save details").tap()
    assert sent(daemon) == {
        "cmd": "label", "session": SID, "title": "Goals review, part 2", "number": 4,
    }  # fmt: skip
    message = details.locator(".form-msg")
    expect(message).to_have_text("Sent, waiting for the box…")
    refusal = "title holds the control character U+0007 at position 3; use plain text on one line"
    answer(daemon, "label", False, refusal, SID)
    expect(message).to_have_text(f"Refused: {refusal}", timeout=WAIT_MS)
    expect(message).to_have_attribute("data-kind", "bad")
    details.get_by_label("Session number").fill("four")
    details.get_by_role("button", name="Save details").tap()
    expect(message).to_contain_text("whole number")
    assert nothing_sent(daemon)

    # a marker's label
    marker = panel.locator('.marker[data-n="1"]')
    expect(marker.locator(".marker-time")).to_have_text("0:01:05")
    expect(panel.locator('.marker[data-n="2"] input')).to_have_value("goal set")
    marker.locator("input").fill("warm-up done")
    marker.get_by_role("button", name="Save").tap()
    # with the frame the page saw it at: a bookmark made meanwhile cannot misdirect the label
    assert sent(daemon) == {"cmd": "label_marker", "session": SID, "marker": 1,
                            "label": "warm-up done", "frame": 3129600}  # fmt: skip
    answer(daemon, "label_marker", True, "marker 1 of 000090 is now “warm-up done”", SID)
    expect(marker.locator(".form-msg")).to_have_text(
        "marker 1 of 000090 is now “warm-up done”", timeout=WAIT_MS
    )

    # consent: the history, then a new entry; `to` only goes with sharing
    history_rows = panel.locator(".consent-entry")
    expect(history_rows).to_have_count(1)
    expect(history_rows.first).to_contain_text("Allowed: sharing with Alex")
    expect(history_rows.first).to_contain_text("“signed release 2026-12-01”")
    expect(panel.locator(".consent-standing")).to_contain_text("allowed with Alex")
    form = panel.locator(".consent-form")
    form.get_by_label("What the client said").select_option("allow-copy")
    form.get_by_label("With whom").fill("Kim")
    form.get_by_label("How it was obtained").fill("signed release 2026-12-03")
    form.get_by_role("button", name="Record consent").tap()
    assert sent(daemon) == {"cmd": "consent", "session": SID, "allow": "copy",
                            "ref": "signed release 2026-12-03"}  # fmt: skip
    # a malformed one is answered by an error event that names no command
    daemon.publish("event", json.dumps({"event": "error", "message": "bad command: 'consent': "
                                        "--allow takes one of share, copy, not 'all'"}))  # fmt: skip
    expect(form.locator(".form-msg")).to_contain_text("bad command: 'consent'", timeout=WAIT_MS)
    form.get_by_label("What the client said").select_option("allow-share")
    form.get_by_role("button", name="Record consent").tap()
    assert sent(daemon) == {"cmd": "consent", "session": SID, "allow": "share", "to": "Kim",
                            "ref": "signed release 2026-12-03"}  # fmt: skip
    form.get_by_label("How it was obtained").fill("")
    form.get_by_role("button", name="Record consent").tap()
    expect(form.locator(".form-msg")).to_contain_text("Say how consent was obtained")
    assert nothing_sent(daemon)

    # a share: answered at once, then its copy's end told as an event
    sform = panel.locator(".share-form")
    sform.get_by_label("For").fill("Alex")
    sform.get_by_label("What").select_option("all")
    sform.get_by_label("Deleted after").select_option("7d")
    sform.get_by_role("button", name="Share").tap()
    assert sent(daemon) == {"cmd": "share", "session": SID, "to": "Alex", "what": "all",
                            "expire": "7d"}  # fmt: skip
    smsg = sform.locator(".form-msg")
    answer(daemon, "share", True, f"sharing all of {SID} with Alex…", SID)
    expect(smsg).to_have_text(f"sharing all of {SID} with Alex…", timeout=WAIT_MS)
    failed = {"event": "share_failed", "session_id": SID,
              "message": "not shared with Alex: the share remote did not answer"}  # fmt: skip
    daemon.publish("event", json.dumps(failed))
    expect(smsg).to_have_text(
        "Not shared: not shared with Alex: the share remote did not answer", timeout=WAIT_MS
    )
    sform.get_by_label("Deleted after").select_option("")
    sform.get_by_role("button", name="Share").tap()
    assert sent(daemon) == {"cmd": "share", "session": SID, "to": "Alex", "what": "all"}

    assert touch_targets_too_small(page) == []
    assert no_horizontal_scroll(page)
    panel.locator(".consent-sec").scroll_into_view_if_needed()
    screenshot(page, "dashboard-coach-consent.png")
    page.emulate_media(color_scheme="dark")
    panel.locator(".share-form").scroll_into_view_if_needed()
    screenshot(page, "dashboard-coach-share-form-dark.png")


def test_discard_says_what_goes_where_and_cancel_sends_nothing(
    page: Page, broker: Mosquitto, daemon: FakeDaemon
) -> None:
    """Discard, and withdrawing consent to keep the recording, first say what is deleted where
    (the box's folder, the archive, the shared copies); "Keep it" sends nothing."""
    where = {"local": "uploaded/", "remote": REMOTE, "active_shares": 2}
    shares = [share("a1b2c3d4"), share("e5f6a7b8", to="Sam", purpose="copy")]
    daemon.state(idle(recent=[unnamed(), coach(where=where, shares=shares)]))
    log_in(page, broker, broker.dashboard, "box-1")
    panel = open_view(page, SID)

    panel.get_by_role("button", name="Discard this session…").tap()
    confirm = panel.locator(".discard-sec .confirm")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("Discarding “Sam · Goals review” deletes it everywhere")
    expect(confirm).to_contain_text(f"on this box: the folder uploaded/{SID}")
    expect(confirm).to_contain_text(f"in the archive: {REMOTE}")
    expect(confirm).to_contain_text("2 shared copies")
    expect(confirm).to_contain_text("This cannot be undone.")
    assert touch_targets_too_small(page) == []
    assert no_horizontal_scroll(page)
    confirm.scroll_into_view_if_needed()
    screenshot(page, "dashboard-coach-discard.png")
    confirm.get_by_role("button", name="Keep it").tap()
    assert nothing_sent(daemon)
    expect(panel.locator(".discard-sec .form-msg")).to_have_text("Nothing was deleted")
    expect(panel.locator(".confirm")).to_have_count(0)

    panel.get_by_role("button", name="Discard this session…").tap()
    panel.get_by_role("button", name="Delete everywhere").tap()
    assert sent(daemon) == {"cmd": "discard", "session": SID}
    answer(daemon, "discard", True, f"discarded {SID}: local deleted, remote deleted", SID)
    expect(panel.locator(".discard-sec .form-msg")).to_contain_text("discarded", timeout=WAIT_MS)

    # a session never uploaded, without shares: the confirmation says so
    form = open_view(page, OTHER).locator(".consent-form")
    form.get_by_label("What the client said").select_option("withdraw-record")
    form.get_by_label("How it was obtained").fill("client's email 2026-12-04")
    form.get_by_role("button", name="Record consent").tap()
    other = row(page, OTHER).locator(".consent-sec .confirm")
    expect(other).to_contain_text("Withdrawing consent to keep “2 Dec 2026 14:00”")
    expect(other).to_contain_text(f"on this box: the folder outbox/{OTHER}")
    expect(other).to_contain_text("nothing in the archive (it was never uploaded)")
    expect(other).to_contain_text("no shared copies")
    assert nothing_sent(daemon)
    other.get_by_role("button", name="Keep it").tap()
    assert nothing_sent(daemon)
    form = row(page, OTHER).locator(".consent-form")
    expect(form.get_by_label("How it was obtained")).to_have_value("client's email 2026-12-04")
    form.get_by_role("button", name="Record consent").tap()
    row(page, OTHER).get_by_role("button", name="Delete everywhere").tap()
    assert sent(daemon) == {"cmd": "consent", "session": OTHER, "withdraw": "record",
                            "ref": "client's email 2026-12-04"}  # fmt: skip


def test_a_queued_discard_is_told_beside_its_form_when_it_is_done(
    page: Page, broker: Mosquitto, daemon: FakeDaemon
) -> None:
    """A discard or a withdrawal needs the remote: the box answers "queued" at once and tells
    the result later as a `command` event with its job; the page shows that result beside the
    form that asked, success or failure."""
    daemon.state(idle(recent=[unnamed(), coach()]))
    log_in(page, broker, broker.dashboard, "box-1")
    panel = open_view(page, SID)
    panel.get_by_role("button", name="Discard this session…").tap()
    panel.get_by_role("button", name="Delete everywhere").tap()
    assert sent(daemon) == {"cmd": "discard", "session": SID}
    queued = f"queued: discard of {SID} here and on the remote (job 1a2b3c4d); you will be told"
    answer(daemon, "discard", True, f"{queued} when it is done", SID)
    msg = panel.locator(".discard-sec .form-msg")
    expect(msg).to_contain_text("queued: discard of", timeout=WAIT_MS)
    done = f"discarded {SID}: local deleted from uploaded/, remote deleted {REMOTE}"
    daemon.publish(
        "event",
        json.dumps(
            {
                "event": "command",
                "cmd": "discard",
                "ok": True,
                "message": done,
                "session_id": SID,
                "job": "1a2b3c4d",
            }
        ),
    )
    expect(msg).to_have_text(done, timeout=WAIT_MS)
    expect(msg).to_have_attribute("data-kind", "ok")

    form = open_view(page, OTHER).locator(".consent-form")
    form.get_by_label("What the client said").select_option("withdraw-record")
    form.get_by_label("How it was obtained").fill("client's email")
    form.get_by_role("button", name="Record consent").tap()
    row(page, OTHER).get_by_role("button", name="Delete everywhere").tap()
    assert sent(daemon)["cmd"] == "consent"
    answer(
        daemon,
        "consent",
        True,
        f"consent withdrawn for {OTHER} (client's email); queued: "
        f"discard of {OTHER} here, on the remote and every shared copy (job 5e6f7a8b)",
        OTHER,
    )
    consent_msg = row(page, OTHER).locator(".consent-sec .form-msg")
    expect(consent_msg).to_contain_text("queued: discard of", timeout=WAIT_MS)
    daemon.publish("event", json.dumps({"event": "command", "cmd": "consent", "ok": False,
                                        "message": "no session here", "session_id": OTHER,
                                        "job": "5e6f7a8b"}))  # fmt: skip
    expect(consent_msg).to_have_text("Failed: no session here", timeout=WAIT_MS)
    expect(consent_msg).to_have_attribute("data-kind", "bad")


def test_shares_show_link_copy_qr_and_revoke(
    page: Page, broker: Mosquitto, daemon: FakeDaemon
) -> None:
    """An active share: its link, a copy button that puts it on the clipboard, a QR code that a
    real decoder reads back as the link, and revoke (a second tap confirms); a backend without
    links says what to use instead; a removed share says so."""
    shares = [
        share("a1b2c3d4"),
        share(
            "c0ffee00",
            link=None,
            link_expires_at=None,
            link_note=NO_LINK_NOTE,
            remote="webdav:coach/sr-Xy7",
        ),
        share("0ld5ha4e", to="Jo", removed_at="2026-12-03T12:00:00+00:00", removed="revoked"),
    ]
    where = {"local": "uploaded/", "remote": REMOTE, "active_shares": 2}
    daemon.state(idle(recent=[unnamed(), coach(shares=shares, where=where)]))
    page.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=broker.http_url.rstrip("/")
    )
    log_in(page, broker, broker.dashboard, "box-1")
    expect(row(page, SID).locator(".share-tag")).to_have_text("Shared 2", timeout=WAIT_MS)
    panel = open_view(page, SID)

    active = panel.locator('.share[data-share="a1b2c3d4"]')
    expect(active).to_contain_text("For Alex")
    link = active.locator("a.share-link")
    expect(link).to_have_text(LINK)
    expect(link).to_have_attribute("href", LINK)
    active.get_by_role("button", name="Copy link").tap()
    expect(active.locator(".form-msg")).to_have_text("Link copied", timeout=WAIT_MS)
    assert page.evaluate("navigator.clipboard.readText()") == LINK

    figure = active.locator(".qr-figure")
    expect(figure.locator("svg.qr")).to_be_visible()
    shot = qr_screenshot(page, figure, "dashboard-coach-share-qr.png")
    assert decode_qr(shot) == [LINK]

    nolink = panel.locator('.share[data-share="c0ffee00"]')
    expect(nolink.locator(".share-note")).to_have_text(NO_LINK_NOTE)
    expect(nolink.locator(".qr-figure, a.share-link")).to_have_count(0)
    removed = panel.locator('.share[data-share="0ld5ha4e"]')
    expect(removed).to_contain_text("Removed")
    expect(removed).to_contain_text("revoked")
    expect(removed.locator("button")).to_have_count(0)

    revoke = active.get_by_role("button", name="Revoke")
    revoke.tap()
    expect(active.get_by_role("button", name="Tap again to revoke")).to_be_visible()
    assert nothing_sent(daemon)
    active.get_by_role("button", name="Tap again to revoke").tap()
    assert sent(daemon) == {"cmd": "revoke", "session": SID, "share": "a1b2c3d4"}
    assert touch_targets_too_small(page) == []
    assert no_horizontal_scroll(page)


def test_a_box_that_cannot_share_says_why_instead_of_a_form(
    page: Page, broker: Mosquitto, daemon: FakeDaemon
) -> None:
    off = "sharing is off: no [share] remote is configured on this box"
    daemon.state(idle(sharing={"enabled": False, "message": off}))
    log_in(page, broker, broker.dashboard, "box-1")
    panel = open_view(page, SID)
    expect(panel.locator(".sharing-off")).to_have_text(off, timeout=WAIT_MS)
    expect(panel.locator("form.share-form")).to_have_count(0)
    # a box that can share (or an older daemon saying nothing) shows the form
    daemon.state(idle(sharing={"enabled": True, "expire": "14d", "max_expire": "90d"}))
    expect(panel.locator("form.share-form")).to_have_count(1, timeout=WAIT_MS)
    expect(panel.locator(".sharing-off")).to_have_count(0)


# ---- while recording, and before -------------------------------------------------------------------


def test_markers_while_recording_are_listed_and_labelled(
    page: Page, broker: Mosquitto, daemon: FakeDaemon
) -> None:
    """While recording: the running session by name, its markers so far with their times, each
    with a label field; a new marker arriving keeps what is being typed in another."""
    markers = [
        {"n": 1, "seconds": 65.2, "label": "", "edited": False},
        {"n": 2, "seconds": 130.0, "label": "goal", "edited": False},
    ]
    live = coach(REC, state="recording", upload_status="pending", seconds=754.0,
                 name="Kim · First session", markers=markers, shares=[],
                 where={"local": "recording/", "remote": None, "active_shares": 0})  # fmt: skip
    daemon.state(recording(session_id=REC, recent=[coach(), live], next_session=None))
    log_in(page, broker, broker.dashboard, "box-1")
    expect(page.locator("#session-id")).to_have_text("Kim · First session", timeout=WAIT_MS)
    card = page.locator("#live-markers")
    expect(card).to_be_visible()
    expect(page.locator("#next-card")).to_be_hidden()
    items = card.locator(".marker")
    expect(items).to_have_count(2)
    expect(items.locator(".marker-time")).to_have_text(["0:01:05", "0:02:10"])
    expect(items.nth(1).locator("input")).to_have_value("goal")

    items.nth(0).locator("input").fill("first insight")
    items.nth(0).get_by_role("button", name="Save").tap()
    assert sent(daemon) == {"cmd": "label_marker", "session": REC, "marker": 1,
                            "label": "first insight"}  # fmt: skip
    items.nth(1).locator("input").fill("goal agreed (half typed")
    more = [*markers, {"n": 3, "seconds": 700.4, "label": "", "edited": False}]
    daemon.state(recording(session_id=REC, elapsed_s=760.0, next_session=None,
                           recent=[coach(), {**live, "markers": more}]))  # fmt: skip
    expect(items).to_have_count(3, timeout=WAIT_MS)
    expect(items.nth(2).locator(".marker-time")).to_have_text("0:11:40")
    expect(items.nth(1).locator("input")).to_have_value("goal agreed (half typed")
    assert touch_targets_too_small(page) == []
    assert no_horizontal_scroll(page)
    screenshot(page, "dashboard-coach-live-markers.png")

    # an older daemon sends no markers: no list
    daemon.state(recording())
    expect(card).to_be_hidden(timeout=WAIT_MS)


def test_next_session_form(page: Page, broker: Mosquitto, daemon: FakeDaemon) -> None:
    """While idle the coach names the next session before anyone presses start."""
    daemon.state(idle())
    log_in(page, broker, broker.dashboard, "box-1")
    card = page.locator("#next-card")
    expect(card).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#next-current")).to_contain_text("Nothing set")
    card.get_by_label("Client").fill(" Kim ")
    card.get_by_label("Title").fill("First session")
    card.get_by_role("button", name="Set for the next session").tap()
    assert sent(daemon) == {"cmd": "next", "client": "Kim", "title": "First session"}
    answer(daemon, "next", True, "the next session is for Kim")
    expect(card.locator(".form-msg")).to_have_text("the next session is for Kim", timeout=WAIT_MS)
    daemon.state(idle(next_session={"client": "Kim", "title": "First session"}))
    expect(page.locator("#next-current")).to_have_text(
        "The next session started gets: Kim · First session", timeout=WAIT_MS
    )
    assert touch_targets_too_small(page) == []
    assert no_horizontal_scroll(page)
    screenshot(page, "dashboard-coach-next.png")
    card.get_by_role("button", name="Clear").tap()
    assert sent(daemon) == {"cmd": "next", "client": "", "title": ""}

    daemon.state(recording(recent=[coach()], next_session=None))
    expect(card).to_be_hidden(timeout=WAIT_MS)
    daemon.state(state())  # an older daemon: no next_session in its state, no form
    expect(page.locator("#state-badge")).to_have_text("Idle", timeout=WAIT_MS)
    expect(card).to_be_hidden()


# ---- the real recorder ------------------------------------------------------------------------------


def test_the_coach_flow_against_the_real_recorder(
    page: Page, broker: Mosquitto, tmp_path: Path, mic
) -> None:
    """Set the next client on the page, press the (mock) button, see the client on the running
    session, label a marker, stop, rename the session, record consent, share, and see the link
    and its QR code; the link returns the session's MP3."""

    factory = MockFactory(pin_class=MockPWMPin)
    pw = tmp_path / "mqtt.pass"
    pw.write_text(broker.recorder.password)
    with S3Server(tmp_path / "s3") as server:
        conf = write_rclone(tmp_path / "rclone.conf", server)
        cfg = make_config(
            tmp_path,
            device={"id": "box-1"},
            mqtt={"host": "127.0.0.1", "port": broker.port,
                  "username": broker.recorder.username, "password_file": str(pw)},
            gpio={"enabled": True},
            warnings={"disk_minutes": 0},
            share={"remote": f"{S3_REMOTE}:{BUCKET}/shares", "rclone_config": str(conf),
                   "rclone_binary": str(rclone_binary())},
        )  # fmt: skip
        feeder = Feeder(mic.infile, pulsing(), 0.1)
        try:
            with Running(cfg, feeder, Parts(pin_factory=factory)) as r:
                wait_until(lambda: r.rec.mqtt.connected, 10)
                r.wait_frames(48000)
                log_in(page, broker, broker.dashboard, "box-1")
                _coach_flow(page, r, factory, wait_until, MP3_NAME)
        finally:
            factory.reset()


def _coach_flow(page: Page, r, factory, wait_until, mp3_name: str) -> None:
    status = r.rec.controller.status
    card = page.locator("#next-card")
    expect(card).to_be_visible(timeout=WAIT_MS)
    card.get_by_label("Client").fill("Sam")
    card.get_by_label("Title").fill("Goals review")
    card.get_by_role("button", name="Set for the next session").tap()
    expect(card.locator(".form-msg")).to_have_text("the next session is for Sam", timeout=WAIT_MS)
    expect(page.locator("#next-current")).to_contain_text("Sam · Goals review", timeout=WAIT_MS)

    button = factory.pin(17)
    button.drive_low()
    time.sleep(0.15)
    button.drive_high()
    sid = wait_until(lambda: status()["session_id"], 30, "a session started by the button")
    expect(page.locator("#conn")).to_have_text("Recording", timeout=WAIT_MS)
    expect(page.locator("#session-id")).to_have_text("Sam · Goals review", timeout=10_000)
    screenshot(page, "dashboard-coach-real-recording.png")

    page.locator("#btn-mark").tap()
    marker = page.locator("#live-markers .marker")
    expect(marker).to_have_count(1, timeout=WAIT_MS)
    marker.locator("input").fill("goal set")
    marker.get_by_role("button", name="Save").tap()
    expect(marker.locator(".form-msg")).to_have_attribute("data-kind", "ok", timeout=WAIT_MS)
    r.wait_session_frames(r.rec.tap.session_frames + 48000)
    stop = page.locator("#btn-stop")
    stop.tap()
    stop.tap()
    wait_until(lambda: status()["session_id"] is None, 30, "the session stopped from the page")
    session = r.wait_outbox(sid, timeout=120)
    wait_until((session.path / mp3_name).is_file, 120, "the session's MP3")

    # rename it afterwards
    panel = open_view(page, sid)
    expect(panel.locator(".session-name")).to_have_text("Sam · Goals review")
    expect(panel.locator('.marker[data-n="1"] input')).to_have_value("goal set")
    details = panel.locator(".details-form")
    details.get_by_label("Title").fill("Goals review, part 1")
    details.get_by_role("button", name="Save details").tap()
    expect(details.locator(".form-msg")).to_have_attribute("data-kind", "ok", timeout=WAIT_MS)
    expect(row(page, sid).locator(".session-when")).to_have_text(
        "Sam · Goals review, part 1", timeout=WAIT_MS
    )

    # record consent, then share
    form = panel.locator(".consent-form")
    form.get_by_label("What the client said").select_option("allow-share")
    form.get_by_label("With whom").fill("Alex")
    form.get_by_label("How it was obtained").fill("signed release 2026-12-01")
    form.get_by_role("button", name="Record consent").tap()
    entry = panel.locator(".consent-entry")
    expect(entry).to_have_count(1, timeout=WAIT_MS)
    expect(entry).to_contain_text("Allowed: sharing with Alex")
    expect(entry).to_contain_text("from the phone page")

    sform = panel.locator(".share-form")
    sform.get_by_label("For").fill("Alex")
    sform.get_by_role("button", name="Share").tap()
    expect(sform.locator(".form-msg")).to_have_text(
        "Shared with Alex: the link is below", timeout=60_000
    )
    shared_copy = panel.locator(".share").first
    link = shared_copy.locator("a.share-link")
    expect(link).to_be_visible(timeout=WAIT_MS)
    url = link.inner_text()
    manifest = json.loads((session.path / "manifest.json").read_text())
    assert manifest["details"]["client"] == "Sam"
    assert manifest["details"]["title"] == "Goals review, part 1"
    [made] = manifest["shares"]
    assert url == made["link"] and made["to"] == "Alex"
    shot = qr_screenshot(page, shared_copy.locator(".qr-figure"), "dashboard-coach-real-share.png")
    assert decode_qr(shot) == [url]
    with urllib.request.urlopen(url, timeout=10) as got:
        assert got.read() == (session.path / mp3_name).read_bytes()
    page.screenshot(path=str(ARTIFACTS / "dashboard-coach-real-full.png"), full_page=True)
