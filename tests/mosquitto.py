"""A real mosquitto for tests: the box's shipped configuration, on free loopback ports.

The config, ACL and users are the ones an installed box has (`dashboard/mosquitto/`), rendered
for a device id, with only the ports, the file paths and logging changed — so the tests check
what ships. Two extra users exist only here: `admin` may do anything (to watch what others could
or could not publish) and `fleet` reads every box (as a central broker's viewer would).

    broker = Mosquitto(tmp_path, device_id="box-1").start()
    broker.port, broker.ws_port               # MQTT over TCP; over WebSockets (ws_url)
    broker.recorder.username, .password       # also .dashboard, .admin, .fleet
    client = broker.client(broker.recorder)   # a connected paho client, loop running
    broker.client(broker.dashboard, websockets=True)  # as the web server's /mqtt does
    broker.topic("state")                     # session-recorder/box-1/state
    broker.stop(); broker.start()             # same ports: a broker restart (retained lost)
    broker.close()                            # always: kill it and disconnect its clients

The broker serves no page: the web server does, and carries the websockets listener at /mqtt
(tests/web/serving.py `PageServer` puts one in front of this broker).

`require_mosquitto()` skips the calling test (with the reason) when the binary is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

HOST = "127.0.0.1"  # never any other address: the broker has test passwords only
PREFIX = "session-recorder"
HA_PREFIX = "homeassistant"
SHIPPED = Path(__file__).resolve().parent.parent / "dashboard" / "mosquitto"
PLACEHOLDER = re.compile(r"@[A-Z_]+@")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def mosquitto_binary() -> str | None:
    """Debian's broker lives in /usr/sbin, which is not on every PATH."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/bin")


def require_mosquitto() -> tuple[str, str]:
    """(mosquitto, mosquitto_passwd), or skip the test: the broker is a Debian package."""
    broker = mosquitto_binary()
    passwd = shutil.which("mosquitto_passwd") or shutil.which(
        "mosquitto_passwd", path="/usr/bin:/usr/sbin"
    )
    if broker is None or passwd is None:
        pytest.skip("mosquitto is not installed (Debian package `mosquitto`)")
    return broker, passwd


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def render_acl(device_id: str, prefix: str = PREFIX, ha_prefix: str = HA_PREFIX) -> str:
    """The shipped ACL template with the installer's substitutions."""
    text = (SHIPPED / "session-recorder.acl").read_text()
    for key, value in (
        ("@PREFIX@", prefix),
        ("@DEVICE_ID@", device_id),
        ("@HA_PREFIX@", ha_prefix),
    ):
        text = text.replace(key, value)
    leftover = [
        line for line in text.splitlines() if not line.startswith("#") and PLACEHOLDER.search(line)
    ]
    if leftover:
        raise ValueError(f"unrendered placeholders in the ACL: {leftover}")
    return text


def _replace_once(text: str, old: str, new: str) -> str:
    """Fail loudly when the shipped config no longer has a line the tests rely on."""
    if text.count(old) != 1:
        raise ValueError(f"the shipped session-recorder.conf should contain {old!r} once")
    return text.replace(old, new)


