"""A session no longer on the box, in Chromium at 360×740: the real outbox sends a transcribed
session (audio, transcript files and transcript.json) to rclone serving S3 on loopback behind a
crypt remote, the real retention deletes its folder, and the daemon's state names no session.
The page, served by the real web server with the box's config (`extra_routes`: the archive
read through rclone), shows it under "In the archive"; its view plays session.mp3 from the
archive (currentTime advances), says so, reads along (a tap on a line seeks there) without
"Correct" or "Mark this moment", and offers the FLAC, MP3 and transcript.docx, which download
as the box had them, and the submission MP3, which the box makes from the archive's FLAC with a
progress bar: byte for byte what `export --from-start` made while the box had the session.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from recorder.app.web_server import extra_routes
from recorder.core.transcript.doc import TranscriptDoc
from recorder.media.deliverables import export
from recorder.outbox.worker import OutboxWork
from recorder.transcript.runner import TranscriptStep
from recorder.transcript.settings import Settings
from tests.dashboard.page import (
    REVIEW_PREROLL_S,
    WAIT_MS,
    FakeDaemon,
    log_in,
    play_until_heard,
    review_session,
    screenshot,
    state,
    touch_targets_too_small,
)
from tests.dashboard.test_dashboard_review import SEEK_TOLERANCE_S, console, seeked_to
from tests.outbox.logged_remote import outbox_box, outbox_worker
from tests.web.serving import PageServer

__all__ = ["console"]  # the review tests' fixture: no console error, no failed request

FILES = ("session.mp3", "session.flac", "transcript.docx")


@dataclass
class Archived:
    server: PageServer
    sid: str
    doc: TranscriptDoc
    had: dict[str, bytes]  # the files as the box had them before retention deleted them
    submission: bytes  # what export --format mp3 --from-start made then


@pytest.fixture
def archived(broker, dist: Path, tmp_path: Path, s3) -> Iterator[Archived]:
    # keep_free_mb beyond any disk: retention deletes every verified session at once
    _, cfg, store, remote = outbox_box(tmp_path, s3, keep_free_mb=10**9)
    folder, manifest, doc = review_session(cfg.storage.dir)
    had = {name: (folder / name).read_bytes() for name in FILES}
    submission = export(folder, manifest, "mp3", tmp_path / "export.mp3", from_start=True)
    worker = outbox_worker(cfg, store, remote, work=OutboxWork(steps=[TranscriptStep(Settings())]))
    for _ in range(3):  # the audio, then the transcript, then retention
        worker.pass_once()
        if not store.sessions():
            break
    assert store.sessions() == [] and not folder.exists()
    server = PageServer(broker.broker, dist, tmp_path / "web", routes=extra_routes(cfg)).serve()
    try:
        yield Archived(server, manifest.id, doc, had, submission.read_bytes())
    finally:
        server.shutdown()


def test_a_session_only_in_the_archive_plays_reads_along_and_downloads(
    page: Page, console: list[str], archived: Archived, daemon: FakeDaemon
) -> None:
    sid, doc = archived.sid, archived.doc
    daemon.state(state(recent=[]))  # the box holds no session now
    log_in(page, archived.server, archived.server.broker.dashboard, "box-1")

    card = page.locator("#archive-card")
    expect(card).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#archive-count")).to_have_text("1 older session")
    page.locator("#archive-count").tap()
    row = page.locator(f'#archived > li[data-session="{sid}"]')
    expect(row.locator(".session-when")).to_have_text("Sam · Goals review")
    expect(row.locator(".upload-tag")).to_have_text("In the archive")
    row.scroll_into_view_if_needed()
    screenshot(page, "archive-1-row.png")

    head = row.locator("button.session-head")
    head.tap()
    expect(head).to_have_attribute("aria-expanded", "true")
    panel = page.locator(f"#{head.get_attribute('aria-controls')}")
    player = panel.locator(".player-sec")
    expect(player).to_be_visible(timeout=WAIT_MS)
    expect(player.locator(".player-source")).to_contain_text(
        "Played from the encrypted archive", timeout=WAIT_MS
    )
    expect(player.locator(".player-source")).to_contain_text("need the session on the box")
    expect(panel.locator(".ra-line")).to_have_count(len(doc.lines), timeout=20000)
    # read only: no correcting, no bookmark (both are commands to a daemon without the session)
    expect(panel.locator(".ra-correct")).to_be_hidden()
    expect(panel.locator(".player-mark")).to_be_hidden()
    expect(panel.locator(".player-marker .marker-n")).to_have_text(["#1", "#2"])
    assert touch_targets_too_small(page) == []
    player.locator(".player-source").evaluate("e => e.scrollIntoView({block: 'center'})")
    screenshot(page, "archive-2-view.png")

    # the MP3 plays, from the archive through the box
    play_until_heard(page, player.locator(".player-play"), sid, timeout_ms=30000)
    expect(player.locator(".player-play")).to_have_text("Pause")
    screenshot(page, "archive-3-playing.png")

    # a tap on a transcript line plays from it (its time plus the pre-roll)
    line = panel.locator(".ra-line").nth(2)
    at = seeked_to(panel, line.locator(".ra-text"))
    assert abs(at - (REVIEW_PREROLL_S + doc.lines[2].start_s)) < SEEK_TOLERANCE_S, at
    expect(panel.locator(".ra-line.current")).to_have_attribute("data-i", "2", timeout=WAIT_MS)
    line.scroll_into_view_if_needed()
    screenshot(page, "archive-4-read-along.png")

    # the downloads, as the box had them
    links = panel.locator(".download-link")
    expect(links).to_have_count(len(FILES), timeout=WAIT_MS)
    for name in FILES:
        link = panel.locator(f'.download[data-file="{name}"] a')
        href = link.get_attribute("href")
        assert href == f"/media/{sid}/{name}?download"
        got = page.request.get(archived.server.http_url.rstrip("/") + href, timeout=60000)
        assert got.status == 200 and got.headers["x-session-source"] == "archive"
        assert got.headers["content-disposition"].startswith("attachment;")
        assert got.body() == archived.had[name], name
    downloads = panel.locator(".archive-downloads")
    downloads.scroll_into_view_if_needed()
    screenshot(page, "archive-5-downloads.png")

    # the submission MP3: made on the box from the archive's FLAC, with its progress
    make = downloads.get_by_role("button", name="Make the submission MP3")
    expect(make).to_be_enabled(timeout=WAIT_MS)
    make.tap()
    expect(downloads.locator(".build-label")).to_have_text(
        re.compile(r"^Making the submission MP3: \d{1,2} %$"), timeout=60_000
    )
    link = downloads.get_by_role("link", name="Download the submission MP3")
    expect(link).to_be_visible(timeout=300_000)
    expect(downloads.locator(".submission .download-note")).to_contain_text("archive's FLAC")
    screenshot(page, "archive-6-submission.png")
    href = link.get_attribute("href")
    assert href == f"/media/{sid}/submission.mp3?download"
    got = page.request.get(archived.server.http_url.rstrip("/") + href, timeout=60000)
    assert got.status == 200 and got.headers["x-session-source"] == "archive"
    assert 'filename="Sam - Goals review submission.mp3"' in got.headers["content-disposition"]
    assert got.body() == archived.submission
