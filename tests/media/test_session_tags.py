"""The coach's names in the files: FLAC and MP3 tags as ffprobe reads them, the transcript's
title, and the audio left bit for bit as it was when only the tags change."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess

import docx

from recorder.coaching.tags import Retagger, retag
from recorder.core.transcript.doc import Line, MarkerLine, TranscriptDoc
from recorder.media.deliverables import FLAC_NAME, MP3_NAME, build_deliverables
from recorder.media.tag_files import retag_flac, retag_mp3
from recorder.store.sessions import SessionStore
from recorder.transcript.files import write_all
from recorder.transcript.status import write_status
from tests.factories import SESSION_ID, finished_session, tone
from tests.support import cli, ffprobe
from tests.support import write_config as write_cfg

RATE = 16000
NOTES = "worried about her manager, do not share"


def _session(tmp_path, markers=()):
    """A finished session in outbox/ with its FLAC and MP3 built, and the config finding it."""
    path = write_cfg(tmp_path)
    store = SessionStore(tmp_path / "sessions")
    audio = tone(RATE * 3, step=7, peak=9000)
    two = [audio[: RATE * 2].tobytes(), audio[RATE * 2 :].tobytes()]
    folder, _ = finished_session(store.root, two, RATE, markers=markers)
    build_deliverables(folder, store.read_manifest(folder))
    return path, store, folder


def _tags(path) -> dict[str, str]:
    # ffprobe, not mutagen: what players and an assessor's tools read
    return {k.lower(): v for k, v in ffprobe(path)["format"].get("tags", {}).items()}


def _decoded_md5(path) -> str:
    """The md5 of the decoded audio, as ffmpeg decodes it (tags play no part)."""
    cmd = ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a", "-f", "md5", "-"]
    return subprocess.run(cmd, capture_output=True, check=True, text=True).stdout.strip()


def _mp3_frames(path) -> bytes:
    """The MP3's bytes after its ID3v2 tag: the encoded audio, unchanged by a retag."""
    data = path.read_bytes()
    assert data[:3] == b"ID3"
    size = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
    return data[10 + size :]


def _label(path, *args):
    done = cli("label", SESSION_ID, *args, "--config", str(path))
    assert done.returncode == 0, done.stderr
    return done


def test_a_session_without_details_is_tagged_with_its_id(tmp_path):
    _, _, folder = _session(tmp_path)
    flac, mp3 = _tags(folder / FLAC_NAME), _tags(folder / MP3_NAME)
    assert flac["title"] == mp3["title"] == SESSION_ID
    assert "artist" not in flac and "artist" not in mp3 and "track" not in mp3
    assert flac["album"] == mp3["album"] == "Session Recorder"
    # the MP3 has an ID3v2.3 tag and no ID3v1 block at its end (it cut UTF-8 at 30 bytes)
    data = (folder / MP3_NAME).read_bytes()
    assert data[:4] == b"ID3\x03" and data[-128:-125] != b"TAG"


def test_label_retags_flac_and_mp3_and_leaves_the_audio_and_notes_out(tmp_path):
    path, _, folder = _session(tmp_path)
    flac_audio, mp3_audio = _decoded_md5(folder / FLAC_NAME), _mp3_frames(folder / MP3_NAME)
    _label(path, "--client", "Zoë", "--title", "Goals review", "--number", "3", "--notes", NOTES)

    for name in (FLAC_NAME, MP3_NAME):
        tags = _tags(folder / name)
        assert tags["title"] == "Zoë · Goals review", name
        assert tags["artist"] == "Zoë", name
        assert tags.get("track", tags.get("tracknumber")) == "3", name
        raw = (folder / name).read_bytes()
        for enc in ("utf-8", "utf-16-le"):
            assert NOTES.encode(enc) not in raw, f"{name} holds the coach's notes ({enc})"
    assert _decoded_md5(folder / FLAC_NAME) == flac_audio
    assert _mp3_frames(folder / MP3_NAME) == mp3_audio
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".retag")]


def test_a_relabelled_marker_reaches_the_flac(tmp_path):
    path, _, folder = _session(tmp_path, markers=[(8000, ""), (32000, "breakthrough")])
    assert _tags(folder / FLAC_NAME)["comment"] == "0:00:00.500 marker 1\n0:00:02.000 breakthrough"
    _label(path, "--marker", "1", "--label", "goal set")
    assert _tags(folder / FLAC_NAME)["comment"] == "0:00:00.500 goal set\n0:00:02.000 breakthrough"


