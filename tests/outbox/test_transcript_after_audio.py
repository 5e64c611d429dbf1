"""The audio leaves the box first: a session's FLAC, MP3, manifest and labels are sent and
verified before its transcript is built; the transcript then goes and is verified on its own.

Real parts: rclone serving S3 on loopback behind the crypt remote, the real transcript worker
(whisper, the default engine) on two voices of speech, the outbox's own passes.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime

import pytest

from recorder.coaching.records import SessionRecords
from recorder.core.session_id import make_id
from recorder.core.transcript.edits import SetText
from recorder.outbox.worker import OutboxWork
from recorder.store.sessions import SessionStore
from recorder.transcript.revisions import save
from recorder.transcript.runner import TranscriptStep
from recorder.transcript.settings import Settings
from recorder.transcript.status import FILES, read_status
from recorder.views.phone import SessionViews
from recorder.views.sessions import session_json
from tests.factories import write_session
from tests.outbox.logged_remote import Logged, outbox_box, outbox_worker, remote_files
from tests.rclone_server import CRYPT_REMOTE, rclone_binary
from tests.speech import SCRIPT, conversation, to_int16

RATE = 48000
TRANSCRIPT_FILES = {*FILES, "transcript.json"}  # the engine's; no correction yet


def _speech_session(store: SessionStore, seq: int, where: str = "outbox") -> str:
    """Two voices (tests/speech.py) as a finalized session, written by the recorder's own
    segment writer, in `where`."""
    sid = make_id(seq, datetime(2026, 12, 6, 9, seq, tzinfo=UTC), True)
    folder = store.state_dir(where) / sid
    audio, _ = conversation(SCRIPT[:2], RATE)
    manifest = write_session(
        folder, [[to_int16(audio).tobytes()]], RATE, 2, "S16_LE", hashed=True, id=sid,
        device_id="test-box", started_at=f"2026-12-06T09:{seq:02d}:00+00:00",
        stop_reason="requested", ended_at=f"2026-12-06T09:{seq:02d}:30+00:00",
    )  # fmt: skip
    store.write_manifest(folder, manifest)
    return sid


def _audio_verified(store: SessionStore, sid: str) -> str:
    """The session as an earlier pass left it: its audio verified, in uploaded/."""
    folder = store.state_dir("outbox") / sid
    [m] = [s.manifest for s in store.sessions("outbox") if s.id == sid]
    assert m is not None
    m.upload.status, m.upload.remote = "verified", f"{CRYPT_REMOTE}:box-1/{sid}"
    store.write_manifest(folder, m)
    store.move(folder, "uploaded")
    return sid


def _transcripts(tmp_path) -> OutboxWork:
    return OutboxWork(steps=[TranscriptStep(Settings())])  # engine "auto": whisper here


def _remote_text(cfg, path: str) -> bytes:
    return subprocess.run(
        [str(rclone_binary()), "--config", str(cfg.upload.rclone_config), "cat", path],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip


def test_the_audio_is_verified_on_the_remote_before_the_transcript_exists(tmp_path, s3):
    seen: list[dict] = []

    def look(remote: Logged) -> None:
        folder = store.state_dir("uploaded") / sid
        seen.append(
            {
                "transcript here": (folder / "transcript.json").exists(),
                "remote": remote_files(cfg, f"{CRYPT_REMOTE}:box-1/{sid}"),
                "record": session_json(store.sessions("uploaded")[0]),
            }
        )

    _, cfg, store, remote = outbox_box(tmp_path, s3, look)
    sid = _speech_session(store, 1)
    outbox_worker(cfg, store, remote, work=_transcripts(tmp_path)).pass_once()

    assert [c[:3] for c in remote.calls] == [
        ("upload", sid, "files"),  # the audio and its record
        ("upload", sid, "manifest"),  # "uploaded"
        ("verify", sid),
        ("upload", sid, "manifest"),  # "verified"
        ("upload", sid, "files"),  # the transcript, built since
        ("verify", sid),
        ("upload", sid, "manifest"),  # the transcript verified
    ]
    audio, transcript = seen
    # when the audio was verified, no transcript existed, here or there
    assert not audio["transcript here"]
    assert not TRANSCRIPT_FILES & set(audio["remote"])
    assert {"session.flac", "session.mp3", "manifest.json"} <= set(audio["remote"])
    assert audio["record"]["upload"]["transcript"]["status"] == "waiting"
    # the transcript was built after the audio's verification, by whisper, and sent on its own
    assert transcript["transcript here"]
    assert transcript["record"]["upload"]["status"] == "verified"
    folder = store.state_dir("uploaded") / sid
    status = read_status(folder)
    assert status["status"] == "done" and status["engine"] == "whisper" and status["words"] > 0
    assert set(remote_files(cfg, f"{CRYPT_REMOTE}:box-1/{sid}")) >= TRANSCRIPT_FILES

    record = session_json(store.sessions("uploaded")[0])
    t = record["upload"]["transcript"]
    assert (record["upload"]["status"], t["status"]) == ("verified", "verified")
    assert set(t["files"]) == TRANSCRIPT_FILES and t["verified_at"] and t["attempts"] == 1
    for name in TRANSCRIPT_FILES:  # what arrived decrypts to the very files here
        assert (
            _remote_text(cfg, f"{CRYPT_REMOTE}:box-1/{sid}/{name}") == (folder / name).read_bytes()
        ), name
    there = json.loads(_remote_text(cfg, f"{CRYPT_REMOTE}:box-1/{sid}/manifest.json"))
    assert there["upload"]["transcript"]["status"] == "verified"
    # the phone page's record says the same
    [recent] = SessionViews(store, cfg.upload.remote).recent()
    assert (recent["upload_status"], recent["transcript_upload"]) == ("verified", "verified")


def test_a_session_stopped_while_a_transcript_is_built_goes_before_the_next_transcript(
    tmp_path, s3
):
    """Two sessions verified, their transcripts to come; a third session finishes while the
    first transcript is sent: the third's audio goes before the second transcript."""
    queued: list[str] = []

    def stop_a_session(remote: Logged) -> None:
        if not queued:
            queued.append(_speech_session(store, 3))

    _, cfg, store, remote = outbox_box(tmp_path, s3, stop_a_session)
    first = _audio_verified(store, _speech_session(store, 1))
    second = _audio_verified(store, _speech_session(store, 2))
    worker = outbox_worker(cfg, store, remote, work=_transcripts(tmp_path))

    worker.pass_once()
    [third] = queued
    uploaded = {s.id: s for s in store.sessions("uploaded")}
    assert uploaded[first].manifest.upload.transcript.status == "verified"
    # the pass gave way: the second transcript is not even built yet, the third waits to go
    assert not (uploaded[second].path / "transcript.json").exists()
    assert uploaded[second].manifest.upload.transcript.status == "waiting"
    assert [s.id for s in store.sessions("outbox")] == [third]

    remote.calls.clear()
    worker.pass_once()
    assert [c[:3] for c in remote.calls][:2] == [
        ("upload", third, "files"),
        ("upload", third, "manifest"),
    ]
    for sid in (first, second, third):
        [s] = [s for s in store.sessions("uploaded") if s.id == sid]
        assert (s.manifest.upload.status, s.manifest.upload.transcript.status) == (
            "verified",
            "verified",
        ), sid