class Mosquitto:
    """The box's broker on 127.0.0.1:`port` (MQTT) and `ws_port` (WebSockets + the page)."""

    def __init__(
        self,
        tmp_path: Path,
        device_id: str = "box-1",
        prefix: str = PREFIX,
    ) -> None:
        self.binary, self.passwd_binary = require_mosquitto()
        self.dir = tmp_path / f"mosquitto-{uuid.uuid4().hex[:6]}"
        self.dir.mkdir(parents=True)
        self.device_id = device_id
        self.prefix = prefix
        self.port = free_port()
        self.ws_port = free_port()
        self.recorder = Credentials("recorder", "recorder-" + uuid.uuid4().hex[:8])
        self.dashboard = Credentials("dashboard", "dashboard-" + uuid.uuid4().hex[:8])
        self.admin = Credentials("admin", "admin-" + uuid.uuid4().hex[:8])
        self.fleet = Credentials("fleet", "fleet-" + uuid.uuid4().hex[:8])
        self.log = self.dir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._clients: list[mqtt.Client] = []
        self._write_files()

    # ---- addresses ---------------------------------------------------------------------------

    @property
    def ws_url(self) -> str:
        """The websockets listener (loopback), which the web server carries at /mqtt."""
        return f"ws://{HOST}:{self.ws_port}/"

    def recorder_section(self, folder: Path) -> dict:
        """The `[mqtt]` section of a recorder logging in as the box's own account (its password
        in a file under `folder`, mode 0600, as the daemon requires)."""
        pw = folder / "mqtt.pass"
        pw.write_text(self.recorder.password + "\n")
        pw.chmod(0o600)
        return {
            "host": HOST,
            "port": self.port,
            "username": self.recorder.username,
            "password_file": str(pw),
        }

    def topic(self, leaf: str, device_id: str | None = None) -> str:
        return f"{self.prefix}/{device_id or self.device_id}/{leaf}"

    # ---- files -------------------------------------------------------------------------------

    def _write_files(self) -> None:
        passwd = self.dir / "passwd"
        passwd.touch(mode=0o600)
        for user in (self.recorder, self.dashboard, self.admin, self.fleet):
            subprocess.run(
                [self.passwd_binary, "-b", str(passwd), user.username, user.password],
                check=True,
                capture_output=True,
                timeout=10,
            )
        acl = render_acl(self.device_id, self.prefix)
        acl += (
            "\n# tests only\n"
            "user admin\ntopic readwrite #\n\n"
            f"user fleet\ntopic read {self.prefix}/#\ntopic write {self.prefix}/+/cmd\n"
        )
        (self.dir / "acl").write_text(acl)
        conf = (SHIPPED / "session-recorder.conf").read_text()
        conf = _replace_once(conf, "listener 1883 127.0.0.1\n", f"listener {self.port} {HOST}\n")
        ws = f"listener {self.ws_port} {HOST}\nprotocol websockets\n"
        conf = _replace_once(conf, "listener 9001 127.0.0.1\nprotocol websockets\n", ws)
        conf = _replace_once(
            conf,
            "password_file /etc/mosquitto/session-recorder.passwd\n",
            f"password_file {passwd}\n",
        )
        conf = _replace_once(
            conf, "acl_file /etc/mosquitto/session-recorder.acl\n", f"acl_file {self.dir / 'acl'}\n"
        )
        # Debian's mosquitto.conf sets these on a box; here they go to our log. As root, mosquitto
        # would drop to the `mosquitto` user, which cannot read a private tmp dir.
        head = "log_dest stderr\nlog_type all\nconnection_messages true\n"
        if os.geteuid() == 0:
            head += "user root\n"
        (self.dir / "mosquitto.conf").write_text(head + conf)

    # ---- life ----------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> Mosquitto:
        """Start (or restart, on the same ports) and wait until both listeners accept."""
        if self.proc is not None:
            raise RuntimeError("mosquitto already running")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(self.dir / "mosquitto.conf")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + timeout
        waiting = [self.port, self.ws_port]
        while waiting and time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code, self.proc = self.proc.returncode, None
                raise RuntimeError(f"mosquitto exited with {code}:\n{self.log_text()}")
            try:
                with socket.create_connection((HOST, waiting[0]), timeout=0.5):
                    waiting.pop(0)
            except OSError:
                time.sleep(0.05)
        if waiting:
            self.stop()
            raise RuntimeError(f"mosquitto did not listen in {timeout} s:\n{self.log_text()}")
        return self

    def stop(self) -> None:
        """Kill the broker (as a crash would: no clean goodbye) and wait until it is gone."""
        if self.proc is None:
            return
        self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        finally:
            self.proc = None

    def close(self) -> None:
        """Disconnect every client made by client() and kill the broker."""
        for c in self._clients:
            c.disconnect()
            c.loop_stop()
        self._clients.clear()
        self.stop()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- clients -------------------------------------------------------------------------------

    def client(
        self,
        user: Credentials | None,
        client_id: str = "",
        will: tuple[str, str] | None = None,
        timeout: float = 10.0,
        *,
        websockets: bool = False,
        protocol: mqtt.MQTTProtocolVersion = mqtt.MQTTv5,
    ) -> mqtt.Client:
        """A paho-mqtt 2 client logged in as `user` (None: anonymous), connected, loop running.

        `websockets`: through the listener the phone's MQTT reaches through the web server
        (port `ws_port`). Raises ConnectionRefusedError with the broker's reason
        when it refuses the login.
        """
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-{uuid.uuid4().hex[:8]}",
            protocol=protocol,
            transport="websockets" if websockets else "tcp",
        )
        if user is not None:
            c.username_pw_set(user.username, user.password)
        if will is not None:
            c.will_set(will[0], will[1], qos=1, retain=True)
        result: dict[str, object] = {}

        def on_connect(_c, _u, _flags, reason_code, _props) -> None:
            result["rc"] = reason_code

        c.on_connect = on_connect
        c.connect(HOST, self.ws_port if websockets else self.port, keepalive=30)
        c.loop_start()
        deadline = time.monotonic() + timeout
        while "rc" not in result and time.monotonic() < deadline:
            time.sleep(0.01)
        rc = result.get("rc")
        if rc is None or rc.is_failure:  # type: ignore[attr-defined]
            c.disconnect()  # wakes paho's loop thread, so loop_stop() does not wait out its select
            c.loop_stop()
            raise ConnectionRefusedError(f"mosquitto refused {user}: {rc}")
        c.on_connect = None
        self._clients.append(c)
        return c
