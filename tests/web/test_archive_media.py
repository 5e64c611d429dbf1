"""A session whose local copy retention deleted, played and downloaded through the box from the
encrypted archive: the real outbox uploads and verifies it to the loopback S3 server behind a
crypt remote, the real retention deletes the folder, and the media routes then serve its FLAC
and MP3 through `rclone cat --offset --count` with exactly the bytes the box had, for every
kind of Range, saying the file comes from the archive; /api/sessions lists it from the archive's
manifest."""

from __future__ import annotations

import httpx

from recorder.adapters.rclone.archive import RcloneArchive
from recorder.media.deliverables import build_deliverables, export
from recorder.store.markers import write_labels
from tests.factories import SESSION_ID, finished_session, tone
from tests.outbox.logged_remote import outbox_box, outbox_worker
from tests.rclone_server import CRYPT_REMOTE, box_rclone
from tests.support import cli, wait_until
from tests.web.media_support import curl, media_server

OTHER_ID = "000043-20261129T103000Z"


def _retained(tmp_path, s3, seconds: tuple[int, int], others=(), **fields):
    """A session named "Kim · Intake" with a marker at 12 s, in two segments of `seconds`,
    uploaded and verified with sessions of 0.1 s named `others`, then all deleted here by
    retention. Returns the config file, the store, the archive read back, and the files as
    the box had them, with "submission.mp3" as `export --format mp3 --from-start` made it."""
    # keep_free_mb beyond any disk: retention deletes every verified session at once
    config, cfg, store, remote = outbox_box(tmp_path, s3, keep_free_mb=10**9)
    first, second = seconds
    folder, manifest = finished_session(
        cfg.storage.dir,
        [tone(48000 * first).tobytes(), tone(48000 * second, step=3).tobytes()],
        48000,
        markers=[(48000 * 12, "goal")],
        details={"client": "Kim", "title": "Intake"},
        **fields,
    )
    write_labels(folder, manifest.markers, 48000)  # as the writer leaves them at finalize
    build_deliverables(folder, manifest)  # the outbox finds them built
    had = {n: (folder / n).read_bytes() for n in ("session.flac", "session.mp3", "labels.txt")}
    exported = export(folder, manifest, "mp3", tmp_path / "export.mp3", from_start=True)
    had["submission.mp3"] = exported.read_bytes()
    for other in others:
        finished_session(cfg.storage.dir, [tone(4800).tobytes()], 48000, id=other)
    outbox_worker(cfg, store, remote).pass_once()
    assert store.sessions() == []  # uploaded, verified, and deleted here
    assert not folder.exists()
    archive = RcloneArchive(f"{CRYPT_REMOTE}:box-1", cfg.upload.rclone_config, box_rclone())
    return config, store, archive, had


def test_a_session_retention_deleted_streams_from_the_archive(tmp_path, s3):
    _, store, archive, had = _retained(tmp_path, s3, (30, 10), others=[OTHER_ID])
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


def test_the_submission_mp3_of_a_session_only_in_the_archive_is_built_from_its_flac(tmp_path, s3):
    config, store, archive, had = _retained(tmp_path, s3, (14, 5), preroll_frames=48000 * 2)
    cache = store.cache_dir
    with media_server(store, cache, archive) as base:
        url = f"{base}/api/sessions/{SESSION_ID}/submission"
        assert httpx.get(url, timeout=120).json() == {"status": "none", "progress": 0.0}
        assert curl(f"{base}/media/{SESSION_ID}/submission.mp3")[0] == 404  # not built yet
        started = httpx.post(url, headers={"X-Requested-With": "t"}, timeout=120)
        assert started.status_code == 202, started.text
        seen = [started.json()]

        def ready() -> bool:
            seen.append(httpx.get(url, timeout=120).json())
            return seen[-1]["status"] == "ready"

        wait_until(ready, 120, "the submission MP3 built from the archive's FLAC")
        progress = [s["progress"] for s in seen]
        assert progress == sorted(progress) and progress[-1] == 1.0, seen
        got = httpx.get(f"{base}/media/{SESSION_ID}/submission.mp3?download", timeout=120)
        assert got.status_code == 200
        assert got.headers["x-session-source"] == "archive"
        assert got.headers["content-disposition"].startswith(
            'attachment; filename="Kim - Intake submission.mp3"'
        )
        # byte for byte what export --from-start made while the box had the session
        assert got.content == had["submission.mp3"]
    # the fetched FLAC is gone: the build keeps only the MP3 and its stamp
    built = cache / "archive" / SESSION_ID
    assert sorted(p.name for p in built.iterdir()) == ["submission.json", "submission.mp3"]

    # the client withdraws: the discard deletes the archive's copy and the one made from it
    done = cli("discard", SESSION_ID, "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert not built.exists()


def test_an_archive_build_waits_for_a_recording_and_keeps_the_recorders_room(tmp_path, s3):
    _, store, archive, _ = _retained(tmp_path, s3, (14, 5))
    with media_server(store, store.cache_dir, archive, reserve_bytes=10**15) as base:
        url = f"{base}/api/sessions/{SESSION_ID}/submission"
        refused = httpx.post(url, headers={"X-Requested-With": "t"}, timeout=120).json()
        assert refused["status"] == "refused", refused
        assert "the FLAC fetched to make it" in refused["reason"]
        assert "stay free for recording" in refused["reason"]
        (store.state_dir("recording") / "000002-20261129T100000Z").mkdir()
        waiting = httpx.post(url, headers={"X-Requested-With": "t"}, timeout=120).json()
        assert waiting["status"] == "waiting", waiting
        assert "made from the archive after the stop" in waiting["reason"]
    assert not (store.cache_dir / "archive" / SESSION_ID / "session.flac").exists()
