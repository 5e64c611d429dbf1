"""GET /media/<session id>/<file> over real HTTP on loopback: the files of a real finished session
(session.mp3 and session.flac built by the recorder's own deliverables), exact bytes for every
kind of Range, the right Content-Type and file names, and 404 for everything else: unknown
names, traversal written every way a client can send it (curl --path-as-is), another session's
files, symlinks planted in a session folder and a session folder that is itself a symlink."""

from __future__ import annotations

import os
from urllib.parse import quote

import httpx
import pytest

from recorder.media.deliverables import build_deliverables
from recorder.store.sessions import SessionStore
from tests.factories import SESSION_ID, finished_session, tone
from tests.web.media_support import curl, media_server

OTHER_ID = "000043-20261129T103000Z"
SECRET = b"not for the page: outside every session folder\n"


@pytest.fixture
def box(tmp_path):
    """A store with two finished sessions (the first named by the coach, with its MP3, FLAC,
    labels and a transcript.txt; the second with its MP3 only), served by the media routes."""
    sessions = tmp_path / "sessions"
    store = SessionStore(sessions)
    store.prepare()
    folder, manifest = finished_session(
        sessions,
        [tone(48000 * 4).tobytes()],
        48000,
        markers=[(48000, "goal")],
        details={"client": "Zoë", "title": "Goals/review"},
    )
    build_deliverables(folder, manifest)
    (folder / "labels.txt").write_text("1.000000\t1.000000\tgoal\n")
    (folder / "transcript.txt").write_text("Coach: hello\n")
    other, other_manifest = finished_session(
        sessions, [tone(48000, step=9).tobytes()], 48000, id=OTHER_ID
    )
    build_deliverables(other, other_manifest)
    (tmp_path / "outside.txt").write_bytes(SECRET)
    with media_server(store, tmp_path / "cache") as base:
        yield base, folder, other


def test_ranges_get_exactly_those_bytes(box):
    base, folder, _ = box
    for name in ("session.mp3", "session.flac"):
        data = (folder / name).read_bytes()
        size = len(data)
        url = f"{base}/media/{SESSION_ID}/{name}"
        whole = httpx.get(url)
        assert whole.status_code == 200
        assert whole.content == data
        assert whole.headers["accept-ranges"] == "bytes"
        assert whole.headers["etag"] and whole.headers["last-modified"]
        wanted = {
            "bytes=0-99": (0, 100),  # first
            "bytes=1000-2999": (1000, 3000),  # middle
            "bytes=-500": (size - 500, size),  # suffix
            f"bytes={size - 10}-": (size - 10, size),  # open-ended to the end
            f"bytes={size - 4}-{size + 100}": (size - 4, size),  # an end past the end is cut
        }
        for header, (first, end) in wanted.items():
            r = httpx.get(url, headers={"Range": header})
            assert r.status_code == 206, header
            assert r.content == data[first:end], header
            assert r.headers["content-range"] == f"bytes {first}-{end - 1}/{size}", header
            assert r.headers["accept-ranges"] == "bytes"
        # past the end; and several ranges at once, which FileResponse does not serve
        for beyond in (f"bytes={size}-", f"bytes={size + 5}-{size + 10}", "bytes=0-1,5-6"):
            r = httpx.get(url, headers={"Range": beyond})
            assert r.status_code == 416, beyond
            assert r.headers["content-range"] == f"bytes */{size}"
        again = httpx.get(url, headers={"If-None-Match": whole.headers["etag"]})
        assert again.status_code == 304
        head = httpx.head(url)
        assert head.status_code == 200
        assert int(head.headers["content-length"]) == size
        assert head.content == b""


