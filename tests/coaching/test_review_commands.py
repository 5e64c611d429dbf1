"""The review page's commands to the daemon, over its real control socket: a bookmark made
while listening back, transcript corrections saved as revisions, and "proofread".

Real parts: the running daemon fed by the virtual microphone, its control socket, the files it
writes read back by independent readers (python-docx, webvtt-py); and the loopback S3 crypt
archive getting the corrected transcript again through the outbox's own follow-up phase.
"""

from __future__ import annotations

import io
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import docx
import numpy as np
import webvtt

from recorder.adapters.control_socket import send
from recorder.app.assemble_coaching import build_coaching
from recorder.app.virtualmic import Feeder, random_periods
from recorder.core.formats import FORMATS
from recorder.core.recording.state import Mark, Start, Stop
from recorder.core.requests import parse_request
from recorder.core.session_id import make_id
from recorder.outbox.worker import OutboxWork
from recorder.store.sessions import SessionStore
from recorder.transcript.revisions import ORIGINAL_FILE, revision_doc
from recorder.transcript.runner import TranscriptStep
from recorder.transcript.settings import Settings
from recorder.views.credential import check
from recorder.views.sessions import session_json
from tests.factories import done_transcript, finished_session, write_session
from tests.outbox.logged_remote import outbox_box, outbox_worker
from tests.rclone_server import CRYPT_REMOTE, rclone_binary
from tests.support import Running, cli, make_config, wait_until, write_config

RATE = 48000


def _feeder(mic) -> Feeder:
    return Feeder(mic.infile, random_periods(FORMATS["S16_LE"], 2, 4800, None, seed=3), 0.05)


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _docx_text(data: bytes) -> str:
    return "\n".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)


