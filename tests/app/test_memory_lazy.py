"""A box pays only for what its config uses: the real daemon, watched by Python's own import log
(PYTHONPROFILEIMPORTTIME, inherited by its capture helper), never imports the libraries of a
section it does not have, and imports them when its work needs them.

python-docx and lxml (7.8 MB), mutagen (1.4 MB) and python-soxr (0.5 MB) used to be imported
by every daemon, through the retagger and the transcript builder (docs/benchmarks.md, Memory).
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from recorder.adapters.control_socket import send
from recorder.app.virtualmic import Feeder, random_periods
from recorder.core.formats import FORMATS
from tests.support import daemon_status, start_daemon, wait_until, write_config

pytestmark = pytest.mark.slow

RATE = 48000
# The outside libraries of [transcript] (engines, docx, resampling), [upload] and [share]
# (rclone-python, which brings rich), MP3 tags, [mqtt] and [gpio].
SECTION_LIBRARIES = {
    "docx", "lxml", "soxr", "pocketsphinx", "faster_whisper", "mutagen",
    "rclone_python", "rich", "paho", "gpiozero",
}  # fmt: skip


def imported(log: str) -> set[str]:
    """The top-level packages in an import log (`import time: self | cumulative | name`)."""
    names = set()
    for line in log.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":  # the header line
                names.add(name.split(".")[0])
    return names


def record_one_session(tmp_path, mic, monkeypatch, **sections) -> tuple[str, str]:
    """The daemon with `sections` records a 1-second session and stops (SIGTERM, exit 0) once
    `done(session folder)` holds; (its import log, the session id)."""
    done = sections.pop("done", lambda folder: True)
    cfg = write_config(tmp_path, audio={"device": mic.name, "preroll_s": 0.5}, **sections)
    sock = tmp_path / "control.sock"
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")
    feeder = Feeder(mic.infile, random_periods(FORMATS["S16_LE"], 2, 4800, None), 0.1)
    feeder.start()
    with open(tmp_path / "daemon.log", "wb") as log:
        daemon = start_daemon(cfg, mic, log)
    try:
        wait_until(lambda: (daemon_status(sock) or {}).get("device") == "ok", 60, "daemon ready")
        started = send(sock, {"cmd": "start"})
        assert started["ok"], started
        sid = started["session_id"]
        wait_until(lambda: (daemon_status(sock) or {}).get("frames", 0) >= RATE, 30, "a second")
        assert send(sock, {"cmd": "stop"})["ok"]
        wait_until(
            lambda: ((daemon_status(sock) or {}).get("last_session") or {}).get("id") == sid,
            30,
            "the session finalized",
        )
        folder = tmp_path / "sessions" / "outbox" / sid
        wait_until(lambda: done(folder), 120, "the session's files")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
    finally:
        feeder.stop()
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(10)
    return (tmp_path / "daemon.log").read_text(errors="replace"), sid


def test_a_box_that_only_records_imports_no_library_of_a_section_it_lacks(
    tmp_path, own_mic, monkeypatch
):
    log, _ = record_one_session(tmp_path, own_mic, monkeypatch)
    names = imported(log)
    assert {"recorder", "numpy", "soundfile", "pydantic"} <= names  # the log is the daemon's
    assert names & SECTION_LIBRARIES == set()


def test_a_held_upload_brings_in_the_mp3_tags_but_not_rclone_python(tmp_path, own_mic, monkeypatch):
    """Held back by delay_min, the upload still has the outbox build session.flac and
    session.mp3: mutagen comes in for the MP3's tag, after the session; rclone-python waits for
    the first rclone command, and the transcript's libraries do not come at all."""
    conf = tmp_path / "rclone.conf"
    conf.touch(mode=0o600)
    upload = {"remote": "held:box", "rclone_config": str(conf), "delay_min": 1e6}
    log, sid = record_one_session(
        tmp_path, own_mic, monkeypatch, upload=upload, done=lambda f: (f / "session.mp3").exists()
    )
    names = imported(log)
    assert "mutagen" in names
    assert names & {"rclone_python", "rich", "docx", "lxml", "soxr", "paho", "gpiozero"} == set()
    # mutagen was imported once the session was there to tag, not when the daemon started
    lines = log.splitlines()
    first_mention = next(i for i, line in enumerate(lines) if sid in line)
    assert next(i for i, line in enumerate(lines) if imported(line) == {"mutagen"}) > first_mention


def test_the_import_log_is_read_as_python_writes_it():
    """The parser above against the interpreter's real log, so an empty parse cannot pass."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import json.decoder"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert {"json", "re"} <= imported(done.stderr)
