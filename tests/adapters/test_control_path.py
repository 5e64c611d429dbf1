"""The control path never waits on a remote: a discard, a share or a withdrawal that needs the
outbox or a remote is answered at once ("queued", with a job id), and `mark`, `stop` and
`status` stay answered while the remote hangs for real (`rclone serve s3`, SIGSTOPped).
"""

from __future__ import annotations

import os
import signal
import threading
import time

from recorder.adapters.control_socket import send
from recorder.adapters.rclone.client import Rclone
from recorder.app.daemon import Parts
from recorder.app.virtualmic import Feeder, random_periods
from recorder.core.formats import FORMATS
from recorder.core.recording.state import Start
from tests.phone import Phone, Watcher
from tests.rclone_server import CRYPT_REMOTE, S3Server, rclone_binary, write_config
from tests.support import Running, make_config, wait_until

S16 = FORMATS["S16_LE"]
PENDING = 32  # as many discards as the socket has connections: each one used to hold one


def _feeder(mic) -> Feeder:
    return Feeder(mic.infile, random_periods(S16, 2, 4800, None, seed=3), 0.05)


def test_a_discard_held_by_a_frozen_remote_leaves_mark_stop_and_status_answered(
    tmp_path,
    mic,
    broker,
    frozen,
):
    watcher = Watcher(broker, topics=("session-recorder/#",))
    phone = Phone(broker, watcher)
    with S3Server(tmp_path / "s3") as s3:
        conf = write_config(tmp_path / "rclone.conf", s3)
        cfg = make_config(
            tmp_path,
            device={"id": "box-1"},
            mqtt=broker.recorder_section(tmp_path),
            upload={"remote": f"{CRYPT_REMOTE}:box", "rclone_config": str(conf)},
            warnings={"disk_minutes": 0},
        )
        # rclone's own timeouts are left as shipped (minutes): the remote hangs for real
        remote = Rclone(conf, rclone_binary(), None, ["--transfers=1"])
        with Running(cfg, _feeder(mic), Parts(remote=remote)) as r:
            wait_until(lambda: r.rec.mqtt.connected, 20, "the box on the broker")
            sock = cfg.socket_path
            frozen(s3.proc.pid)
            first = r.record(1.0)
            wait_until(lambda: r.rec.outbox.status()["current"] == first, 60, "A's upload hanging")
            second = r.request(Start())
            assert second["ok"], second

            # the phone: a discard of A (its purge on the remote hangs), then mark and stop
            began = time.monotonic()
            phone.send({"cmd": "discard", "session": first})
            phone.send({"cmd": "mark", "label": "while the remote hangs"})
            marked = phone.answer("mark", timeout=30)
            mark_s = time.monotonic() - began
            assert marked["ok"] is True, marked
            began = time.monotonic()
            phone.send({"cmd": "stop"})
            stopped = phone.answer("stop", timeout=30)
            stop_s = time.monotonic() - began
            assert stopped["ok"] is True, stopped
            queued = phone.answer("discard")
            assert queued["ok"] is True and queued["message"].startswith("queued: "), queued
            assert queued["queued"] is True and queued["job"], queued  # to match the result
            assert len(_results(phone, first)) == 0  # still held by the remote

            # many discards at once over ctl, each held by the frozen remote: all queued at once
            ids = [f"{900000 + n}-20260101T000000Z" for n in range(PENDING)]
            answers: dict[str, dict] = {}

            def discard(session_id: str) -> None:
                answers[session_id] = send(sock, {"cmd": "discard", "session": session_id}, 30)

            threads = [threading.Thread(target=discard, args=(i,)) for i in ids]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert sorted(answers) == sorted(ids)
            assert all(a["ok"] and a.get("queued") for a in answers.values()), answers
            began = time.monotonic()
            status = send(sock, {"cmd": "status"}, timeout=15)
            status_s = time.monotonic() - began
            assert status["ok"] and status["status"]["state"] != "recording"
            third = send(sock, {"cmd": "start"}, timeout=15)
            assert third["ok"], third
            assert send(sock, {"cmd": "mark"}, timeout=15)["ok"]
            assert send(sock, {"cmd": "stop"}, timeout=15)["ok"]
            print(  # the figures for the record (pytest -s)
                f"\nwith the remote frozen: phone mark answered in {mark_s:.2f} s, stop in "
                f"{stop_s:.2f} s; ctl status with {PENDING} discards pending in {status_s:.2f} s"
            )

            # the result of each job once the remote answers again: an event, and `job`
            os.kill(s3.proc.pid, signal.SIGCONT)

            wait_until(lambda: _results(phone, first), 90, "the discard's result")
            [done] = _results(phone, first)
            job = done["job"]
            assert job == queued["job"]
            assert done["ok"] is True and done["cmd"] == "discard"
            assert done["session_id"] == first
            assert done["message"].startswith(f"discarded {first}: local deleted from ")
            assert r.rec.store.find(first) is None
            asked = send(sock, {"cmd": "job", "job": job})
            assert asked["ok"] is True and asked["state"] == "done"
            assert asked["message"] == done["message"] and asked["discard"]["id"] == first


def _results(phone: Phone, session_id: str) -> list[dict]:
    """The `command` events that tell how a queued discard of the session ended."""
    return [
        e for e in phone.watcher.events()
        if e.get("event") == "command" and e.get("cmd") == "discard" and e.get("job")
        and e.get("session_id") == session_id and not e["message"].startswith("queued")
    ]  # fmt: skip
