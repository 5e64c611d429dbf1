"""MQTT with a real mosquitto (the box's shipped config) and the real recorder."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from recorder.adapters.control_socket import send
from recorder.adapters.rclone.client import Rclone
from recorder.app.daemon import Parts
from recorder.app.virtualmic import Feeder, demo_periods, random_periods
from recorder.core.formats import FORMATS
from recorder.core.recording.state import Start, Stop
from tests.mosquitto import Mosquitto
from tests.phone import Watcher, box_on_broker
from tests.rclone_server import CRYPT_REMOTE, S3Server, rclone_binary
from tests.rclone_server import write_config as rclone_config
from tests.support import Running, make_config, sox_raw, wait_until, write_config

S16 = FORMATS["S16_LE"]


def _mqtt_section(tmp_path, broker: Mosquitto) -> dict:
    return broker.recorder_section(tmp_path)


def _daemon(cfg_path, mic):
    return subprocess.Popen(
        [sys.executable, "-m", "recorder", "run", "--config", str(cfg_path)],
        env=mic.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_a_session_as_a_subscriber_sees_it_and_kill_9_shows_offline(tmp_path, own_mic, broker):
    watcher = Watcher(broker)
    cfg_path = write_config(
        tmp_path,
        device={"id": "box-1"},
        audio={"device": own_mic.name},
        mqtt=_mqtt_section(tmp_path, broker),
        warnings={"disk_minutes": 0},
    )
    feeder = Feeder(own_mic.infile, demo_periods("S16_LE", 48000, 2, 4800), 0.1)
    feeder.start()
    daemon = _daemon(cfg_path, own_mic)
    sock = tmp_path / "control.sock"
    try:
        wait_until(lambda: watcher.of("/availability") and watcher.states()[-1:] == ["idle"], 20)
        assert watcher.of("/availability")[-1] == (b"online", False)
        first = json.loads(watcher.of("/state")[0][0])  # subscribed before the daemon started
        assert first["disk_free_mb"] > 0 and first["hours_left"] > 0  # real figures from the first
        send(sock, {"cmd": "start"})
        wait_until(lambda: "recording" in watcher.states(), 10)
        time.sleep(1.5)
        send(sock, {"cmd": "mark", "label": "over MQTT"})
        time.sleep(1.0)
        send(sock, {"cmd": "stop"})
        wait_until(lambda: any(e["event"] == "session_finalized" for e in watcher.events()), 10)
        wait_until(lambda: watcher.states()[-1] == "idle", 10)
        levels = [json.loads(p) for p, _ in watcher.of("/level")]
        assert len(levels) >= 6  # about four a second while recording
        assert all(lv["peak_dbfs"] == [-12.0, -12.0] for lv in levels)
        assert [lv["elapsed_s"] for lv in levels] == sorted(lv["elapsed_s"] for lv in levels)
        states = watcher.states()
        first_rec = states.index("recording")
        assert "idle" in states[:first_rec] and states[-1] == "idle"
        names = [e["event"] for e in watcher.events() if e["event"] != "command"]
        assert names == ["session_started", "marker", "session_stopped", "session_finalized"]
        marker = next(e for e in watcher.events() if e["event"] == "marker")
        assert marker["label"] == "over MQTT" and marker["source"] == "ctl"
        retained = broker.client(broker.admin)
        got = []
        retained.on_message = lambda _c, _u, m: got.append((m.topic, m.retain))
        retained.subscribe("session-recorder/box-1/+", qos=1)
        wait_until(lambda: len(got) >= 2, 5)
        assert {t.rsplit("/", 1)[1] for t, r in got if r} == {"availability", "state"}

        watcher.clear()
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(10)
        wait_until(lambda: watcher.of("/availability"), 60, "the Last Will")
        assert watcher.of("/availability")[-1][0] == b"offline"
    finally:
        if daemon.poll() is None:
            daemon.kill()
        feeder.stop()


def test_commands_over_mqtt_and_garbage_changes_nothing(tmp_path, mic, broker):
    watcher = Watcher(broker)
    cfg, feeder = box_on_broker(tmp_path, mic, broker)
    with Running(cfg, feeder) as r:
        wait_until(lambda: r.rec.mqtt.connected, 10)
        r.wait_frames(48000)
        phone = broker.client(broker.dashboard)
        cmd = broker.topic("cmd")
        garbage = [
            b"explode",
            b"\xff\xfe\x00",
            b"[1, 2]",
            b'{"cmd": "start", "as": "root"}',
            b'{"cmd": "mark", "label": 5}',
            b'{"cmd": "discard", "session": "../../etc"}',
            b"{" * 5000,
            b"",
        ]
        for payload in garbage:
            phone.publish(cmd, payload, qos=1)
        phone.publish(broker.topic("cmd", "box-2"), "start", qos=1)  # not its box: ACL
        phone.publish("session-recorder/box-1/command", "start", qos=1)  # not the cmd topic
        wait_until(lambda: len([e for e in watcher.events() if e["event"] == "error"]) >= 8, 10)
        assert r.rec.controller.status()["state"] == "idle"
        assert r.rec.store.sessions() == []
        [(last, _)] = watcher.of("/state")[-1:]
        assert json.loads(last)["sharing"] == {
            "enabled": False,
            "message": "sharing is off: no [share] remote is configured on this box",
        }

        phone.publish(cmd, "start", qos=1)
        wait_until(lambda: r.rec.controller.status()["state"] == "recording", 10)
        r.wait_session_frames(r.rec.tap.session_frames + 24000)
        phone.publish(cmd, json.dumps({"cmd": "mark", "label": "from the phone"}), qos=1)
        phone.publish(cmd, "mark", qos=1)
        wait_until(lambda: r.rec.controller.state.ack >= 2, 10)
        phone.publish(cmd, "stop", qos=1)
        sid = r.rec.controller.tap_session_id
        session = r.wait_outbox(sid)
    markers = session.manifest.markers
    assert [(k.label, k.source) for k in markers] == [("from the phone", "mqtt"), ("", "mqtt")]
    assert session.manifest.start_source == "mqtt"
    results = [e for e in watcher.events() if e["event"] == "command"]
    assert [(e["cmd"], e["ok"]) for e in results] == [
        ("start", True),
        ("mark", True),
        ("mark", True),
        ("stop", True),
    ]


def test_broker_restart_during_a_session_changes_nothing_and_state_comes_back(
    tmp_path, mic, broker
):
    cfg, feeder = box_on_broker(tmp_path, mic, broker)
    with Running(cfg, feeder) as r:
        wait_until(lambda: r.rec.mqtt.connected, 10)
        r.wait_frames(48000)
        started = r.request(Start())
        r.wait_session_frames(48000)
        broker.stop()
        wait_until(lambda: not r.rec.mqtt.connected, 10)
        before = r.rec.tap.session_frames
        r.wait_session_frames(before + 96000)  # recording goes on without the broker
        broker.start()
        wait_until(lambda: r.rec.mqtt.connected, 40, "reconnect")
        late = Watcher(broker, topics=("session-recorder/#",))
        wait_until(lambda: "recording" in late.states(), 10, "state re-published")
        assert late.of("/availability")[-1][0] == b"online"
        r.request(Stop())
        session = r.wait_outbox(started["session_id"])
    m = session.manifest
    assert m.gaps == [] and m.stop_reason == "requested"
    fb = S16.frame_bytes(2)
    want = bytes(feeder.recorded[m.start_pos * fb : (m.start_pos + m.frames) * fb])
    assert sox_raw([str(session.path / s.file) for s in m.segments]) == want


def test_discovery_is_sent_again_when_home_assistant_comes_online(tmp_path, mic, broker):
    cfg, feeder = box_on_broker(tmp_path, mic, broker)
    with Running(cfg, feeder) as r:
        wait_until(lambda: r.rec.mqtt.connected, 10)
        watcher = Watcher(broker, topics=("homeassistant/+/+/+/config",))
        wait_until(lambda: len(watcher.messages) >= 10, 10, "retained discovery")
        watcher.clear()
        broker.client(broker.admin).publish("homeassistant/status", "online", qos=1)
        wait_until(lambda: len(watcher.messages) >= 10, 10, "discovery again")
        configs = {t: json.loads(p) for t, p, _ in watcher.messages}
    assert all(
        c["availability_topic"] == "session-recorder/box-1/availability" for c in configs.values()
    )
    assert len({c["unique_id"] for c in configs.values()}) == 10


def test_no_broker_at_all_never_touches_recording(tmp_path, mic):
    cfg = make_config(tmp_path, mqtt={"host": "127.0.0.1", "port": 1}, warnings={"disk_minutes": 0})
    feeder = Feeder(mic.infile, random_periods(S16, 2, 4800, None), 0.05)
    with Running(cfg, feeder) as r:
        r.wait_frames(24000)
        started = r.request(Start())
        assert started["ok"]
        r.wait_session_frames(48000)
        r.request(Stop())
        r.wait_outbox(started["session_id"])
        assert not r.rec.mqtt.connected


def test_a_missing_password_file_never_stops_recording_and_is_read_once_it_appears(
    tmp_path, mic, broker, caplog
):
    """A box from an image makes its broker password at first boot: until the file is there the
    recorder records (and says why MQTT is down), and it logs in as soon as the file appears."""
    section = _mqtt_section(tmp_path, broker)
    pw = tmp_path / "mqtt.pass"
    pw.unlink()
    cfg = make_config(tmp_path, device={"id": "box-1"}, mqtt=section, warnings={"disk_minutes": 0})
    feeder = Feeder(mic.infile, random_periods(S16, 2, 4800, None), 0.05)
    with Running(cfg, feeder) as r:
        r.wait_frames(24000)
        started = r.request(Start())
        assert started["ok"]
        r.wait_session_frames(48000)
        assert not r.rec.mqtt.connected
        assert f"password_file {pw} cannot be read" in caplog.text
        watcher = Watcher(broker, topics=("session-recorder/#",))
        pw.write_text(broker.recorder.password + "\n")
        wait_until(lambda: r.rec.mqtt.connected, 40, "connected once the file is there")
        wait_until(lambda: "recording" in watcher.states(), 10, "state published")
        r.request(Stop())
        session = r.wait_outbox(started["session_id"])
    assert session.manifest.gaps == []


def test_fleet_lists_every_box_under_the_prefix(tmp_path, mic, broker):
    cfg, feeder = box_on_broker(tmp_path, mic, broker)
    other = broker.client(broker.admin)  # a second box, as its retained messages look
    other.publish(broker.topic("availability", "box-2"), "offline", qos=1, retain=True)
    other.publish(
        broker.topic("state", "box-2"),
        json.dumps({"state": "idle", "elapsed_s": 0, "warnings": [], "upload": {"queue": 3}}),
        qos=1,
        retain=True,
    )
    with Running(cfg, feeder) as r:
        wait_until(lambda: r.rec.mqtt.connected, 10)
        r.wait_frames(24000)
        r.request(Start())
        time.sleep(1.5)
        pw = tmp_path / "fleet.pass"
        pw.write_text(broker.fleet.password)
        done = subprocess.run(
            [sys.executable, "-m", "recorder", "fleet", "--broker", f"127.0.0.1:{broker.port}",
             "--username", broker.fleet.username, "--password-file", str(pw), "--once", "2"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        r.request(Stop())
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()[1:]}
    assert rows["box-1"][1:3] == ["yes", "recording"]
    assert rows["box-2"][1:3] == ["no", "offline"] and rows["box-2"][4] == "3"


def test_a_subscriber_hears_uploaded_then_verified_from_the_real_s3(tmp_path, mic, broker):
    """The two upload events of one session, through a real mosquitto, for an upload to the real
    loopback S3: "uploaded" when the files arrived, "verified" once rclone checked them; after
    the second, the retained state's `recent` says verified too."""
    watcher = Watcher(broker, topics=("session-recorder/#",))
    with S3Server(tmp_path / "s3") as s3:
        conf = rclone_config(tmp_path / "rclone.conf", s3)
        cfg = make_config(
            tmp_path,
            device={"id": "box-1"},
            mqtt=_mqtt_section(tmp_path, broker),
            upload={"remote": f"{CRYPT_REMOTE}:box-1", "rclone_config": str(conf)},
            warnings={"disk_minutes": 0},
        )
        flags = ["--retries=1", "--contimeout=2s", "--timeout=10s", "--transfers=1"]
        parts = Parts(remote=Rclone(conf, rclone_binary(), None, flags))
        feeder = Feeder(mic.infile, random_periods(S16, 2, 4800, None, seed=3), 0.02)
        with Running(cfg, feeder, parts) as r:
            wait_until(lambda: r.rec.mqtt.connected, 10)
            r.wait_frames(48000)
            sid = r.request(Start())["session_id"]
            r.wait_session_frames(2 * 48000)
            r.request(Stop())

            def said(name: str) -> dict | None:
                return next(
                    (e for e in watcher.events() if e["event"] == name and e["session_id"] == sid),
                    None,
                )

            verified = wait_until(lambda: said("session_verified"), 120, "session_verified")

            def recent_status() -> str | None:
                states = [json.loads(p) for p, _ in watcher.of("/state")]
                listed = [s for s in states[-1]["recent"] if s["id"] == sid] if states else []
                return listed[0]["upload_status"] if listed else None

            wait_until(lambda: recent_status() == "verified", 10, "recent: verified")
    names = [e["event"] for e in watcher.events() if e["event"].startswith("session_")]
    assert names == [
        "session_started",
        "session_stopped",
        "session_finalized",
        "session_uploaded",
        "session_verified",
    ]
    uploaded = said("session_uploaded")
    assert uploaded is not None
    assert verified["remote"] == uploaded["remote"] == f"{CRYPT_REMOTE}:box-1/{sid}"
    assert verified["ts"] >= uploaded["ts"]
