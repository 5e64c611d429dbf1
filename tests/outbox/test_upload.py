"""Sessions upload themselves: real recorder, real rclone, a real S3 server on loopback."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from recorder.adapters.control_socket import wait_for_job
from recorder.adapters.rclone.client import Rclone
from recorder.adapters.rclone.processes import RcloneProcesses
from recorder.app.daemon import Parts
from recorder.app.virtualmic import Feeder, random_periods
from recorder.core.formats import FORMATS
from recorder.core.recording.state import Mark, SessionUploaded, Start, Stop
from recorder.core.session_id import make_id
from recorder.store.sessions import SessionStore
from recorder.views.sessions import session_json
from tests.factories import write_session
from tests.outbox.logged_remote import FAST_FLAGS, Logged, outbox_box, outbox_worker, remote_files
from tests.rclone_server import CRYPT_REMOTE, S3Server, rclone_binary, write_config
from tests.support import Running, cli, make_config, sox_raw, wait_until
from tests.support import write_config as write_cfg

S16 = FORMATS["S16_LE"]


def _cfg(tmp_path, server, **upload):
    conf = write_config(tmp_path / "rclone.conf", server)
    values = {
        "remote": f"{CRYPT_REMOTE}:box-1",
        "rclone_config": str(conf),
        "retry_min_s": 0.5,
        "retry_max_s": 2.0,
        **upload,
    }
    return make_config(tmp_path, upload=values, audio={"segment_s": 2.0})


def _parts(cfg, remote=None) -> Parts:
    u = cfg.upload
    flags = [*FAST_FLAGS, *([f"--bwlimit={u.bwlimit}"] if u.bwlimit else [])]
    return Parts(remote=remote or Rclone(u.rclone_config, rclone_binary(), None, flags))


def _record(r, seconds: float, label: str = "") -> str:
    r.wait_frames(r.rec.tap.position + 48000)
    started = r.request(Start())
    assert started["ok"], started
    r.wait_session_frames(int(seconds * 48000))
    if label:
        r.request(Mark(label, "ctl"))
    r.request(Stop())
    return started["session_id"]


def _uploaded(r, session_id, timeout=90):
    """The session once verified and done with: it reaches uploaded/ first, is verified a
    little later, and then its manifest on the remote is marked verified too."""

    def find():
        found = next(
            (
                s
                for s in r.rec.store.sessions("uploaded")
                if s.id == session_id and s.manifest and s.manifest.upload.status == "verified"
            ),
            None,
        )
        return found if r.rec.outbox.status()["verifying"] != session_id else None

    return wait_until(find, timeout, f"{session_id} verified and in uploaded/")


def _fetch(cfg, remote_dir: str, dest: Path) -> Path:
    subprocess.run(
        [
            str(rclone_binary()),
            "--config",
            str(cfg.upload.rclone_config),
            "copy",
            remote_dir,
            str(dest),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return dest


def _feeder(mic):
    return Feeder(mic.infile, random_periods(S16, 2, 4800, None, seed=9), 0.02)


def test_a_session_uploads_encrypted_verified_and_decrypts_to_identical_audio(tmp_path, mic, s3):
    cfg = _cfg(tmp_path, s3)
    hostile = '$(touch /tmp/pwned-by-label) `id` "; rm -rf / #'
    with Running(cfg, _feeder(mic), _parts(cfg)) as r:
        sid = _record(r, 3.0, label=hostile)
        session = _uploaded(r, sid)
        status = r.rec.controller.status()["upload"]
        assert status["enabled"] and status["queue"] == 0 and status["last_error"] is None
    m = session.manifest
    u = m.upload
    assert u.status == "verified" and u.remote == f"{CRYPT_REMOTE}:box-1/{sid}" and u.attempts == 1
    assert set(u.files) == {"manifest.json", "labels.txt", "session.flac", "session.mp3"}
    assert not Path("/tmp/pwned-by-label").exists()
    # on the server: only ciphertext, no names, no audio
    stored = s3.objects()
    names = [str(p.relative_to(s3.bucket_dir)) for p in stored]
    assert names and all(sid not in n and "session" not in n and "seg-" not in n for n in names)
    assert all(
        b"RIFF" not in p.read_bytes()[:64] and b"fLaC" not in p.read_bytes()[:64] for p in stored
    )
    # decrypted back through the crypt remote: the FLAC holds exactly the recorded samples
    back = _fetch(cfg, u.remote, tmp_path / "back")
    segments = [str(session.path / s.file) for s in m.segments]
    assert sox_raw([str(back / "session.flac")]) == sox_raw(segments)
    remote_manifest = json.loads((back / "manifest.json").read_text())
    assert remote_manifest["upload"]["status"] == "verified"
    assert hostile.replace("\n", " ") in (back / "labels.txt").read_text()
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,channels",
            "-of",
            "json",
            str(back / "session.mp3"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(probe.stdout)["streams"][0] == {"codec_name": "mp3", "channels": 1}


def test_server_killed_mid_upload_resumes_and_completes(tmp_path, mic, s3):
    cfg = _cfg(tmp_path, s3, bwlimit="150k", deliverables=False)
    with Running(cfg, _feeder(mic), _parts(cfg)) as r:
        sid = _record(r, 6.0)  # 2.3 MB of WAV segments at 150 kB/s: about 15 s to send
        progress = wait_until(
            lambda: (p := r.rec.controller.status()["upload"]["progress"]) and p["bytes"] > 0 and p,
            60,
            "bytes on the wire",
        )
        assert progress["bytes"] < progress["total"]
        s3.stop()
        wait_until(lambda: r.rec.controller.status()["upload"]["last_error"], 60, "the failure")
        outbox = r.rec.store.sessions("outbox")
        assert [s.id for s in outbox] == [sid]  # kept locally, not verified
        assert outbox[0].manifest.upload.status == "failed"
        assert outbox[0].manifest.upload.error_kind == "network"
        s3.start()
        session = _uploaded(r, sid)
    u = session.manifest.upload
    assert u.attempts >= 2 and u.status == "verified"
    back = _fetch(cfg, u.remote, tmp_path / "back")
    for seg in session.manifest.segments:  # no WAV segment lost or duplicated on the way
        assert (back / seg.file).read_bytes() == (session.path / seg.file).read_bytes()
    assert sorted(p.name for p in back.iterdir()) == sorted(u.files)


class CorruptOnce:
    """The real remote, but the first upload is damaged on the server before it is verified
    (a fault that cannot be timed otherwise)."""

    def __init__(self, inner: Rclone, server: S3Server) -> None:
        self.inner, self.server, self.done = inner, server, False

    def upload(self, *args, **kwargs):
        self.inner.upload(*args, **kwargs)
        if not self.done:
            self.done = True
            biggest = max(self.server.objects(), key=lambda p: p.stat().st_size)
            data = bytearray(biggest.read_bytes())
            data[len(data) // 2] ^= 0xFF
            biggest.write_bytes(bytes(data))
            self.server.settle()

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_corrupted_remote_file_is_detected_and_sent_again(tmp_path, mic, s3):
    cfg = _cfg(tmp_path, s3)
    remote = CorruptOnce(_parts(cfg).remote, s3)
    with Running(cfg, _feeder(mic), _parts(cfg, remote)) as r:
        sid = _record(r, 2.0)
        session = _uploaded(r, sid)
    u = session.manifest.upload
    assert remote.done and u.attempts == 2 and u.status == "verified" and not u.force
    back = _fetch(cfg, u.remote, tmp_path / "back")
    for name in u.files:
        if name != "manifest.json":
            assert (back / name).read_bytes() == (session.path / name).read_bytes()


def test_wrong_credentials_are_reported_backed_off_and_touch_nothing(tmp_path, mic, s3):
    cfg = _cfg(tmp_path, s3, retry_max_s=3600)
    write_config(cfg.upload.rclone_config, s3, secret="not-the-secret")
    with Running(cfg, _feeder(mic), _parts(cfg)) as r:
        sid = _record(r, 2.0)
        status = wait_until(
            lambda: (s := r.rec.controller.status()["upload"])["last_error"] and s, 60, "failure"
        )
        [s] = r.rec.store.sessions("outbox")
        hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in s.path.glob("seg-*")}
        time.sleep(2.0)
        again = r.rec.store.sessions("outbox")[0]
        assert again.manifest.upload.attempts == 1  # not retried in a tight loop
        delay = r.rec.outbox.state.next_try(sid) - time.monotonic()
        assert delay > 3000  # auth errors wait retry_max_s
    assert sid in status["last_error"]
    assert s.manifest.upload.error_kind == "auth" and s.manifest.upload.status == "failed"
    assert {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in s.path.glob("seg-*")
    } == hashes
    assert s3.objects() == []


def test_retention_frees_space_but_never_deletes_an_unverified_session(tmp_path, mic, s3):
    cfg = _cfg(tmp_path, s3, keep_free_mb=10**9)  # "always short of space"
    with Running(cfg, _feeder(mic), _parts(cfg)) as r:
        first = _record(r, 1.5)
        # verified, then freed at once: it may never be seen in uploaded/
        wait_until(lambda: first not in {x.id for x in r.rec.store.sessions()}, 90, "retention")
        listing = subprocess.run(
            [str(rclone_binary()), "--config", str(cfg.upload.rclone_config), "lsf",
             f"{CRYPT_REMOTE}:box-1"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        assert listing == [f"{first}/"]  # on the remote before the local copy went
        s3.stop()
        second = _record(r, 1.5)
        wait_until(
            lambda: (
                r.rec.store.sessions("outbox")
                and r.rec.store.sessions("outbox")[0].manifest.upload.status == "failed"
            ),
            60,
            "the second upload failing",
        )
        r.rec.outbox.pass_once()
        ids = {s.id: s.state for s in r.rec.store.sessions()}
    assert ids == {second: "outbox"}  # not verified: kept, whatever the free space


def test_discard_deletes_here_and_on_the_remote_even_when_it_is_down(tmp_path, mic, s3):
    cfg = _cfg(tmp_path, s3)
    with Running(cfg, _feeder(mic), _parts(cfg)) as r:
        kept = _record(r, 1.5)
        gone = _record(r, 1.5)
        _uploaded(r, kept)
        _uploaded(r, gone)
        s3.stop()
        asked = r.rec.server.answer(json.dumps({"cmd": "discard", "session": gone}).encode())
        answer = wait_for_job(cfg.socket_path, asked, 120)  # queued: the remote may hang
        assert answer["ok"], answer
        assert "pending" in answer["discard"]["remote"]
        assert [s.id for s in r.rec.store.sessions()] == [kept]
        assert (cfg.storage.dir / "discards" / gone).exists()
        s3.start()
        r.rec.outbox.wake()
        wait_until(lambda: not (cfg.storage.dir / "discards" / gone).exists(), 60, "remote delete")
        # retention may have deleted the local copy long ago: the remote copy still goes
        asked = r.rec.server.answer(json.dumps({"cmd": "discard", "session": gone}).encode())
        again = wait_for_job(cfg.socket_path, asked, 120)
    assert again["ok"] and again["discard"]["local"] == "not found"
    log = [json.loads(line) for line in (cfg.storage.dir / "discard.log").read_text().splitlines()]
    assert [e["id"] for e in log] == [gone, gone, gone]
    assert log[0]["local"].startswith("deleted") and log[1]["remote"] == "deleted (retried)"
    listing = subprocess.run(
        [
            str(rclone_binary()),
            "--config",
            str(cfg.upload.rclone_config),
            "lsf",
            f"{CRYPT_REMOTE}:box-1",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert listing == [f"{kept}/"]


def test_uploads_wait_while_recording_and_for_the_delay(tmp_path, mic, s3):
    cfg = _cfg(tmp_path, s3, delay_min=3 / 60)
    with Running(cfg, _feeder(mic), _parts(cfg)) as r:
        first = _record(r, 1.5)
        r.wait_frames(r.rec.tap.position + 4800)
        started = r.request(Start())  # recording again: nothing may be sent
        time.sleep(4.0)
        assert r.rec.controller.status()["upload"]["paused"]
        assert s3.objects() == []
        r.request(Stop())
        _uploaded(r, first)
        second = started["session_id"]
        _uploaded(r, second)


def test_without_uploads_no_deliverables_are_built_and_export_makes_one_on_demand(tmp_path, mic):
    """A box without [upload]: the outbox worker spends no CPU or card space on a FLAC and an
    MP3 nobody asked for; `sessions --json` lists the segments, and `export` builds an MP3
    from them on demand (read by ffprobe)."""
    audio = {"segment_s": 1.0}
    cfg, path = make_config(tmp_path, audio=audio), write_cfg(tmp_path, audio=audio)
    with Running(cfg, _feeder(mic)) as r:
        sid = _record(r, 2.5)
        r.wait_outbox(sid)
        r.rec.outbox.pass_once()  # the daemon's own worker: one whole pass, run to its end here
        assert r.rec.controller.status()["upload"]["enabled"] is False
    folder = tmp_path / "sessions" / "outbox" / sid
    names = sorted(p.name for p in folder.iterdir())
    assert "session.flac" not in names and "session.mp3" not in names
    assert not [n for n in names if n.endswith(".tmp")]
    [record] = json.loads(cli("sessions", "--json", "--config", str(path)).stdout)
    assert record["state"] == "outbox" and len(record["segments"]) >= 3
    assert all(Path(s).is_file() for s in record["segments"])

    out = tmp_path / "for-icf.mp3"
    done = cli("export", sid, "--format", "mp3", "-o", str(out), "--config", str(path))
    assert done.returncode == 0, done.stderr
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_format", "-show_streams", str(out)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    info = json.loads(probe.stdout)
    stream = info["streams"][0]
    assert (stream["codec_name"], stream["channels"], stream["sample_rate"]) == ("mp3", 1, "48000")
    assert abs(float(info["format"]["duration"]) - record["frames"] / record["rate"]) < 0.1
    assert sorted(p.name for p in folder.iterdir()) == names  # export wrote only where asked


def _rclone_states(cfg) -> list[str]:
    states = []
    for pid in RcloneProcesses(cfg.upload.rclone_config).pids():
        with open(f"/proc/{pid}/stat") as f:
            states.append(f.read().rsplit(")", 1)[1].split()[0])
    return states


def test_a_transfer_in_flight_is_frozen_while_recording(tmp_path, mic, s3):
    cfg = _cfg(tmp_path, s3, bwlimit="100K", deliverables=False)
    with Running(cfg, _feeder(mic), _parts(cfg)) as r:
        first = _record(r, 5.0)
        wait_until(
            lambda: (p := r.rec.controller.status()["upload"]["progress"]) and p["bytes"] > 0,
            60,
            "a transfer under way",
        )
        started = r.request(Start())
        assert started["ok"]
        frozen = wait_until(
            lambda: (st := _rclone_states(cfg)) and set(st) == {"T"} and st, 10, "frozen"
        )
        sent = r.rec.controller.status()["upload"]["progress"]["bytes"]
        time.sleep(2.0)
        assert r.rec.controller.status()["upload"]["progress"]["bytes"] == sent  # nothing moved
        assert frozen
        r.request(Stop())
        session = _uploaded(r, first)
        _uploaded(r, started["session_id"])
    assert session.manifest.upload.status == "verified"


# ---- two phases: every queued session leaves the box before any verification ----------------
#
# These drive the outbox worker directly (no daemon), so each pass is one deterministic call;
# the remote is the real adapter, the real crypt-over-S3 server and rclone.


def _queue(store: SessionStore, seq: int, seconds: float = 2.0) -> str:
    """A finalized session in outbox/, written by the recorder's own segment writer."""
    sid = make_id(seq, datetime(2026, 11, 29, 9, seq, tzinfo=UTC), True)
    folder = store.state_dir("outbox") / sid
    rng = np.random.default_rng(seq)
    frames = int(seconds * 48000) // 2
    chunks = [[rng.integers(-4000, 4000, frames * 2, dtype=np.int16).tobytes()] for _ in range(2)]
    manifest = write_session(
        folder, chunks, 48000, 2, "S16_LE", hashed=True, id=sid, device_id="test-box",
        started_at=f"2026-11-29T09:{seq:02d}:00+00:00", stop_reason="requested",
        ended_at=f"2026-11-29T09:{seq:02d}:02+00:00",
    )  # fmt: skip
    store.write_manifest(folder, manifest)
    return sid


