"""export, upload and discard from the command line, with no daemon running."""

from __future__ import annotations

import json
import subprocess

from recorder.app.virtualmic import Feeder, random_periods
from recorder.core.formats import FORMATS
from recorder.core.recording.state import Start, Stop
from tests.rclone_server import CRYPT_REMOTE, rclone_binary, write_config
from tests.support import Running, cli, make_config, sox_raw
from tests.support import write_config as write_cfg

S16 = FORMATS["S16_LE"]


def _one_session(tmp_path, mic) -> str:
    cfg = make_config(tmp_path, audio={"segment_s": 1.0})
    feeder = Feeder(mic.infile, random_periods(S16, 2, 4800, None), 0.02)
    with Running(cfg, feeder) as r:
        r.wait_frames(48000)
        started = r.request(Start())
        r.wait_session_frames(2 * 48000)
        r.request(Stop())
        r.wait_outbox(started["session_id"])  # no [upload]: no deliverables until export
    return started["session_id"]


def test_export_upload_and_discard_without_a_daemon(tmp_path, mic, s3):
    sid = _one_session(tmp_path, mic)
    conf = write_config(tmp_path / "rclone.conf", s3)
    path = write_cfg(
        tmp_path,
        upload={
            "remote": f"{CRYPT_REMOTE}:cli",
            "rclone_config": str(conf),
            "rclone_binary": str(rclone_binary()),
        },
    )
    session = tmp_path / "sessions" / "outbox" / sid
    segments = sorted(str(p) for p in session.glob("seg-*.wav"))

    out = tmp_path / "export.flac"
    done = cli("export", sid, "--format", "flac", "-o", str(out), "--config", str(path))
    assert done.returncode == 0, done.stderr
    assert sox_raw([str(out)]) == sox_raw(segments)
    done = cli(
        "export", sid, "--format", "mp3", "-o", str(tmp_path / "x.mp3"), "--config", str(path)
    )
    assert done.returncode == 0 and (tmp_path / "x.mp3").stat().st_size > 0
    bad = cli("export", "000099-20260101T000000Z", "--config", str(path))
    assert bad.returncode == 1 and "not found" in bad.stderr

    done = cli("upload", "--config", str(path), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{sid}  uploaded  verified" in done.stdout
    [record] = json.loads(cli("sessions", "--json", "--config", str(path)).stdout)
    assert record["state"] == "uploaded" and record["upload"]["status"] == "verified"

    done = cli("discard", sid, "--config", str(path), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "local deleted from uploaded/" in done.stdout and "remote deleted" in done.stdout
    assert json.loads(cli("sessions", "--json", "--config", str(path)).stdout) == []
    listing = subprocess.run(
        [str(rclone_binary()), "--config", str(conf), "lsf", f"{CRYPT_REMOTE}:cli"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert listing.stdout.strip() == ""
    refused = cli("discard", "not-an-id", "--config", str(path))
    assert refused.returncode == 1 and "is not a session id" in refused.stderr


def test_upload_without_an_upload_section_says_so(tmp_path):
    path = write_cfg(tmp_path)
    done = cli("upload", "--config", str(path))
    assert done.returncode == 1 and "no [upload] section" in done.stderr


def test_a_world_readable_rclone_config_is_refused_clearly(tmp_path, s3):
    conf = write_config(tmp_path / "rclone.conf", s3)
    conf.chmod(0o644)
    path = write_cfg(tmp_path, upload={"remote": f"{CRYPT_REMOTE}:x", "rclone_config": str(conf)})
    done = cli("upload", "--config", str(path))
    assert done.returncode != 0
    assert str(conf) in done.stderr and "chmod 600" in done.stderr
    assert "crypt password" not in done.stderr and "password" not in conf.name