def test_a_transcript_that_cannot_be_sent_is_retried_and_the_audio_stays_verified(tmp_path, s3):
    _, cfg, store, remote = outbox_box(tmp_path, s3)
    sid = _audio_verified(store, _speech_session(store, 1))
    worker = outbox_worker(cfg, store, remote, work=_transcripts(tmp_path))
    s3.stop()  # the archive is away when the transcript is ready

    worker.pass_once()
    [s] = store.sessions("uploaded")
    u = s.manifest.upload
    assert u.status == "verified"  # the audio is safe whatever the transcript does
    assert u.transcript.status == "failed" and u.transcript.last_error
    assert read_status(s.path)["status"] == "done"  # built once, kept for the next try
    assert worker.status()["last_error"].startswith(f"{sid}: transcript:")

    s3.start()
    worker.wake()  # what `session-recorder upload` does: every session due now
    worker.pass_once()
    [s] = store.sessions("uploaded")
    t = s.manifest.upload.transcript
    assert t.status == "verified" and t.attempts == 2 and t.last_error is None
    assert set(remote_files(cfg, f"{CRYPT_REMOTE}:box-1/{sid}")) >= TRANSCRIPT_FILES


@pytest.mark.parametrize("when", ["before its check", "after its check"])
def test_a_correction_saved_while_the_transcript_is_sent_is_sent_again(tmp_path, s3, when):
    """The coach corrects the transcript on the page while the outbox sends the copy it just
    built: the box must not record the older copy as verified, nor call the change a failure;
    the correction goes next."""
    corrected: list[bool] = []

    def correct_it() -> None:
        if corrected or not (store.state_dir("uploaded") / sid / "transcript.txt").exists():
            return
        folder = store.state_dir("uploaded") / sid
        save(folder, 0, (SetText(0, "A correction the coach typed."),), "2026-12-06T10:00:00", "t")
        SessionRecords(store, lambda: datetime.now(UTC)).transcript_changed(sid)
        corrected.append(True)

    _, cfg, store, remote = outbox_box(tmp_path, s3)
    sid = _audio_verified(store, _speech_session(store, 1))
    check = remote.verify

    def verify(local_dir, files, remote_dir):
        if when == "before its check":
            correct_it()
        wrong = check(local_dir, files, remote_dir)
        if when == "after its check":
            correct_it()
        return wrong

    remote.verify = verify
    worker = outbox_worker(cfg, store, remote, work=_transcripts(tmp_path))

    worker.pass_once()
    assert corrected  # the correction landed while the transcript was being sent
    [s] = store.sessions("uploaded")
    t = s.manifest.upload.transcript
    assert (t.status, t.last_error) == ("waiting", None)  # neither "verified" nor "failed"

    worker.pass_once()
    [s] = store.sessions("uploaded")
    assert s.manifest.upload.transcript.status == "verified"
    there = _remote_text(cfg, f"{CRYPT_REMOTE}:box-1/{sid}/transcript.txt").decode()
    assert "A correction the coach typed." in there
