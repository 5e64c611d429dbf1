"""The web server for tests: the real application on a free loopback port, in its own thread
and event loop (so httpx, curl, paho and Chromium reach it over real HTTP), or the real
`session-recorder web` process.

    with ServedApp(build_app(settings(...))) as served:
        httpx.get(served.url + "index.html")
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from aiohttp import web

from recorder.web.server import RouteAdder, WebSettings, build_app
from tests.mosquitto import HOST, free_port
from tests.support import wait_until

ORIGIN_HEADER = "Origin"
PASSWORD = "correct horse battery staple"


def password_file(folder: Path, password: str = PASSWORD) -> Path:
    """The page password as the installer keeps it (mode 0640)."""
    path = folder / "dashboard.pass"
    path.write_text(password + "\n")
    path.chmod(0o640)
    return path


def page_dir(folder: Path) -> Path:
    """A small built page: the shell, a hashed script, a licence text and a dot file."""
    dist = folder / "dist"
    (dist / "vendor").mkdir(parents=True, exist_ok=True)
    (dist / "index.html").write_text(
        "<!doctype html><title>Session Recorder</title>" + "<p>the page</p>" * 400
    )
    (dist / "main-3F9A1C2B.js").write_text("export const x = 1;\n" * 300)
    (dist / "vendor" / "mqtt-LICENSE.txt").write_text("MIT licence\n" * 50)
    (dist / ".secret").write_text("not to be served")
    return dist


def settings(
    folder: Path, broker_ws_url: str = "ws://127.0.0.1:9/", *, tls: bool = False
) -> WebSettings:
    return WebSettings(
        password_file=password_file(folder),
        dashboard_dir=page_dir(folder),
        broker_ws_url=broker_ws_url,
        login_s=30 * 86400.0,
        tls=tls,
        broker_timeout_s=5.0,
    )


class ManualClock:
    """The login throttle's clock, moved by the test (the server reads it on its own thread)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ServedApp:
    """An aiohttp Application served on 127.0.0.1:<free port> until `close()`."""

    def __init__(self, app: web.Application, ssl_context: ssl.SSLContext | None = None) -> None:
        self.app = app
        self.port = free_port()
        self.scheme = "https" if ssl_context else "http"
        self._ssl = ssl_context
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._serve, name="web-test", daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{HOST}:{self.port}/"

    @property
    def origin(self) -> dict[str, str]:
        """The header the page's own requests carry."""
        return {ORIGIN_HEADER: f"{self.scheme}://{HOST}:{self.port}"}

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as exc:
            self._failed = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, HOST, self.port, ssl_context=self._ssl).start()

    def start(self) -> ServedApp:
        self._thread.start()
        self._ready.wait(30)
        if self._failed is not None:
            raise self._failed
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)

    def __enter__(self) -> ServedApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class WebProcess:
    """`session-recorder web --config PATH` in a subprocess, its output in `log`."""

    def __init__(self, config: Path, port: int, folder: Path, scheme: str = "http") -> None:
        self.config, self.port, self.scheme = config, port, scheme
        self.log = folder / "web.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{HOST}:{self.port}/"

    def start(self) -> WebProcess:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "recorder", "web", "--config", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

        def listening() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"session-recorder web exited:\n{self.log_text()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((HOST, self.port), timeout=0.5),
            ):
                return True
            return False

        wait_until(listening, 60, "session-recorder web to listen")
        return self

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self) -> WebProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class PageServer:
    """The phone page as a box serves it: the real web server (its page from `dist`, its login
    checking the broker's `dashboard` password, /mqtt carried to `broker`), in front of a real
    mosquitto, with `routes` (the media and API routes, `recorder.app.web_server.extra_routes`).
    Stands in for the broker in the dashboard tests: `http_url` and `ws_url` are the
    web server's, everything else (users, topics, clients, stop/start) the broker's."""

    def __init__(
        self,
        broker,
        dist: Path,
        folder: Path,
        clock: Callable[[], float] = time.monotonic,
        routes: Iterable[RouteAdder] = (),
    ) -> None:
        self.broker = broker
        folder.mkdir(parents=True, exist_ok=True)
        web_settings = WebSettings(
            password_file=password_file(folder, broker.dashboard.password),
            dashboard_dir=dist,
            broker_ws_url=broker.ws_url,
            login_s=3600.0,
            tls=False,
        )
        self.served = ServedApp(build_app(web_settings, routes, clock=clock))

    @property
    def http_url(self) -> str:
        return self.served.url

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.served.port}/mqtt"

    def serve(self) -> PageServer:
        """Start the web server (start/stop/close are the broker's)."""
        self.served.start()
        return self

    def shutdown(self) -> None:
        self.served.close()

    def __getattr__(self, name: str):
        return getattr(self.broker, name)
