"""The dashboard tests' fixtures: the page built as the installer builds it, served by the box's
real web server in front of a real mosquitto (the box's shipped config and ACL) whose websocket
it carries at /mqtt, Debian's Chromium, a fresh phone, and a paho client playing the daemon. The page, broker and browser are made once per test module.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from recorder.app.web_server import extra_routes
from tests.dashboard.page import CHROMIUM_ARGS, DASHBOARD, PHONE, FakeDaemon
from tests.mosquitto import Mosquitto, require_mosquitto
from tests.support import make_config
from tests.web.serving import PageServer

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError as exc:  # a missing dev dependency is a failure, not a skip
    raise ImportError("the dashboard tests need playwright: pip install -e '.[dev]'") from exc


@pytest.fixture(scope="module")
def dist() -> Path:
    """Build the page as the installer would (`npm ci && npm run build`)."""
    require_mosquitto()
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the dashboard cannot be built")
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false"}
    pkg = json.loads((DASHBOARD / "package.json").read_text())
    wanted = {**pkg["dependencies"], **pkg.get("devDependencies", {})}  # esbuild builds it
    if not all((DASHBOARD / "node_modules" / name).is_dir() for name in wanted):
        subprocess.run([npm, "ci", "--no-audit"], cwd=DASHBOARD, env=env, check=True, timeout=300)
    subprocess.run([npm, "run", "build"], cwd=DASHBOARD, env=env, check=True, timeout=60)
    page = DASHBOARD / "dist" / "index.html"
    assert page.is_file()
    return page.parent


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, dist: Path) -> Iterator[PageServer]:
    """The box's broker behind its web server: the page, its login and /mqtt come from the web
    server (`http_url`, `ws_url`), the rest from the broker."""
    b = Mosquitto(tmp_path_factory.mktemp("broker"), device_id="box-1").start()
    web_dir = tmp_path_factory.mktemp("web")
    # with its media and session routes, as `session-recorder web` has them (no session here)
    routes = extra_routes(make_config(web_dir))
    page_server = PageServer(b, dist, web_dir, routes=routes).serve()
    try:
        yield page_server
    finally:
        page_server.shutdown()
        b.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        raise RuntimeError("the dashboard tests need Debian's chromium (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh phone: portrait, touch, nothing remembered."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield pg
    finally:
        context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


@pytest.fixture
def daemon(broker: Mosquitto) -> Iterator[FakeDaemon]:
    d = FakeDaemon(broker)
    try:
        yield d
    finally:
        d.client.disconnect()
        d.client.loop_stop()
