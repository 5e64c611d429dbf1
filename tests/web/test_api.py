"""The session API over real HTTP on loopback: GET /api/sessions lists what `sessions --json`
says, with no path of the box in it, and GET /api/sessions/<id>/transcript gives the read-along
its document (paragraphs with speakers and times, words with their times and probabilities)."""

from __future__ import annotations

import json

import httpx
import pytest

from recorder.core.transcript.doc import Line, MarkerLine, TranscriptDoc, Word, join_words
from recorder.core.transcript.edits import SetText
from recorder.media.deliverables import build_deliverables
from recorder.store.sessions import SessionStore
from recorder.transcript.revisions import mark_proofread, save
from recorder.transcript.status import write_status
from recorder.views.sessions import session_json
from tests.factories import SESSION_ID, finished_session, tone
from tests.web.media_support import curl, media_server

OTHER_ID = "000043-20261129T103000Z"


def _doc() -> TranscriptDoc:
    hello = (Word("Hello", 0.5, 0.9, 0.98, " Hello"), Word("Sam.", 0.95, 1.4, 0.41, " Sam."))
    fine = (Word("Fine,", 2.0, 2.3, 0.9, " Fine,"), Word("thanks.", 2.3, 2.8, 0.87, " thanks."))
    return TranscriptDoc(
        session_id=SESSION_ID,
        title="Zoë · Goals",
        date="2026-11-29",
        length_s=3.0,
        speakers=("Coach", "Client"),
        mode="channels",
        engine="whisper",
        lines=(
            Line(0.5, 1.4, "Coach", join_words(hello), False, hello),
            Line(2.0, 2.8, "Client", join_words(fine), False, fine),
        ),
        markers=(MarkerLine(1.0, "goal"),),
    )


@pytest.fixture
def box(tmp_path):
    sessions = tmp_path / "sessions"
    store = SessionStore(sessions)
    store.prepare()
    folder, manifest = finished_session(
        sessions,
        [tone(48000 * 4).tobytes()],
        48000,
        markers=[(48000 * 2, "goal")],
        details={"client": "Zoë", "title": "Goals"},
        preroll_frames=48000,
    )
    build_deliverables(folder, manifest)
    doc = _doc()
    write_status(folder, {"status": "done", "engine": "whisper", "words": doc.words,
                          "turns": doc.turns, "paragraphs": doc.paragraphs,
                          "files": ["transcript.txt"], "doc": doc.to_json()})  # fmt: skip
    (folder / "transcript.txt").write_text("Coach: Hello Sam.\n")
    finished_session(sessions, [tone(4800).tobytes()], 48000, id=OTHER_ID)
    with media_server(store, tmp_path / "cache") as base:
        yield base, store, tmp_path


def test_sessions_lists_what_sessions_json_says_without_the_box_paths(box):
    base, store, tmp_path = box
    r = httpx.get(f"{base}/api/sessions")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert str(tmp_path) not in r.text  # no folder, segment or transcript file path
    listed = {s["id"]: s for s in r.json()}
    assert list(listed) == [SESSION_ID, OTHER_ID]
    first = listed[SESSION_ID]
    cli = session_json(store.find(SESSION_ID))
    for key in ("id", "name", "markers", "upload", "state", "seconds", "started_at", "details"):
        assert first[key] == cli[key], key
    assert first["name"] == "Zoë · Goals"
    assert first["markers"] == [{"frame": 96000, "seconds": 2.0, "label": "goal", "source": "ctl"}]
    assert first["transcript"]["status"] == "done"
    assert first["transcript"]["files"] == ["transcript.txt"]
    assert first["transcript"]["words"] == 4
    assert first["source"] == "box"
    assert first["preroll_s"] == 1.0  # where the start press is in session.mp3
    assert first["media"] == ["session.mp3", "session.flac", "transcript.txt"]
    assert "path" not in first and "segments" not in first
    assert listed[OTHER_ID]["media"] == []
    assert listed[OTHER_ID]["transcript"]["status"] == "none"


def test_transcript_gives_the_read_along_its_document(box):
    base, _, _ = box
    r = httpx.get(f"{base}/api/sessions/{SESSION_ID}/transcript")
    assert r.status_code == 200
    got = r.json()
    assert got["status"] == "done"
    assert got["preroll_s"] == 1.0
    lines = got["doc"]["lines"]
    assert [(li["speaker"], li["start_s"], li["end_s"], li["text"]) for li in lines] == [
        ("Coach", 0.5, 1.4, "Hello Sam."),
        ("Client", 2.0, 2.8, "Fine, thanks."),
    ]
    assert lines[0]["words"][1] == {
        "text": "Sam.", "start_s": 0.95, "end_s": 1.4, "probability": 0.41, "display": " Sam.",
    }  # fmt: skip
    assert got["doc"]["markers"] == [{"at_s": 1.0, "label": "goal"}]
    none = httpx.get(f"{base}/api/sessions/{OTHER_ID}/transcript").json()
    assert (none["status"], none["doc"]) == ("none", None)


def test_unknown_sessions_are_404(box):
    base, _, tmp_path = box
    for path in (
        "/api/sessions/000099-20261129T093000Z/transcript",
        f"/api/sessions/{SESSION_ID}x/transcript",
        "/api/sessions/..%2F..%2Fsessions/transcript",
        "/api/sessions/000099-20261129T093000Z/submission",
    ):
        status, body = curl(base + path)
        assert status == 404, path
        assert str(tmp_path).encode() not in body
    r = httpx.post(f"{base}/api/sessions/000099-20261129T093000Z/submission")
    assert r.status_code == 404
    assert json.loads(httpx.get(f"{base}/api/sessions").text)  # still answers


def test_the_transcript_names_its_revision_for_the_next_correction(box):
    """The read-along's document and the revision a correction must name come in one answer:
    a save between two requests could otherwise pair a new revision with an old text."""
    base, store, _ = box
    url = f"{base}/api/sessions/{SESSION_ID}/transcript"
    first = httpx.get(url).json()
    assert (first["revision"], first["proofread"]) == (0, False)
    folder = store.find(SESSION_ID).path
    save(folder, 0, (SetText(0, "Hello again."),), "2026-12-06T10:00:00", "test")
    mark_proofread(folder, True, 1, "2026-12-06T10:01:00", "test")
    second = httpx.get(url).json()
    assert (second["revision"], second["proofread"]) == (1, True)
    assert second["doc"]["lines"][0]["text"] == "Hello again."
