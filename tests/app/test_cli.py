"""The command line as a user meets it: config errors, ctl, sessions --json, the demo."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recorder.adapters.control_socket import ControlSocketError, send
from recorder.app import demo
from recorder.app.virtualmic import Feeder, demo_periods
from tests.support import cli, sox_seconds, wait_until, write_config

ABSENT = "plughw:CARD=NoSuchCard,DEV=0"


def test_config_check_accepts_a_good_file(tmp_path):
    path = write_config(tmp_path)
    done = cli("config", "check", "--config", str(path))
    assert done.returncode == 0, done.stderr
    assert f"{path}: ok" in done.stdout
    assert json.loads(done.stdout.split("\n", 1)[1])["audio"]["device"] == "testmic"


def test_config_from_environment_variable(tmp_path):
    path = write_config(tmp_path)
    env = {**os.environ, "SESSION_RECORDER_CONFIG": str(path)}
    done = cli("config", "check", env=env)
    assert done.returncode == 0 and f"{path}: ok" in done.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[audio]\ndevcie = 'x'\n",
            ["unknown key 'audio.devcie' in [audio]; did you mean 'device'?"],
        ),
        ("[auido]\n", ["unknown key 'auido' in the top level; did you mean 'audio'?"]),
        ("[audio]\nrate = 'fast'\n", ["audio.rate: Input should be a valid integer", "'fast'"]),
        ("[audio]\nformat = 'S8'\n", ["audio.format: Input should be 'S16_LE', 'S24_3LE' or"]),
        ("[audio]\nrate = 44100\nperiod_ms = 33\n", ["not a whole number of frames"]),
        ("[audio\nrate = 1\n", ["not valid TOML"]),
        ("[storage]\nmin_free_mb = 0\n", ["storage.min_free_mb: Input should be greater than"]),
        ("[device]\nid = 'a b/c'\n", ["device.id: String should match pattern"]),
    ],
)
def test_bad_config_names_file_and_key(tmp_path, text, expected):
    path = tmp_path / "config.toml"
    path.write_text(text)
    done = cli("config", "check", "--config", str(path))
    assert done.returncode == 2
    assert str(path) in done.stderr
    for part in expected:
        assert part in done.stderr


def test_every_config_error_is_reported_at_once(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[audio]\nrate = 'x'\nchanels = 2\n[storage]\nmin_free = 3\n")
    done = cli("run", "--config", str(path))
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if str(path) in line]
    assert len(lines) == 3
    assert "did you mean 'channels'?" in done.stderr
    assert "did you mean 'min_free_mb'?" in done.stderr


def test_missing_config_file(tmp_path):
    done = cli("run", "--config", str(tmp_path / "nope.toml"))
    assert done.returncode == 2
    assert f"{tmp_path / 'nope.toml'}: config file not found" in done.stderr


def test_unwritable_storage_dir_stops_the_daemon_with_the_path(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the storage dir should be")
    path = write_config(tmp_path, storage={"dir": str(blocker / "sessions")})
    done = cli("run", "--config", str(path), timeout=30)
    assert done.returncode == 2
    assert f"storage dir {blocker / 'sessions'}" in done.stderr
    assert "not writable" in done.stderr
    assert blocker.read_text() == "a file where the storage dir should be"


@pytest.mark.parametrize(
    "where",
    [
        ["--config", "CONFIG", "config", "check"],
        ["config", "--config", "CONFIG", "check"],
        ["config", "check", "--config", "CONFIG"],
        ["-v", "--config", "CONFIG", "ctl", "status"],
        ["ctl", "--config", "CONFIG", "status"],
        ["ctl", "status", "--config", "CONFIG"],
    ],
)
def test_the_common_options_count_wherever_they_are(tmp_path, where):
    """`--config` before or after the command (as its usage line shows), never dropped for the
    default (/etc/session-recorder/config.toml): a box's own commands go to another config."""
    path = write_config(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "SESSION_RECORDER_CONFIG"}
    done = cli(*[str(path) if a == "CONFIG" else a for a in where], env=env)
    assert "/etc/session-recorder" not in done.stderr, done.stderr
    if "ctl" in where:
        assert done.returncode == 3 and f"{tmp_path}/control.sock" in done.stderr, done.stderr
    else:
        assert done.returncode == 0 and f"{path}: ok" in done.stdout, done.stderr


