"""What the phone page gets of a finished transcript in the retained state's `recent`: its
revision and whether it is proofread, which the page's "Mark proofread" needs (it sends the
revision it shows, so a mark on a transcript corrected since is refused)."""

from __future__ import annotations

from recorder.store.sessions import SessionStore
from recorder.transcript.revisions import mark_proofread
from recorder.views.phone import SessionViews
from tests.factories import SESSION_ID, done_transcript, finished_session, tone


def test_the_phone_view_carries_the_transcripts_revision_and_proofread_mark(tmp_path):
    sessions = tmp_path / "sessions"
    store = SessionStore(sessions)
    store.prepare()
    folder, _ = finished_session(sessions, [tone(48000 * 2).tobytes()], 48000)
    done_transcript(folder)
    views = SessionViews(store, None)

    [entry] = views.recent()
    assert entry["id"] == SESSION_ID
    assert (entry["transcript"]["revision"], entry["transcript"]["proofread"]) == (0, False)
    checks = {c["name"]: c for c in entry["credential"]["checks"]}
    assert checks["proofread"]["result"] == "fail"

    mark_proofread(folder, True, 0, "2026-12-06T10:00:00Z", "ctl")
    [entry] = views.recent()
    assert (entry["transcript"]["revision"], entry["transcript"]["proofread"]) == (0, True)
    checks = {c["name"]: c for c in entry["credential"]["checks"]}
    assert checks["proofread"]["result"] == "pass"
