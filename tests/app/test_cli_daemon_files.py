"""The daemon run by hand (`session-recorder run` from a shell whose umask is 022) writes nothing
that other users of the box can read: it sets umask 0027 itself (systemd's UMask= covers the
service only). And the coach's commands that the daemon queues (share, revoke, discard) are
waited for by the command line, which prints their result and exits as it always did.
"""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys

import pytest

from recorder.adapters.control_socket import ControlSocketError, send
from recorder.app.virtualmic import Feeder, demo_periods
from tests.rclone_server import rclone_binary
from tests.support import cli, wait_until, write_config


@pytest.mark.slow
def test_a_daemon_run_by_hand_keeps_its_files_from_other_users(tmp_path, own_mic):
    conf = tmp_path / "rclone.conf"
    conf.write_text("[localshare]\ntype = local\n")
    conf.chmod(0o600)
    path = write_config(
        tmp_path,
        audio={"device": own_mic.name},
        share={"remote": f"localshare:{tmp_path / 'shared'}", "rclone_config": str(conf),
               "rclone_binary": str(rclone_binary())},
        warnings={"disk_minutes": 0},
    )  # fmt: skip
    feeder = Feeder(own_mic.infile, demo_periods("S16_LE", 48000, 2, 4800), 0.1)
    feeder.start()
    log = open(tmp_path / "daemon.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "recorder", "run", "--config", str(path)],
        env=own_mic.env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        umask=0o022,  # a shell's usual umask
    )
    sock = tmp_path / "control.sock"

    def status() -> dict:
        try:
            return send(sock, {"cmd": "status"}, timeout=5).get("status") or {}
        except ControlSocketError:
            return {}

    def run(*args: str) -> subprocess.CompletedProcess:
        return cli(*args, "--config", str(path), timeout=120)

    try:
        wait_until(lambda: status().get("device") == "ok", 30, "the daemon capturing")
        started = run("ctl", "start")
        assert started.returncode == 0, started.stderr
        wait_until(lambda: status().get("elapsed_s", 0) >= 1.5, 30, "a second and a half")
        assert run("ctl", "stop").returncode == 0
        [sid] = [s["id"] for s in json.loads(run("sessions", "--json").stdout)]
        folder = tmp_path / "sessions" / "outbox" / sid
        wait_until((folder / "session.mp3").is_file, 120, "the session's MP3")

        consent = run("consent", sid, "--allow", "share", "--ref", "signed release")
        assert consent.returncode == 0, consent.stderr
        shared = run("share", sid, "--to", "Alex")
        assert shared.returncode == 0, shared.stderr
        assert shared.stdout.startswith("shared with Alex, until ")
        share_id = shared.stdout.split("share id: ")[1].split()[0]
        assert (tmp_path / "sessions" / "shares" / f"{share_id}.json").is_file()
        assert run("label", "next", "--client", "Kim").returncode == 0
        written = {
            p.relative_to(tmp_path / "sessions").as_posix(): stat.S_IMODE(p.stat().st_mode)
            for p in (tmp_path / "sessions").rglob("*")
        }
        for name in (f"outbox/{sid}/manifest.json", "consent.log", f"shares/{share_id}.json",
                     "next-session.json", f"outbox/{sid}/session.mp3"):  # fmt: skip
            assert name in written
        readable = {name: oct(mode) for name, mode in written.items() if mode & 0o007}
        assert readable == {}

        # the requests the daemon queues: the command line waits and prints how they ended
        revoked = run("share", sid, "--revoke", share_id)
        assert revoked.returncode == 0, revoked.stderr
        assert revoked.stdout.startswith(f"share {share_id} for Alex revoked: ")
        again = run("share", sid, "--revoke", share_id)
        assert again.returncode == 1 and f"share {share_id} was already removed" in again.stderr
        discarded = run("discard", sid)
        assert discarded.returncode == 0, discarded.stderr
        assert discarded.stdout.startswith(f"discarded {sid}: local deleted from outbox/")
        assert not folder.exists()
        gone = run("ctl", "discard", sid)
        assert gone.returncode == 1 and f"no session {sid} on this box" in gone.stdout
        assert not stat.S_IMODE((tmp_path / "sessions" / "discard.log").stat().st_mode) & 0o007
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        log.close()
        feeder.stop()
    assert proc.returncode == 0, (tmp_path / "daemon.log").read_text()[-3000:]