def test_a_new_build_carries_the_details(tmp_path):
    path, store, folder = _session(tmp_path)
    _label(path, "--client", "Sam")
    for name in (FLAC_NAME, MP3_NAME):
        (folder / name).unlink()
    build_deliverables(folder, store.read_manifest(folder))
    for name in (FLAC_NAME, MP3_NAME):
        tags = _tags(folder / name)
        assert tags["title"] == "Sam · 29 Nov 2026 09:30" and tags["artist"] == "Sam", name


def _transcript(folder, status="done"):
    doc = TranscriptDoc(
        session_id=SESSION_ID, title=f"Session {SESSION_ID}", date="2026-11-29", length_s=3.0,
        speakers=("Coach", "Client"), mode="one-mic", engine="test",
        lines=(Line(start_s=0.0, end_s=2.0, speaker="Coach", text="hello there"),),
        markers=(MarkerLine(0.5, "marker 1"),),
    )  # fmt: skip
    write_all(doc, folder)
    write_status(folder, {"status": status, "engine": "test", "files": [], "doc": doc.to_json()})


def test_the_transcript_gets_the_name_and_the_new_marker_label(tmp_path):
    path, _, folder = _session(tmp_path, markers=[(8000, "")])
    _transcript(folder)
    _label(path, "--client", "Sam", "--title", "Goals review")
    _label(path, "--marker", "1", "--label", "goal set")
    txt = (folder / "transcript.txt").read_text()
    assert txt.splitlines()[0] == "Sam · Goals review"
    assert "goal set" in txt and "marker 1" not in txt
    assert "goal set" in (folder / "transcript.vtt").read_text()
    paragraphs = [p.text for p in docx.Document(str(folder / "transcript.docx")).paragraphs]
    assert paragraphs[0] == "Sam · Goals review"
    data = json.loads((folder / "transcript.json").read_text())
    assert data["doc"]["title"] == "Sam · Goals review" and data["doc"]["lines"][0]["text"]


def test_the_daemons_retagger_waits_for_the_recording_and_the_transcript(tmp_path, caplog):
    _, store, folder = _session(tmp_path)
    _transcript(folder, status="building")
    recording = [True]
    woken = []
    retagger = Retagger(store, lambda: recording[0], wake=lambda: woken.append(1))
    store.update_manifest(SESSION_ID, lambda m, _s: m.__pydantic_extra__.update(
        details={"client": "Sam", "title": "", "number": None, "notes": ""}))  # fmt: skip
    retagger.mark(folder, store.read_manifest(folder))
    assert woken == [1]
    before = hashlib.sha256((folder / MP3_NAME).read_bytes()).hexdigest()

    retagger.run()  # a session is recording: nothing is copied
    assert hashlib.sha256((folder / MP3_NAME).read_bytes()).hexdigest() == before
    assert retagger.pending() == {SESSION_ID}

    recording[0] = False
    retagger.run()  # the files now; the transcript is still being built
    assert _tags(folder / MP3_NAME)["artist"] == "Sam"
    assert retagger.pending() == {SESSION_ID}

    _transcript(folder, status="done")  # the build ends, with the title it began with
    retagger.run()
    assert (folder / "transcript.txt").read_text().startswith("Sam · ")
    assert retagger.pending() == set()

    # a damaged FLAC is reported and kept; the session is tried again later
    (folder / FLAC_NAME).write_bytes(b"fLaC" + b"\0" * 40)
    store.update_manifest(SESSION_ID, lambda m, _s: m.__pydantic_extra__["details"].update(
        client="Kim"))  # fmt: skip
    retagger.mark(folder, store.read_manifest(folder))
    with caplog.at_level(logging.ERROR):
        retagger.run()
    assert f"{folder / FLAC_NAME}: cannot retag" in caplog.text
    assert (folder / FLAC_NAME).read_bytes() == b"fLaC" + b"\0" * 40
    assert retagger.pending() == {SESSION_ID}


def test_the_retagger_finds_edits_a_restart_interrupted(tmp_path):
    _, store, folder = _session(tmp_path)
    store.update_manifest(SESSION_ID, lambda m, _s: m.__pydantic_extra__.update(
        details={"client": "Sam", "title": "", "number": None, "notes": ""}))  # fmt: skip
    retagger = Retagger(store, lambda: False)
    retagger.mark_edited()
    assert retagger.pending() == {SESSION_ID}
    retagger.run()
    assert _tags(folder / FLAC_NAME)["artist"] == "Sam"
    manifest = store.read_manifest(folder)
    assert retag(folder, manifest) is True  # nothing left to do
    # and nothing is copied again: the tags read back equal what would be written
    assert retag_flac(folder / FLAC_NAME, manifest) is False
    assert retag_mp3(folder / MP3_NAME, manifest) is False
