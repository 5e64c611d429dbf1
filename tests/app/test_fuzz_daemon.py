"""End-to-end fuzz: hostile and unlucky MQTT input from the phone's account, against the running
recorder, through a real mosquitto with the box's shipped config and ACL.

Someone on the LAN with the `dashboard` login (or the page open) can publish anything to the
box's command topic, over the WebSockets listener that is the only one reachable off the box.
While a session records from the virtual microphone, a seeded generator sends thousands of
messages: random bytes and JSON, deep nesting, messages up to 1 MB, lone surrogates (as JSON
escapes and as raw bad UTF-8), non-ASCII digits in session ids, valid commands mutated, valid
harmless commands, retained messages, QoS 0 and 1 — never a valid `stop`. Afterwards the coach
must still be in control:

  (a) no command is left retained on the cmd topic (a reconnect would replay it);
  (b) every thread the recorder had is alive, the state is still published (a fresh state after
      the fuzz), and availability and state are the recorder's own;
  (c) `ctl status` answers;
  (d) a plain `stop` from the phone stops the session, whose audio is sample-exact;
  (e) the log is not flooded;
  (f) no session was started by a fuzzed or retained message;
  (g) every mark the box answered `ok` to is in the recording;
  (h) every valid command sent (not retained) is answered: done, refused or dropped, never
      silence (of those the box takes over MQTT: `status` is not one).

Every check is made and all failures are reported together. The seed and the counts are
printed. `SESSION_RECORDER_FUZZ_SECONDS` makes a longer run (default 20 s of fuzzing, about 25 s
in all when the box holds up); `SESSION_RECORDER_FUZZ_SEED` another seed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest

from recorder.adapters.control_socket import send
from recorder.app.virtualmic import Feeder, random_periods
from recorder.config import load_config
from recorder.core.formats import FORMATS
from recorder.core.inbound import MAX_BYTES
from recorder.core.recording.state import Stop
from tests.mosquitto import HOST, Credentials, Mosquitto
from tests.phone import Watcher
from tests.support import Running, cli, expected_audio, sox_raw, wait_until, write_config

S16 = FORMATS["S16_LE"]
SEED = int(os.environ.get("SESSION_RECORDER_FUZZ_SEED", "20"))
SECONDS = float(os.environ.get("SESSION_RECORDER_FUZZ_SECONDS", "20"))
MAX_MESSAGES = int(SECONDS * 200)  # about 200 a second on average, in bursts of up to 40
HUGE = 1_048_576  # the largest message sent
BIG = MAX_BYTES  # larger messages go on their own connection: the broker may drop them or close
MAX_BIG = 20  # the connection, and each costs one
LOG_BUDGET = int(200_000 * max(1.0, SECONDS / 20))  # bytes of log for the whole run
LOG_LINE_MAX = 1024
# Threads that come and go on their own: not "a thread that died".
TRANSIENT = ("control-answer", "next-session", "Dummy-")

OTHER_ID = "000999-20261206T080613Z"  # a well-formed id of no session on this box
DIGITS = {  # digits of other scripts: str.isdigit() and \d take them, an id must not
    "arabic-indic": 0x0660,
    "devanagari": 0x0966,
    "bengali": 0x09E6,
    "thai": 0x0E50,
    "fullwidth": 0xFF10,
    "math-bold": 0x1D7CE,
}
SAFE_TEXT = [*"abcdefghijklmnopqrstuvwxyz ABC0123456789.,'-", "é", "中文", "😀", "ß"]
ODD_TEXT = [
    "é",
    "中文",
    "😀",
    "\u200b",  # zero width space
    "\u202e",  # right-to-left override
    "\u2028",  # line separator
    "\x00",
    "\x1b[31m",
    "\n",
    "\t",
    "\u0301",  # a combining accent with nothing to combine with
    "\ud800",  # lone surrogates: legal in JSON as escapes, not text
    "\udfff",
    "\U0010ffff",
    "$(touch /tmp/pwned)",
    "`id`",
    "; rm -rf /",
    "../../etc/passwd",
    "%s%n",
    "{{7*7}}",
    "<script>alert(1)</script>",
]


# ---- what the fuzzer sends ---------------------------------------------------------------------


def _text(rng: random.Random, most: int = 40) -> str:
    parts = []
    for _ in range(rng.randint(0, most)):
        if rng.random() < 0.3:
            parts.append(rng.choice(ODD_TEXT))
        else:
            parts.append(chr(rng.randint(0x20, 0x7E)))
    return "".join(parts)


def _odd_id(rng: random.Random, valid: str) -> str:
    """A session id with its digits in another script, or something worse."""
    choice = rng.randrange(4)
    if choice == 0:
        zero = rng.choice(list(DIGITS.values()))
        return "".join(chr(zero + int(c)) if c.isdigit() else c for c in valid)
    if choice == 1:
        zero = rng.choice(list(DIGITS.values()))
        return "".join(chr(zero + int(c)) for c in valid[:6]) + valid[6:]  # only the sequence
    if choice == 2:
        return valid + rng.choice(["\x00", "\n", "/..", "\ud800", " "])
    return rng.choice(["../../etc", "", "0", "-" * 30, "$(id)", valid.replace("-", "\u2011")])


def _json_value(rng: random.Random, depth: int = 0) -> object:
    kinds = ["null", "bool", "int", "float", "str"] + (["list", "dict"] * 2 if depth < 3 else [])
    match rng.choice(kinds):
        case "null":
            return None
        case "bool":
            return rng.random() < 0.5
        case "int":
            return rng.choice([0, 1, -1, 2**31, 2**63, -(2**64), 10**40, rng.randint(-999, 999)])
        case "float":
            return rng.choice([0.5, -0.0, 1e308, 1e-308, rng.uniform(-1e6, 1e6)])
        case "str":
            return _text(rng)
        case "list":
            return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    return {_text(rng, 8): _json_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def _dump(rng: random.Random, value: object) -> bytes:
    """JSON as a client might write it: a lone surrogate becomes `\\ud800` with ensure_ascii,
    and raw (bad) UTF-8 bytes without it."""
    if rng.random() < 0.5:
        return json.dumps(value).encode()
    indent = rng.choice([None, None, 0, 2])
    return json.dumps(value, ensure_ascii=False, indent=indent).encode("utf-8", "surrogatepass")


class Fuzz:
    """A seeded stream of (payload, qos, retain) for the cmd topic, and now and then another
    topic the `dashboard` account may not write (the ACL must stop it)."""

    def __init__(self, seed: int, session_id: str, cmd_topic: str, other_topics: list[str]):
        self.rng = random.Random(seed)
        self.sid = session_id
        self.cmd = cmd_topic
        self.other = other_topics
        self.kinds: Counter[str] = Counter()
        self.valid: str | None = None  # the command of the last valid message made
        self.valid_sent: Counter[str] = Counter()  # valid commands sent, not retained, by name
        self.big = 0
        self.filtered_stops = 0
        makers: list[tuple[Callable[[], bytes], int, str]] = [
            (self.random_bytes, 8, "random bytes"),
            (self.random_json, 10, "random JSON"),
            (self.deep, 6, "deep nesting"),
            (self.surrogate, 10, "lone surrogate"),
            (self.odd_digits, 8, "non-ASCII digits in an id"),
            (self.mutated, 30, "valid command mutated"),
            (self.harmless, 25, "valid harmless command"),
            (self.huge, 3, "huge"),
        ]
        self.makers = [(m, name) for m, _, name in makers]
        self.weights = [w for _, w, _ in makers]

    # -- the kinds --

    def random_bytes(self) -> bytes:
        return self.rng.randbytes(self.rng.choice([0, 1, 2, 5, 30, 300, 3000]))

    def random_json(self) -> bytes:
        return _dump(self.rng, _json_value(self.rng))

    def deep(self) -> bytes:
        n = self.rng.choice([50, 1000, 5000, 50_000, 200_000])
        match self.rng.randrange(4):
            case 0:
                return b"[" * n + b"]" * n
            case 1:
                return b'{"cmd":"mark","label":' + b'{"a":' * n + b"1" + b"}" * (n + 1)
            case 2:
                return b"[" * n  # never closed
        return b'{"cmd":"mark","label":"x"' + b',"x":[' * n + b"]" * n + b"}"

    def surrogate(self) -> bytes:
        bad = self.rng.choice(["\ud800", "\udfff", "x\ud800", "\udc00y", "\ud83d"])
        value = {
            "label_marker": {"cmd": "label_marker", "session": self.sid, "marker": 1, "label": bad},
            "mark": {"cmd": "mark", "label": bad},
            "next": {"cmd": "next", "client": bad, "title": "t"},
            "label": {"cmd": "label", "session": self.sid, "title": bad},
            "cmd": {"cmd": bad},
            "key": {"cmd": "mark", bad: "x"},
        }[self.rng.choice(["label_marker", "mark", "next", "label", "cmd", "key"])]
        if self.rng.random() < 0.2:  # raw bad UTF-8 that is no surrogate at all
            return self.rng.choice([b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"mark\x80"])
        return _dump(self.rng, value)

    def odd_digits(self) -> bytes:
        cmd = self.rng.choice(["discard", "label", "label_marker", "consent_history", "revoke"])
        value: dict = {
            "cmd": cmd,
            "session": _odd_id(self.rng, self.rng.choice([self.sid, OTHER_ID])),
        }
        if cmd == "label":
            value["title"] = "t"
        elif cmd == "label_marker":
            value.update(marker=1, label="x")
        elif cmd == "revoke":
            value["share"] = "abc"
        return _dump(self.rng, value)

    def huge(self) -> bytes:
        size = self.rng.choice([1000, 20_000, 60_000, 70_000, 300_000, 1_000_000])
        field = self.rng.choice(["label", "notes", "cmd", "x"])
        filler = self.rng.choice(["a", "é", "\ud800", "[", "\\"])
        value = {
            "cmd": "mark",
            field: filler * (size // len(filler.encode("utf-8", "surrogatepass"))),
        }
        if field == "notes":
            value = {"cmd": "label", "session": self.sid, "notes": value["notes"]}
        return _dump(self.rng, value)[:HUGE]

    def _valid(self) -> dict | str:
        """A valid command that must not change the recording (a `start` is refused while it
        records; a discard of the running session is refused)."""
        label = "fuzz " + "".join(
            self.rng.choice(SAFE_TEXT) for _ in range(self.rng.randint(0, 20))
        )
        options: list[dict | str] = [
            "mark",
            "start",
            "status",
            "upload",
            {"cmd": "mark"},
            {"cmd": "mark", "label": label[:200]},
            {"cmd": "start"},
            {"cmd": "status"},
            {"cmd": "upload"},
            {"cmd": "discard", "session": self.sid},
            {"cmd": "discard", "session": OTHER_ID},
            {"cmd": "next", "client": "Ann", "title": "fuzz"},
            {"cmd": "label", "session": OTHER_ID, "client": "Bo"},
            {"cmd": "label", "session": self.sid, "notes": label},
            {
                "cmd": "label_marker",
                "session": self.sid,
                "marker": self.rng.randint(1, 3),
                "label": "x",
            },
            {"cmd": "label_marker", "session": OTHER_ID, "marker": 1, "label": "x"},
            {"cmd": "consent", "session": OTHER_ID, "allow": "share", "ref": "r", "to": "Cy"},
            {"cmd": "consent", "session": OTHER_ID, "withdraw": "record", "ref": "r"},
            {"cmd": "share", "session": OTHER_ID, "to": "Di", "what": "mp3"},
            {"cmd": "revoke", "session": OTHER_ID, "share": "abc"},
            {"cmd": "consent_history", "session": OTHER_ID},
        ]
        return self.rng.choice(options)

    def harmless(self) -> bytes:
        value = self._valid()
        if isinstance(value, str):
            text = self.rng.choice([value, f" {value}\n", value.upper()])
            self.valid = value if text.strip() == value else None
            return text.encode()
        self.valid = value["cmd"]
        return _dump(self.rng, value)

    def mutated(self) -> bytes:
        value = self._valid()
        if isinstance(value, str):
            value = {"cmd": value}
        value = dict(value)
        rng = self.rng
        match rng.randrange(11):
            case 0:  # a field renamed
                key = rng.choice(list(value))
                value[rng.choice([key.upper(), key + " ", key[:-1], "Cmd", "cmd\x00", ""])] = (
                    value.pop(key)
                )
            case 1:  # a field of another type
                value[rng.choice(list(value))] = _json_value(rng)
            case 2:  # an extra field
                value[
                    rng.choice(["as", "user", "session", "label", "__proto__", _text(rng, 6)])
                ] = _json_value(rng)
            case 3:  # an unknown command
                value["cmd"] = rng.choice(
                    ["shutdown", "reboot", "exec", "MARK", "mark\n", "", _text(rng, 10)]
                )
            case 4:  # a field dropped
                value.pop(rng.choice(list(value)))
            case 5:  # not an object
                return _dump(rng, rng.choice([[value], json.dumps(value), list(value.items())]))
            case 6:  # a duplicate key, as raw text
                raw = _dump(rng, value)
                return (
                    b'{"cmd": "mark", ' + raw.lstrip()[1:] if raw.lstrip().startswith(b"{") else raw
                )
            case 7:  # cut short
                raw = _dump(rng, value)
                return raw[: rng.randrange(len(raw) + 1)]
            case 8:  # bytes flipped
                raw = bytearray(_dump(rng, value))
                for _ in range(rng.randint(1, 4)):
                    if raw:
                        raw[rng.randrange(len(raw))] = rng.randrange(256)
                return bytes(raw)
            case 9:  # odd text in a string field
                key = rng.choice(list(value))
                value[key] = str(value[key]) + rng.choice(ODD_TEXT)
            case 10:  # a number where an id goes, numbers as text, booleans
                value["session"] = rng.choice([123456, "123456", True, None, 1.5, [OTHER_ID]])
        return _dump(rng, value)

    # -- one message --

    def next(self) -> tuple[str, bytes, int, bool, str]:
        """(topic, payload, qos, retain, kind), never a valid `stop`."""
        for _ in range(100):
            maker, kind = self.rng.choices(self.makers, self.weights)[0]
            self.valid = None
            payload = maker()
            if len(payload) > BIG and self.big >= MAX_BIG:
                continue
            if could_stop(payload):
                self.filtered_stops += 1
                continue
            break
        else:  # pragma: no cover - the odds are nil
            raise AssertionError("the fuzzer made only stops")
        if len(payload) > BIG:
            self.big += 1
        topic = self.cmd if self.rng.random() < 0.97 else self.rng.choice(self.other)
        qos = self.rng.choice([0, 1])
        retain = self.rng.random() < 0.1
        self.kinds[kind] += 1
        if self.valid and topic == self.cmd and not retain:
            self.valid_sent[self.valid] += 1
        return topic, payload, qos, retain, kind


def could_stop(payload: bytes) -> bool:
    """True for anything that might read as `stop` (conservative: any "stop" in it at all)."""
    if b"stop" in payload.lower():
        return True
    if payload.count(b"[") + payload.count(b"{") > 200:
        return False  # no short JSON escape of "stop" in a bracket heap worth decoding
    try:
        value = json.loads(payload.decode("utf-8", "surrogatepass"))
    except (ValueError, RecursionError):
        return False
    return "stop" in json.dumps(value, ensure_ascii=False).lower()


# ---- the phone's connection ---------------------------------------------------------------------


def ws_client(broker: Mosquitto, user: Credentials, timeout: float = 10.0) -> mqtt.Client:
    """A client like the phone page: MQTT over WebSockets on the box's page port."""
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"fuzz-{uuid.uuid4().hex[:8]}",
        transport="websockets",
        protocol=mqtt.MQTTv311,
    )
    c.ws_set_options(path="/")
    c.username_pw_set(user.username, user.password)
    c.reconnect_delay_set(min_delay=1, max_delay=2)
    connected = threading.Event()
    c.on_connect = lambda *_a: connected.set()
    c.connect(HOST, broker.ws_port, keepalive=30)
    c.loop_start()
    if not connected.wait(timeout):
        c.disconnect()
        c.loop_stop()
        raise ConnectionRefusedError(f"mosquitto did not take {user.username} over WebSockets")
    return c


