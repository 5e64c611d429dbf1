"""Hostile and unlucky input over MQTT, from the phone's own `dashboard` account on the listener a
client on the LAN reaches (websockets), against the real recorder and the box's shipped mosquitto
config: nothing sent may take the coach's control of the box away (issue 20)."""

from __future__ import annotations

import json
import logging
import os
import shutil

import paho.mqtt.client as mqtt
import pytest

from recorder.adapters.mqtt import (
    CLIENT_ID_FILE,
    COMMANDS_PER_S,
    DROPPED,
    MAX_PAYLOAD,
    MqttLink,
)
from recorder.config import MqttSection
from recorder.core.recording.state import Start, Stop
from tests.mosquitto import HOST, Mosquitto
from tests.phone import Watcher, box_on_broker
from tests.support import Running, wait_until


def _phone(broker: Mosquitto, **kw) -> mqtt.Client:
    """Someone with the phone page's login, on the listener the LAN reaches."""
    return broker.client(broker.dashboard, websockets=True, **kw)


def _errors(watcher: Watcher) -> list[dict]:
    return [e for e in watcher.events() if e["event"] == "error"]


def _answers(watcher: Watcher, cmd: str) -> list[dict]:
    return [e for e in watcher.events() if e["event"] == "command" and e["cmd"] == cmd]


def _accounted_errors(watcher: Watcher) -> int:
    """Bad messages told: one by one, or counted in the summary of their second."""
    return sum(e.get("unanswered", 1) for e in _errors(watcher))


def _start(r, phone: mqtt.Client, broker: Mosquitto, watcher: Watcher) -> str:
    phone.publish(broker.topic("cmd"), "start", qos=1)
    wait_until(lambda: r.rec.controller.tap_session_id, 10, "recording")
    wait_until(lambda: _answers(watcher, "start"), 10, "the answer to start")
    return r.rec.controller.tap_session_id


def _again(tmp_path, mic, broker: Mosquitto, cfg) -> tuple:
    """The next run of the recorder `cfg` was (config and feeder for Running): in this process
    the storage lock is held until the process ends, so the next run gets a storage dir of its
    own, with the client id the first kept."""
    folder = tmp_path / "again"
    (folder / "sessions").mkdir(parents=True)
    kept = cfg.storage.dir / CLIENT_ID_FILE
    shutil.copy2(kept, folder / "sessions" / CLIENT_ID_FILE)
    return box_on_broker(folder, mic, broker)


def _retained_on(broker: Mosquitto, topic: str) -> list[bytes]:
    """What a fresh subscriber gets retained on `topic`: the broker sends retained messages as
    it takes the subscription, so they all come before a probe published after it."""
    got: list[tuple[str, bytes, bool]] = []
    c = broker.client(broker.admin)
    c.on_message = lambda _c, _u, m: got.append((m.topic, m.payload, m.retain))
    probe = f"tests/probe/{os.getpid()}-{id(got)}"
    c.subscribe([(topic, 1), (probe, 1)])
    c.publish(probe, "after", qos=1)
    wait_until(lambda: any(t == probe for t, _, _ in got), 10, "the probe")
    c.disconnect()
    c.loop_stop()
    return [p for t, p, retained in got if t == topic and retained]


def test_a_lone_surrogate_is_refused_with_a_clean_error_and_stop_still_stops(tmp_path, mic, broker):
    """Point 1: the label that ended the command thread is answered with an error, as often as
    it is sent, and the phone's stop still stops the session."""
    watcher = Watcher(broker, topics=("session-recorder/#",))
    cfg, feeder = box_on_broker(tmp_path, mic, broker)
    with Running(cfg, feeder) as r:
        wait_until(lambda: r.rec.mqtt.connected, 10)
        r.wait_frames(48000)
        phone = _phone(broker)
        cmd = broker.topic("cmd")
        sid = _start(r, phone, broker, watcher)
        phone.publish(cmd, json.dumps({"cmd": "mark", "label": "goal"}), qos=1)
        wait_until(lambda: _answers(watcher, "mark"), 10, "the mark's answer")
        bad = [
            '{"cmd": "label_marker", "session": "' + sid + '", "marker": 1, "label": "x\\ud800"}',
            '{"cmd": "mark", "label": "y\\udfff"}',
            b'{"cmd": "mark", "label": "\xed\xa0\x80"}',  # a surrogate encoded as if UTF-8
        ]
        for payload in bad * 6:  # more than the command queue ever held
            phone.publish(cmd, payload, qos=1)
        wait_until(lambda: _accounted_errors(watcher) >= 18, 20, "18 errors")
        phone.publish(cmd, "stop", qos=1)
        session = r.wait_outbox(sid)
    said = [e["message"] for e in _errors(watcher) if "unanswered" not in e]
    assert said and all("surrogate" in m or "not UTF-8" in m for m in said), said
    assert [(k.label, k.source) for k in session.manifest.markers] == [("goal", "mqtt")]
    assert [a["ok"] for a in _answers(watcher, "stop")] == [True]


