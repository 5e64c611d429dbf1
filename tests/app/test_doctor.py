"""`session-recorder doctor` against good and broken set-ups, with the real parts."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from recorder.app.virtualmic import Feeder, demo_periods
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


@pytest.mark.slow
def test_a_good_box(tmp_path, own_mic, broker):
    with S3Server(tmp_path / "s3") as s3:
        conf = write_config(tmp_path / "rclone.conf", s3)
        pw = tmp_path / "mqtt.pass"
        pw.write_text(broker.recorder.password)
        (tmp_path / "sessions").mkdir()  # as install.sh leaves it
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


def _bare_env() -> dict:
    """The environment of a box with no GPIO: gpiozero picks its pin factory itself."""
    return {
        k: v for k, v in os.environ.items() if k not in ("GPIOZERO_PIN_FACTORY", "PYTHONWARNINGS")
    }


def test_no_sound_card_and_no_gpio_are_said_once_in_the_report(tmp_path):
    """alsa-lib's raw lookup errors and gpiozero's per-factory fallback warnings are not
    printed: the report says the same in words, and names what gpiozero tried."""
    path = write_cfg(
        tmp_path, audio={"device": "plughw:CARD=NoSuchCard,DEV=0"}, gpio={"enabled": True}
    )
    done = cli("doctor", "--config", str(path), env=_bare_env())
    assert "[FAIL] audio device: cannot open ALSA device" in done.stdout
    assert "ALSA lib" not in done.stderr
    assert "PinFactoryFallback" not in done.stderr
    gpio = next(line for line in done.stdout.splitlines() if "] gpio:" in line)
    if gpio.startswith("[warn]"):  # no GPIO on this machine: what was tried is in the line
        assert "(tried " in gpio
    assert done.stderr == ""


def test_doctor_creates_no_folder(tmp_path):
    """A storage dir that is not there (an unmounted USB disk, a first run) is reported, and
    doctor leaves it, its parents and the socket's folder uncreated."""
    box = tmp_path / "box"
    box.mkdir()
    storage = box / "usb" / "sessions"
    path = write_cfg(
        box,
        audio={"device": "plughw:CARD=NoSuchCard,DEV=0"},
        storage={"dir": str(storage)},
        control={"socket": str(box / "run" / "control.sock")},
    )
    before = sorted(p.relative_to(box) for p in box.rglob("*"))
    done = cli("doctor", "--json", "--config", str(path))
    storage_check = _checks(done)["storage"]
    assert not storage_check["ok"] and not storage_check["blocks"]
    assert storage_check["detail"].startswith(f"storage dir {storage} does not exist")
    assert "is that disk mounted?" in storage_check["fix"]
    assert sorted(p.relative_to(box) for p in box.rglob("*")) == before


def test_storage_that_cannot_be_created_blocks_recording(tmp_path):
    locked = tmp_path / "locked"
    if os.geteuid() == 0:  # root writes into any folder, not onto a read-only filesystem
        locked.mkdir()
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(locked)],
            capture_output=True,
            check=False,
        )
        if mounted.returncode:
            pytest.skip(f"cannot mount a read-only tmpfs: {mounted.stderr.decode().strip()}")
    else:
        locked.mkdir(mode=0o555)
    try:
        path = write_cfg(tmp_path, storage={"dir": str(locked / "sessions")})
        done = cli("doctor", "--json", "--config", str(path))
        left = list(locked.iterdir())
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", "-l", str(locked)], check=False)
    storage_check = _checks(done)["storage"]
    assert done.returncode == 1 and storage_check["blocks"]
    assert storage_check["detail"].startswith(
        f"storage dir {locked / 'sessions'} does not exist and cannot be created in {locked}: "
    )
    assert left == []