def close(c: mqtt.Client) -> None:
    c.disconnect()
    c.loop_stop()


class RetainedProbe:
    """What a fresh subscriber gets retained on some topics, asked again and again on one
    connection (MQTT 5 sends the retained messages at every SUBSCRIBE)."""

    def __init__(self, broker: Mosquitto) -> None:
        self.client = broker.client(broker.admin)
        self.sync = f"test/sync-{uuid.uuid4().hex[:8]}"
        self._lock = threading.Lock()
        self._got: dict[str, bytes] = {}  # guarded by _lock
        self._acked: set[int] = set()  # guarded by _lock: SUBACKs by message id
        self._synced = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    def _on_message(self, _c, _u, msg) -> None:
        if msg.topic == self.sync:
            self._synced.set()
        elif msg.retain:
            with self._lock:
                self._got[msg.topic] = msg.payload

    def _on_subscribe(self, _c, _u, mid, _codes, _props) -> None:
        with self._lock:
            self._acked.add(mid)

    def look(self, topics: list[str], timeout: float = 10.0) -> dict[str, bytes]:
        with self._lock:
            self._got.clear()
        self._synced.clear()
        _rc, mid = self.client.subscribe([(t, 1) for t in [*topics, self.sync]])
        wait_until(lambda: mid in self._acked, timeout, "SUBACK")
        # the retained messages were queued for us at the SUBSCRIBE: this one comes after them
        self.client.publish(self.sync, b".", qos=1)
        assert self._synced.wait(timeout), "the sync message did not come back"
        self.client.unsubscribe([*topics, self.sync])
        with self._lock:
            return dict(self._got)