def test_deeply_nested_json_is_refused_and_the_box_keeps_serving(tmp_path, mic, broker):
    """Point 2: nesting that made json.loads raise RecursionError on paho's thread is refused
    before parsing; the state goes on being published, stop stops, shutdown is clean."""
    watcher = Watcher(broker, topics=("session-recorder/#",))
    cfg, feeder = box_on_broker(tmp_path, mic, broker)
    with Running(cfg, feeder) as r:
        wait_until(lambda: r.rec.mqtt.connected, 10)
        r.wait_frames(48000)
        phone = _phone(broker)
        cmd = broker.topic("cmd")
        sid = _start(r, phone, broker, watcher)
        deep_label = b'{"cmd": "mark", "label": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
        phone.publish(cmd, deep_label, qos=1)
        phone.publish(cmd, b"[" * 60_000, qos=1)
        phone.publish(cmd, b'{"a":' * 10_000 + b"1" + b"}" * 10_000, qos=1)
        wait_until(lambda: len(_errors(watcher)) >= 3, 20, "three errors")
        assert all("nested more than" in e["message"] for e in _errors(watcher))
        published = len(watcher.of("/state"))
        wait_until(lambda: len(watcher.of("/state")) >= published + 3, 20, "state goes on")
        phone.publish(cmd, "stop", qos=1)
        session = r.wait_outbox(sid)
    # Running's exit is the daemon's SIGTERM path (Recorder.shutdown): it did not raise
    assert session.manifest.stop_reason == "requested"
    wait_until(lambda: watcher.of("/availability")[-1][0] == b"offline", 10, "a clean offline")


def test_a_retained_command_is_never_acted_on_and_is_cleared(tmp_path, mic, broker):
    """Point 3: `start` published with retain, while the recorder is connected and while it is
    away, never starts a recording; the box answers that it must be sent without retain and
    clears it, and a command sent while the recorder was away is not kept for it either."""
    watcher = Watcher(broker, topics=("session-recorder/#",))
    cmd = broker.topic("cmd")
    phone = _phone(broker)
    cfg, feeder = box_on_broker(tmp_path, mic, broker)
    with Running(cfg, feeder) as r:
        wait_until(lambda: r.rec.mqtt.connected, 10)
        r.wait_frames(24000)
        phone.publish(cmd, "start", qos=1, retain=True)
        wait_until(lambda: _errors(watcher), 10, "the refusal")
        wait_until(lambda: _retained_on(broker, cmd) == [], 10, "the retained start cleared")
        assert r.rec.controller.status()["state"] == "idle"
    assert "publish it without retain" in _errors(watcher)[0]["message"]

    # the recorder is away: one retained and one plain start wait for it (as they would over a
    # broker restart with persistence, or a reboot of the box)
    phone.publish(cmd, json.dumps({"cmd": "start"}), qos=1, retain=True)
    phone.publish(cmd, "start", qos=1)
    assert _retained_on(broker, cmd) == [b'{"cmd": "start"}']
    watcher.clear()
    cfg, feeder = _again(tmp_path, mic, broker, cfg)
    with Running(cfg, feeder) as r:
        wait_until(lambda: r.rec.mqtt.connected, 10)
        wait_until(lambda: _errors(watcher), 10, "the refusal after the restart")
        wait_until(lambda: _retained_on(broker, cmd) == [], 10, "cleared after the restart")
        phone.publish(cmd, "status", qos=1)  # not allowed over MQTT: answered after the rest
        wait_until(lambda: len(_errors(watcher)) >= 2, 10, "the probe's error")
        r.wait_frames(r.rec.tap.position + 24000)
        assert r.rec.controller.status()["state"] == "idle"
        assert r.rec.store.sessions() == []
    said = [e["message"] for e in _errors(watcher)]
    assert len(said) == 2 and "publish it without retain" in said[0]
    assert said[1] == "bad command: command 'status' is not allowed over MQTT on this box"
    assert _answers(watcher, "start") == []


