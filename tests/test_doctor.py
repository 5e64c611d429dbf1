"""`session-recorder doctor` against good and broken set-ups, with the real parts."""

from __future__ import annotations

import json

import pytest

from recorder.virtualmic import Feeder, demo_periods
from tests.mosquitto import Mosquitto
from tests.rclone_server import CRYPT_REMOTE, S3Server, rclone_binary, write_config
from tests.support import cli
from tests.support import write_config as write_cfg


def _checks(done) -> dict[str, dict]:
    return {c["name"]: c for c in json.loads(done.stdout)}


def _doctor_with_sound(path, mic):
    """doctor --json while the virtual microphone plays a -12 dBFS tone."""
    feeder = Feeder(mic.infile, demo_periods("S16_LE", 48000, 2, 4800), 0.1)
    feeder.start()
    try:
        return cli("doctor", "--json", "--config", str(path), env=mic.env(), timeout=120)
    finally:
        feeder.stop()


@pytest.fixture
def broker(tmp_path):
    b = Mosquitto(tmp_path, device_id="box-1").start()
    yield b
    b.close()


@pytest.mark.slow
def test_a_good_box(tmp_path, own_mic, broker):
    with S3Server(tmp_path / "s3") as s3:
        conf = write_config(tmp_path / "rclone.conf", s3)
        pw = tmp_path / "mqtt.pass"
        pw.write_text(broker.recorder.password)
        path = write_cfg(
            tmp_path,
            audio={"device": own_mic.name},
            mqtt={"host": "127.0.0.1", "port": broker.port, "username": "recorder", "password_file": str(pw)},
            upload={"remote": f"{CRYPT_REMOTE}:doc", "rclone_config": str(conf), "rclone_binary": str(rclone_binary())},
        )  # fmt: skip
        done = _doctor_with_sound(path, own_mic)
        leftovers = s3.objects()
    checks = _checks(done)
    assert done.returncode == 0, done.stdout + done.stderr
    assert checks["audio device"]["ok"] and "peak -12 dBFS" in checks["audio device"]["detail"]
    assert checks["storage"]["ok"] and "h of recording" in checks["storage"]["detail"]
    assert checks["mqtt"]["ok"] and "accepts recorder" in checks["mqtt"]["detail"]
    assert (
        checks["remote"]["ok"] and "probe written, verified, removed" in checks["remote"]["detail"]
    )
    assert leftovers == []  # the probe was removed


def test_no_device_and_unwritable_storage_block_recording(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    path = write_cfg(
        tmp_path,
        audio={"device": "plughw:CARD=NoSuchCard,DEV=0"},
        storage={"dir": str(blocker / "sessions")},
    )
    done = cli("doctor", "--config", str(path))
    assert done.returncode == 1
    assert (
        "[FAIL] audio device: cannot open ALSA device 'plughw:CARD=NoSuchCard,DEV=0'" in done.stdout
    )
    assert "fix: plug in the USB audio interface" in done.stdout
    assert f"[FAIL] storage: storage dir {blocker / 'sessions'}" in done.stdout
    assert done.stdout.rstrip().endswith("cannot record: audio device, storage")


def test_broker_down_and_bad_remote_warn_with_fixes(tmp_path, own_mic):
    with S3Server(tmp_path / "s3") as s3:
        conf = write_config(tmp_path / "rclone.conf", s3, secret="wrong-secret")
        path = write_cfg(
            tmp_path,
            audio={"device": own_mic.name},
            mqtt={"host": "127.0.0.1", "port": 1},
            upload={"remote": f"{CRYPT_REMOTE}:doc", "rclone_config": str(conf), "rclone_binary": str(rclone_binary())},
        )  # fmt: skip
        done = _doctor_with_sound(path, own_mic)
    checks = _checks(done)
    assert done.returncode == 0  # neither blocks recording
    assert not checks["mqtt"]["ok"] and "mosquitto" in checks["mqtt"]["fix"]
    assert not checks["remote"]["ok"] and "credentials" in checks["remote"]["fix"]
    assert checks["audio device"]["ok"]


def test_a_broken_config_is_reported(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[audio]\nrat = 1\n")
    done = cli("doctor", "--config", str(path))
    assert done.returncode == 1
    assert "did you mean 'rate'?" in done.stderr and "[FAIL] config" in done.stdout