class LogMeter(logging.Handler):
    """Counts what the recorder logs, as the daemon's own format writes it."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.bytes = 0
        self.lines = 0
        self.longest = ""
        self.shapes: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        for line in text.splitlines():
            size = len(line.encode("utf-8", "replace")) + 1
            self.bytes += size
            self.lines += 1
            if size > len(self.longest):
                self.longest = line
        self.shapes[f"{record.levelname} {record.name}: {str(record.msg)[:50]}"] += 1


def _threads() -> dict[str, threading.Thread]:
    return {
        t.name: t
        for t in threading.enumerate()
        if t.is_alive() and not t.name.startswith(TRANSIENT)
    }


# ---- the test ------------------------------------------------------------------------------------


@pytest.mark.timeout(SECONDS + 240)
def test_fuzzing_the_phone_commands_leaves_the_coach_in_control(tmp_path, mic):
    broker = Mosquitto(tmp_path, device_id="box-1").start()
    cmd = broker.topic("cmd")
    cfg_path = write_config(
        tmp_path,
        device={"id": "box-1"},
        mqtt=broker.recorder_section(tmp_path),
        warnings={"disk_minutes": 0, "clip_repeat": 1_000_000},
    )
    cfg = load_config(cfg_path)
    feeder = Feeder(mic.infile, random_periods(S16, 2, 4800, None, seed=SEED), 0.1, record=True)
    watcher = Watcher(broker)
    probe = RetainedProbe(broker)
    meter = LogMeter()
    root = logging.getLogger()
    old_level = root.level
    problems: list[str] = []
    counts: dict[str, object] = {"seed": SEED, "seconds": SECONDS}
    ours = set(_threads())  # the test's own: the recorder's threads are the others
    began = time.monotonic()
    r = Running(cfg, feeder)
    r.__enter__()
    try:
        wait_until(lambda: r.rec.mqtt.connected, 20, "the recorder on the broker")
        r.wait_frames(48000)
        started = send(cfg.socket_path, {"cmd": "start"})
        assert started["ok"], started
        sid = started["session_id"]
        wait_until(
            lambda: any(_json(p).get("session_id") == sid for p, _ in watcher.of("/state")),
            20,
            "the state with the session",
        )
        before = {n: t for n, t in _threads().items() if n not in ours}
        counts["threads"] = sorted(before)

        root.setLevel(logging.INFO)  # as `session-recorder run` sets it
        root.addHandler(meter)
        fuzz = Fuzz(
            SEED,
            sid,
            cmd,
            [broker.topic(t) for t in ("state", "availability", "event")]
            + [broker.topic("cmd", "box-2"), f"{broker.prefix}/box-1/command"],
        )
        fuzz_began = time.monotonic()
        sent, infos, disconnects = _fuzz(broker, fuzz)
        counts["fuzz_s"] = round(time.monotonic() - fuzz_began, 1)
        fuzz_end = len(watcher.messages)
        counts.update(
            sent=sent,
            kinds=dict(fuzz.kinds),
            big=fuzz.big,
            valid_sent=dict(fuzz.valid_sent),
            fuzzer_disconnects=disconnects,
            filtered_stops=fuzz.filtered_stops,
        )
        unfinished = [i for i in infos if not i.is_published()]
        counts["qos1_unfinished"] = len(unfinished)

        # (a) nothing retained on the cmd topic: the last message sent was a retained `start`
        try:
            wait_until(lambda: cmd not in probe.look([cmd]), 20, "the retained cmd cleared")
        except AssertionError:
            left = probe.look([cmd]).get(cmd, b"")
            problems.append(f"(a) a command is still retained on {cmd}: {left[:80]!r}")

        # (b) the threads, and the state published after the fuzz by the recorder itself
        now = _threads()
        dead = sorted(n for n in before if n not in now)
        if dead:
            problems.append(f"(b) threads gone after the fuzz: {dead}")
        replaced = sorted(n for n in before if n in now and now[n] is not before[n])
        counts["threads_replaced"] = replaced
        try:
            wait_until(
                lambda: any(
                    _json(p).get("session_id") == sid
                    for p, _ in watcher.of("/state")[_state_index(watcher, fuzz_end) :]
                ),
                15,
                "a state message after the fuzz",
            )
        except AssertionError:
            problems.append("(b) no state message with the session came after the fuzz")
        seen = probe.look([broker.topic("availability"), broker.topic("state")])
        if seen.get(broker.topic("availability")) != b"online":
            problems.append(
                f"(b) retained availability is {seen.get(broker.topic('availability'))!r}"
            )
        state = _json(seen.get(broker.topic("state"), b""))
        if state.get("state") != "recording" or state.get("session_id") != sid:
            problems.append(f"(b) the retained state is not the recorder's: {str(state)[:200]}")

        # (c) ctl status answers
        done = cli("ctl", "status", "--json", "--config", str(cfg_path), timeout=60)
        status = _json(done.stdout.encode()) if done.returncode == 0 else {}
        if status.get("state") != "recording" or status.get("session_id") != sid:
            problems.append(
                f"(c) ctl status: exit {done.returncode}, {done.stdout[:200]!r} "
                f"{done.stderr[-300:]!r}"
            )

        # (d) a phone `stop` stops it, and the audio is exact
        phone = ws_client(broker, broker.dashboard)
        phone.publish(cmd, "stop", qos=1).wait_for_publish(10)
        close(phone)
        try:
            session = r.wait_outbox(sid, 30)
        except AssertionError:
            problems.append("(d) the phone's `stop` did not stop the session in 30 s")
            r.request(Stop("ctl"))
            session = r.wait_outbox(sid, 30)
        m = session.manifest
        got = sox_raw([str(session.path / s.file) for s in m.segments])
        want = expected_audio(feeder, m)
        counts["session_s"] = round(m.frames / m.audio.rate, 1)
        if got != want or m.gaps:
            problems.append(
                f"(d) the recording is not sample-exact: {len(got)} bytes read, "
                f"{len(want)} fed, gaps {m.gaps}"
            )

        def stop_answers() -> list[dict]:
            return [
                e
                for e in watcher.events()
                if e.get("event") == "command" and e.get("cmd") == "stop"
            ]

        try:
            wait_until(lambda: any(e.get("ok") for e in stop_answers()), 10, "the stop's answer")
        except AssertionError:
            problems.append(f"(d) the phone got no ok answer to its stop: {stop_answers()}")

        # (e) the log
        root.removeHandler(meter)
        counts.update(
            log_bytes=meter.bytes,
            log_lines=meter.lines,
            log_longest=len(meter.longest),
            log_top=meter.shapes.most_common(5),
        )
        if meter.bytes >= LOG_BUDGET:
            problems.append(
                f"(e) {meter.bytes} bytes logged in {meter.lines} lines "
                f"(budget {LOG_BUDGET}): {meter.shapes.most_common(3)}"
            )
        if len(meter.longest.encode("utf-8", "replace")) > LOG_LINE_MAX:
            problems.append(
                f"(e) a log line of {len(meter.longest)} characters: {meter.longest[:120]!r}…"
            )

        # (f) one session only
        ids = [s.id for s in r.rec.store.sessions()]
        starts = [e for e in watcher.events() if e.get("event") == "session_started"]
        if ids != [sid] or len(starts) != 1:
            problems.append(
                f"(f) sessions on the box: {ids}, session_started events: {len(starts)}"
            )

        # (g) every mark answered ok is in the recording
        oks = [
            e
            for e in watcher.events()
            if e.get("event") == "command" and e.get("cmd") == "mark" and e.get("ok")
        ]
        phone_markers = [k for k in m.markers if k.source == "mqtt"]
        answers = Counter(
            f"{e.get('event')} {e.get('cmd', '')} {e.get('ok', '')}: {str(e.get('message'))[:50]}"
            for e in watcher.events()
            if e.get("event") in ("command", "error")
        )
        counts.update(
            marks_ok=len(oks),
            markers=len(phone_markers),
            answers=sum(answers.values()),
            answers_top=answers.most_common(6),
        )
        if len(phone_markers) < len(oks):
            problems.append(f"(g) {len(oks)} marks answered ok, {len(phone_markers)} recorded")

        # (h) every valid command answered (a `command` event naming it: done, refused, dropped)
        told = Counter(e.get("cmd") for e in watcher.events() if e.get("event") == "command")
        silent = {
            name: f"{told[name]} of {n}"
            for name, n in fuzz.valid_sent.items()
            if name in cfg.mqtt.commands and told[name] < n
        }
        if silent:
            problems.append(f"(h) valid commands sent without as many answers: {silent}")
    finally:
        root.removeHandler(meter)
        root.setLevel(old_level)
        try:
            r.__exit__(None, None, None)
        except Exception as exc:  # the fuzz must not break the daemon's shutdown either
            problems.append(f"shutdown raised {exc!r}")
        broker.close()  # and its clients: the watcher's and the probe's
        counts["total_s"] = round(time.monotonic() - began, 1)
        print("\nend-to-end fuzz:")
        for key, value in counts.items():
            print(f"  {key}: {value}")
    assert not problems, "\n".join(problems)


def _json(raw: bytes) -> dict:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _state_index(watcher: Watcher, after: int) -> int:
    """How many state messages came before the watcher's message number `after`."""
    with watcher.lock:
        return sum(1 for t, _, _ in watcher.messages[:after] if t.endswith("/state"))


