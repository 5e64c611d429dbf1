"""The recorder reaches a broker over TLS with its CA file, and refuses one it cannot verify."""

from __future__ import annotations

import getpass
import socket
import subprocess
import time

import pytest

from recorder.app.virtualmic import Feeder, random_periods
from recorder.core.formats import FORMATS
from tests.mosquitto import free_port, require_mosquitto
from tests.support import Running, make_config, wait_until


def _openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture
def tls_broker(tmp_path):
    broker, _ = require_mosquitto()
    d = tmp_path / "tls"
    d.mkdir()
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=d)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
             "-keyout", "server.key", "-out", "server.csr", cwd=d)  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt", cwd=d)  # fmt: skip
    port = free_port()
    (d / "m.conf").write_text(
        # as root mosquitto would drop to its own user, which cannot read our key files
        f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous true\n"
        f"cafile {d / 'ca.crt'}\ncertfile {d / 'server.crt'}\nkeyfile {d / 'server.key'}\n"
    )
    proc = subprocess.Popen([broker, "-c", str(d / "m.conf")], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    yield port, d / "ca.crt"
    proc.kill()
    proc.wait(5)


def test_tls_with_the_brokers_ca(tmp_path, mic, tls_broker):
    port, ca = tls_broker
    cfg = make_config(
        tmp_path,
        mqtt={"host": "127.0.0.1", "port": port, "tls": True, "ca_file": str(ca)},
        warnings={"disk_minutes": 0},
    )
    feeder = Feeder(mic.infile, random_periods(FORMATS["S16_LE"], 2, 4800, None), 0.05)
    with Running(cfg, feeder) as r:
        wait_until(lambda: r.rec.mqtt.connected, 15, "a TLS connection")


def test_tls_refuses_a_broker_it_cannot_verify(tmp_path, mic, tls_broker):
    port, _ = tls_broker
    cfg = make_config(
        tmp_path,
        mqtt={"host": "127.0.0.1", "port": port, "tls": True},  # system CAs: not our test CA
        warnings={"disk_minutes": 0},
    )
    feeder = Feeder(mic.infile, random_periods(FORMATS["S16_LE"], 2, 4800, None), 0.05)
    with Running(cfg, feeder) as r:
        r.wait_frames(48000)
        time.sleep(1.0)
        assert not r.rec.mqtt.connected
        assert r.rec.controller.status()["device"] == "ok"  # recording is untouched