def test_a_bookmark_goes_in_time_order_and_a_stale_marker_number_is_refused(tmp_path, mic):
    cfg = make_config(tmp_path)
    with Running(cfg, _feeder(mic)) as r:
        sock = cfg.socket_path
        r.wait_frames(RATE // 2)
        sid = r.request(Start())["session_id"]
        r.wait_session_frames(RATE)
        r.request(Mark("goal set", "ctl"))
        folder = r.rec.store.find(sid).path
        wait_until(lambda: _manifest(folder)["markers"], 30, "the marker saved")
        refused = send(sock, {"cmd": "bookmark", "session": sid, "seconds": 0.5, "label": "x"})
        assert refused["ok"] is False and "still recording" in refused["message"]
        r.wait_session_frames(2 * RATE)
        r.request(Stop())
        s = r.wait_outbox(sid)
        [mark] = s.manifest.markers
        length_s = s.manifest.frames / RATE

        # the page had numbered the button's marker 1; a bookmark before it makes it 2
        answer = send(sock, {"cmd": "bookmark", "session": sid, "seconds": 0.25,
                             "label": "she names the goal"})  # fmt: skip
        assert answer["ok"], answer
        assert answer["marker"] == {"n": 1, "frame": 12000, "seconds": 0.25,
                                    "label": "she names the goal", "source": "review"}  # fmt: skip
        folder = r.rec.store.find(sid).path
        markers = _manifest(folder)["markers"]
        assert [(m["frame"], m["label"], m["source"]) for m in markers] == [
            (12000, "she names the goal", "review"), (mark.frame, "goal set", "ctl"),
        ]  # fmt: skip
        assert (folder / "labels.txt").read_text().splitlines() == [
            "0.250000\t0.250000\tshe names the goal",
            f"{mark.frame / RATE:.6f}\t{mark.frame / RATE:.6f}\tgoal set",
        ]
        stale = send(sock, {"cmd": "label_marker", "session": sid, "marker": 1,
                            "frame": mark.frame, "label": "new"})  # fmt: skip
        assert stale["ok"] is False
        assert (
            "the markers changed (one was added): marker 1 is now the one at 0.2 s"
            in (stale["message"])
        )
        fresh = send(sock, {"cmd": "label_marker", "session": sid, "marker": 2,
                            "frame": mark.frame, "label": "goal agreed"})  # fmt: skip
        assert fresh["ok"], fresh
        assert [m["label"] for m in _manifest(folder)["markers"]] == [
            "she names the goal", "goal agreed",
        ]  # fmt: skip

        # refusals, each with its reason
        past = send(sock, {"cmd": "bookmark", "session": sid, "seconds": length_s + 1})
        assert past["ok"] is False and "past its end" in past["message"]
        twice = send(sock, {"cmd": "bookmark", "session": sid, "seconds": 0.25})
        assert twice["ok"] is False and "a bookmark at 0.250 s already" in twice["message"]
        for bad, says in (
            ({"seconds": -1}, "needs seconds = where in the session"),
            ({"seconds": "12"}, "needs seconds = where in the session"),
            ({"seconds": 1, "label": "a\nb"}, "control character U+000A"),
            ({"seconds": 1, "label": "x" * 81}, "at most 80 are kept"),
        ):
            got = send(sock, {"cmd": "bookmark", "session": sid, **bad})
            assert got["ok"] is False and says in got["message"], (bad, got)
        unknown = send(sock, {"cmd": "bookmark", "session": "000999-20261206T090000Z",
                              "seconds": 1})  # fmt: skip
        assert unknown["ok"] is False and "no session 000999" in unknown["message"]

        # the outbox writing a copy it read before the bookmark does not lose it
        s_old = r.rec.store.find(sid)
        stale_copy = s_old.manifest.model_copy(deep=True)
        stale_copy.markers = [m for m in stale_copy.markers if m.source != "review"]
        r.rec.store.write_manifest(folder, stale_copy)
        assert [m["source"] for m in _manifest(folder)["markers"]] == ["review", "ctl"]


def test_corrections_are_revisions_rebuilt_in_every_file_and_proofread_per_revision(tmp_path, mic):
    cfg = make_config(tmp_path)
    with Running(cfg, _feeder(mic)) as r:
        sock = cfg.socket_path
        sid = r.record(1.0)
        s = r.wait_outbox(sid)
        early = send(sock, {"cmd": "transcript_edit", "session": sid, "base": 0,
                            "ops": [{"op": "merge", "line": 0}]})  # fmt: skip
        assert early["ok"] is False and "has no finished transcript" in early["message"]
        done_transcript(s.path, sid)
        assert session_json(r.rec.store.find(sid))["transcript"]["proofread"] is False

        fix = {"cmd": "transcript_edit", "session": sid, "base": 0,
               "ops": [{"op": "text", "line": 1, "text": "My career goals"},
                       {"op": "speaker", "line": 1, "speaker": "Sam"}]}  # fmt: skip
        saved = send(sock, fix)
        assert saved["ok"] and saved["revision"] == 1, saved
        # another phone saving on the same base is refused, and changes nothing
        again = send(sock, {**fix, "ops": [{"op": "merge", "line": 0}]})
        assert again["ok"] is False
        assert "changed since your page read it (revision 0; it is at 1 now)" in again["message"]

        text = _docx_text((s.path / "transcript.docx").read_bytes())
        assert "Sam: My career goals" in text and "carrier" not in text
        captions = [c.text for c in webvtt.read(str(s.path / "transcript.vtt"))]
        assert any("My career goals" in c for c in captions)
        assert "Sam: My career goals" in (s.path / "transcript.txt").read_text()
        data = json.loads((s.path / "transcript.json").read_text())
        words = {w["text"]: w for w in data["doc"]["lines"][1]["words"]}
        assert words["career"]["probability"] is None  # the coach's word
        assert (words["career"]["start_s"], words["career"]["end_s"]) == (1.2, 1.6)
        assert words["goals"] == {"text": "goals", "start_s": 1.6, "end_s": 1.9,
                                  "probability": 0.9, "display": " goals"}  # fmt: skip
        assert data["revision"] == 1 and [e["revision"] for e in data["revisions"]] == [1]
        assert data["revisions"][0]["source"] == "ctl"
        original = json.loads((s.path / ORIGINAL_FILE).read_text())
        assert original["doc"]["lines"][1]["text"] == "My carrier goals"
        assert revision_doc(s.path, 0).lines[1].text == "My carrier goals"
        assert revision_doc(s.path, 1).lines[1].text == "My career goals"
        assert _manifest(s.path)["upload"]["transcript"]["status"] == "waiting"

        # garbage is refused with the reason, and nothing changes
        for ops, says in (
            ([{"op": "split", "line": 0, "word": 99}], "operation 1 (split): a line of 7"),
            ([{"op": "rm", "line": 0}], "op is one of text, speaker, split, merge"),
            ("merge", "ops is a list"),
            ([{"op": "text", "line": 0, "text": "\u0007"}], "control character U+0007"),
        ):
            got = send(sock, {"cmd": "transcript_edit", "session": sid, "base": 1, "ops": ops})
            assert got["ok"] is False and says in got["message"], (ops, got)
        assert json.loads((s.path / "transcript.json").read_text())["revision"] == 1

        # proofread: on the revision the coach read; a later edit leaves it unmarked
        stale = send(sock, {"cmd": "proofread", "session": sid, "revision": 0})
        assert stale["ok"] is False and "reload it" in stale["message"]
        marked = send(sock, {"cmd": "proofread", "session": sid, "revision": 1})
        assert marked["ok"] and marked["proofread"] is True, marked
        shown = session_json(r.rec.store.find(sid))["transcript"]
        assert (shown["proofread"], shown["revision"], shown["proofread_revision"]) == (
            True, 1, 1,
        )  # fmt: skip
        proofread = {c.name: c for c in check(s.path, r.rec.store.find(sid).manifest)}
        assert proofread["proofread"].result == "pass"
        split = send(sock, {"cmd": "transcript_edit", "session": sid, "base": 1,
                            "ops": [{"op": "split", "line": 0, "word": 4}]})  # fmt: skip
        assert split["ok"] and split["revision"] == 2
        assert session_json(r.rec.store.find(sid))["transcript"]["proofread"] is False
        line = {c.name: c for c in check(s.path, r.rec.store.find(sid).manifest)}["proofread"]
        assert line.result == "fail"
        assert line.message.startswith("corrected since it was marked proofread (revision 1")
        assert send(sock, {"cmd": "proofread", "session": sid})["proofread"] is True
        cleared = send(sock, {"cmd": "proofread", "session": sid, "done": False})
        assert cleared["ok"] and cleared["proofread"] is False


def _remote(cfg, path: str) -> bytes:
    return subprocess.run(
        [str(rclone_binary()), "--config", str(cfg.upload.rclone_config), "cat", path],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip


def test_a_corrected_transcript_is_sent_and_verified_on_the_archive_again(tmp_path, s3):
    _, cfg, store, remote = outbox_box(tmp_path, s3)
    sid = make_id(1, datetime(2026, 12, 6, 9, 1, tzinfo=UTC), True)
    folder = store.state_dir("outbox") / sid
    audio = np.random.default_rng(3).integers(-3000, 3000, (2 * RATE, 2), dtype=np.int16)
    manifest = write_session(
        folder, [[audio.tobytes()]], RATE, 2, "S16_LE", hashed=True, id=sid,
        device_id="test-box", stop_reason="requested",
    )  # fmt: skip
    store.write_manifest(folder, manifest)
    done_transcript(folder, sid)
    worker = outbox_worker(cfg, store, remote, work=OutboxWork(steps=[TranscriptStep(Settings())]))

    def transcript_status() -> str:
        s = store.find(sid)
        return s.manifest.upload.transcript.status if s and s.manifest else ""

    def passes_until(status: str) -> bool:
        worker.pass_once()
        return transcript_status() == status

    wait_until(lambda: passes_until("verified"), 120, "the engine's transcript verified")
    where = f"{CRYPT_REMOTE}:box-1/{sid}"
    assert b"My carrier goals" in _remote(cfg, f"{where}/transcript.txt")

    coaching = build_coaching(cfg, SessionStore(cfg.storage.dir), discard=lambda _sid: {})
    q = parse_request({"cmd": "transcript_edit", "session": sid, "base": 0,
                       "ops": [{"op": "text", "line": 1, "text": "My career goals"}]}, "ctl")  # fmt: skip
    answer = coaching.queries()["transcript_edit"](q)
    assert answer["ok"], answer
    assert transcript_status() == "waiting"
    wait_until(lambda: passes_until("verified"), 120, "the corrected transcript verified")
    assert "Client: My career goals" in _docx_text(_remote(cfg, f"{where}/transcript.docx"))
    assert b"My career goals" in _remote(cfg, f"{where}/transcript.txt")
    archived = json.loads(_remote(cfg, f"{where}/manifest.json"))
    assert archived["upload"]["transcript"]["status"] == "verified"


def test_the_command_line_bookmarks_corrects_and_proofreads_without_the_page(tmp_path):
    path = write_config(tmp_path)
    folder, m = finished_session(tmp_path / "sessions", [bytes(2 * 8000 * 2)], 8000,
                                 markers=[(4000, "button")], stop_reason="requested")  # fmt: skip
    done_transcript(folder, m.id)
    done = cli("bookmark", m.id, "0:00.25", "she names the goal", "--config", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "marker 1 at 0.2 s: “she names the goal”"
    assert (folder / "labels.txt").read_text().splitlines() == [
        "0.250000\t0.250000\tshe names the goal", "0.500000\t0.500000\tbutton",
    ]  # fmt: skip
    # the transcript's marker lines and cues follow (retitled at once: no daemon runs)
    assert "[00:00:00] — Marker: she names the goal" in (folder / "transcript.txt").read_text()
    cues = [c.text for c in webvtt.read(str(folder / "transcript.vtt"))]
    assert "— Marker: she names the goal" in cues
    ops = json.dumps([{"op": "text", "line": 1, "text": "My career goals"}])
    edited = cli("transcript-edit", m.id, "--base", "0", ops, "--config", str(path))
    assert edited.returncode == 0, edited.stderr
    assert "Client: My career goals" in (folder / "transcript.txt").read_text()
    stale = cli("transcript-edit", m.id, "--base", "0", ops, "--config", str(path))
    assert stale.returncode == 1 and "reload it" in stale.stderr
    marked = cli("proofread", m.id, "--revision", "1", "--config", str(path))
    assert marked.returncode == 0, marked.stderr
    assert "marked proofread (revision 1)" in marked.stdout
    listed = json.loads(cli("sessions", "--json", "--config", str(path)).stdout)
    assert listed[0]["transcript"]["proofread"] is True
    bad = cli("bookmark", m.id, "soon", "--config", str(path))
    assert bad.returncode == 2 and "'soon' is not seconds or [h:]mm:ss" in bad.stderr
