"""The one way out to the broker, bounded: nothing larger than `MAX_PAYLOAD` (the shipped broker
drops larger), and while the broker is away at most `queue_max` QoS 1 messages kept; level
messages (QoS 0) are simply dropped then. Events and levels go out here."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime

import paho.mqtt.client as mqtt

from recorder.adapters.mqtt.quiet import Quiet

MAX_PAYLOAD = 192 * 1024  # the shipped broker drops payloads over 256 KiB (message_size_limit)
OUT_MAX = 10_000  # QoS 1 messages paho may hold unacknowledged while connected


def now_iso() -> str:
    """The `ts` of every event and state."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class Outlet:
    """Publishes on `client` within the limits, and knows whether the broker is there."""

    def __init__(
        self, client: mqtt.Client, base: str, queue_max: int, level_hz: float, quiet: Quiet
    ) -> None:
        self.client = client
        self.base = base
        self.queue_max = queue_max
        self.level_hz = level_hz
        self._quiet = quiet
        self._lock = threading.Lock()
        self._connected = False  # guarded by _lock
        self._made_offline = 0  # guarded by _lock: QoS 1 messages made since the broker went
        self._next_level = 0.0  # guarded by _lock: monotonic time of the next level slot

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._connected

    def online(self) -> None:
        """The broker took us: what was held while it was away counts no more."""
        with self._lock:
            self._connected = True
            self._made_offline = 0

    def offline(self) -> bool:
        """The connection went; True when it had been up."""
        with self._lock:
            was, self._connected = self._connected, False
        return was

    def event(self, payload: dict) -> None:
        """Publish an event; never raises (a payload that cannot be sent is logged)."""
        try:
            data = json.dumps({**payload, "ts": now_iso()})
        except (TypeError, ValueError):
            self._quiet.log(logging.ERROR, "bug", "MQTT: an event could not be made", exc_info=True)
            return
        self.send(f"{self.base}/event", data)

    def level(self, levels: dict, elapsed_s: float) -> None:
        # `level_hz` on average: reports come when their audio has been written, a little
        # early or late, so a slot is taken up to half a period early instead of being missed.
        now, period = time.monotonic(), 1.0 / self.level_hz
        with self._lock:
            if now < self._next_level - period / 2 or not self._connected:
                return
            self._next_level = max(now, self._next_level) + period
        payload = {**levels, "elapsed_s": round(elapsed_s, 2)}
        self.send(f"{self.base}/level", json.dumps(payload), qos=0)

    def send(self, topic: str, payload: str | bytes, qos: int = 1, retain: bool = False) -> bool:
        """Publish within the limits: never larger than MAX_PAYLOAD, and while the broker is
        away at most `queue_max` QoS 1 messages kept. Never raises."""
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        if len(data) > MAX_PAYLOAD:
            self._quiet.log(
                logging.ERROR, "messages too large", "MQTT: a %d-byte message for %s is not "
                "sent (at most %d)", len(data), topic, MAX_PAYLOAD,
            )  # fmt: skip
            return False
        if qos and not self._room_offline():
            self._quiet.log(
                logging.WARNING, "messages dropped while offline", "MQTT: the broker is "
                "away and %d messages wait already ([mqtt] queue_max): %s dropped",
                self.queue_max, topic,
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

    def _room_offline(self) -> bool:
        """Connected, or one more QoS 1 message may wait for the broker (and is counted)."""
        with self._lock:
            if self._connected:
                return True
            if self._made_offline >= self.queue_max:
                return False
            self._made_offline += 1
            return True