def test_big_commands_are_dropped_by_the_broker_or_answered_briefly(tmp_path, mic, broker, caplog):
    """Point 6: twenty 1 MB commands are dropped by the broker (message_size_limit, also on
    websockets); ten of 100 KB, under the broker's cap, get short errors from the recorder. No
    event is larger than a kilobyte and the log grows by a few lines."""
    caplog.set_level(logging.INFO, logger="recorder")
    watcher = Watcher(broker, topics=("session-recorder/#",))
    cfg, feeder = box_on_broker(tmp_path, mic, broker)
    with Running(cfg, feeder) as r:
        wait_until(lambda: r.rec.mqtt.connected, 10)
        before = sum(len(rec.getMessage()) for rec in caplog.records)
        # MQTT 3.1.1: the broker drops an oversized message without a word to the sender (an
        # MQTT 5 paho client would take the broker's refusal as a protocol error)
        big = _phone(broker, protocol=mqtt.MQTTv311)
        cmd = broker.topic("cmd")
        for _ in range(20):
            big.publish(cmd, b'{"cmd": "mark", "label": "' + b"A" * 1_000_000 + b'"}', qos=1)
        for _ in range(10):
            big.publish(cmd, b'{"cmd": "mark", "label": "' + b"B" * 100_000 + b'"}', qos=1)
        wait_until(lambda: _accounted_errors(watcher) >= 10, 20, "ten errors")
        wait_until(lambda: broker.log_text().count("Dropped too large PUBLISH") >= 20, 20)
        assert r.rec.mqtt.connected
        assert b"offline" not in [p for p, _ in watcher.of("/availability")]
        grown = sum(len(rec.getMessage()) for rec in caplog.records) - before
    sizes = [len(p) for p, _ in watcher.of("/event")]
    assert max(sizes) < 1024, sizes
    assert _accounted_errors(watcher) == 10
    said = [e["message"] for e in _errors(watcher) if "unanswered" not in e]
    assert all("at most 65536 are read" in m for m in said), said
    assert grown < 4096, grown


def test_the_dashboard_cannot_take_the_recorders_connection_over(tmp_path, mic, broker):
    """Point 5: the recorder's client id is a secret kept in the storage dir (0600), not
    `session-recorder-<id>`: a `dashboard` client holding that name for several seconds
    disconnects no one, the phone never sees `offline`, and every marker sent meanwhile is
    recorded. Nothing the dashboard may read carries the real id."""
    watcher = Watcher(broker, topics=("session-recorder/#",))
    snoop: list[tuple[str, bytes]] = []  # appended by paho's thread, read once it is over
    cfg, feeder = box_on_broker(tmp_path, mic, broker)
    with Running(cfg, feeder) as r:
        wait_until(lambda: r.rec.mqtt.connected, 10)
        r.wait_frames(24000)
        kept = cfg.storage.dir / "mqtt-client-id"
        secret = r.rec.mqtt.client_id
        assert kept.read_text().strip() == secret
        assert kept.stat().st_mode & 0o777 == 0o600
        assert secret.startswith("session-recorder-box-1-") and len(secret) >= 48

        phone = _phone(broker)
        reader = _phone(broker)
        reader.on_message = lambda _c, _u, m: snoop.append((m.topic, m.payload))
        reader.subscribe([("#", 1), ("$SYS/#", 1)])
        sid = _start(r, phone, broker, watcher)
        flips = len(watcher.of("/availability"))
        thief = _phone(broker, client_id="session-recorder-box-1")  # reconnects when dropped
        for n in range(10):
            phone.publish(broker.topic("cmd"), json.dumps({"cmd": "mark", "label": f"m{n}"}), 1)
            wait_until(lambda n=n: len(_answers(watcher, "mark")) > n, 10, f"mark {n}")
        states = len(watcher.of("/state"))
        wait_until(lambda: len(watcher.of("/state")) >= states + 4, 20, "several seconds more")
        assert thief.is_connected() and r.rec.mqtt.connected
        assert watcher.of("/availability")[flips:] == []
        phone.publish(broker.topic("cmd"), "stop", qos=1)
        session = r.wait_outbox(sid)
        reader.disconnect()
        reader.loop_stop()
    assert [k.label for k in session.manifest.markers] == [f"m{n}" for n in range(10)]
    assert all(a["ok"] for a in _answers(watcher, "mark"))
    assert snoop and not [t for t, p in snoop if secret.encode() in p or secret in t]


