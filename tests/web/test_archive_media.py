"""A session whose local copy retention deleted, played and downloaded through the box from the
encrypted archive: the real outbox uploads and verifies it to the loopback S3 server behind a
crypt remote, the real retention deletes the folder, and the media routes then serve its FLAC
and MP3 through `rclone cat --offset --count` with exactly the bytes the box had, for every
kind of Range, saying the file comes from the archive; /api/sessions lists it from the archive's
manifest."""

from __future__ import annotations

import httpx

from recorder.adapters.rclone.archive import RcloneArchive
from recorder.media.deliverables import build_deliverables
from recorder.store.markers import write_labels
from tests.factories import SESSION_ID, finished_session, tone
from tests.outbox.logged_remote import outbox_box, outbox_worker
from tests.rclone_server import CRYPT_REMOTE, box_rclone
from tests.web.media_support import curl, media_server

OTHER_ID = "000043-20261129T103000Z"


def test_a_session_retention_deleted_streams_from_the_archive(tmp_path, s3):
    # keep_free_mb beyond any disk: retention deletes every verified session at once
    _, cfg, store, remote = outbox_box(tmp_path, s3, keep_free_mb=10**9)
    folder, manifest = finished_session(
        cfg.storage.dir,
        [tone(48000 * 30).tobytes(), tone(48000 * 10, step=3).tobytes()],
        48000,
        markers=[(48000 * 12, "goal")],
        details={"client": "Kim", "title": "Intake"},
    )
    write_labels(folder, manifest.markers, 48000)  # as the writer leaves them at finalize
    build_deliverables(folder, manifest)  # the outbox finds them built
    had = {n: (folder / n).read_bytes() for n in ("session.flac", "session.mp3", "labels.txt")}
    finished_session(cfg.storage.dir, [tone(4800).tobytes()], 48000, id=OTHER_ID)
    outbox_worker(cfg, store, remote).pass_once()
    assert store.sessions() == []  # uploaded, verified, and deleted here
    assert not folder.exists()

    archive = RcloneArchive(f"{CRYPT_REMOTE}:box-1", cfg.upload.rclone_config, box_rclone())
    with media_server(store, tmp_path / "cache", archive) as base:
        listed, other = httpx.get(f"{base}/api/sessions", timeout=120).json()
        assert (other["id"], other["source"], other["seconds"]) == (OTHER_ID, "archive", 0.1)
        assert (listed["id"], listed["source"], listed["name"]) == (
            SESSION_ID,
            "archive",
            "Kim · Intake",
        )
        assert listed["markers"][0]["label"] == "goal"
        assert {"session.flac", "session.mp3", "labels.txt"} <= set(listed["media"])
        assert "path" not in listed and str(tmp_path) not in str(listed)

        for name in ("session.flac", "session.mp3"):
            data, size = had[name], len(had[name])
            url = f"{base}/media/{SESSION_ID}/{name}"
            whole = httpx.get(url, timeout=120)
            assert whole.status_code == 200
            assert whole.headers["x-session-source"] == "archive"
            assert whole.headers["accept-ranges"] == "bytes"
            assert whole.headers["content-disposition"].startswith('inline; filename="Kim - Intake')
            assert whole.content == data
            wanted = {
                "bytes=0-99": (0, 100),
                "bytes=65000-140000": (65000, 140001),  # across crypt's 64 KiB blocks
                "bytes=-777": (size - 777, size),
                f"bytes={size - 3}-": (size - 3, size),
            }
            for header, (first, end) in wanted.items():
                r = httpx.get(url, headers={"Range": header}, timeout=120)
                assert r.status_code == 206, header
                assert r.headers["content-range"] == f"bytes {first}-{end - 1}/{size}"
                assert r.content == data[first:end], header
            r = httpx.get(url, headers={"Range": f"bytes={size}-"}, timeout=120)
            assert r.status_code == 416
            assert r.headers["content-range"] == f"bytes */{size}"
        assert httpx.get(f"{base}/media/{SESSION_ID}/labels.txt").content == had["labels.txt"]

        for path in (
            f"/media/{SESSION_ID}/manifest.json",  # on the archive, not in the list
            f"/media/{SESSION_ID}/submission.mp3",
            "/media/000099-20261129T093000Z/session.mp3",
            f"/media/{SESSION_ID}/..%2F{SESSION_ID}%2Fsession.mp3",
        ):
            assert curl(base + path)[0] == 404, path