def test_ctl_without_a_daemon_says_so(tmp_path):
    path = write_config(tmp_path)
    done = cli("ctl", "status", "--config", str(path))
    assert done.returncode == 3
    assert "no recorder is running" in done.stderr


@pytest.fixture
def absent_daemon(tmp_path):
    """A daemon whose audio device does not exist: it runs, waits for it, and says why."""
    path = write_config(tmp_path, audio={"device": ABSENT})
    proc = subprocess.Popen(
        [sys.executable, "-m", "recorder", "run", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    sock = tmp_path / "control.sock"

    def up():
        try:
            return send(sock, {"cmd": "status"}, timeout=2)["status"]["device"] == "absent"
        except ControlSocketError:
            return False

    try:
        wait_until(up, what="daemon up with an absent device")
        yield path, sock, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def test_absent_device_is_reported_and_start_refused(absent_daemon):
    path, _sock, proc = absent_daemon
    status = json.loads(cli("ctl", "status", "--json", "--config", str(path)).stdout)
    assert status["state"] == "error"
    assert ABSENT in status["last_error"]
    done = cli("ctl", "start", "--config", str(path))
    assert done.returncode == 1
    assert "cannot start" in done.stdout and ABSENT in done.stdout
    done = cli("ctl", "stop", "--config", str(path))
    assert done.returncode == 1 and "not recording" in done.stdout
    text = cli("ctl", "status", "--config", str(path)).stdout
    assert "state:        error" in text and ABSENT in text
    assert proc.poll() is None


def test_control_socket_is_0660_and_survives_garbage(absent_daemon):
    _, sock, proc = absent_daemon
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660
    garbage = [
        b"not json\n",
        b'{"cmd": "explode"}\n',
        b'["start"]\n',
        b'{"cmd": "mark", "label": 42}\n',
        b'{"cmd": "start", "as": "root"}\n',
        b"{" + b"x" * 10000 + b"}\n",
        b"\xff\xfe\n",
    ]
    for payload in garbage:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(sock))
            s.sendall(payload)
            answer = json.loads(s.makefile().readline())
        assert answer["ok"] is False and answer["message"], payload
    assert send(sock, {"cmd": "status"})["ok"]
    assert proc.poll() is None


def _malloc_arena_heaps(pid: int) -> int:
    """glibc's arenas besides the main one, counted in /proc/PID/maps: each lives in a heap of
    its own, an anonymous mapping aligned to 64 MiB and 64 MiB long (the part not in use yet is
    PROT_NONE). Thread stacks and pymalloc's arenas never look like that."""
    heap = 64 << 20
    rows = []
    for line in open(f"/proc/{pid}/maps"):  # noqa: SIM115
        fields = line.split()
        lo, hi = (int(x, 16) for x in fields[0].split("-"))
        rows.append((lo, hi, fields[1], len(fields) > 5))
    starts = {lo: (hi, perms, named) for lo, hi, perms, named in rows}
    count = 0
    for lo, hi, perms, named in rows:
        if named or lo % heap or not perms.startswith("rw"):
            continue
        end = hi
        after = starts.get(hi)
        if after is not None and after[1].startswith("---") and not after[2]:
            end = after[0]
        count += end - lo == heap
    return count


@pytest.mark.skipif(
    "MALLOC_ARENA_MAX" in os.environ or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""),
    reason="the environment sets the arena count itself",
)
def test_daemon_threads_share_one_malloc_arena(absent_daemon):
    """`run` limits glibc to one malloc arena before its threads start (recorder.app.daemon:
    use_one_malloc_arena). Without it, this daemon has one arena heap per busy thread (6 here)."""
    _, sock, proc = absent_daemon
    for _ in range(20):  # the controller and the socket's threads allocate
        assert send(sock, {"cmd": "status"})["ok"]
    assert _malloc_arena_heaps(proc.pid) == 0
    assert proc.poll() is None


def test_second_daemon_on_the_same_socket_refuses_to_run(absent_daemon, tmp_path):
    _, sock, _ = absent_daemon
    other = tmp_path / "other"
    other.mkdir()
    second = write_config(other, audio={"device": ABSENT}, control={"socket": str(sock)})
    done = cli("run", "--config", str(second), timeout=30)
    assert done.returncode == 2
    assert "another recorder is already running" in done.stderr


