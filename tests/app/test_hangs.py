"""Outside parts that hang for real (SIGSTOP of the server process: its sockets stay open and
answer nothing) never stop the box from answering and recording.

The audio device's hangs are in tests/recording/test_device_faults.py, a stalled disk in
tests/recording/test_stalled_start.py and bench/stall.py.
"""

from __future__ import annotations

import json
import os
import signal
import time

from recorder.adapters.control_socket import send
from recorder.adapters.rclone.client import Rclone
from recorder.app.daemon import Parts
from recorder.app.virtualmic import Feeder, random_periods
from recorder.core.formats import FORMATS
from tests.mosquitto import Mosquitto
from tests.rclone_server import CRYPT_REMOTE, S3Server, rclone_binary, write_config
from tests.support import Running, make_config, wait_until

S16 = FORMATS["S16_LE"]


def _feeder(mic) -> Feeder:
    return Feeder(mic.infile, random_periods(S16, 2, 4800, None, seed=11), 0.05)


def _answers_quickly(sock, times: int = 10) -> list[dict]:
    """ctl status, again and again: each must come back within a second."""
    out = []
    for _ in range(times):
        began = time.monotonic()
        answer = send(sock, {"cmd": "status"}, timeout=5)
        assert answer["ok"] and time.monotonic() - began < 1.0
        out.append(answer["status"])
        time.sleep(0.2)
    return out


def test_a_remote_that_hangs_mid_upload_leaves_the_box_answering_and_recording(
    tmp_path, mic, frozen
):
    with S3Server(tmp_path / "s3") as s3:
        conf = write_config(tmp_path / "rclone.conf", s3)
        cfg = make_config(
            tmp_path,
            upload={"remote": f"{CRYPT_REMOTE}:box", "rclone_config": str(conf)},
            warnings={"disk_minutes": 0},
        )
        # rclone's own idle timeout (minutes) is left as shipped: the transfer hangs for real.
        remote = Rclone(conf, rclone_binary(), None, ["--transfers=1"])
        with Running(cfg, _feeder(mic), Parts(remote=remote)) as r:
            sock = cfg.socket_path
            frozen(s3.proc.pid)
            first = r.record(1.0)
            wait_until(
                lambda: r.rec.outbox.status().get("current") == first, 30, "the upload hanging"
            )
            statuses = _answers_quickly(sock)
            assert all(s["upload"]["current"] == first for s in statuses)
            second = r.record(1.0)  # the writer and the controller are not held up either
            r.wait_outbox(second)
            _answers_quickly(sock, 3)
            os.kill(s3.proc.pid, signal.SIGCONT)

            def verified():
                done = {s.id for s in r.rec.store.sessions("uploaded")}
                return {first, second} <= done and all(
                    s.manifest.upload.status == "verified" for s in r.rec.store.sessions("uploaded")
                )

            wait_until(verified, 120, "both sessions verified once the remote answers")


def test_a_broker_that_hangs_leaves_the_box_answering_and_recording(tmp_path, mic, frozen):
    broker = Mosquitto(tmp_path, device_id="test-box").start()
    try:
        mqtt = {**broker.recorder_section(tmp_path), "keepalive_s": 5}
        cfg = make_config(tmp_path, mqtt=mqtt, warnings={"disk_minutes": 0})
        states: list[dict] = []
        watcher = broker.client(broker.admin)
        watcher.on_message = lambda _c, _u, msg: states.append(json.loads(msg.payload))
        watcher.subscribe(broker.topic("state"), qos=1)
        with Running(cfg, _feeder(mic)) as r:
            wait_until(lambda: states, 20, "the first state")
            frozen(broker.proc.pid)
            sid = r.record(3.0)  # levels four times a second, events, state every second
            r.wait_outbox(sid)
            _answers_quickly(cfg.socket_path)
            os.kill(broker.proc.pid, signal.SIGCONT)
            # paho gives up on the frozen connection (keepalive) or gets through once thawed;
            # either way the box's state reaches the subscriber again.
            states.clear()
            wait_until(lambda: any(s["state"] == "idle" for s in states), 60, "state again")
        watcher.loop_stop()
        watcher.disconnect()
    finally:
        broker.close()
