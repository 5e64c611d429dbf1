"""Status, levels, events and commands over MQTT (paho-mqtt 2), and Home Assistant discovery.

Like Frigate's MQTT client: availability is retained with `offline` as the Last Will, the state
is retained and re-published on every (re)connect, and a broker that is missing at boot, goes
away or comes back never touches recording — `connect_async` and paho's own loop thread do the
networking, and the recorder only ever hands this object dicts. QoS 1 messages wait in a
bounded queue while the broker is away; level messages (QoS 0) are simply dropped then.
"""

from __future__ import annotations

import json
import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import paho.mqtt.client as mqtt

from recorder import __version__
from recorder.config import MqttSection
from recorder.core.discovery import discovery_messages
from recorder.core.requests import Query, RequestError, parse_request

log = logging.getLogger(__name__)

STATE_EVERY_S = 1.0  # while recording: elapsed time moves
IDLE_EVERY_S = 30.0
COMMAND_QUEUE = 16


def command_payload(raw: bytes) -> object:
    """`start` as plain text or `{"cmd": "start"}` as JSON, both to the ctl request form."""
    text = raw.decode("utf-8").strip()
    if text.startswith("{"):
        return json.loads(text)
    return {"cmd": text}


class MqttLink:
    def __init__(
        self,
        cfg: MqttSection,
        device_id: str,
        status: Callable[[], dict],
        recent: Callable[[], list[dict]],
        dispatch: Callable[[object], dict],
    ) -> None:
        self.cfg = cfg
        self.device_id = device_id
        self.base = f"{cfg.prefix}/{device_id}"
        self.status = status
        self.recent = recent
        self.dispatch = dispatch
        self._lock = threading.Lock()
        self._recent: list[dict] = []  # guarded by _lock
        self._recent_stale = True  # guarded by _lock: rebuilt before the next state message
        self._connected = False  # guarded by _lock
        self._next_level = 0.0  # guarded by _lock: monotonic time of the next level slot
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._commands: queue.Queue[object] = queue.Queue(COMMAND_QUEUE)
        self._password_warned = False
        self.client = self._client()
        self._threads = [
            threading.Thread(target=self._publish_loop, name="mqtt-state", daemon=True),
            threading.Thread(target=self._command_loop, name="mqtt-commands", daemon=True),
        ]

    # ---- setup ----------------------------------------------------------------------------------

    def _client(self) -> mqtt.Client:
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"session-recorder-{self.device_id}",
            protocol=mqtt.MQTTv311,
        )
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
        c.max_queued_messages_set(self.cfg.queue_max)
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
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        self.client.loop_start()
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Say `offline` (as the Will would) and disconnect."""
        self._stopping.set()
        self._wake.set()
        with self._lock:
            connected = self._connected
        if connected:
            self._refreshed_recent()
            self._publish_state()
            info = self.client.publish(f"{self.base}/availability", "offline", qos=1, retain=True)
            info.wait_for_publish(timeout=2)
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
        client.subscribe([(f"{self.base}/cmd", 1), (f"{self.cfg.ha_prefix}/status", 1)])
        client.publish(f"{self.base}/availability", "online", qos=1, retain=True)
        self._discovery()
        self._wake.set()  # state now

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        with self._lock:
            was, self._connected = self._connected, False
        if was and not self._stopping.is_set():
            log.warning("MQTT connection lost (%s); reconnecting in the background", reason_code)

    def _on_message(self, _client, _userdata, msg) -> None:
        if msg.topic == f"{self.cfg.ha_prefix}/status":
            if msg.payload.strip() == b"online":
                self._discovery()  # Home Assistant restarted and lost what it knew
            return
        try:
            request = command_payload(msg.payload)
            event = parse_request(request, source="mqtt")
            name = event.name if isinstance(event, Query) else request.get("cmd")
            if name not in self.cfg.commands:
                raise RequestError(f"command {name!r} is not allowed over MQTT on this box")
        except (ValueError, RequestError, AttributeError) as exc:
            self.event({"event": "error", "message": f"bad command: {exc}"})
            log.warning("MQTT: bad command on %s: %s", msg.topic, exc)
            return
        try:
            self._commands.put_nowait(event)
        except queue.Full:
            self.event({"event": "error", "message": "too many commands at once; dropped"})

    # ---- our threads -------------------------------------------------------------------------------

    def _command_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                event = self._commands.get(timeout=0.5)
            except queue.Empty:
                continue
            answer = self.dispatch(event)
            name = event.name if isinstance(event, Query) else type(event).__name__.lower()
            told = {
                "event": "command",
                "cmd": name,
                "ok": bool(answer.get("ok")),
                "message": answer.get("message", ""),
            }
            session = answer.get("session_id") or getattr(event, "session", None)
            if session:
                told["session_id"] = session
            self.event(told)

    def _publish_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(STATE_EVERY_S if self._recording() else IDLE_EVERY_S)
            self._wake.clear()
            if self._stopping.is_set():
                break
            if self.connected:
                self._refreshed_recent()
                self._publish_state()

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
        payload = {**payload, "ts": _now()}
        self.client.publish(f"{self.base}/event", json.dumps(payload), qos=1)

    def level(self, levels: dict, elapsed_s: float) -> None:
        # `level_hz` on average: reports come when their audio has been written, a little
        # early or late, so a slot is taken up to half a period early instead of being missed.
        now, period = time.monotonic(), 1.0 / self.cfg.level_hz
        with self._lock:
            if now < self._next_level - period / 2 or not self._connected:
                return
            self._next_level = max(now, self._next_level) + period
        payload = {**levels, "elapsed_s": round(elapsed_s, 2)}
        self.client.publish(f"{self.base}/level", json.dumps(payload), qos=0)

    # ---- payloads ---------------------------------------------------------------------------------

    def state_payload(self) -> dict:
        s = self.status()
        with self._lock:
            recent = list(self._recent)
        keys = (
            "state", "device_id", "session_id", "elapsed_s", "warnings", "levels",
            "disk_free_mb", "hours_left", "upload", "last_error", "version", "next_session",
            "sharing",
        )  # fmt: skip
        payload = {k: s.get(k) for k in keys}
        payload["recent"] = recent
        payload["ts"] = _now()
        return payload

    def _publish_state(self) -> None:
        self.client.publish(
            f"{self.base}/state", json.dumps(self.state_payload()), qos=1, retain=True
        )

    def _discovery(self) -> None:
        for topic, payload in discovery_messages(
            self.cfg.ha_prefix, self.cfg.prefix, self.device_id, __version__, self.cfg.ha_discovery
        ):
            self.client.publish(topic, payload, qos=1, retain=True)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
