"""The page's login over real HTTP: the cookie, what it guards, slowed wrong passwords and
requests from other sites."""

from __future__ import annotations

import json
import logging
import re
from http.cookies import SimpleCookie

import httpx
import pytest
from aiohttp import web

from recorder.app import web_server
from recorder.config import ConfigError
from recorder.web.auth import COOKIE
from recorder.web.server import build_app, is_protected
from tests.support import make_config
from tests.web.serving import PASSWORD, ManualClock, ServedApp, settings

pytestmark = pytest.mark.timeout(60)


def _extra(app: web.Application) -> None:
    """Routes as the media and API modules add them: the guard must cover them unnamed."""

    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "secret": "a session's data"})

    app.router.add_get("/api/sessions", ok)
    app.router.add_post("/api/sessions/{session}/bookmark", ok)
    app.router.add_get("/media/{session}/{file}", ok)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def served(tmp_path, clock):
    with ServedApp(build_app(settings(tmp_path), [_extra], clock=clock)) as s:
        yield s


def _login(served: ServedApp, password: str = PASSWORD, **headers: str) -> httpx.Response:
    return httpx.post(
        served.url + "api/login", json={"password": password}, headers=served.origin | headers
    )


def test_login_gives_a_private_cookie_that_logout_ends(served):
    answer = _login(served)
    assert answer.status_code == 200, answer.text
    [raw] = answer.headers.get_list("set-cookie")
    cookie = SimpleCookie(raw)[COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/"
    assert cookie["max-age"] == str(30 * 86400)
    assert not cookie["secure"]  # plain http: a Secure cookie would never come back
    token = {COOKIE: cookie.value}
    assert len(cookie.value) >= 40
    assert httpx.get(served.url + "api/me", cookies=token).status_code == 200
    assert httpx.get(served.url + "api/sessions", cookies=token).json()["ok"] is True

    out = httpx.post(served.url + "api/logout", cookies=token, headers=served.origin)
    assert out.status_code == 200
    assert re.search(rf"{COOKIE}=\"?\"?;.*Max-Age=0", out.headers["set-cookie"])
    # the phone may keep the old cookie: the token itself is dead
    assert httpx.get(served.url + "api/me", cookies=token).status_code == 401


def test_a_made_up_or_expired_cookie_is_refused(served, clock):
    assert httpx.get(served.url + "api/me", cookies={COOKIE: "x" * 43}).status_code == 401
    token = {COOKIE: SimpleCookie(_login(served).headers["set-cookie"])[COOKIE].value}
    assert httpx.get(served.url + "api/me", cookies=token).status_code == 200
    clock.now += 30 * 86400 + 1
    assert httpx.get(served.url + "api/me", cookies=token).status_code == 401


def _protected_routes_refused(served: ServedApp) -> set[tuple[str, str]]:
    """Every route the app has under /api/, /media/ and /mqtt, found in its router (so a route
    added later is checked too), asked without the login: each must answer 401."""
    checked = set()
    for resource in served.app.router.resources():
        path = re.sub(r"\{[^}]+\}", "x", resource.canonical)
        if not is_protected(path):
            continue
        for route in resource:
            if route.method == "HEAD":
                continue
            url = served.url + path.lstrip("/")
            answer = httpx.request(route.method, url, headers=served.origin)
            assert answer.status_code == 401, (route.method, path, answer.text)
            assert "secret" not in answer.text
            checked.add((route.method, path))
    return checked


def test_every_protected_route_answers_401_without_the_login(served):
    checked = _protected_routes_refused(served)
    assert {
        ("GET", "/api/me"),
        ("GET", "/mqtt"),
        ("GET", "/api/sessions"),
        ("POST", "/api/sessions/x/bookmark"),
        ("GET", "/media/x/x"),
    } <= checked
    for path in ("media/000001-20250101T000000Z/no/such/file", "api/nothing", "mqtt/x", "api"):
        assert httpx.get(served.url + path).status_code == 401, path
    # the page and login are public
    assert httpx.get(served.url).status_code == 200
    assert _login(served, "wrong").status_code == 401


def test_the_composed_servers_media_and_api_need_the_login(tmp_path):
    """The server as `session-recorder web` builds it, with the media and API routes."""
    s = settings(tmp_path)
    cfg = make_config(
        tmp_path,
        web={"password_file": str(s.password_file), "dashboard_dir": str(s.dashboard_dir)},
    )
    app, context = web_server.build(cfg)
    assert context is None
    with ServedApp(app) as served:
        checked = _protected_routes_refused(served)
        assert ("GET", "/media/x/x") in checked
        assert ("GET", "/api/sessions") in checked
        cookie = SimpleCookie(_login(served).headers["set-cookie"])[COOKIE].value
        listed = httpx.get(served.url + "api/sessions", cookies={COOKIE: cookie})
        assert listed.status_code == 200, listed.text


def test_wrong_passwords_are_slowed_per_address_and_logged(served, clock, caplog):
    caplog.set_level(logging.WARNING, logger="recorder.web.auth")
    for _ in range(3):  # typos cost nothing
        answer = _login(served, "wrong")
        assert answer.status_code == 401
        assert "retry-after" not in answer.headers
    fourth = _login(served, "wrong")
    assert fourth.status_code == 401
    assert fourth.headers["retry-after"] == "1"
    # until then even the right password is not looked at
    early = _login(served)
    assert early.status_code == 429
    assert early.headers["retry-after"] == "1"
    assert "set-cookie" not in early.headers
    clock.now += 1.0
    assert _login(served, "wrong").headers["retry-after"] == "2"
    clock.now += 1.5
    assert _login(served).status_code == 429  # 0.5 s still to wait
    clock.now += 0.5
    assert _login(served, "wrong").headers["retry-after"] == "4"  # doubling
    clock.now += 4.0
    assert _login(served).status_code == 200  # and a success forgets them
    assert _login(served, "wrong").status_code == 401
    assert "retry-after" not in _login(served, "wrong").headers

    lines = [r.getMessage() for r in caplog.records if "wrong page password" in r.getMessage()]
    assert lines[:6] == [f"wrong page password from 127.0.0.1 ({n} in a row)" for n in range(1, 7)]


def test_requests_from_another_site_are_refused(served):
    evil = {"Origin": "http://evil.example"}
    answer = httpx.post(served.url + "api/login", json={"password": PASSWORD}, headers=evil)
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers
    token = {COOKIE: SimpleCookie(_login(served).headers["set-cookie"])[COOKIE].value}
    # a form on another site that the phone's browser sends with our cookie, were it to
    hit = httpx.post(served.url + "api/sessions/x/bookmark", cookies=token, headers=evil)
    assert hit.status_code == 403
    assert httpx.post(served.url + "api/logout", cookies=token, headers=evil).status_code == 403
    assert httpx.get(served.url + "api/me", cookies=token).status_code == 200  # still logged in
    # same host, other port or scheme: another origin
    other_port = {"Origin": f"http://127.0.0.1:{served.port + 1}"}
    assert (
        httpx.post(served.url + "api/logout", cookies=token, headers=other_port).status_code == 403
    )
    https = {"Origin": f"https://127.0.0.1:{served.port}"}
    assert httpx.post(served.url + "api/logout", cookies=token, headers=https).status_code == 403
    assert httpx.post(served.url + "api/logout", headers={"Origin": "null"}).status_code == 403
    # no Origin at all (not a browser): a JSON body or a header, which no cross-site form can
    # send (a page's script could only after a CORS preflight, which the box never allows)
    bare = httpx.post(served.url + "api/login", json={"password": PASSWORD})
    assert bare.status_code == 200 and COOKIE in bare.headers["set-cookie"]
    form = httpx.post(  # a form with enctype="text/plain" can carry the same bytes
        served.url + "api/login",
        content=json.dumps({"password": PASSWORD}),
        headers={"Content-Type": "text/plain"},
    )
    assert form.status_code == 403 and "set-cookie" not in form.headers
    assert httpx.post(served.url + "api/logout", cookies=token).status_code == 403
    scripted = httpx.post(
        served.url + "api/logout", cookies=token, headers={"X-Requested-With": "curl"}
    )
    assert scripted.status_code == 200
    # the live-status websocket from another site's page
    ws = httpx.get(
        served.url + "mqtt",
        cookies=token,
        headers=evil
        | {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="},
    )  # fmt: skip
    assert ws.status_code == 403


def test_a_password_file_others_can_read_is_refused(tmp_path, caplog):
    s = settings(tmp_path)
    with ServedApp(build_app(s)) as served:
        assert _login(served).status_code == 200
        s.password_file.chmod(0o644)
        caplog.set_level(logging.ERROR, logger="recorder.web.auth")
        answer = _login(served)
        assert answer.status_code == 503
        assert "set-cookie" not in answer.headers
        assert any("readable by every user" in r.getMessage() for r in caplog.records)
        s.password_file.chmod(0o600)
        s.password_file.write_text("a new one\n")  # read at every login: no restart needed
        assert _login(served, "a new one").status_code == 200
        assert _login(served).status_code == 401


def test_web_config_takes_tls_files_together_only(tmp_path):
    with pytest.raises(ConfigError, match="tls_cert and tls_key go together"):
        make_config(tmp_path, web={"tls_cert": str(tmp_path / "box.crt")})
    cfg = make_config(tmp_path, web={"port": 8080})
    assert (cfg.web.host, cfg.web.port, cfg.web.tls_cert) == ("0.0.0.0", 8080, None)


def test_a_login_body_that_is_not_a_small_json_password_is_refused(served):
    url = served.url + "api/login"
    for body in (
        b"",
        b"[]",
        b'{"password": 1}',
        b"{" * 100,
        b'{"password": "' + b"x" * 5000 + b'"}',
    ):
        answer = httpx.post(url, content=body, headers=served.origin)
        assert answer.status_code == 400, body[:20]
        assert "set-cookie" not in answer.headers
    chunked = httpx.post(
        url, content=iter([b'{"password": "', b"y" * 5000, b'"}']), headers=served.origin
    )
    assert chunked.status_code == 400
    assert _login(served).status_code == 200  # none of them counted as a wrong password
