"""/mqtt: a real MQTT session from paho (websockets, as the page's mqtt.js does) through the web
server to the box's real mosquitto (shipped config and ACL), behind the login cookie."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import uuid
from http.cookies import SimpleCookie

import aiohttp
import httpx
import paho.mqtt.client as mqtt
import pytest

from recorder.web.auth import COOKIE
from recorder.web.proxy import BROKER_DOWN, MAX_MESSAGE
from recorder.web.server import build_app
from tests.mosquitto import HOST, Credentials, Mosquitto
from tests.phone import Watcher
from tests.support import wait_until
from tests.web.serving import PASSWORD, ServedApp, settings

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def served(tmp_path, broker):
    with ServedApp(build_app(settings(tmp_path, broker.ws_url))) as s:
        yield s


def _cookie(served: ServedApp) -> str:
    answer = httpx.post(
        served.url + "api/login", json={"password": PASSWORD}, headers=served.origin
    )
    assert answer.status_code == 200
    return SimpleCookie(answer.headers["set-cookie"])[COOKIE].value


def _phone(served: ServedApp, user: Credentials, cookie: str | None) -> mqtt.Client:
    """paho over websockets to the web server's /mqtt, as the page connects."""
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"phone-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv311,
        transport="websockets",
    )
    headers = served.origin | ({"Cookie": f"{COOKIE}={cookie}"} if cookie else {})
    c.ws_set_options(path="/mqtt", headers=headers)
    c.username_pw_set(user.username, user.password)
    result: dict = {}
    c.on_connect = lambda _c, _u, _f, rc, _p: result.setdefault("rc", rc)
    c.connect(HOST, served.port, keepalive=30)
    c.loop_start()
    wait_until(lambda: "rc" in result, 20, "the broker's CONNACK through the proxy")
    assert not result["rc"].is_failure, result["rc"]
    return c


def test_a_real_mqtt_session_goes_through_the_proxy(served, broker):
    watcher = Watcher(broker)
    box = broker.client(broker.recorder)
    box.publish(broker.topic("state"), b'{"state": "idle"}', qos=1, retain=True).wait_for_publish(
        10
    )
    phone = _phone(served, broker.dashboard, _cookie(served))
    got: list[tuple[str, bytes]] = []
    phone.on_message = lambda _c, _u, m: got.append((m.topic, m.payload))
    phone.subscribe(broker.topic("#"), qos=1)
    wait_until(lambda: (broker.topic("state"), b'{"state": "idle"}') in got, 20, "retained state")
    big = b'{"state": "recording", "pad": "' + b"x" * 200_000 + b'"}'  # a full state, 195 KiB
    box.publish(broker.topic("state"), big, qos=1, retain=True)
    wait_until(lambda: (broker.topic("state"), big) in got, 20, "a large state")
    phone.publish(broker.topic("cmd"), b"mark", qos=1).wait_for_publish(10)
    wait_until(lambda: (b"mark", False) in watcher.of("/cmd"), 20, "the phone's command")
    # the broker's ACL still applies: the page's account may not forge the box's state
    phone.publish(broker.topic("state"), b'{"state": "forged"}', qos=1).wait_for_publish(10)
    phone.publish(broker.topic("cmd"), b"stop", qos=1).wait_for_publish(10)
    wait_until(lambda: (b"stop", False) in watcher.of("/cmd"), 20, "the second command")
    assert all(b"forged" not in p for p, _ in watcher.of("/state"))
    phone.disconnect()
    phone.loop_stop()


def test_no_login_no_mqtt(served, broker):
    with pytest.raises(mqtt.WebsocketConnectionError):
        _phone(served, broker.dashboard, None)
    with pytest.raises(mqtt.WebsocketConnectionError):
        _phone(served, broker.dashboard, "made-up-token")

    async def handshake() -> int:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await _ws(served, "made-up-token")
        return refused.value.status

    assert asyncio.run(handshake()) == 401
    assert " as phone-" not in broker.log_text()  # the broker never saw them


async def _ws(served: ServedApp, cookie: str):
    session = aiohttp.ClientSession(cookies={COOKIE: cookie})
    try:
        ws = await session.ws_connect(
            served.url + "mqtt", protocols=("mqtt",), headers=served.origin, max_msg_size=0
        )
    except BaseException:
        await session.close()
        raise
    return session, ws


def test_an_oversized_message_closes_the_connection(served, broker):
    cookie = _cookie(served)

    async def scenario():
        session, ws = await _ws(served, cookie)
        async with session:
            assert ws.protocol == "mqtt"
            await ws.send_bytes(b"\x10" + b"x" * MAX_MESSAGE)
            msg = await asyncio.wait_for(ws.receive(), 30)
            return msg.type, ws.close_code

    kind, code = asyncio.run(scenario())
    assert kind in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG


def test_a_broker_that_is_down_or_goes_away_is_said_in_the_close_reason(served, broker):
    cookie = _cookie(served)

    async def connected_then_killed():
        session, ws = await _ws(served, cookie)
        async with session:
            await asyncio.to_thread(broker.stop)
            msg = await asyncio.wait_for(ws.receive(), 30)
            return msg.type, ws.close_code, msg.extra

    kind, code, reason = asyncio.run(connected_then_killed())
    assert kind == aiohttp.WSMsgType.CLOSE
    assert code == aiohttp.WSCloseCode.GOING_AWAY
    assert reason == "the box's broker closed the connection"

    async def broker_down():
        session, ws = await _ws(served, cookie)
        async with session:
            msg = await asyncio.wait_for(ws.receive(), 30)
            return msg.type, ws.close_code, msg.extra

    kind, code, reason = asyncio.run(broker_down())
    assert (kind, code, reason) == (aiohttp.WSMsgType.CLOSE, 1013, BROKER_DOWN)


PHONE_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import paho.mqtt.client as mqtt
    port, cookie, user, password, will, origin = sys.argv[1:]
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, transport="websockets")
    c.ws_set_options(path="/mqtt", headers={"Cookie": cookie, "Origin": origin})
    c.username_pw_set(user, password)
    c.will_set(will, b"the phone is gone", qos=1)
    c.on_connect = lambda *a: print("connected", flush=True)
    c.connect("127.0.0.1", int(port), keepalive=60)
    c.loop_forever()
    """
)


def test_a_phone_that_vanishes_closes_its_broker_connection(served, broker: Mosquitto):
    """The phone's side closing (here its process killed: no MQTT DISCONNECT) closes the
    proxy's connection to the broker, which then sends the phone's will at once."""
    watcher = Watcher(broker)
    phone = subprocess.Popen(
        [
            sys.executable,
            "-c",
            PHONE_SCRIPT,
            str(served.port),
            f"{COOKIE}={_cookie(served)}",
            broker.dashboard.username,
            broker.dashboard.password,
            broker.topic("cmd"),
            served.origin["Origin"],
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert phone.stdout.readline().strip() == "connected"
        assert watcher.of("/cmd") == []
        phone.kill()
        phone.wait(10)

        wait_until(lambda: watcher.of("/cmd"), 20, "the will of the vanished phone")
        assert watcher.of("/cmd") == [(b"the phone is gone", False)]
    finally:
        if phone.poll() is None:
            phone.kill()
            phone.wait(10)