def _fuzz(broker: Mosquitto, fuzz: Fuzz) -> tuple[int, list[mqtt.MQTTMessageInfo], int]:
    """Send the fuzzer's messages for SECONDS, in bursts, as the `dashboard` user over
    WebSockets; a message over 64 KiB goes on its own connection (the broker may close it)."""
    rng = random.Random(SEED + 1)
    disconnects = [0]
    c = ws_client(broker, broker.dashboard)
    c.on_disconnect = lambda *_a: disconnects.__setitem__(0, disconnects[0] + 1)
    c.on_connect = None
    infos: list[mqtt.MQTTMessageInfo] = []
    sent = 0
    start = time.monotonic()
    pace = SECONDS / MAX_MESSAGES
    stop = threading.Event()
    try:
        while sent < MAX_MESSAGES - 1 and time.monotonic() - start < SECONDS:
            for _ in range(rng.choice([1, 1, 2, 5, 10, 40])):
                topic, payload, qos, retain, _kind = fuzz.next()
                if len(payload) > BIG:
                    _send_alone(broker, topic, payload, qos, retain)
                else:
                    info = c.publish(topic, payload, qos=qos, retain=retain)
                    if qos:
                        infos.append(info)
                sent += 1
            stop.wait(max(0.0, start + sent * pace - time.monotonic()))
        # last, a retained `start`: the privacy fault if it ever acts at a reconnect
        infos.append(c.publish(fuzz.cmd, "start", qos=1, retain=True))
        sent += 1
        deadline = time.monotonic() + 30
        for info in infos:
            with contextlib.suppress(ValueError, RuntimeError):  # counted as unfinished
                info.wait_for_publish(max(0.1, deadline - time.monotonic()))
    finally:
        c.on_disconnect = None
        close(c)
    return sent, infos, disconnects[0]


def _send_alone(broker: Mosquitto, topic: str, payload: bytes, qos: int, retain: bool) -> None:
    gone = threading.Event()
    c = ws_client(broker, broker.dashboard)
    c.on_disconnect = lambda *_a: gone.set()
    try:
        info = c.publish(topic, payload, qos=max(qos, 1), retain=retain)
        wait_until(lambda: info.is_published() or gone.is_set(), 20, "a big message sent")
    finally:
        close(c)
