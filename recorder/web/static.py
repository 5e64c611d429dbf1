"""The built phone page (dashboard/dist), served as a web server should: the real
Content-Type, caching that suits each file, and compression.

- `index.html` and anything without a content hash in its name: `Cache-Control: no-cache` (the
  phone asks again each time and gets 304 while the ETag holds), so an upgraded box is seen at
  once;
- names with a content hash (`main-3f9a1c2b.js`, as esbuild names them): a year, immutable;
- text (HTML, JavaScript, CSS, JSON, SVG, plain text) is gzipped on the way out when the phone
  accepts it; a precompressed sibling (`index.html.br`, `.gz`) is sent instead where the build
  made one (aiohttp's FileResponse picks it).

Only regular files inside the folder are served; dot files and anything outside are 404.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

from aiohttp import web
from aiohttp.web_response import ContentCoding

HASHED = re.compile(r"[.-][0-9A-Za-z_]{8,}\.(?:js|css|mjs|woff2?|png|svg|jpg|webp)$")
COMPRESSIBLE = re.compile(r"^(?:text/|application/(?:javascript|json|manifest\+json|xml))|\+xml$")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

# The types the page uses, whatever /etc/mime.types says (it may be absent on a small image).
for _ext, _type in (
    (".js", "text/javascript"),
    (".mjs", "text/javascript"),
    (".css", "text/css"),
    (".html", "text/html"),
    (".svg", "image/svg+xml"),
    (".json", "application/json"),
    (".webmanifest", "application/manifest+json"),
    (".woff2", "font/woff2"),
    (".txt", "text/plain"),
    (".map", "application/json"),
):
    mimetypes.add_type(_type, _ext)


class StaticPage:
    """GET / and GET /<file> from `root` (the last routes added: every other route wins)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.index)
        app.router.add_get("/{name:.+}", self.file)

    async def index(self, request: web.Request) -> web.StreamResponse:
        return self._send(request, "index.html")

    async def file(self, request: web.Request) -> web.StreamResponse:
        return self._send(request, request.match_info["name"])

    def _send(self, request: web.Request, name: str) -> web.StreamResponse:
        path = self._inside(name)
        if path is None:
            raise web.HTTPNotFound(text="not found\n")
        answer = web.FileResponse(path)
        answer.headers["Cache-Control"] = IMMUTABLE if HASHED.search(path.name) else REVALIDATE
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.name.endswith(".txt") or kind.startswith("text/"):
            answer.content_type, answer.charset = kind, "utf-8"
        else:
            answer.content_type = kind
        if COMPRESSIBLE.search(kind):
            answer.headers["Vary"] = "Accept-Encoding"
            if "gzip" in request.headers.get("Accept-Encoding", "").lower():
                answer.enable_compression(ContentCoding.gzip)
        return answer

    def _inside(self, name: str) -> Path | None:
        parts = name.split("/")
        if any(not p or p.startswith(".") for p in parts):
            return None
        try:
            root = self.root.resolve(strict=True)
            path = (root / name).resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not path.is_relative_to(root) or not path.is_file():
            return None
        return path