def _records(store: SessionStore) -> dict[str, dict]:
    """`sessions --json`, by id (the same records the command prints)."""
    return {s.id: session_json(s) for s in store.sessions()}


def _same_on_the_remote(cfg, session, dest: Path) -> None:
    """Every file sent decrypts back to the local bytes; the remote manifest says verified."""
    u = session.manifest.upload
    back = _fetch(cfg, u.remote, dest)
    assert sorted(p.name for p in back.iterdir()) == sorted(u.files)
    for name in u.files:
        if name != "manifest.json":
            assert (back / name).read_bytes() == (session.path / name).read_bytes(), name
    assert json.loads((back / "manifest.json").read_text())["upload"]["status"] == "verified"


def test_every_queued_session_is_on_the_remote_before_the_first_verification(tmp_path, s3):
    seen: dict = {}

    def look(remote: Logged) -> None:
        if not seen:  # the first verification, before it runs
            seen["records"] = _records(store)
            seen["remote"] = remote_files(cfg, f"{CRYPT_REMOTE}:box-1")
            seen["events"] = [e.session_id for e in events if isinstance(e, SessionUploaded)]

    _, cfg, store, remote = outbox_box(tmp_path, s3, look)
    first, second = _queue(store, 1), _queue(store, 2)
    events: list = []
    outbox_worker(cfg, store, remote, events).pass_once()

    assert [c[:3] for c in remote.calls] == [
        ("upload", first, "files"),
        ("upload", first, "manifest"),  # marked "uploaded"
        ("upload", second, "files"),
        ("upload", second, "manifest"),
        ("verify", first),
        ("upload", first, "manifest"),  # marked "verified"
        ("verify", second),
        ("upload", second, "manifest"),
    ]
    # when the first verification started, both were off the box and said so everywhere
    for sid in (first, second):
        record = seen["records"][sid]
        assert record["state"] == "uploaded"
        assert record["upload"]["status"] == "uploaded"
        assert record["upload"]["remote"] == f"{CRYPT_REMOTE}:box-1/{sid}"
        assert record["upload"]["uploaded_at"] and record["upload"]["verified_at"] is None
        files = {f"{sid}/{name}" for name in ("manifest.json", "session.flac", "session.mp3")}
        assert files <= set(seen["remote"])
    assert seen["events"] == [first, second]  # "session_uploaded" as each one arrived
    # and the pass ends with both verified
    for sid in (first, second):
        record = _records(store)[sid]
        assert (record["state"], record["upload"]["status"]) == ("uploaded", "verified")
        assert record["upload"]["transcript"]["status"] == "none"  # none follows: settled
    for session in store.sessions("uploaded"):
        _same_on_the_remote(cfg, session, tmp_path / f"back-{session.id}")


