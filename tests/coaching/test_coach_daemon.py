"""The coach's commands against the running daemon: over a real mosquitto as the phone page
sends them, with the button (gpiozero's mock pins) starting the session, a real share to the
loopback S3 server, and a share remote that hangs for real while the box keeps answering."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request

from recorder.adapters.control_socket import send, wait_for_job
from recorder.adapters.rclone.client import Rclone
from recorder.adapters.rclone.share import RcloneShareTarget
from recorder.app.daemon import Parts
from recorder.coaching.archive_sync import edited_since_verified
from recorder.core.formats import FORMATS
from recorder.core.manifest import Marker, latest_coach_edit
from recorder.core.recording.state import Start, Stop
from recorder.media.deliverables import MP3_NAME
from tests.factories import make_manifest
from tests.phone import Phone, Watcher, coach_box, coach_feeder
from tests.rclone_server import CRYPT_REMOTE, S3Server, rclone_binary
from tests.support import Running, ffprobe, wait_until

S16 = FORMATS["S16_LE"]
BUTTON = 17


def _press(pin, seconds: float = 0.15) -> None:
    pin.drive_low()
    time.sleep(seconds)
    pin.drive_high()


def _manifest(r, sid: str) -> dict:
    s = r.rec.store.find(sid)
    assert s is not None
    return json.loads((s.path / "manifest.json").read_text())


def test_the_coach_over_mqtt_from_the_next_session_to_a_share(tmp_path, mic, broker, factory):
    watcher = Watcher(broker, topics=("session-recorder/#",))
    phone = Phone(broker, watcher)
    with S3Server(tmp_path / "s3") as s3:
        cfg, _ = coach_box(tmp_path, broker, s3, gpio={"enabled": True})
        with Running(cfg, coach_feeder(mic), Parts(pin_factory=factory)) as r:
            wait_until(lambda: r.rec.mqtt.connected, 10)
            r.wait_frames(48000)

            # garbage and refusals: each answered with its reason, nothing changes
            phone.send({"cmd": "label", "session": "../../etc", "client": "Sam"})
            phone.send({"cmd": "next", "client": "Kim\u202egnp.exe"})
            phone.send({"cmd": "label", "session": "000099-20260101T000000Z", "client": "Sam"})
            wait_until(lambda: len(phone.errors()) >= 2, 10, "two errors")
            assert any("'label' needs a session id" in m for m in phone.errors())
            assert any("control character U+202E" in m for m in phone.errors())
            unknown = phone.answer("label")
            assert unknown["ok"] is False and "no session 000099" in unknown["message"]

            assert phone.state()["sharing"] == {"enabled": True, "expire": "14d",
                                                "max_expire": "90d"}  # fmt: skip
            # the next session's client, set before the button is pressed
            phone.send({"cmd": "next", "client": "Kim", "title": "Intake"})
            wait_until(lambda: phone.state().get("next_session", {}) and
                       phone.state()["next_session"]["client"] == "Kim", 10)  # fmt: skip
            _press(factory.pin(BUTTON))
            wait_until(lambda: r.rec.controller.status()["state"] == "recording", 10)
            sid = r.rec.controller.status()["session_id"]
            wait_until(lambda: _manifest(r, sid).get("details", {}).get("client") == "Kim", 10)
            assert _manifest(r, sid)["details"]["title"] == "Intake"
            assert _manifest(r, sid)["start_source"] == "button"
            wait_until(lambda: not phone.state().get("next_session"), 10, "next cleared")
            wait_until(
                lambda: any(e["id"] == sid and e.get("name") == "Kim · Intake"
                            for e in phone.state().get("recent", [])), 10,
            )  # fmt: skip

            # a marker, labelled while the session records
            r.wait_session_frames(r.rec.tap.session_frames + 24000)
            phone.send({"cmd": "mark"})
            wait_until(lambda: r.rec.controller.state.ack >= 1, 10)
            # the writer saves it a moment later (a while on a busy machine): the phone lists it
            # from the manifest, so a coach can label it only once it is there
            wait_until(lambda: _manifest(r, sid).get("markers"), 30, "the marker saved")
            phone.send({"cmd": "label_marker", "session": sid, "marker": 1, "label": "goal set"})
            assert phone.answer("label_marker")["ok"] is True

            def listed():  # the phone's list of the markers so far, while recording
                entry = next((e for e in phone.state().get("recent", []) if e["id"] == sid), {})
                return [(k["n"], k["label"], k["edited"]) for k in entry.get("markers", [])]

            wait_until(lambda: listed() == [(1, "goal set", True)], 10, "the labelled marker")
            phone.send({"cmd": "mark", "label": "second"})
            wait_until(lambda: len(listed()) == 2, 10, "the next marker listed")
            assert r.rec.controller.status()["state"] == "recording"
            r.wait_session_frames(r.rec.tap.session_frames + 24000)
            r.request(Stop())
            session = r.wait_outbox(sid)
            assert [m.label for m in session.manifest.markers] == ["goal set", "second"]
            assert (session.path / "labels.txt").read_text().splitlines()[0].endswith("\tgoal set")

            # a moment bookmarked afterwards, over MQTT, as the review page does
            phone.send({"cmd": "bookmark", "session": sid, "seconds": 0.5, "label": "listen"})
            assert phone.answer("bookmark")["ok"] is True
            markers = _manifest(r, sid)["markers"]
            assert (markers[0]["label"], markers[0]["source"]) == ("listen", "review")
            assert [k["label"] for k in markers][1:] == ["goal set", "second"]

            # renamed afterwards; the files get the new name
            phone.send({"cmd": "label", "session": sid, "client": "Sam", "title": "Goals review"})
            renamed = phone.answer("label", seen=1)
            assert renamed["ok"] and renamed["session_id"] == sid
            mp3 = session.path / MP3_NAME
            wait_until(mp3.exists, 60, "the MP3 built")

            def tagged():
                tags = ffprobe(mp3)["format"].get("tags", {})
                return tags.get("title") == "Sam · Goals review" and tags.get("artist") == "Sam"

            wait_until(tagged, 60, "the MP3 retagged")

            # no share without consent; with it, a link that serves the MP3
            phone.send({"cmd": "share", "session": sid, "to": "Alex"})
            refused = phone.answer("share")
            assert refused["ok"] is False and "has not consented" in refused["message"]
            phone.send({"cmd": "consent", "session": sid, "allow": "share",
                        "ref": "signed release 2026-12-01"})  # fmt: skip
            assert phone.answer("consent")["ok"] is True
            assert _manifest(r, sid)["consent"][-1]["source"] == "mqtt"
            phone.send({"cmd": "share", "session": sid, "to": "Alex", "expire": "2d"})
            assert phone.answer("share", seen=1)["ok"] is True
            ready = phone.event("share_ready")
            assert ready["session_id"] == sid
            with urllib.request.urlopen(ready["share"]["link"], timeout=10) as got:
                assert got.read() == mp3.read_bytes()
            wait_until(
                lambda: any(e["id"] == sid and e.get("shares")
                            for e in phone.state().get("recent", [])), 10,
            )  # fmt: skip
            [shown] = next(e for e in phone.state()["recent"] if e["id"] == sid)["shares"]
            assert shown["to"] == "Alex" and shown["link"] == ready["share"]["link"]


def _answers_quickly(sock, times: int = 8) -> None:
    for _ in range(times):
        began = time.monotonic()
        assert send(sock, {"cmd": "status"}, timeout=5)["ok"]
        assert time.monotonic() - began < 1.0
        time.sleep(0.2)


def test_a_share_remote_that_hangs_leaves_the_box_answering_and_recording(
    tmp_path,
    mic,
    broker,
    frozen,
):
    watcher = Watcher(broker, topics=("session-recorder/#",))
    phone = Phone(broker, watcher)
    with S3Server(tmp_path / "s3") as s3:
        cfg, conf = coach_box(tmp_path, broker, s3)
        # rclone's timeouts are left as shipped (a minute idle): the copy hangs for real
        target = RcloneShareTarget(Rclone(conf, rclone_binary()))
        with Running(cfg, coach_feeder(mic), Parts(share_target=target)) as r:
            wait_until(lambda: r.rec.mqtt.connected, 10)
            r.wait_frames(48000)
            first = r.request(Start())["session_id"]
            r.wait_session_frames(48000)
            r.request(Stop())
            session = r.wait_outbox(first)
            wait_until((session.path / MP3_NAME).exists, 60, "the MP3 built")
            phone.send({"cmd": "consent", "session": first, "allow": "share", "ref": "signed"})
            assert phone.answer("consent")["ok"]

            frozen(s3.proc.pid)
            phone.send({"cmd": "share", "session": first, "to": "Alex"})
            queued = phone.answer("share")
            assert queued["ok"] and "sharing mp3" in queued["message"]
            time.sleep(1.0)  # the worker is in rclone now, waiting on the frozen server
            assert not any(e["event"] == "share_ready" for e in watcher.events())
            _answers_quickly(cfg.socket_path)
            phone.send({"cmd": "label", "session": first, "client": "Sam"})
            assert phone.answer("label")["ok"]  # other coach commands go on
            second = r.request(Start())["session_id"]  # and so does recording
            r.wait_session_frames(48000)
            r.request(Stop())
            r.wait_outbox(second)
            _answers_quickly(cfg.socket_path, 3)

            os.kill(s3.proc.pid, signal.SIGCONT)
            ready = phone.event("share_ready", timeout=180)
            assert ready["session_id"] == first
            with urllib.request.urlopen(ready["share"]["link"], timeout=10) as got:
                assert len(got.read()) > 0


def test_a_withdrawal_removes_the_session_everywhere_within_one_pass(tmp_path, mic, broker):
    watcher = Watcher(broker, topics=("session-recorder/#",))
    phone = Phone(broker, watcher)
    with S3Server(tmp_path / "s3") as s3:
        cfg, conf = coach_box(tmp_path, broker, s3, upload={"remote": f"{CRYPT_REMOTE}:box-1"})
        flags = ["--retries=1", "--contimeout=2s", "--timeout=10s", "--transfers=1"]
        parts = Parts(remote=Rclone(conf, rclone_binary(), None, flags))
        with Running(cfg, coach_feeder(mic), parts) as r:
            wait_until(lambda: r.rec.mqtt.connected, 10)
            r.wait_frames(48000)
            sid = r.request(Start())["session_id"]
            r.wait_session_frames(48000)
            r.request(Stop())

            def verified():
                s = r.rec.store.find(sid)
                return s is not None and s.manifest.upload.status == "verified"

            wait_until(verified, 120, "the session verified on the archive")
            archived = [p for p in s3.objects() if "/shares/" not in str(p)]
            assert archived, "the archive holds the session"
            sock = cfg.socket_path
            send(sock, {"cmd": "consent", "session": sid, "allow": "share", "ref": "signed"})
            queued = send(sock, {"cmd": "share", "session": sid, "to": "Alex"})
            assert queued["ok"] and queued["queued"], queued
            shared = wait_for_job(sock, queued, 120)
            assert shared["ok"] and shared["share"]["to"] == "Alex", shared
            assert [p for p in s3.objects() if "/shares/" in str(p)]

            phone.send({"cmd": "consent", "session": sid, "withdraw": "record",
                        "ref": "the client asked by phone"})  # fmt: skip
            answer = phone.answer("consent")
            assert answer["ok"], answer
            wait_until(lambda: r.rec.store.find(sid) is None, 10, "the local copy deleted")
            wait_until(lambda: s3.objects() == [], 60, "the archive and the shared copy deleted")
    log = [json.loads(x) for x in (tmp_path / "sessions" / "consent.log").read_text().splitlines()]
    assert [(e.get("action"), e.get("what")) for e in log if "what" in e][-1] == (
        "withdraw",
        "record",
    )
    assert any("discard" in e for e in log)


def _archived_manifest(conf, sid: str) -> dict | None:
    """The manifest the encrypted archive holds, decrypted by rclone (an independent reader)."""
    got = subprocess.run(
        [str(rclone_binary()), "--config", str(conf), "cat", f"{CRYPT_REMOTE}:box-1/{sid}/manifest.json"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return json.loads(got.stdout) if got.returncode == 0 and got.stdout else None


def _archived_text(conf, sid: str, name: str) -> str | None:
    """A text file the encrypted archive holds, decrypted by rclone."""
    got = subprocess.run(
        [str(rclone_binary()), "--config", str(conf), "cat", f"{CRYPT_REMOTE}:box-1/{sid}/{name}"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return got.stdout if got.returncode == 0 else None


def test_edits_after_verification_reach_the_encrypted_archive(tmp_path, mic, broker):
    with S3Server(tmp_path / "s3") as s3:
        cfg, conf = coach_box(tmp_path, broker, s3, upload={"remote": f"{CRYPT_REMOTE}:box-1"})
        flags = ["--retries=1", "--contimeout=2s", "--timeout=10s", "--transfers=1"]
        parts = Parts(remote=Rclone(conf, rclone_binary(), None, flags))
        with Running(cfg, coach_feeder(mic), parts) as r:
            r.wait_frames(48000)
            sid = r.request(Start())["session_id"]
            r.wait_session_frames(48000)
            r.request(Stop())
            wait_until(lambda: (_archived_manifest(conf, sid) or {}).get("upload", {})
                       .get("status") == "verified", 120, "verified on the archive")  # fmt: skip
            assert "details" not in _archived_manifest(conf, sid)
            sock = cfg.socket_path
            assert send(sock, {"cmd": "label", "session": sid, "client": "Sam"})["ok"]
            assert send(sock, {"cmd": "consent", "session": sid, "allow": "copy",
                               "ref": "signed release"})["ok"]  # fmt: skip
            # the coach listening back marks a moment on the page
            marked = send(sock, {"cmd": "bookmark", "session": sid, "seconds": 0.5,
                                 "label": "the turning point"})  # fmt: skip
            assert marked["ok"], marked

            def archived():
                m = _archived_manifest(conf, sid) or {}
                return (
                    m.get("details", {}).get("client") == "Sam"
                    and m.get("consent")
                    and any(mk.get("source") == "review" for mk in m.get("markers", []))
                )

            wait_until(archived, 90, "the archive's manifest with the name, consent and bookmark")
            [entry] = _archived_manifest(conf, sid)["consent"]
            assert entry["what"] == "copy" and entry["ref"] == "signed release"
            [mark] = _archived_manifest(conf, sid)["markers"]
            assert (mark["seconds"], mark["label"]) == (0.5, "the turning point")
            labels = _archived_text(conf, sid, "labels.txt") or ""
            assert "the turning point" in labels, labels
            # nothing plain reached the archive: every object under its prefix is ciphertext
            assert all(b"signed release" not in p.read_bytes() for p in s3.objects())


def test_only_edits_after_verification_are_sent_again():
    m = make_manifest(channels=1)
    m.upload.verified_at = "2026-12-04T10:00:00+00:00"
    assert latest_coach_edit(m) is None and not edited_since_verified(m)
    extra = m.__pydantic_extra__
    extra["details"] = {"client": "Sam", "updated_at": "2026-12-04T09:00:00+00:00"}
    extra["consent"] = [{"at": "2026-12-04T09:30:00+00:00"}, {"at": "not a time"}, "junk"]
    assert latest_coach_edit(m).isoformat() == "2026-12-04T09:30:00+00:00"
    assert not edited_since_verified(m)  # the verified upload carried these
    m.markers = [Marker(frame=1, seconds=0.0, label="x", edited_at="2026-12-04T10:00:00+00:00")]
    assert edited_since_verified(m)  # the same second counts as after
    m.markers = []
    extra["shares"] = [{"created_at": "2026-12-04T09:00:00+00:00",
                        "removed_at": "2026-12-04T11:00:00+00:00"}]  # fmt: skip
    assert edited_since_verified(m)
    m.upload.verified_at = None
    assert edited_since_verified(m)
