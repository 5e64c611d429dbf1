"""`session-recorder web`: the web server's composition, each part built once, in order.

The server is its own process, behind the recorder: nice 10 and idle disk I/O (the unit says
the same), so capture always wins. It never writes a session: changes go to the daemon over
the control socket (`DaemonLink`), which owns the session folders.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

from aiohttp import web

from recorder.adapters.control_socket import ControlSocketError, send
from recorder.adapters.rclone.archive import RcloneArchive
from recorder.adapters.rclone.client import RcloneError
from recorder.config import Config
from recorder.core.recording.disk import BALLAST_FLOOR
from recorder.ports.daemon import DaemonUnreachable
from recorder.store.sessions import SessionStore
from recorder.threads.priority import lower_priority
from recorder.web.api import add_api_routes
from recorder.web.auth import PasswordError, read_password
from recorder.web.listening import Listening, add_listening_routes, reserve_bytes
from recorder.web.media import add_media_routes
from recorder.web.server import RouteAdder, WebSettings, build_app

log = logging.getLogger(__name__)

WEB_NICE = 10


class SocketDaemonLink:
    """The DaemonLink port over the daemon's control socket."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def request(self, payload: dict, timeout: float) -> dict:
        try:
            return send(self.path, payload, timeout=timeout)
        except ControlSocketError as exc:
            raise DaemonUnreachable(str(exc)) from None


class WebConfigError(Exception):
    """The [web] section names something that cannot be used (password, certificate)."""


def settings_from(cfg: Config) -> WebSettings:
    w = cfg.web
    return WebSettings(
        password_file=w.password_file,
        dashboard_dir=w.dashboard_dir,
        broker_ws_url=f"ws://127.0.0.1:{w.broker_ws_port}/",
        login_s=w.login_days * 86400.0,
        tls=w.tls_cert is not None,
    )


def tls_context(cfg: Config) -> ssl.SSLContext | None:
    w = cfg.web
    if w.tls_cert is None or w.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(w.tls_cert, w.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise WebConfigError(
            f"[web] tls_cert {w.tls_cert} / tls_key {w.tls_key} cannot be used: {exc}"
        ) from None
    return context


def extra_routes(cfg: Config) -> list[RouteAdder]:
    """The media and API routes, each built once: the sessions' files (the local copy, else
    the encrypted archive) and the JSON API, whose changes go to the daemon. The login guard
    in recorder/web/server.py covers every route under /api/ and /media/."""
    store = SessionStore(cfg.storage.dir)
    archive = archive_reader(cfg)
    daemon = SocketDaemonLink(cfg.socket_path)
    cache_dir = store.cache_dir  # the MP3s built on demand (submission, listening)

    # what stays free on the card after a build: the recorder's margin, its ballast, an hour
    room = reserve_bytes(cfg.storage.min_free_mb, cfg.audio.bytes_per_second, BALLAST_FLOOR)

    def media(app: web.Application) -> None:
        add_media_routes(app, store, cache_dir, archive, room)

    def api(app: web.Application) -> None:
        add_api_routes(app, store, daemon)

    def listening(app: web.Application) -> None:
        # a session.mp3 to listen to where the outbox builds none (no [upload] or [share])
        add_listening_routes(app, Listening(store, cache_dir, room))

    return [media, api, listening]


def archive_reader(cfg: Config) -> RcloneArchive | None:
    """The `[upload]` archive, read back for sessions no longer on the box (none: no [upload])."""
    u = cfg.upload
    if u is None:
        return None
    try:
        return RcloneArchive(u.remote, u.rclone_config, u.rclone_binary, u.config_password_file)
    except (RcloneError, OSError) as exc:
        log.warning("sessions only in the archive cannot be played: %s", exc)
        return None


def build(cfg: Config) -> tuple[web.Application, ssl.SSLContext | None]:
    """Check what the server needs, then build it (raises WebConfigError)."""
    try:
        read_password(cfg.web.password_file)
    except PasswordError as exc:
        raise WebConfigError(str(exc)) from None
    context = tls_context(cfg)
    return build_app(settings_from(cfg), extra_routes(cfg)), context


def run(cfg: Config) -> int:
    """Serve until SIGTERM or SIGINT; returns the exit code."""
    log.info("priority: %s", ", ".join(lower_priority(nice=WEB_NICE)) or "unchanged")
    app, context = build(cfg)
    scheme = "https" if context else "http"
    log.info("serving the page on %s://%s:%d/", scheme, cfg.web.host, cfg.web.port)
    if context is None:
        log.warning(
            "plain HTTP: the page password and the recordings cross the network unencrypted "
            "(set [web] tls_cert and tls_key for HTTPS)"
        )
    web.run_app(
        app,
        host=cfg.web.host,
        port=cfg.web.port,
        ssl_context=context,
        print=None,
        access_log=None,
        shutdown_timeout=5.0,
    )
    return 0
