"""Listening back on a box that builds no session.mp3 (neither [upload] nor [share]), in Chromium
at 360×740 against the running recorder and the web server as `session-recorder web` wires it:
the session's folder holds its segments and transcript but no session.mp3, so the player says
it is preparing a copy (the box's progress), and plays it once the box has made it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.dashboard.page import ARTIFACTS, REVIEW_PREROLL_S, WAIT_MS, play_until_heard, screenshot
from tests.dashboard.test_dashboard_review import Box, box, console
from tests.support import ffprobe

__all__ = ["box", "console"]  # the review tests' fixtures: the running recorder, no console error

# what the preparing note showed, each time its state changed (recorded as the page ran, so a
# build quicker than a look is still seen)
NOTES = """
window.__preparing = [];
new MutationObserver((changes) => {
  for (const c of changes) {
    const el = c.target;
    if (el instanceof HTMLElement && el.classList.contains("player-preparing"))
      window.__preparing.push(`${el.dataset.status}|${el.hidden}|${el.textContent}`);
  }
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-status"] });
"""


def test_the_player_prepares_the_copy_then_plays(page: Page, console: list[str], box: Box) -> None:
    for made in ("session.mp3", "session.flac"):  # as a box without [upload] or [share] has it
        (box.folder / made).unlink()
    page.add_init_script(NOTES)
    panel = box.open(page)
    player = panel.locator(".player-sec")
    expect(player).to_be_visible(timeout=WAIT_MS)
    play = player.locator(".player-play")
    expect(player.locator(".player-preparing")).to_be_visible()
    # the copy is asked for once the coach scrolls to the player (a list of sessions makes none)
    ARTIFACTS.mkdir(exist_ok=True)
    player.screenshot(path=ARTIFACTS / "listening-0-preparing.png")  # scrolls it into view
    expect(play).to_be_visible(timeout=90_000)  # the copy is made (SCHED_IDLE, on a busy box)
    expect(player.locator(".player-preparing")).to_be_hidden()
    notes = page.evaluate("() => window.__preparing")
    assert any(
        n.startswith(("none|false|", "building|false|"))
        and "Preparing the recording for listening on the box" in n
        for n in notes
    ), notes
    screenshot(page, "listening-1-prepared.png")

    play_until_heard(page, play, box.sid)
    # the copy is in the web server's cache, the whole session (pre-roll included)
    copy = box.cfg.storage.dir / "web-cache" / box.sid / "session.mp3"
    seconds = float(ffprobe(copy)["format"]["duration"])
    assert abs(seconds - (box.doc.length_s + REVIEW_PREROLL_S)) <= 2 * 1152 / 48000, seconds
    assert not (box.folder / "session.mp3").exists()
