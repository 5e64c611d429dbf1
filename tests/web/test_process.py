"""The real `session-recorder web` process: HTTPS with a certificate made here, a config it
refuses, and a hung broker that must not stop it answering."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import ssl
import subprocess
from http.cookies import SimpleCookie

import aiohttp
import httpx
import pytest

from recorder.web.auth import COOKIE
from recorder.web.proxy import BROKER_DOWN
from tests.mosquitto import HOST, Credentials, free_port
from tests.support import cli, write_config
from tests.web.serving import PASSWORD, WebProcess, page_dir, password_file

pytestmark = pytest.mark.timeout(120)


def _config(tmp_path, **web):
    section = {
        "host": HOST,
        "port": free_port(),
        "password_file": str(password_file(tmp_path)),
        "dashboard_dir": str(page_dir(tmp_path)),
    } | web
    return write_config(tmp_path, web=section), section["port"]


def _self_signed(tmp_path):
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (Debian package openssl)")
    cert, key = tmp_path / "box.crt", tmp_path / "box.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    key.chmod(0o600)
    return cert, key


def test_https_with_the_boxs_certificate_and_a_secure_cookie(tmp_path):
    cert, key = _self_signed(tmp_path)
    config, port = _config(tmp_path, tls_cert=str(cert), tls_key=str(key))
    with WebProcess(config, port, tmp_path, scheme="https") as web:
        origin = {"Origin": f"https://{HOST}:{port}"}
        with httpx.Client(verify=ssl.create_default_context(cafile=cert)) as client:
            page = client.get(web.url)
            assert page.status_code == 200
            assert page.text == (tmp_path / "dist" / "index.html").read_text()
            login = client.post(web.url + "api/login", json={"password": PASSWORD}, headers=origin)
            assert login.status_code == 200
            cookie = SimpleCookie(login.headers["set-cookie"])[COOKIE]
            assert cookie["secure"] is True
            assert cookie["httponly"] is True
            assert client.get(web.url + "api/me").status_code == 200
        with pytest.raises(httpx.TransportError):  # plain HTTP on the TLS port gets nothing
            httpx.get(f"http://{HOST}:{port}/api/me", timeout=10).raise_for_status()
        assert "plain HTTP" not in web.log_text()


def test_plain_http_warns_and_a_bad_config_is_refused(tmp_path):
    config, port = _config(tmp_path)
    with WebProcess(config, port, tmp_path) as web:
        assert httpx.get(web.url).status_code == 200
    assert web.proc.returncode == 0  # SIGTERM: a clean stop
    assert "plain HTTP: the page password and the recordings cross the network" in web.log_text()
    password_file(tmp_path).chmod(0o644)
    done = cli("web", "--config", str(config), timeout=60)
    assert done.returncode == 2
    assert "readable by every user: chmod 640" in done.stderr
    password_file(tmp_path)
    cert, _key = _self_signed(tmp_path)
    bad, _ = _config(tmp_path, tls_cert=str(cert), tls_key=str(cert))  # the cert is no key
    done = cli("web", "--config", str(bad), timeout=60)
    assert done.returncode == 2
    assert "tls_key" in done.stderr


def _connect_packet(user: Credentials) -> bytes:
    """An MQTT 3.1.1 CONNECT with a user name and password (clean session, keepalive 60 s)."""

    def text(value: str) -> bytes:
        raw = value.encode()
        return len(raw).to_bytes(2, "big") + raw

    body = text("MQTT") + bytes([4, 0xC2]) + (60).to_bytes(2, "big")
    body += text("hung-broker-test") + text(user.username) + text(user.password)
    assert len(body) < 128  # one byte of remaining length
    return bytes([0x10, len(body)]) + body


def test_a_hung_broker_does_not_stop_the_server_answering(tmp_path, broker):
    """mosquitto stopped (SIGSTOP) holding a phone's session open: the page, logins and a second
    /mqtt all answer; the second is told the broker is not answering; SIGCONT mends it."""
    config, port = _config(tmp_path, broker_ws_port=broker.ws_port)
    with WebProcess(config, port, tmp_path) as web:
        origin = {"Origin": f"http://{HOST}:{port}"}

        async def scenario() -> tuple[object, ...]:
            jar = aiohttp.CookieJar(unsafe=True)  # it keeps no cookie of an IP address else
            async with aiohttp.ClientSession(cookie_jar=jar) as session:
                login = await session.post(
                    web.url + "api/login", json={"password": PASSWORD}, headers=origin
                )
                assert login.status == 200
                first = await session.ws_connect(web.url + "mqtt", protocols=("mqtt",))
                await first.send_bytes(_connect_packet(broker.dashboard))
                connack = await asyncio.wait_for(first.receive(), 60)
                assert connack.data == b"\x20\x02\x00\x00", connack  # accepted
                os.kill(broker.proc.pid, signal.SIGSTOP)
                try:
                    second = asyncio.create_task(
                        session.ws_connect(web.url + "mqtt", protocols=("mqtt",))
                    )
                    page = await session.get(web.url)
                    me = await session.get(web.url + "api/me")
                    again = await session.post(
                        web.url + "api/login", json={"password": PASSWORD}, headers=origin
                    )
                    answers = (page.status, me.status, again.status)
                    ws = await asyncio.wait_for(second, 60)
                    msg = await asyncio.wait_for(ws.receive(), 60)
                    told = (msg.type, ws.close_code, msg.extra)
                    await first.send_bytes(b"\xc0\x00")  # PINGREQ, waiting in the broker's socket
                finally:
                    os.kill(broker.proc.pid, signal.SIGCONT)
                pong = await asyncio.wait_for(first.receive(), 60)
                await first.close()
                return answers, told, pong.data

        answers, told, pong = asyncio.run(scenario())
        assert answers == (200, 200, 200)
        assert told == (aiohttp.WSMsgType.CLOSE, 1013, BROKER_DOWN)
        assert pong == b"\xd0\x00"  # the broker's PINGRESP, once it runs again
