"""/mqtt: the page's MQTT over WebSockets, carried to the box's broker on loopback.

Why a proxy and not a relay of our own: the page already speaks MQTT with mqtt.js (status,
levels, events, the coach's commands, the fleet view) and mosquitto already checks every
message against the ACL. Carrying its websocket through this server changes only where the
page connects — the same origin, behind the login cookie, under TLS when the server has it —
and the broker's websocket listener no longer faces the LAN. The broker still asks for the
`dashboard` user and password inside MQTT, as before.

Each message is carried as it is, at most `MAX_MESSAGE` bytes (above the broker's own 256 KiB
limit); either side closing closes the other, and a broker that cannot be reached in
`connect_timeout_s` is said in the close reason the phone gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, web

log = logging.getLogger(__name__)

MAX_MESSAGE = 1 << 20
MAX_CONNECTIONS = 32  # phones at once; each is two sockets and two small tasks
SUBPROTOCOLS = ("mqtt", "mqttv3.1")
CLOSE_TRY_AGAIN = 1013  # RFC 6455 "try again later"
BROKER_DOWN = "the box's broker is not answering (is mosquitto running?)"


class MqttProxy:
    """The /mqtt route: one upstream websocket per phone, to `upstream` (ws://127.0.0.1:…)."""

    def __init__(self, upstream: str, connect_timeout_s: float = 5.0) -> None:
        self.upstream = upstream
        self.connect_timeout_s = connect_timeout_s
        self._open: set[web.WebSocketResponse] = set()  # the event loop's only
        self._session: aiohttp.ClientSession | None = None

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/mqtt", self.handle)
        app.cleanup_ctx.append(self._client_session)
        app.on_shutdown.append(self._close_all)

    async def _client_session(self, _app: web.Application):
        self._session = aiohttp.ClientSession(auto_decompress=False)
        yield
        await self._session.close()

    async def _close_all(self, _app: web.Application) -> None:
        for ws in list(self._open):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"the web server is stopping")

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        phone = web.WebSocketResponse(
            protocols=SUBPROTOCOLS, max_msg_size=MAX_MESSAGE, heartbeat=30.0, compress=False
        )
        if len(self._open) >= MAX_CONNECTIONS:
            await phone.prepare(request)
            await phone.close(code=CLOSE_TRY_AGAIN, message=b"too many pages open at once")
            return phone
        self._open.add(phone)
        try:
            # The broker first, so that the phone's handshake completing means it is there;
            # when it is not, the phone is told why in the close reason.
            broker = await self._connect(request, phone)
            await phone.prepare(request)
            if broker is None:
                await phone.close(code=CLOSE_TRY_AGAIN, message=BROKER_DOWN.encode())
                return phone
            async with broker:
                await _carry(phone, broker)
        finally:
            self._open.discard(phone)
        return phone

    async def _connect(
        self, request: web.Request, phone: web.WebSocketResponse
    ) -> aiohttp.ClientWebSocketResponse | None:
        assert self._session is not None
        asked = phone.can_prepare(request).protocol or "mqtt"
        try:
            return await asyncio.wait_for(
                self._session.ws_connect(
                    self.upstream,
                    protocols=(asked,),
                    max_msg_size=MAX_MESSAGE,
                    autoping=True,
                    compress=0,
                ),
                self.connect_timeout_s,
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("/mqtt from %s: the broker at %s: %r", request.remote, self.upstream, exc)
            return None


async def _carry(phone: web.WebSocketResponse, broker: aiohttp.ClientWebSocketResponse) -> None:
    """Both ways until either side ends; then the other is closed too."""
    up = asyncio.create_task(_pump(phone, broker))
    down = asyncio.create_task(_pump(broker, phone))
    try:
        done, _ = await asyncio.wait((up, down), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (up, down):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if down in done:  # the broker went first: tell the phone why
        await phone.close(
            code=WSCloseCode.GOING_AWAY, message=b"the box's broker closed the connection"
        )
    else:
        await broker.close()
    if not phone.closed:
        await phone.close()


async def _pump(
    src: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    dst: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
) -> None:
    """Copy messages from `src` to `dst` until `src` closes or fails."""
    async for msg in src:
        if msg.type == WSMsgType.BINARY:
            await dst.send_bytes(msg.data)
        elif msg.type == WSMsgType.TEXT:
            await dst.send_str(msg.data)
        elif msg.type == WSMsgType.ERROR:
            break
