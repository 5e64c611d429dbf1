"""What the media, API and archive tests share: requests sent exactly as written (curl), and the
media routes served on loopback (through `tests.web.serving.ServedApp`)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from aiohttp import web

from recorder.ports.archive import ArchiveReader
from recorder.store.sessions import SessionStore
from recorder.web.api import add_api_routes
from recorder.web.media import add_media_routes
from tests.web.serving import ServedApp


def curl(url: str, *extra: str) -> tuple[int, bytes]:
    """(status, body) of a GET sent exactly as written: `--path-as-is` keeps `..` and
    percent-encoding that httpx would normalise away before sending."""
    done = subprocess.run(
        ["curl", "-sS", "--path-as-is", "-o", "-", "-w", "\n%{http_code}", *extra, url],
        capture_output=True,
        timeout=60,
        check=True,
    )
    body, _, code = done.stdout.rpartition(b"\n")
    return int(code), body


@contextlib.contextmanager
def media_server(
    store: SessionStore,
    cache_dir: Path,
    archive: ArchiveReader | None = None,
    reserve_bytes: int = 0,
) -> Iterator[str]:
    """A bare application with the media and session API routes (no login: that is the
    server's middleware), served on 127.0.0.1; yields its base URL without the final "/"."""
    app = web.Application()
    add_media_routes(app, store, cache_dir, archive, reserve_bytes)
    add_api_routes(app, store, None)
    with ServedApp(app) as served:
        yield served.url.rstrip("/")
