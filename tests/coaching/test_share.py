"""Sharing with the loopback S3 server as both the encrypted archive and the share remote."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from recorder.app.assemble_coaching import build_coaching
from recorder.config import load_config
from recorder.media.deliverables import MP3_NAME, build_deliverables
from recorder.store.sessions import SessionStore
from tests.factories import SESSION_ID, finished_session, tone
from tests.rclone_server import (
    BUCKET,
    CRYPT_REMOTE,
    S3_REMOTE,
    S3Server,
    WebdavServer,
    rclone_binary,
)
from tests.rclone_server import write_config as write_rclone
from tests.support import cli
from tests.support import write_config as write_cfg

RATE = 8000


@pytest.fixture
def box(tmp_path):
    with S3Server(tmp_path / "s3") as server:
        conf = write_rclone(tmp_path / "rclone.conf", server)
        path = write_cfg(
            tmp_path,
            upload={"remote": f"{CRYPT_REMOTE}:archive", "rclone_config": str(conf),
                    "rclone_binary": str(rclone_binary())},
            share={"remote": f"{S3_REMOTE}:{BUCKET}/shares"},
        )  # fmt: skip
        folder, manifest = finished_session(tmp_path / "sessions", [tone(RATE * 3).tobytes()], RATE)
        build_deliverables(folder, manifest)
        yield path, folder, server


def _shared_files(server) -> list:
    return [p for p in server.objects() if "/shares/" in str(p)]


def test_share_needs_consent_then_gives_the_exact_mp3_and_a_working_link(box):
    path, folder, server = box
    refused = cli("share", SESSION_ID, "--to", "Alex", "--config", str(path), timeout=120)
    assert refused.returncode == 1
    assert "has not consented to sharing" in refused.stderr
    assert _shared_files(server) == []
    cli("consent", SESSION_ID, "--allow", "share", "--to", "Alex", "--ref", "signed release",
        "--config", str(path))  # fmt: skip
    other = cli("share", SESSION_ID, "--to", "Kim", "--config", str(path), timeout=120)
    assert other.returncode == 1 and "with Alex only, not Kim" in other.stderr
    done = cli("share", SESSION_ID, "--to", "Alex", "--expire", "14d", "--config", str(path),
               timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    [copy] = _shared_files(server)
    assert copy.read_bytes() == (folder / MP3_NAME).read_bytes()
    assert copy.parent.name.startswith("sr-") and len(copy.parent.name) > 20
    link = next(line[6:] for line in done.stdout.splitlines() if line.startswith("link: "))
    with urllib.request.urlopen(link, timeout=10) as got:
        assert got.read() == (folder / MP3_NAME).read_bytes()
    assert "links last at most 7 days" in done.stdout
    # the archive holds no plain audio: nothing of the session's MP3 appears outside shares/
    plain = (folder / MP3_NAME).read_bytes()
    assert all(p.read_bytes() != plain for p in server.objects() if p != copy)
    [share] = json.loads((folder / "manifest.json").read_text())["shares"]
    assert share["to"] == "Alex" and share["purpose"] == "share" and share["link"] == link
    revoked = cli("share", SESSION_ID, "--revoke", share["id"], "--config", str(path),
                  timeout=120)  # fmt: skip
    assert revoked.returncode == 0, revoked.stderr
    server.settle()
    listing = subprocess.run(
        [str(rclone_binary()), "--config", str(path.parent / "rclone.conf"), "lsf", "-R",
         f"{S3_REMOTE}:{BUCKET}/shares"], capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert listing.stdout.strip() == ""
    [share] = json.loads((folder / "manifest.json").read_text())["shares"]
    assert share["removed"] == "revoked" and share["removed_at"]


def test_expired_and_withdrawn_copies_go_at_the_next_sweep(box):
    path, folder, server = box
    cfg = load_config(path)
    store = SessionStore(cfg.storage.dir)
    cli("consent", SESSION_ID, "--allow", "copy", "--ref", "asked", "--config", str(path))
    cli("consent", SESSION_ID, "--allow", "share", "--ref", "signed", "--config", str(path))
    cli("label", SESSION_ID, "--client", "Sam", "--config", str(path))
    assert (
        cli("share", SESSION_ID, "--to", "Sam", "--config", str(path), timeout=120).returncode == 0
    )
    assert (
        cli("share", SESSION_ID, "--to", "Alex", "--config", str(path), timeout=120).returncode == 0
    )
    assert len(_shared_files(server)) == 2
    shares = json.loads((folder / "manifest.json").read_text())["shares"]
    assert [s["purpose"] for s in shares] == ["copy", "share"]
    later = datetime.now(UTC) + timedelta(days=15)
    coaching = build_coaching(cfg, store, discard=lambda sid: {}, now=lambda: later)
    coaching.sharer.sweep()
    assert _shared_files(server) == []
    removed = [s["removed"] for s in json.loads((folder / "manifest.json").read_text())["shares"]]
    assert removed == ["expired", "expired"]
    # a share after withdrawal is refused
    cli("consent", SESSION_ID, "--withdraw", "share", "--ref", "call", "--config", str(path))
    again = cli("share", SESSION_ID, "--to", "Alex", "--config", str(path), timeout=120)
    assert again.returncode == 1 and "has not consented" in again.stderr


def test_a_share_remote_inside_the_archive_is_refused(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[storage]\ndir = "s"\n[upload]\nremote = "secret:archive"\n'
        '[share]\nremote = "secret:archive/shares"\n'
    )
    done = cli("config", "check", "--config", str(bad))
    assert done.returncode == 2 and "plain copies would sit beside" in done.stderr


def test_a_backend_without_links_gets_the_copy_and_says_what_to_use_instead(box, tmp_path):
    path, folder, s3 = box
    with WebdavServer(tmp_path / "dav") as dav:
        conf = path.parent / "rclone.conf"
        conf.write_text(conf.read_text() + "\n" + dav.section("dav"))
        path.write_text(path.read_text().replace(f'"{S3_REMOTE}:{BUCKET}/shares"', '"dav:shares"'))
        cli("consent", SESSION_ID, "--allow", "share", "--ref", "signed", "--config", str(path))
        done = cli("share", SESSION_ID, "--to", "Alex", "--config", str(path), timeout=120)
        assert done.returncode == 0, done.stderr
        [copy] = dav.files()
        assert copy.read_bytes() == (folder / MP3_NAME).read_bytes()
        assert copy.parent.parent == dav.root / "shares"
        [share] = json.loads((folder / "manifest.json").read_text())["shares"]
        assert share["link"] is None
        note = f"webdav remotes make no public links: send the folder dav:shares/{copy.parent.name}"
        assert share["link_note"].startswith(note)
        assert note in done.stdout and "use an S3, Dropbox or Google Drive remote" in done.stdout
        assert not [p for p in s3.objects() if "/shares/" in str(p)]
        revoked = cli("share", SESSION_ID, "--revoke", share["id"], "--config", str(path),
                      timeout=120)  # fmt: skip
        assert revoked.returncode == 0, revoked.stderr
        assert dav.files() == []
