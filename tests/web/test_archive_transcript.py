"""The read-along of a session whose local copy retention deleted: the real outbox sends its
audio and transcript (transcript.json too) to the loopback S3 server behind a crypt remote,
the real retention deletes the folder, and GET /api/sessions/<id>/transcript then answers from
the archive's transcript.json with the very document the box had, its revision, proofread mark
and pre-roll, saying it comes from the archive. A session archived without transcript.json has
no read-along: 404."""

from __future__ import annotations

import subprocess

import httpx

from recorder.adapters.rclone.archive import RcloneArchive
from recorder.core.transcript.doc import Line, TranscriptDoc, Word, join_words
from recorder.core.transcript.edits import SetText
from recorder.media.deliverables import build_deliverables
from recorder.outbox.worker import OutboxWork
from recorder.transcript.files import write_all
from recorder.transcript.revisions import mark_proofread, save
from recorder.transcript.runner import TranscriptStep
from recorder.transcript.settings import Settings
from recorder.transcript.status import read_status, write_status
from tests.factories import SESSION_ID, finished_session, tone
from tests.outbox.logged_remote import outbox_box, outbox_worker
from tests.rclone_server import CRYPT_REMOTE, box_rclone, rclone_binary
from tests.web.media_support import curl, media_server

OLDER_ID = "000043-20261129T103000Z"


def _transcribed(folder, manifest) -> None:
    """A done transcript as the worker writes it, then corrected once and marked proofread by
    the coach (revision 1, the engine's original kept beside it)."""
    words = (Word("Hello", 0.5, 0.9, 0.98, " Hello"), Word("Kim.", 0.95, 1.4, 0.41, " Kim."))
    more = (Word("Fine,", 2.0, 2.3, 0.9, " Fine,"), Word("thanks.", 2.3, 2.8, 0.87, " thanks."))
    doc = TranscriptDoc(
        session_id=manifest.id, title="Kim · Intake", date="2026-11-29", length_s=4.0,
        speakers=("Coach", "Client"), mode="channels", engine="whisper",
        lines=(Line(0.5, 1.4, "Coach", join_words(words), False, words),
               Line(2.0, 2.8, "Client", join_words(more), False, more)),
    )  # fmt: skip
    files = write_all(doc, folder)
    write_status(folder, {"status": "done", "engine": "whisper", "files": files,
                          "words": doc.words, "turns": doc.turns, "paragraphs": doc.paragraphs,
                          "doc": doc.to_json()})  # fmt: skip
    save(folder, 0, (SetText(0, "Hello Kim, welcome."),), "2026-12-06T10:00:00", "test")
    mark_proofread(folder, True, 1, "2026-12-06T10:01:00", "test")


def test_an_archived_sessions_transcript_is_read_from_the_archive(tmp_path, s3):
    # keep_free_mb beyond any disk: retention deletes every verified session at once
    _, cfg, store, remote = outbox_box(tmp_path, s3, keep_free_mb=10**9)
    folder, manifest = finished_session(
        cfg.storage.dir, [tone(48000 * 5).tobytes()], 48000,
        details={"client": "Kim", "title": "Intake"}, preroll_frames=24000,
    )  # fmt: skip
    build_deliverables(folder, manifest)
    _transcribed(folder, manifest)
    had = read_status(folder)
    older, _ = finished_session(cfg.storage.dir, [tone(48000).tobytes()], 48000, id=OLDER_ID)
    build_deliverables(older, _)
    write_status(older, {"status": "failed", "error": "no speech"})  # nothing goes with it
    worker = outbox_worker(cfg, store, remote, work=OutboxWork(steps=[TranscriptStep(Settings())]))
    for _ in range(3):  # the audio, then the transcript, then retention
        worker.pass_once()
        if not store.sessions():
            break
    assert store.sessions() == []  # uploaded, verified, and deleted here
    sent = subprocess.run(
        [str(rclone_binary()), "--config", str(cfg.upload.rclone_config), "lsf",
         f"{CRYPT_REMOTE}:box-1/{SESSION_ID}"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip
    assert {"transcript.json", "transcript.original.json", "transcript.docx"} <= set(sent)

    archive = RcloneArchive(f"{CRYPT_REMOTE}:box-1", cfg.upload.rclone_config, box_rclone())
    with media_server(store, tmp_path / "cache", archive) as base:
        listed = {s["id"]: s for s in httpx.get(f"{base}/api/sessions", timeout=120).json()}
        assert listed[SESSION_ID]["source"] == "archive"
        assert listed[SESSION_ID]["transcript"]["status"] == "done"
        assert listed[SESSION_ID]["transcript"]["readalong"] is True
        assert listed[OLDER_ID]["transcript"]["readalong"] is False

        r = httpx.get(f"{base}/api/sessions/{SESSION_ID}/transcript", timeout=120)
        assert r.status_code == 200
        got = r.json()
        assert (got["id"], got["source"], got["status"]) == (SESSION_ID, "archive", "done")
        assert (got["revision"], got["proofread"], got["preroll_s"]) == (1, True, 0.5)
        assert got["doc"] == had["doc"]  # the very document the box had, corrected
        assert got["doc"]["lines"][0]["text"] == "Hello Kim, welcome."
        # asked again: the same answer (kept, not fetched again through rclone)
        assert httpx.get(f"{base}/api/sessions/{SESSION_ID}/transcript").json() == got

        assert listed[OLDER_ID]["transcript"]["status"] == "none"
        status, _ = curl(f"{base}/api/sessions/{OLDER_ID}/transcript")
        assert status == 404  # no transcript.json on the archive: no read-along
        assert curl(f"{base}/api/sessions/000099-20261129T093000Z/transcript")[0] == 404