def test_a_failed_verification_sends_the_session_again_and_it_ends_verified(tmp_path, s3):
    def corrupt_once(remote: Logged) -> None:
        if len([c for c in remote.calls if c[0] == "verify"]) == 1:
            biggest = max(s3.objects(), key=lambda p: p.stat().st_size)
            data = bytearray(biggest.read_bytes())
            data[len(data) // 2] ^= 0xFF
            biggest.write_bytes(bytes(data))
            s3.settle()

    _, cfg, store, remote = outbox_box(tmp_path, s3, corrupt_once)
    sid = _queue(store, 1)
    worker = outbox_worker(cfg, store, remote)
    worker.pass_once()
    record = _records(store)[sid]
    assert record["state"] == "outbox"  # back in the queue, to be sent again in full
    u = record["upload"]
    assert (u["status"], u["error_kind"], u["force"]) == ("failed", "verify", True)
    assert "session.flac" in u["last_error"]
    assert worker.status()["queue"] == 1

    worker.pass_once()  # backing off: nothing is sent yet
    assert len(remote.data_uploads(sid)) == 1
    worker.wake()  # `session-recorder upload`: try now
    worker.pass_once()
    assert remote.data_uploads(sid) == [
        ("upload", sid, "files", False),
        ("upload", sid, "files", True),  # --ignore-times: the damaged copy is replaced
    ]
    [session] = store.sessions("uploaded")
    u = session.manifest.upload
    assert (u.status, u.attempts, u.force, u.error_kind) == ("verified", 2, False, None)
    _same_on_the_remote(cfg, session, tmp_path / "back")


def test_remote_down_during_verification_verifies_later_without_sending_again(tmp_path, s3):
    def cut(remote: Logged) -> None:
        if len([c for c in remote.calls if c[0] == "verify"]) == 1:
            s3.stop()

    path, cfg, store, remote = outbox_box(tmp_path, s3, cut, retry_min_s=60, retry_max_s=120)
    first, second = _queue(store, 1), _queue(store, 2)
    worker = outbox_worker(cfg, store, remote)
    worker.pass_once()
    # both reached the remote; neither could be verified; neither goes back to the outbox
    listed = json.loads(cli("sessions", "--json", "--config", str(path)).stdout)
    records = {r["id"]: r for r in listed}
    assert sorted(records) == [first, second]
    for sid in (first, second):
        r = records[sid]
        assert r["state"] == "uploaded" and r["upload"]["status"] == "uploaded"
        assert r["upload"]["remote"] == f"{CRYPT_REMOTE}:box-1/{sid}"
        assert r["upload"]["error_kind"] == "network" and r["upload"]["verify_attempts"] == 1
        assert r["upload"]["last_error"].startswith("verification: ")
    assert worker.status()["queue"] == 0 and worker.status()["last_error"]

    worker.pass_once()  # still backing off
    assert len([c for c in remote.calls if c[0] == "verify"]) == 2
    s3.start()
    worker.wake()
    worker.pass_once()
    for sid in (first, second):
        assert len(remote.data_uploads(sid)) == 1  # never sent again
    sessions = store.sessions("uploaded")
    assert [s.id for s in sessions] == [first, second]
    for session in sessions:
        u = session.manifest.upload
        assert (u.status, u.attempts, u.error_kind, u.last_error) == ("verified", 1, None, None)
        _same_on_the_remote(cfg, session, tmp_path / f"back-{session.id}")


def test_retention_never_deletes_an_uploaded_but_unverified_session(tmp_path, s3):
    _, cfg, store, remote = outbox_box(tmp_path, s3, lambda remote: s3.stop(), keep_free_mb=10**9)
    sid = _queue(store, 1)
    outbox_worker(cfg, store, remote).pass_once()  # uploaded; verification fails; retention runs
    [session] = store.sessions()
    assert (session.state, session.manifest.upload.status) == ("uploaded", "uploaded")
    assert sorted(p.name for p in session.path.glob("seg-*.wav")) == [
        "seg-0000.wav",
        "seg-0001.wav",
    ]

    # the next start (a fresh worker, no memory of the failure) verifies it, then frees it
    s3.start()
    remote.before_verify = None
    outbox_worker(cfg, store, remote).pass_once()
    assert store.sessions() == []  # "always short of space": verified, then deleted
    assert len(remote.data_uploads(sid)) == 1
    assert f"{sid}/session.flac" in remote_files(cfg, f"{CRYPT_REMOTE}:box-1")