def test_a_restart_ends_the_stale_connection_and_the_box_stays_online(tmp_path, mic, broker):
    """The kept id across a restart: a connection of the previous run still open at the broker
    (a network that died without closing it) is taken over at once, its Will `offline` comes
    before the new `online`, and nothing says `offline` afterwards."""
    cfg, feeder = box_on_broker(tmp_path, mic, broker)
    with Running(cfg, feeder) as r:
        wait_until(lambda: r.rec.mqtt.connected, 10)
        secret = r.rec.mqtt.client_id
    availability = broker.topic("availability")
    stale = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=secret,
        protocol=mqtt.MQTTv5,
        reconnect_on_failure=False,
    )
    stale.username_pw_set(broker.recorder.username, broker.recorder.password)
    stale.will_set(availability, "offline", qos=1, retain=True)
    stale.connect(HOST, broker.port, keepalive=5)
    stale.loop_start()
    try:
        wait_until(stale.is_connected, 10, "the stale connection")
        stale.publish(availability, "online", qos=1, retain=True).wait_for_publish(5)
        watcher = Watcher(broker, topics=(availability, broker.topic("state")))
        wait_until(lambda: watcher.of("/availability"), 10, "the retained online")
        cfg, feeder = _again(tmp_path, mic, broker, cfg)
        with Running(cfg, feeder) as r:
            wait_until(lambda: r.rec.mqtt.connected, 10)
            assert r.rec.mqtt.client_id == secret
            wait_until(lambda: not stale.is_connected(), 10, "the stale one taken over")
            r.wait_frames(24000)
            states = len(watcher.of("/state"))
            # states every second while recording: the stale keepalive (5 s) runs out meanwhile
            assert r.request(Start())["ok"]
            wait_until(lambda: len(watcher.of("/state")) >= states + 10, 30, "ten more states")
            said = [p for p, _ in watcher.of("/availability")]
    finally:
        stale.loop_stop()
    assert said == [b"online", b"offline", b"online"]