def test_content_types_and_file_names_from_the_session_name(box):
    base, folder, _ = box
    expected = {
        "session.mp3": ("audio/mpeg", ".mp3"),
        "session.flac": ("audio/flac", ".flac"),
        "labels.txt": ("text/plain; charset=utf-8", " markers.txt"),
        "transcript.txt": ("text/plain; charset=utf-8", " transcript.txt"),
    }
    for name, (ctype, suffix) in expected.items():
        r = httpx.get(f"{base}/media/{SESSION_ID}/{name}")
        assert r.status_code == 200, name
        assert r.content == (folder / name).read_bytes()
        assert r.headers["content-type"] == ctype
        assert r.headers["x-content-type-options"] == "nosniff"
        # the coach's name for the session; "/" cannot be in a file name
        real = f"Zoë · Goals-review{suffix}"
        assert r.headers["content-disposition"] == (
            f"inline; filename=\"Zoe - Goals-review{suffix}\"; filename*=UTF-8''{quote(real)}"
        )
        download = httpx.get(f"{base}/media/{SESSION_ID}/{name}?download=1")
        assert download.headers["content-disposition"].startswith("attachment; ")
    # a session the coach never named is called by its id
    r = httpx.get(f"{base}/media/{OTHER_ID}/session.mp3")
    assert r.headers["content-disposition"].startswith(f'inline; filename="{OTHER_ID}.mp3"')


def test_nothing_but_the_listed_files_of_a_session_folder_is_ever_served(box, tmp_path):
    base, folder, other = box
    sessions = tmp_path / "sessions"
    # planted: a symlink to a file outside, one to another session's file, and a session
    # folder that is itself a symlink to a folder outside the store
    (folder / "transcript.vtt").symlink_to(tmp_path / "outside.txt")
    (folder / "transcript.docx").symlink_to(other / "session.mp3")
    elsewhere = tmp_path / "elsewhere" / "000044-20261129T113000Z"
    elsewhere.mkdir(parents=True)
    for name in ("manifest.json", "session.mp3", "seg-0000.wav"):
        os.link(folder / name, elsewhere / name)
    (sessions / "uploaded" / elsewhere.name).symlink_to(elsewhere, target_is_directory=True)
    (folder / "session.mp3.gz").symlink_to(tmp_path / "outside.txt")  # a planted encoding

    # the control: what the page asks for is served, by the same means
    assert curl(f"{base}/media/{SESSION_ID}/labels.txt")[0] == 200
    assert curl(f"{base}/media/{OTHER_ID}/session.mp3")[0] == 200
    gz = httpx.get(f"{base}/media/{SESSION_ID}/session.mp3", headers={"Accept-Encoding": "gzip"})
    assert gz.content == (folder / "session.mp3").read_bytes()

    refused = [
        f"/media/{SESSION_ID}/manifest.json",  # in the folder, not in the list
        f"/media/{SESSION_ID}/seg-0000.wav",
        f"/media/{SESSION_ID}/transcript.vtt",  # symlink out
        f"/media/{SESSION_ID}/transcript.docx",  # symlink to another session's file
        f"/media/{elsewhere.name}/session.mp3",  # a session folder that is a symlink
        f"/media/{SESSION_ID}/../{OTHER_ID}/session.mp3",
        f"/media/{SESSION_ID}/..%2F{OTHER_ID}%2Fsession.mp3",
        f"/media/{SESSION_ID}/%2e%2e%2f%2e%2e%2f..%2Foutside.txt",
        "/media/../../outside.txt",
        "/media/%2e%2e/%2e%2e/outside.txt",
        f"/media/{SESSION_ID}/{quote(str(tmp_path / 'outside.txt'), safe='')}",  # absolute
        f"/media/{quote(str(tmp_path / 'outside.txt'), safe='')}/session.mp3",
        f"//media/{SESSION_ID}/manifest.json",
        f"/media/{SESSION_ID}//session.mp3",
        f"/media/{SESSION_ID}/session.mp3/",
        f"/media/{SESSION_ID}/Session.mp3",
        f"/media/{SESSION_ID}/session.mp3%00.txt",
        "/media/000099-20261129T093000Z/session.mp3",  # no such session
        f"/media/{quote('٠٠٠٠٤٢-20261129T093000Z')}/session.mp3",  # Arabic-Indic digits
        f"/media/{SESSION_ID}/submission.mp3",  # not built
        "/media/session.mp3",
        f"/media/{SESSION_ID}",
    ]
    for path in refused:
        status, body = curl(base + path)
        assert status == 404, path
        assert SECRET not in body and b"ID3" not in body and b"fLaC" not in body, path
