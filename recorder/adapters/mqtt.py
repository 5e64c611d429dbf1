"""Status, levels, events and commands over MQTT (paho-mqtt 2), and Home Assistant discovery.

Like Frigate's MQTT client: availability is retained with `offline` as the Last Will, the state
is retained and re-published on every (re)connect, and a broker that is missing at boot, goes
away or comes back never touches recording — `connect_async` and paho's own loop thread do the
networking, and the recorder only ever hands this object dicts.

What comes in on the cmd topic is outside input, read as `ctl` reads it (`read_request`: 64 KiB,
strict UTF-8, nesting counted before parsing) and never trusted further:
- no message can end a thread: paho's callback and the command thread catch everything (a bug is
  logged, and a command it hit is answered ok:false); a command loop that ends anyway is
  restarted in its thread (`supervision.keep_running`), paho's network thread by the publisher
  thread within a second, each logged and reported through `restarted`;
- a retained command is never acted on (it would run again at every reconnect): it is answered
  with an error and cleared; the session is clean, so the broker queues nothing for us while we
  are away;
- every valid command is carried out or answered: at most `COMMAND_BURST` at once and
  `COMMANDS_PER_S` a second are acted on, the rest are answered "dropped"; bad messages beyond the
  same rate are counted into one error event a second, and logged one line per kind per
  `LOG_EVERY_S`;
- the client id is a secret (config, or made once and kept in the storage dir), so another
  account cannot take the recorder's connection over.

What goes out is bounded too: nothing larger than `MAX_PAYLOAD` (the shipped broker drops
larger), the state leaves old sessions out to fit, and QoS 1 messages made while the broker is
away are kept up to `queue_max`; level messages (QoS 0) are simply dropped then.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from recorder import __version__
from recorder.config import MqttSection
from recorder.core.discovery import discovery_messages
from recorder.core.inbound import RequestError
from recorder.core.limits import TokenBucket, fit_state
from recorder.core.requests import read_request, request_name
from recorder.threads.supervision import keep_running

log = logging.getLogger(__name__)

STATE_EVERY_S = 1.0  # while recording: elapsed time moves
IDLE_EVERY_S = 30.0
TICK_S = 1.0  # the publisher thread's beat: supervision, summaries, a cleared retained command
COMMANDS_PER_S = 10.0  # commands acted on, on average …
COMMAND_BURST = 20  # … and at once; the rest are answered "dropped"
COMMAND_QUEUE = 32  # room for a whole burst while a slow command is carried out
MAX_PAYLOAD = 192 * 1024  # the shipped broker drops payloads over 256 KiB (message_size_limit)
OUT_MAX = 10_000  # QoS 1 messages paho may hold unacknowledged while connected
LOG_EVERY_S = 10.0
CLIENT_ID_FILE = "mqtt-client-id"
DROPPED = f"dropped: too many commands at once (at most {COMMANDS_PER_S:g} a second); send it again"
RETAINED = (
    "a retained command is never acted on (it would run again every time the box reconnects): "
    "publish it without retain; the box has cleared it"
)

_CLIENT_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def client_id(cfg: MqttSection, device_id: str, kept: Path | None) -> str:
    """The recorder's client id: `[mqtt] client_id`, or the one kept in `kept` (made once, mode
    0600). The same id after a restart lets the broker end the old connection at once (its Will
    is sent before the new `online`), instead of a minute later over the new one."""
    if cfg.client_id:
        return cfg.client_id
    fresh = f"session-recorder-{device_id}-{secrets.token_hex(16)}"
    if kept is None:
        return fresh
    try:
        text = kept.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeError) as exc:
        log.warning("MQTT: %s cannot be read (%s); a new client id is used for this run", kept, exc)
        return fresh
    if 16 <= len(text) <= 128 and set(text) <= _CLIENT_ID_CHARS:
        return text
    if text:
        log.warning("MQTT: %s does not hold a client id; a new one is made", kept)
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        tmp = kept.with_name(f".{kept.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, (fresh + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, kept)
    except OSError as exc:
        log.warning(
            "MQTT: the client id cannot be kept in %s (%s): a new one at each start, so after a "
            "restart the box may show offline until the broker drops the old connection",
            kept,
            exc.strerror or exc,
        )
    return fresh


class _Quiet:
    """One log line per kind every `every_s`; the lines held back are counted into the next."""

    def __init__(self, every_s: float = LOG_EVERY_S) -> None:
        self.every_s = every_s
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}  # guarded by _lock
        self._held: dict[str, int] = {}  # guarded by _lock

    def log(self, level: int, kind: str, msg: str, *args: object, exc_info: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.every_s:
                self._held[kind] = self._held.get(kind, 0) + 1
                return
            self._last[kind] = now
            held = self._held.pop(kind, 0)
        if held:
            msg += " (and %d more like it in the last %g s)"
            args = (*args, held, self.every_s)
        log.log(level, msg, *args, exc_info=exc_info)

    def flush(self) -> None:
        """Say how many were held back, once their time is up."""
        now = time.monotonic()
        with self._lock:
            due = {
                k: n for k, n in self._held.items() if now - self._last.get(k, 0.0) >= self.every_s
            }
            for k in due:
                del self._held[k]
                self._last[k] = now
        for kind, n in due.items():
            log.warning("MQTT: %d more %s in the last %g s", n, kind, self.every_s)


class MqttLink:
    def __init__(
        self,
        cfg: MqttSection,
        device_id: str,
        status: Callable[[], dict],
        recent: Callable[[], list[dict]],
        dispatch: Callable[[object], dict],
        *,
        client_id_file: Path | None = None,
        restarted: Callable[[str, str], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.device_id = device_id
        self.base = f"{cfg.prefix}/{device_id}"
        self.cmd_topic = f"{self.base}/cmd"
        self.status = status
        self.recent = recent
        self.dispatch = dispatch
        self.restarted = restarted
        self._lock = threading.Lock()
        self._recent: list[dict] = []  # guarded by _lock
        self._recent_stale = True  # guarded by _lock: rebuilt before the next state message
        self._connected = False  # guarded by _lock
        self._made_offline = 0  # guarded by _lock: QoS 1 messages made since the broker went
        self._next_level = 0.0  # guarded by _lock: monotonic time of the next level slot
        self._commands_bucket = TokenBucket(COMMANDS_PER_S, COMMAND_BURST)  # guarded by _lock
        self._bad_bucket = TokenBucket(COMMANDS_PER_S, COMMAND_BURST)  # guarded by _lock
        self._bad_unanswered = 0  # guarded by _lock: summed into one error event a second
        self._clear_due = False  # guarded by _lock: a retained command waits to be cleared
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._commands: queue.Queue[object] = queue.Queue(COMMAND_QUEUE)
        self._quiet = _Quiet()
        self._password_warned = False
        self.client_id = client_id(cfg, device_id, client_id_file)
        self.client = self._client()
        self._net_started = False
        self._commander = threading.Thread(
            target=keep_running,
            args=("mqtt-commands", self._command_loop, self._stopping, self._restart),
            name="mqtt-commands",
            daemon=True,
        )
        self._publisher = threading.Thread(
            target=self._publish_loop, name="mqtt-state", daemon=True
        )

    # ---- setup ----------------------------------------------------------------------------------

    def _client(self) -> mqtt.Client:
        # MQTT 5: only its subscription option "retain as published" tells a retained command
        # published while we are connected from a live one.
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5
        )
        c.suppress_exceptions = True  # a second net under _on_message's own
        c.will_set(f"{self.base}/availability", "offline", qos=1, retain=True)
        if self.cfg.username:
            # Read before every attempt, not once: a box flashed from an image makes its
            # password at first boot, and a missing file must never keep the recorder down.
            c.on_pre_connect = self._set_credentials
        if self.cfg.tls:
            c.tls_set(
                ca_certs=str(self.cfg.ca_file) if self.cfg.ca_file else None,
                certfile=str(self.cfg.cert_file) if self.cfg.cert_file else None,
                keyfile=str(self.cfg.key_file) if self.cfg.key_file else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        # Our own gate (_send) keeps `queue_max` while offline; this only bounds a broker that
        # stops acknowledging while still connected.
        c.max_queued_messages_set(OUT_MAX)
        c.reconnect_delay_set(min_delay=1, max_delay=30)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        return c

    def _set_credentials(self, client: mqtt.Client, _userdata: object) -> None:
        password = None
        if self.cfg.password_file is not None:
            try:
                password = self.cfg.password_file.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                if not self._password_warned:
                    log.error(
                        "[mqtt] password_file %s cannot be read (%s): connecting without a "
                        "password; recording is not affected",
                        self.cfg.password_file,
                        exc.strerror or exc,
                    )
                    self._password_warned = True
            else:
                self._password_warned = False
        client.username_pw_set(self.cfg.username, password)

    def start(self) -> None:
        self.refresh_recent()
        # clean start, no session expiry: the broker keeps nothing for us while we are away
        self.client.connect_async(
            self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s, clean_start=True
        )
        self.client.loop_start()
        self._net_started = True
        self._commander.start()
        self._publisher.start()

    def stop(self) -> None:
        """Say `offline` (as the Will would) and disconnect."""
        self._stopping.set()
        self._wake.set()
        try:
            if self.connected:
                self._refreshed_recent()
                self._publish_state()
                info = self.client.publish(
                    f"{self.base}/availability", "offline", qos=1, retain=True
                )
                info.wait_for_publish(timeout=2)
        except (ValueError, RuntimeError) as exc:  # not queued, or the connection went
            log.warning("MQTT: `offline` could not be sent before disconnecting (%s)", exc)
        self.client.disconnect()
        self.client.loop_stop()

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._connected

    # ---- paho callbacks (paho's thread) ----------------------------------------------------------

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            log.error("MQTT broker %s:%d refused us: %s", self.cfg.host, self.cfg.port, reason_code)
            return
        log.info("MQTT connected to %s:%d as %s", self.cfg.host, self.cfg.port, self.base)
        with self._lock:
            self._connected = True
            self._made_offline = 0
        client.subscribe(
            [
                # noLocal: our own clearing of a retained command does not come back to us
                (self.cmd_topic, SubscribeOptions(qos=1, noLocal=True, retainAsPublished=True)),
                (f"{self.cfg.ha_prefix}/status", SubscribeOptions(qos=1)),
            ]
        )
        self._send(f"{self.base}/availability", "online", retain=True)
        self._discovery()
        self._wake.set()  # state now

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        with self._lock:
            was, self._connected = self._connected, False
        if was and not self._stopping.is_set():
            log.warning("MQTT connection lost (%s); reconnecting in the background", reason_code)

    def _on_message(self, _client, _userdata, msg) -> None:
        try:
            self._take(msg)
        except Exception:  # a bug: never raised into paho's thread
            self._quiet.log(
                logging.ERROR, "bug", "MQTT: a message on %s could not be handled", msg.topic,
                exc_info=True,
            )  # fmt: skip
            with contextlib.suppress(Exception):
                self._bad(
                    "the box could not read this message (a fault of its own; its log says more)"
                )

    def _take(self, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == f"{self.cfg.ha_prefix}/status":
            if msg.payload.strip() == b"online":
                self._discovery()  # Home Assistant restarted and lost what it knew
            return
        if msg.topic != self.cmd_topic:
            return
        if msg.retain:
            if msg.payload:
                self._bad(RETAINED, clear=True)
            return  # empty: someone cleared a retained command, which is no command
        try:
            event = read_request(msg.payload, "mqtt", plain_words=True)
            name = request_name(event)
            if name not in self.cfg.commands:
                raise RequestError(f"command {name!r} is not allowed over MQTT on this box")
        except RequestError as exc:
            self._bad(f"bad command: {exc}")
            return
        with self._lock:
            admitted = self._commands_bucket.take(time.monotonic())
        if admitted:
            try:
                self._commands.put_nowait(event)
                return
            except queue.Full:
                pass
        self._quiet.log(logging.WARNING, "commands dropped", "MQTT: %s (%s)", DROPPED, name)
        self._answer(event, name, False, DROPPED)

    def _bad(self, message: str, clear: bool = False) -> None:
        """Answered one by one within the rate; beyond it counted into a summary a second."""
        with self._lock:
            answered = self._bad_bucket.take(time.monotonic())
            if not answered:
                self._bad_unanswered += 1
                self._clear_due = self._clear_due or clear
        self._quiet.log(logging.WARNING, "bad commands", "MQTT: %s", message)
        if answered:
            self.event({"event": "error", "message": message})
            if clear:
                self._clear_retained()

    def _clear_retained(self) -> None:
        self._send(self.cmd_topic, b"", retain=True)

    # ---- our threads -------------------------------------------------------------------------------

    def _command_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                event = self._commands.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self._carry_out(event)
            except Exception:
                self._quiet.log(logging.ERROR, "bug", "MQTT: a command was lost", exc_info=True)

    def _carry_out(self, event: Any) -> None:
        name = request_name(event)
        try:
            answer = self.dispatch(event)
            ok, message = bool(answer.get("ok")), str(answer.get("message", ""))
            session = answer.get("session_id") or getattr(event, "session", None)
            queued = {k: answer[k] for k in ("queued", "job") if k in answer}
        except Exception as exc:  # a bug in what the command ran: answered, and logged in full
            self._quiet.log(
                logging.ERROR, "failed commands", "MQTT: %r failed", name, exc_info=True
            )
            ok = False
            message = f"{name!r} failed on the box ({type(exc).__name__}); its log says more"
            session = getattr(event, "session", None)
            queued = {}
        self._answer(event, name, ok, message, session, queued)

    def _answer(
        self,
        event: Any,
        name: str,
        ok: bool,
        message: str,
        session: str | None = None,
        extra: dict | None = None,
    ) -> None:
        """The `command` event; a queued request's `queued` and `job` ride along, so the page
        can match the result that comes later."""
        told: dict = {
            "event": "command",
            "cmd": name,
            "ok": ok,
            "message": message,
            **(extra or {}),
        }
        session = session or getattr(event, "session", None)
        if isinstance(session, str) and session:
            told["session_id"] = session
        self.event(told)

    def _publish_loop(self) -> None:
        next_state = next_summary = 0.0
        while not self._stopping.is_set():
            self._wake.wait(TICK_S)
            woken = self._wake.is_set()
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                self._supervise()
                now = time.monotonic()
                if now >= next_summary:  # woken more often while recording: once a second
                    next_summary = now + TICK_S
                    self._summaries()
                if woken or now >= next_state:
                    next_state = now + (STATE_EVERY_S if self._recording() else IDLE_EVERY_S)
                    if self.connected:
                        self._refreshed_recent()
                        self._publish_state()
            except Exception:
                self._quiet.log(logging.ERROR, "bug", "MQTT: the publisher failed", exc_info=True)

    def _supervise(self) -> None:
        """Start paho's network thread again when it ended although nothing asked it to (the
        command thread restarts its own loop: supervision.keep_running)."""
        # paho's loop thread clears `_thread` when it ends (`_thread_main`), so loop_start()
        # may be called again; the connection it had goes on if it is still open.
        net_ended = self._net_started and getattr(self.client, "_thread", None) is None
        if net_ended and not self._stopping.is_set():
            self._restart("mqtt-network", "paho's network loop ended")
            self.client.loop_start()

    def _restart(self, name: str, why: str) -> None:
        log.error("MQTT: thread %s ended (%s); started again", name, why)
        if self.restarted is not None:
            try:
                self.restarted(name, why)
            except Exception:
                log.exception("MQTT: reporting the restart of %s failed", name)

    def _summaries(self) -> None:
        with self._lock:
            n, self._bad_unanswered = self._bad_unanswered, 0
            clear, self._clear_due = self._clear_due, False
        if clear:
            self._clear_retained()
        if n:
            self.event(
                {
                    "event": "error",
                    "message": (
                        f"{n} more bad messages on the cmd topic got no answer of their own "
                        f"(at most {COMMANDS_PER_S:g} a second are answered one by one)"
                    ),
                    "unanswered": n,
                }
            )
        self._quiet.flush()

    def _recording(self) -> bool:
        try:
            return self.status().get("state") == "recording"
        except Exception:
            return False

    # ---- what the recorder tells us (any thread) ----------------------------------------------------

    def state_changed(self) -> None:
        self._wake.set()

    def refresh_recent(self) -> None:
        """The recent list changed: rebuilt and published by the publisher thread, so a caller
        (the writer, a command) never waits for the manifests to be read."""
        with self._lock:
            self._recent_stale = True
        self._wake.set()

    def _refreshed_recent(self) -> None:
        with self._lock:
            stale, self._recent_stale = self._recent_stale, False
        if not stale:
            return
        try:
            recent = self.recent()
        except Exception:  # the state goes out with the last list rather than not at all
            log.exception("MQTT: the recent sessions could not be read")
            return
        with self._lock:
            self._recent = recent

    def event(self, payload: dict) -> None:
        """Publish an event; never raises (a payload that cannot be sent is logged)."""
        try:
            data = json.dumps({**payload, "ts": _now()})
        except (TypeError, ValueError):
            self._quiet.log(logging.ERROR, "bug", "MQTT: an event could not be made", exc_info=True)
            return
        self._send(f"{self.base}/event", data)

    def level(self, levels: dict, elapsed_s: float) -> None:
        # `level_hz` on average: reports come when their audio has been written, a little
        # early or late, so a slot is taken up to half a period early instead of being missed.
        now, period = time.monotonic(), 1.0 / self.cfg.level_hz
        with self._lock:
            if now < self._next_level - period / 2 or not self._connected:
                return
            self._next_level = max(now, self._next_level) + period
        payload = {**levels, "elapsed_s": round(elapsed_s, 2)}
        self._send(f"{self.base}/level", json.dumps(payload), qos=0)

    def _send(self, topic: str, payload: str | bytes, qos: int = 1, retain: bool = False) -> bool:
        """Publish within the limits: never larger than MAX_PAYLOAD, and while the broker is
        away at most `queue_max` QoS 1 messages kept. Never raises."""
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        if len(data) > MAX_PAYLOAD:
            self._quiet.log(
                logging.ERROR, "messages too large", "MQTT: a %d-byte message for %s is not "
                "sent (at most %d)", len(data), topic, MAX_PAYLOAD,
            )  # fmt: skip
            return False
        if qos:
            with self._lock:
                if not self._connected:
                    if self._made_offline >= self.cfg.queue_max:
                        full = True
                    else:
                        full = False
                        self._made_offline += 1
                else:
                    full = False
            if full:
                self._quiet.log(
                    logging.WARNING, "messages dropped while offline", "MQTT: the broker is "
                    "away and %d messages wait already ([mqtt] queue_max): %s dropped",
                    self.cfg.queue_max, topic,
                )  # fmt: skip
                return False
        try:
            info = self.client.publish(topic, data, qos=qos, retain=retain)
        except ValueError:
            self._quiet.log(logging.ERROR, "bug", "MQTT: publish to %s refused", topic)
            return False
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            self._quiet.log(
                logging.ERROR, "messages dropped", "MQTT: %d messages wait for the broker's "
                "acknowledgement; %s dropped", OUT_MAX, topic,
            )  # fmt: skip
            return False
        return True

    # ---- payloads ---------------------------------------------------------------------------------

    def state_payload(self) -> dict:
        return json.loads(self._state_bytes())

    def _state_bytes(self) -> bytes:
        s = self.status()
        with self._lock:
            recent = list(self._recent)
        keys = (
            "state", "device_id", "session_id", "elapsed_s", "warnings", "levels",
            "disk_free_mb", "hours_left", "upload", "last_error", "version", "next_session",
            "sharing",
        )  # fmt: skip
        base = {k: s.get(k) for k in keys}
        base["ts"] = _now()
        data, left_out = fit_state(base, recent, MAX_PAYLOAD)
        if left_out:
            self._quiet.log(
                logging.WARNING, "states cut", "MQTT: the state leaves out the %d oldest of %d "
                "recent sessions to stay under %d bytes", left_out, len(recent), MAX_PAYLOAD,
            )  # fmt: skip
        return data

    def _publish_state(self) -> None:
        self._send(f"{self.base}/state", self._state_bytes(), retain=True)

    def _discovery(self) -> None:
        for topic, payload in discovery_messages(
            self.cfg.ha_prefix, self.cfg.prefix, self.device_id, __version__, self.cfg.ha_discovery
        ):
            self._send(topic, payload, retain=True)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