def test_a_burst_of_2000_messages_every_valid_command_is_done_or_answered(tmp_path, mic, broker):
    """Point 9a: 2000 messages at once from the dashboard, one in twelve a valid mark: every
    mark is recorded or answered "dropped" (recorded + dropped == sent), and every bad message
    is answered or counted in a summary."""
    watcher = Watcher(broker, topics=(broker.topic("event"),))
    cfg, feeder = box_on_broker(tmp_path, mic, broker)
    garbage = [
        b"explode",
        b"\xff\xfe\x00",
        b"[1, 2]",
        b'{"cmd": "mark", "label": 5}',
        b'{"cmd": "discard", "session": "../../etc"}',
        b"[" * 100,
        b"",
        b'{"cmd": "mark", "label": "x\\ud800"}',
    ]
    with Running(cfg, feeder) as r:
        wait_until(lambda: r.rec.mqtt.connected, 10)
        r.wait_frames(24000)
        sid = r.request(Start())["session_id"]
        r.wait_session_frames(4800)
        attacker = _phone(broker)
        cmd = broker.topic("cmd")
        valid = bad = 0
        for n in range(2000):
            if n % 12 == 0:
                attacker.publish(cmd, json.dumps({"cmd": "mark", "label": f"m{n}"}), qos=1)
                valid += 1
            else:
                attacker.publish(cmd, garbage[n % len(garbage)], qos=1)
                bad += 1
        wait_until(lambda: len(_answers(watcher, "mark")) >= valid, 120, f"{valid} answers")
        wait_until(lambda: _accounted_errors(watcher) >= bad, 60, f"{bad} errors told")
        r.request(Stop())
        stored = r.wait_outbox(sid)
    answers = _answers(watcher, "mark")
    done = [a for a in answers if a["ok"]]
    dropped = [a for a in answers if not a["ok"]]
    recorded = [k for k in stored.manifest.markers if k.source == "mqtt"]
    assert len(answers) == valid == 167
    assert len(recorded) == len(done) >= 20
    assert len(recorded) + len(dropped) == valid
    assert {a["message"] for a in dropped} == {DROPPED}
    assert _accounted_errors(watcher) == bad
    assert f"at most {COMMANDS_PER_S:g} a second" in DROPPED


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_command_that_fails_is_answered_and_a_thread_that_dies_anyway_comes_back(
    tmp_path, mic, broker
):
    """Supervision: a command whose handler raises is answered ok:false; a command thread and
    paho's network thread ended by what nothing catches (SystemExit, injected: no input can
    cause it any more) are started again within a second and reported; the phone's commands
    work after each."""
    watcher = Watcher(broker, topics=("session-recorder/#",))
    cfg, feeder = box_on_broker(tmp_path, mic, broker)
    told: list[tuple[str, str]] = []
    with Running(cfg, feeder) as r:
        wait_until(lambda: r.rec.mqtt.connected, 10)
        r.wait_frames(24000)
        link = r.rec.mqtt
        link.restarted = lambda name, why: told.append((name, why))
        real = link.dispatch
        faults = [RuntimeError("a bug"), SystemExit("gone")]

        def faulty(event):
            if faults:
                raise faults.pop(0)
            return real(event)

        link.dispatch = faulty
        phone = _phone(broker)
        cmd = broker.topic("cmd")
        phone.publish(cmd, "upload", qos=1)
        wait_until(lambda: _answers(watcher, "upload"), 10, "the failed command's answer")
        phone.publish(cmd, "upload", qos=1)  # ends the command thread
        wait_until(lambda: told, 10, "the restart of the command thread")
        sid = _start(r, phone, broker, watcher)

        handler = link.client.on_message

        def killer(client, userdata, msg):
            link.client.on_message = handler
            raise SystemExit("paho gone")

        link.client.on_message = killer
        phone.publish(cmd, json.dumps({"cmd": "mark", "label": "lost or late"}), qos=1)
        wait_until(lambda: len(told) >= 2, 10, "the restart of paho's thread")
        phone.publish(cmd, json.dumps({"cmd": "mark", "label": "after"}), qos=1)
        wait_until(lambda: any(a.get("ok") for a in _answers(watcher, "mark")), 10, "a mark after")
        phone.publish(cmd, "stop", qos=1)
        session = r.wait_outbox(sid)
        assert link.connected
    failed = _answers(watcher, "upload")[0]
    assert not failed["ok"] and "RuntimeError" in failed["message"]
    assert told == [
        ("mqtt-commands", "SystemExit: gone"),
        ("mqtt-network", "paho's network loop ended"),
    ]
    assert "after" in [k.label for k in session.manifest.markers]
    assert [a["ok"] for a in _answers(watcher, "stop")] == [True]


def test_the_largest_state_fits_what_the_broker_takes(tmp_path, broker):
    """Ten recent sessions with 4000-character notes in Japanese and 50 long markers each make
    a 500 KB state: the shipped broker would drop it (and the recorder's MQTT 5 client would be
    disconnected by the refusal at every reconnect). The recorder leaves the oldest sessions
    out instead, says how many, and stays connected."""

    def session(n: int) -> dict:
        return {
            "id": f"{n:06d}-20260101T000000Z",
            "state": "uploaded",
            "details": {"client": "Kim", "notes": "議事録" * 1333},
            "markers": [
                {"n": k, "seconds": k * 10.0, "label": "目標" * 100, "edited": False}
                for k in range(1, 51)
            ],
        }

    recent = [session(n) for n in range(1, 11)]
    assert len(json.dumps(recent)) > 2 * MAX_PAYLOAD
    watcher = Watcher(broker, topics=("session-recorder/#",))
    cfg = MqttSection(**broker.recorder_section(tmp_path))
    link = MqttLink(
        cfg,
        "box-1",
        status=lambda: {"state": "idle", "device_id": "box-1", "warnings": []},
        recent=lambda: recent,
        dispatch=lambda event: {"ok": False, "message": "not here"},
        client_id_file=tmp_path / "sessions" / "mqtt-client-id",
    )
    link.start()
    try:
        wait_until(lambda: watcher.of("/state"), 20, "a state")
        raw = watcher.of("/state")[-1][0]
        state = json.loads(raw)
        assert link.connected
    finally:
        link.stop()
    kept = [s["id"] for s in state["recent"]]
    assert len(raw) <= MAX_PAYLOAD
    assert kept == [s["id"] for s in recent[-len(kept) :]] and 1 <= len(kept) < 10
    assert state["recent_left_out"] == 10 - len(kept)
    wait_until(lambda: len(watcher.of("/availability")) >= 2, 10, "offline at the stop")
    assert [p for p, _ in watcher.of("/availability")] == [b"online", b"offline"]
