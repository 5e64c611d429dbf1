"""`MqttLink`, the front the daemon holds: builds the paho client, connects, starts and stops
the threads, routes what comes in, and takes what the recorder tells (state changed, recent
list changed, an event, levels).

Like Frigate's MQTT client: availability is retained with `offline` as the Last Will, the state
is retained and re-published on every (re)connect, and a broker that is missing at boot, goes
away or comes back never touches recording — `connect_async` and paho's own loop thread do the
networking, and the recorder only ever hands this object dicts.

No message can end a thread: paho's callback catches everything (a bug is logged and answered);
paho's network thread, when it ends anyway, is started again by the publisher thread's beat
within a second, logged and reported through `restarted`, as the command thread's loop is
(`supervision.keep_running`). The session is clean, so the broker queues nothing for us while we
are away.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from recorder import __version__
from recorder.adapters.mqtt.client_id import client_id
from recorder.adapters.mqtt.commands import CommandGate
from recorder.adapters.mqtt.outlet import OUT_MAX, Outlet
from recorder.adapters.mqtt.publisher import StatePublisher
from recorder.adapters.mqtt.quiet import Quiet
from recorder.config import MqttSection
from recorder.core.discovery import discovery_messages

log = logging.getLogger(__package__)  # the link's one logger, as before it was split


class MqttLink:
    """The recorder on the broker: the client and its callbacks here, the cmd topic in
    `CommandGate`, the retained state in `StatePublisher`, what goes out in `Outlet`."""

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
        self._stopping = threading.Event()
        self._quiet = Quiet()
        self._password_warned = False
        self.client_id = client_id(cfg, device_id, client_id_file)
        self.client = self._client()
        self._net_started = False
        self._outlet = Outlet(self.client, self.base, cfg.queue_max, cfg.level_hz, self._quiet)
        self._commands = CommandGate(
            self.cmd_topic,
            cfg.commands,
            self._outlet,
            self._quiet,
            self._dispatch,
            self._stopping,
            self._restart,
        )
        self._publisher = StatePublisher(
            self._outlet,
            self._quiet,
            status,
            recent,
            self._stopping,
            beat=self._supervise,
            each_second=self._commands.summaries,
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
        # Our own gate (Outlet.send) keeps `queue_max` while offline; this only bounds a broker
        # that stops acknowledging while still connected.
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
        self._commands.start()
        self._publisher.start()

    def stop(self) -> None:
        """Say `offline` (as the Will would) and disconnect."""
        self._stopping.set()
        self._publisher.wake()
        try:
            if self.connected:
                self._publisher.publish()
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
        return self._outlet.connected

    # ---- paho callbacks (paho's thread) ----------------------------------------------------------

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            log.error("MQTT broker %s:%d refused us: %s", self.cfg.host, self.cfg.port, reason_code)
            return
        log.info("MQTT connected to %s:%d as %s", self.cfg.host, self.cfg.port, self.base)
        self._outlet.online()
        client.subscribe(
            [
                # noLocal: our own clearing of a retained command does not come back to us
                (self.cmd_topic, SubscribeOptions(qos=1, noLocal=True, retainAsPublished=True)),
                (f"{self.cfg.ha_prefix}/status", SubscribeOptions(qos=1)),
            ]
        )
        self._outlet.send(f"{self.base}/availability", "online", retain=True)
        self._discovery()
        self._publisher.wake()  # state now

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        was = self._outlet.offline()
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
                self._commands.bad(
                    "the box could not read this message (a fault of its own; its log says more)"
                )

    def _take(self, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == f"{self.cfg.ha_prefix}/status":
            if msg.payload.strip() == b"online":
                self._discovery()  # Home Assistant restarted and lost what it knew
            return
        if msg.topic == self.cmd_topic:
            self._commands.take(msg)

    def _discovery(self) -> None:
        for topic, payload in discovery_messages(
            self.cfg.ha_prefix, self.cfg.prefix, self.device_id, __version__, self.cfg.ha_discovery
        ):
            self._outlet.send(topic, payload, retain=True)

    # ---- supervision (the publisher thread's beat) -----------------------------------------------

    def _supervise(self) -> None:
        """Start paho's network thread again when it ended although nothing asked it to (the
        command thread restarts its own loop: supervision.keep_running)."""
        # paho's loop thread clears `_thread` when it ends (`_thread_main`), so loop_start()
        # may be called again; the connection it had goes on if it is still open.
        net_ended = self._net_started and getattr(self.client, "_thread", None) is None
        if net_ended and not self._stopping.is_set():
            self._restart("mqtt-network", "paho's network loop ended")
            self.client.loop_start()

    def _dispatch(self, event: object) -> dict:
        # `dispatch` and `restarted` are read at each call: whoever holds the link may swap them
        return self.dispatch(event)

    def _restart(self, name: str, why: str) -> None:
        log.error("MQTT: thread %s ended (%s); started again", name, why)
        if self.restarted is not None:
            try:
                self.restarted(name, why)
            except Exception:
                log.exception("MQTT: reporting the restart of %s failed", name)

    # ---- what the recorder tells us (any thread) ----------------------------------------------------

    def state_changed(self) -> None:
        self._publisher.wake()

    def refresh_recent(self) -> None:
        """The recent list changed: rebuilt and published by the publisher thread, so a caller
        (the writer, a command) never waits for the manifests to be read."""
        self._publisher.refresh_recent()

    def event(self, payload: dict) -> None:
        """Publish an event; never raises (a payload that cannot be sent is logged)."""
        self._outlet.event(payload)

    def level(self, levels: dict, elapsed_s: float) -> None:
        """Levels at `level_hz`, only while connected (QoS 0: never held for the broker)."""
        self._outlet.level(levels, elapsed_s)

    def state_payload(self) -> dict:
        return self._publisher.state_payload()
