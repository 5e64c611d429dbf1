"""The page's files as a browser gets them: real Content-Type, caching per file, compression
(read by curl and httpx, independent clients), and nothing outside the folder."""

from __future__ import annotations

import gzip
import shutil
import subprocess

import httpx
import pytest

from recorder.web.server import build_app
from tests.web.serving import ServedApp, settings

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def served(tmp_path):
    with ServedApp(build_app(settings(tmp_path))) as s:
        yield s


def _raw(served: ServedApp, path: str, **headers: str) -> httpx.Response:
    """The bytes as sent (httpx would otherwise undo the gzip)."""
    with httpx.Client() as client, client.stream("GET", served.url + path, headers=headers) as r:
        r.raw_body = b"".join(r.iter_raw())
        return r


def test_the_page_has_its_type_is_revalidated_and_gzipped(served, tmp_path):
    shell = (tmp_path / "dist" / "index.html").read_bytes()
    answer = _raw(served, "", **{"Accept-Encoding": "gzip, deflate, br"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["cache-control"] == "no-cache"
    assert answer.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in answer.headers["vary"].lower()
    assert gzip.decompress(answer.raw_body) == shell
    assert len(answer.raw_body) < len(shell) / 4
    assert answer.headers["x-content-type-options"] == "nosniff"
    # asked again with its ETag: 304, nothing sent
    again = httpx.get(served.url, headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    # a client that takes no gzip gets the file as it is
    plain = _raw(served, "index.html", **{"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.raw_body == shell


def test_hashed_assets_are_cached_for_a_year_and_licences_are_text(served, tmp_path):
    script = httpx.get(served.url + "main-3F9A1C2B.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert script.content == (tmp_path / "dist" / "main-3F9A1C2B.js").read_bytes()
    licence = httpx.get(served.url + "vendor/mqtt-LICENSE.txt")
    assert licence.headers["content-type"] == "text/plain; charset=utf-8"
    assert licence.headers["cache-control"] == "no-cache"


def test_curl_sees_type_caching_and_gzip(served, tmp_path):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed (Debian package curl)")
    out = tmp_path / "page.html"
    done = subprocess.run(
        [curl, "-sS", "--compressed", "-D", "-", "-o", str(out), served.url],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    headers = done.stdout.lower()
    assert "content-type: text/html; charset=utf-8" in headers
    assert "content-encoding: gzip" in headers
    assert "cache-control: no-cache" in headers
    assert out.read_bytes() == (tmp_path / "dist" / "index.html").read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        ".secret",
        "vendor/../.secret",
        "%2e%2e/config.toml",
        "vendor/%2e%2e/%2e%2e/config.toml",
        "..%2fconfig.toml",
        "%2fetc%2fpasswd",
        "vendor",
        "no-such-file.js",
        "link-out",
    ],
)
def test_nothing_outside_the_page_is_served(served, tmp_path, path):
    (tmp_path / "config.toml").write_text("password = 'not for the LAN'\n")
    (tmp_path / "dist" / "link-out").symlink_to(tmp_path / "config.toml")
    answer = httpx.get(served.url + path)
    assert answer.status_code == 404, path
    assert "not for the LAN" not in answer.text
    assert "not to be served" not in answer.text


def test_a_precompressed_sibling_is_sent_as_it_is(served, tmp_path):
    """A build that writes index.html.br / .gz saves the box compressing at every request."""
    shell = (tmp_path / "dist" / "index.html").read_bytes()
    packed = gzip.compress(shell, compresslevel=9)
    (tmp_path / "dist" / "index.html.gz").write_bytes(packed)
    answer = _raw(served, "", **{"Accept-Encoding": "gzip"})
    assert answer.headers["content-encoding"] == "gzip"
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["cache-control"] == "no-cache"
    assert answer.raw_body == packed
