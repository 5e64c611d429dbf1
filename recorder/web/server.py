"""The web server's application: its routes and the middlewares every request goes through.

Everything under /api/ (but login and logout), /media/ and /mqtt needs the login cookie,
whatever route serves it, so a route added later is covered without a word; the page itself
and its assets are public (they hold no data). Every request that could change something
(POST, PUT, PATCH, DELETE, and the /mqtt websocket) must come from the page's own origin: a
browser says where a request comes from in `Origin`, and a page on another site cannot make
a phone's browser send ours. A client that is not a browser sends no `Origin`; it sends
`X-Requested-With` instead, which no cross-site form can add.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from yarl import URL

from recorder.web.auth import LOGIN_PATH, LOGOUT_PATH, LoginDesk, Logins, LoginThrottle
from recorder.web.proxy import MqttProxy
from recorder.web.static import StaticPage

PROTECTED = frozenset({"api", "media", "mqtt"})  # first path segments behind the login
PUBLIC = frozenset({LOGIN_PATH, LOGOUT_PATH})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_BODY = 1 << 20  # the largest request body (a transcript correction fits many times)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # no other site may frame the page and steer taps onto it
}

DESK = web.AppKey("login_desk", LoginDesk)
RouteAdder = Callable[[web.Application], None]


@dataclass(frozen=True)
class WebSettings:
    """What the server is built from (the [web] section, resolved by recorder/app/)."""

    password_file: Path
    dashboard_dir: Path
    broker_ws_url: str  # the broker's websocket listener on loopback
    login_s: float
    tls: bool
    broker_timeout_s: float = 5.0


def build_app(
    settings: WebSettings,
    routes: Iterable[RouteAdder] = (),
    clock: Callable[[], float] = time.monotonic,
) -> web.Application:
    """The application: login, /mqtt, the routes given (media, API), then the page."""
    desk = LoginDesk(
        password_file=settings.password_file,
        logins=Logins(settings.login_s),
        throttle=LoginThrottle(),
        clock=clock,
        secure_cookie=settings.tls,
    )
    app = web.Application(middlewares=[_guard], client_max_size=MAX_BODY)
    app[DESK] = desk
    app.router.add_post(LOGIN_PATH, desk.login)
    app.router.add_post(LOGOUT_PATH, desk.logout)
    app.router.add_get("/api/me", desk.me)
    MqttProxy(settings.broker_ws_url, settings.broker_timeout_s).add_routes(app)
    for add in routes:
        add(app)
    StaticPage(settings.dashboard_dir).add_routes(app)
    return app


def is_protected(path: str) -> bool:
    first = path.lstrip("/").split("/", 1)[0]
    return first in PROTECTED and path not in PUBLIC


def same_origin(request: web.Request) -> bool:
    """Whether a request that may change something comes from the page's own origin."""
    origin = request.headers.get("Origin")
    if origin is None:
        # Browsers send Origin with every cross-site request that changes something. Without
        # it, ask for what no form can send: a header, or a JSON body (another site's script
        # could only after a CORS preflight, which this box never allows), so a bare
        # `curl --json` logs in while a text/plain form carrying the same bytes does not.
        return "X-Requested-With" in request.headers or request.content_type == "application/json"
    try:
        theirs = URL(origin)
        ours = URL(f"{request.scheme}://{request.host}")
    except ValueError:
        return False
    if not theirs.absolute or not ours.absolute:
        return False
    return (theirs.scheme, theirs.host, theirs.port) == (ours.scheme, ours.host, ours.port)


def _changes_something(request: web.Request) -> bool:
    upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
    return request.method not in SAFE_METHODS or upgrade


@web.middleware
async def _guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if _changes_something(request) and not _origin_ok(request):
        answer: web.StreamResponse = web.json_response(
            {"ok": False, "error": "refused: not from this box's page"}, status=403
        )
    elif is_protected(request.path) and not request.app[DESK].logged_in(request):
        answer = web.json_response({"ok": False, "error": "log in first"}, status=401)
    else:
        try:
            answer = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(SECURITY_HEADERS)
            raise
    if not answer.prepared:
        answer.headers.update(SECURITY_HEADERS)
    return answer


def _origin_ok(request: web.Request) -> bool:
    # A websocket from a client that is no browser carries no Origin, and needs no more: it
    # still needs the cookie, which no browser sends to us from another site (SameSite=Strict).
    if "Origin" not in request.headers and request.method == "GET":
        return True
    return same_origin(request)