def test_corrupt_manifest_is_reported_and_left_untouched(tmp_path):
    path = write_config(tmp_path, audio={"device": ABSENT})
    broken = tmp_path / "sessions" / "recording" / "000007-20260101T100000Z"
    broken.mkdir(parents=True)
    (broken / "manifest.json").write_text('{"id": "000007-20260101T100000Z", "frames": "lots"')
    (broken / "seg-0000.wav").write_bytes(b"RIFF....precious audio")
    before = {p.name: p.read_bytes() for p in broken.iterdir()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "recorder", "run", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until((tmp_path / "control.sock").exists, what="daemon up")
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert f"{broken / 'manifest.json'}: corrupt manifest" in out
    assert {p.name: p.read_bytes() for p in broken.iterdir()} == before
    listed = json.loads(cli("sessions", "--json", "--config", str(path)).stdout)
    assert listed[0]["state"] == "damaged" and "corrupt manifest" in listed[0]["error"]
    assert listed[0]["id"] == "000007-20260101T100000Z"


@pytest.mark.slow
def test_ctl_session_and_sessions_json(tmp_path, own_mic):
    path = write_config(
        tmp_path, audio={"device": own_mic.name, "preroll_s": 1.0, "segment_s": 2.0}
    )
    feeder = Feeder(own_mic.infile, demo_periods("S16_LE", 48000, 2, 4800), 0.1)
    feeder.start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "recorder", "run", "--config", str(path)],
        env=own_mic.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    sock = tmp_path / "control.sock"
    try:
        wait_until(
            lambda: sock.exists() and send(sock, {"cmd": "status"})["status"]["device"] == "ok",
            what="daemon ready",
        )
        time.sleep(1.1)
        done = cli("ctl", "start", "--config", str(path))
        assert done.returncode == 0 and "recording session" in done.stdout
        status = json.loads(cli("ctl", "status", "--json", "--config", str(path)).stdout)
        assert status["state"] == "recording" and status["session_id"]
        time.sleep(1.0)
        assert cli("ctl", "mark", "client's insight", "--config", str(path)).returncode == 0
        assert cli("ctl", "mark", "--config", str(path)).returncode == 0
        time.sleep(1.5)
        again = cli("ctl", "start", "--config", str(path))
        assert again.returncode == 1 and "already recording" in again.stdout
        assert cli("ctl", "stop", "--config", str(path)).returncode == 0
        wait_until(
            lambda: (
                json.loads(cli("sessions", "--json", "--config", str(path)).stdout)[0]["state"]
                == "outbox"
            ),
            what="finalized",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        feeder.stop()
    [record] = json.loads(cli("sessions", "--json", "--config", str(path)).stdout)
    assert record["id"] == status["session_id"]
    assert record["path"] == str(tmp_path / "sessions" / "outbox" / record["id"])
    assert record["rate"] == 48000 and record["channels"] == 2
    assert record["frames"] >= 48000 * 3
    assert record["upload"]["status"] == "pending" and record["upload"]["remote"] is None
    assert all(os.path.isabs(p) for p in record["segments"])
    assert sum(sox_seconds(p) for p in record["segments"]) == pytest.approx(
        record["frames"] / 48000, abs=1e-3
    )
    labels = [(m["label"], m["frame"] / 48000 == m["seconds"]) for m in record["markers"]]
    assert labels == [("client's insight", True), ("", True)]
    table = cli("sessions", "--config", str(path)).stdout
    assert record["id"] in table and "outbox" in table


@pytest.mark.slow
def test_demo_runs_on_a_machine_with_no_sound_card(tmp_path):
    done = cli("demo", "--dir", str(tmp_path / "demo"), timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    [session] = list((tmp_path / "demo" / "sessions" / "uploaded").iterdir())
    assert f"session {session.name}  ->  {session}" in done.stdout
    assert "(frame " in done.stdout and "button): ''" in done.stdout
    assert "ctl): 'demo marker'" in done.stdout
    for led in ("starting", "ready", "recording", "marker acknowledged", "hold", "armed"):
        assert f"LED: {led}\n" in done.stdout
    lines = done.stdout.splitlines()
    # one acknowledgement per marker, printed after the action that placed it
    acks = [i for i, line in enumerate(lines) if line == "  LED: marker acknowledged"]
    press, mark = lines.index("button: short press"), lines.index("ctl mark 'demo marker'")
    assert [press < i < mark for i in acks] == [True, False]
    assert lines[acks[1] - 1] == "ctl mark 'demo marker'"
    assert lines[acks[1] + 1].startswith("  -> marker at ")
    for why in ("closing the session", "uploading", "verifying the upload"):
        assert f"LED: finalizing ({why}" in done.stdout
    assert "1 ch (mono speech at 64 kbps" in done.stdout
    # the closing hint is a command that works from here, the venv not being on PATH
    hint = lines[-1].removeprefix("list it again with: ")
    assert hint != lines[-1] and hint.endswith(
        f"sessions --config {tmp_path / 'demo' / 'config.toml'}"
    )
    again = subprocess.run(shlex.split(hint), capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    assert session.name in again.stdout and "uploaded" in again.stdout
    assert (session / "labels.txt").read_text().splitlines()[1].endswith("\tdemo marker")
    assert f"uploaded and verified (rclone cryptcheck) to democloud:{session.name}" in done.stdout
    manifest = json.loads((session / "manifest.json").read_text())
    assert manifest["stop_reason"] == "requested"
    assert manifest["preroll_frames"] == 3 * 48000
    assert all(-15 < peak < -3 for peak in manifest["levels"]["peak_dbfs"])  # espeak-ng speech
    # the demo's two-voice session gets its transcript, printed and uploaded with it
    # whisper by default ([transcript] engine = "auto"), with the tiny.en the install brings
    t = json.loads((session / "transcript.json").read_text())
    assert t["turns"] == 6 and t["paragraphs"] >= 6 and t["words"] > 0
    assert (
        f"transcript (whisper, offline): 6 turns (changes of speaker) in {t['paragraphs']} "
        f"paragraphs, {t['words']} words: transcript.docx"
    ) in done.stdout
    assert "  engine chosen: auto: whisper's model is in place, " in done.stdout
    assert "] Coach: " in done.stdout and "] Client: " in done.stdout
    # the audio went and was verified first; the transcript followed on its own
    assert "transcript.docx" not in manifest["upload"]["files"]
    assert manifest["upload"]["transcript"]["status"] == "verified"
    assert "transcript.docx" in manifest["upload"]["transcript"]["files"]
    assert "  then the transcript, verified: ['transcript.docx', " in done.stdout
    # the coach's side: the next session's name, a share refused, consent, then a plain copy
    assert "  name: Sam · Goals review" in lines
    assert manifest["details"]["client"] == "Sam"
    assert "  -> not shared with Alex: the client has not consented" in done.stdout
    [entry] = manifest["consent"]
    assert entry["what"] == "share" and entry["ref"] == "demo: signed release"
    [copy] = list((tmp_path / "demo" / "shared").rglob("session.mp3"))
    assert copy.read_bytes() == (session / "session.mp3").read_bytes()
    assert "local remotes make no public links: send the folder demoshare:" in done.stdout


@pytest.mark.parametrize("entry", ["venv script", "python -m recorder"])
def test_demo_hint_runs_from_outside_the_clone(tmp_path, monkeypatch, entry):
    """From a folder that is not the clone, the demo's hint names this program by a path."""
    script = Path(sys.executable).with_name("session-recorder")
    if entry == "venv script" and not script.is_file():
        pytest.skip(f"no {script}")
    main = Path(demo.__file__).parent.parent / "__main__.py"
    monkeypatch.setattr(sys, "argv", [str(script if entry == "venv script" else main), "demo"])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # the venv's bin is not on it
    path = write_config(tmp_path, audio={"device": ABSENT})
    command = f"{demo.own_command()} sessions --config {path}"
    done = subprocess.run(shlex.split(command), capture_output=True, text=True, check=False)
    assert done.returncode == 0, command + "\n" + done.stderr
    assert f"no sessions in {tmp_path / 'sessions'}" in done.stdout


def test_second_daemon_on_the_same_storage_refuses_to_run(absent_daemon, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    second = write_config(
        other,
        audio={"device": ABSENT},
        storage={"dir": str(tmp_path / "sessions")},
        control={"socket": str(other / "control.sock")},
    )
    done = cli("run", "--config", str(second), timeout=30)
    assert done.returncode == 2
    assert "is in use by another running recorder" in done.stderr
