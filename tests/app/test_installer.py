"""install.sh: shellcheck-clean, and a whole install, re-run, upgrade and uninstall into a
scratch root (`--root DIR --no-packages --no-services`), never touching this machine's users.

The scratch-root tests share one installed box (a module fixture: install, then the box's
first start, which makes its own broker passwords) and run in file order: install, re-run,
--usb-id, upgrade, a new device id from the boot partition, then uninstall and purge. A last test builds into an OS
tree as the pi-gen stage does (`--root DIR --no-services`, DIR with its own python3: the venv is
made inside it through chroot), with this machine's /usr under an overlay in a private mount
namespace, so nothing outside DIR can change. Making a venv needs PyPI (pip downloads the
dependencies, from its cache when it can): those tests are skipped when pip cannot reach an
index, and they need root (chown, useradd --root, chroot).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from tests.mosquitto import Credentials, Mosquitto
from tests.support import ROOT, copy_checkout

INSTALL = ROOT / "install.sh"
DEVICE_ID = "room-4"
ARGS = ("--no-packages", "--no-services", "--device-id", DEVICE_ID)
SESSION = "var/lib/session-recorder/outbox/000001-20261129T093000Z"
# provision.py runs on the box's system python3, outside any venv: so do the tests when they can.
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
HOST_ACCOUNTS = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow")

# A minimal etc/ for useradd --root: mosquitto's account is there (as the Debian package makes
# it), gpio is not (as on a machine that is not a Pi: the installer creates it).
PASSWD = """\
root:x:0:0:root:/root:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
mosquitto:x:105:105::/var/lib/mosquitto:/usr/sbin/nologin
"""
GROUP = "root:x:0:\naudio:x:29:\nmosquitto:x:105:\nnogroup:x:65534:\n"
SHADOW = "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\nmosquitto:*:19000:0:99999:7:::\n"
GSHADOW = "root:*::\naudio:*::\nmosquitto:*::\nnogroup:*::\n"


# ---- fast checks ---------------------------------------------------------------------------


def test_shellcheck_is_clean():
    tool = shutil.which("shellcheck")
    if tool is None:
        pytest.skip("shellcheck is not installed (Debian package shellcheck)")
    done = subprocess.run(
        [tool, "--norc", str(INSTALL)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--purge-recordings"], "only goes with --uninstall"),
        (["--usb-id", "12:34"], "expected VVVV:PPPP"),
        (["--device-id", "a b"], "letters, digits"),
        (["--device-id"], "needs a value"),
        (["--frobnicate"], "unknown option"),
    ],
)
def test_bad_options_are_refused(args, message):
    done = subprocess.run(
        ["bash", str(INSTALL), *args], capture_output=True, text=True, check=False, timeout=30
    )
    assert done.returncode == 1
    assert message in done.stderr


def test_help():
    done = subprocess.run(
        ["bash", str(INSTALL), "--help"], capture_output=True, text=True, check=False, timeout=30
    )
    assert done.returncode == 0
    assert "--uninstall" in done.stdout and "--usb-id" in done.stdout


# ---- the scratch root ------------------------------------------------------------------------


@dataclass
class Box:
    root: Path  # the scratch root: install.sh --root
    checkout: Path  # a copy of this checkout: install.sh runs from here
    env: dict[str, str]
    host_accounts: dict[str, str]  # hashes of this machine's account files before
    first: subprocess.CompletedProcess[str] | None = None  # the first install
    marker_after_install: bool = False  # the "make passwords at first start" marker
    passwords_after_install: list[str] | None = None
    first_boot: subprocess.CompletedProcess[str] | None = None  # provision.py, no settings file

    def path(self, rel: str) -> Path:
        return self.root / rel.lstrip("/")

    def run(self, *args: str, checkout: Path | None = None) -> subprocess.CompletedProcess[str]:
        script = (checkout or self.checkout) / "install.sh"
        done = subprocess.run(
            ["bash", str(script), "--root", str(self.root), *args],
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
            timeout=900,
        )
        assert done.returncode == 0, f"install.sh {args}:\n{done.stdout}\n{done.stderr}"
        return done

    def provision(self, settings: str | None = None) -> subprocess.CompletedProcess[str]:
        """What session-recorder-provision.service runs at boot, with the box's boot partition
        holding `settings` (None: no settings file, as at a plain first start)."""
        boot = self.root / "boot" / "firmware"
        boot.mkdir(parents=True, exist_ok=True)
        if settings is not None:
            (boot / "session-recorder.txt").write_text(settings)
        script = self.path("opt/session-recorder/firmware/provision.py")
        done = subprocess.run(
            [PYTHON, str(script), "--boot", str(boot), "--root", str(self.root)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, f"provision.py:\n{done.stdout}\n{done.stderr}"
        return done

    def gid(self, group: str) -> int:
        for line in self.path("etc/group").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == group:
                return int(fields[2])
        raise KeyError(group)

    def account(self, name: str, file: str = "etc/passwd") -> list[str] | None:
        for line in self.path(file).read_text().splitlines():
            if line.split(":")[0] == name:
                return line.split(":")
        return None


@cache
def _index_unreachable() -> str | None:
    """Why pip cannot fetch packages here, or None when it can."""
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"installer-probe-{os.getpid()}"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
             "--timeout", "5", "--retries", "0", "-q", "-d", str(probe), "six"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "PyPI is not reachable (pip download timed out)"
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    if done.returncode != 0:
        return f"PyPI is not reachable: {done.stderr.strip().splitlines()[-1:]}"
    return None


def _scratch_root(root: Path) -> Path:
    etc = root / "etc"
    etc.mkdir(parents=True)
    for name, text, mode in (
        ("passwd", PASSWD, 0o644),
        ("group", GROUP, 0o644),
        ("shadow", SHADOW, 0o640),
        ("gshadow", GSHADOW, 0o640),
    ):
        (etc / name).write_text(text)
        (etc / name).chmod(mode)
    return root


def _hashes(paths) -> dict[str, str]:
    out = {}
    for p in paths:
        with contextlib.suppress(OSError):
            out[str(p)] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
    return out


def _tree(path: Path) -> dict[str, tuple[str, float]]:
    """Every file below path with its hash and mtime."""
    return {
        str(f.relative_to(path)): (hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_mtime)
        for f in sorted(path.rglob("*"))
        if f.is_file()
    }


@pytest.fixture(scope="module")
def box(tmp_path_factory) -> Box:
    if os.geteuid() != 0:
        pytest.skip("install.sh runs as root (chown, useradd --root)")
    for tool in ("useradd", "groupadd", "userdel"):
        if shutil.which(tool, path="/usr/sbin:/sbin:/usr/bin:/bin") is None:
            pytest.skip(f"{tool} is missing (Debian package passwd)")
    reason = _index_unreachable()
    if reason:
        pytest.skip(f"making the venv needs pip to download packages: {reason}")
    base = tmp_path_factory.mktemp("installer")
    # install.sh runs as `sudo` would run it: the real HOME, so pip uses its cache and config
    # (conftest points HOME at a throwaway folder for ALSA).
    env = dict(os.environ, HOME=pwd.getpwuid(os.getuid()).pw_dir)
    for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(var, None)
    host = _hashes(HOST_ACCOUNTS)
    b = Box(_scratch_root(base / "root"), copy_checkout(base / "checkout"), env, host)
    b.first = b.run(*ARGS)
    # --root builds an image: the box makes its passwords at its first start.
    b.marker_after_install = b.path("etc/session-recorder/first-boot-secrets").exists()
    b.passwords_after_install = [
        p for p in ("etc/session-recorder/mqtt.pass", "etc/session-recorder/dashboard.pass",
                    "etc/mosquitto/session-recorder.passwd") if b.path(p).exists()
    ]  # fmt: skip
    b.first_boot = b.provision()
    # A session as the daemon leaves it, which no later run may touch.
    session = b.path(SESSION)
    session.mkdir(parents=True)
    (session / "manifest.json").write_text('{"id": "000001-20261129T093000Z"}\n')
    (session / "seg-0000.wav").write_bytes(os.urandom(4096))
    return b


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _secrets(b: Box) -> dict[str, str]:
    return _hashes(
        b.path(p)
        for p in (
            "etc/session-recorder/config.toml",
            "etc/session-recorder/mqtt.pass",
            "etc/session-recorder/dashboard.pass",
            "etc/mosquitto/session-recorder.passwd",
            "etc/mosquitto/session-recorder.acl",
        )
    )


def _broker_accepts_installed_users(b: Box, tmp_path: Path, device_id: str = DEVICE_ID) -> None:
    """mosquitto with the installed passwd file and ACL: recorder and dashboard log in with the
    passwords in /etc/session-recorder, and the dashboard reads what the recorder publishes."""
    broker = Mosquitto(tmp_path / f"broker-{device_id}", device_id=device_id)
    shutil.copy(b.path("etc/mosquitto/session-recorder.passwd"), broker.dir / "passwd")
    shutil.copy(b.path("etc/mosquitto/session-recorder.acl"), broker.dir / "acl")
    recorder = Credentials("recorder", b.path("etc/session-recorder/mqtt.pass").read_text().strip())
    dashboard = Credentials(
        "dashboard", b.path("etc/session-recorder/dashboard.pass").read_text().strip()
    )
    with broker:
        got = threading.Event()
        reader = broker.client(dashboard)
        reader.on_message = lambda _c, _u, msg: got.set() if msg.payload == b"idle" else None
        reader.subscribe(broker.topic("state"), qos=1)
        writer = broker.client(recorder)
        writer.publish(broker.topic("state"), "idle", qos=1, retain=True).wait_for_publish(5)
        assert got.wait(5), broker.log_text()
        with pytest.raises(ConnectionRefusedError):
            broker.client(Credentials("dashboard", "not-the-password"))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_install_into_a_scratch_root(box, tmp_path):
    b = box
    assert b.first is not None
    out = b.first.stdout
    # the user and group, in DIR's files only
    user = b.account("session-recorder")
    assert user is not None, b.path("etc/passwd").read_text()
    assert user[5] == "/nonexistent" and user[6] == "/usr/sbin/nologin"
    assert int(user[3]) == b.gid("session-recorder")
    for group in ("audio", "gpio"):
        members = b.account(group, "etc/group")[3].split(",")
        assert "session-recorder" in members, group
    assert _hashes(HOST_ACCOUNTS) == b.host_accounts, "the host's accounts changed"

    # the venv runs, and the installed config passes the check
    exe = b.path("opt/session-recorder/venv/bin/session-recorder")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("session-recorder ")
    config = b.path("etc/session-recorder/config.toml")
    check = subprocess.run(
        [exe, "config", "check", "--config", config], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr
    shown = json.loads(check.stdout.split("\n", 1)[1])
    assert shown["device"]["id"] == DEVICE_ID
    assert shown["mqtt"]["username"] == "recorder"
    assert shown["mqtt"]["password_file"] == "/etc/session-recorder/mqtt.pass"
    readme = b.path("opt/session-recorder/README.md")
    assert readme.read_bytes() == (b.checkout / "README.md").read_bytes()
    # `sudo session-recorder ctl status` from a shell (no systemd RUNTIME_DIRECTORY) looks for
    # the socket where the service makes it, not in the storage folder
    env = {k: v for k, v in os.environ.items() if k != "RUNTIME_DIRECTORY"}
    ctl = subprocess.run([exe, "ctl", "--config", config, "status"], capture_output=True,
                         text=True, check=False, env=env, timeout=60)  # fmt: skip
    assert ctl.returncode != 0 and "/run/session-recorder/control.sock" in ctl.stderr, ctl.stderr

    # modes and owners
    sr, mosq = b.gid("session-recorder"), b.gid("mosquitto")
    for rel, mode, gid in (
        ("etc/session-recorder", 0o750, sr),
        ("etc/session-recorder/config.toml", 0o640, sr),
        ("etc/session-recorder/mqtt.pass", 0o640, sr),
        ("etc/session-recorder/dashboard.pass", 0o640, sr),  # the web server reads it
        ("etc/mosquitto/session-recorder.passwd", 0o640, mosq),
        ("etc/mosquitto/session-recorder.acl", 0o640, mosq),
        ("etc/mosquitto/conf.d/session-recorder.conf", 0o644, 0),
        ("etc/systemd/system/session-recorder.service", 0o644, 0),
        ("etc/systemd/system/session-recorder-web.service", 0o644, 0),
    ):
        st = b.path(rel).stat()
        assert (_mode(b.path(rel)), st.st_uid, st.st_gid) == (mode, 0, gid), rel

    # the files themselves
    shipped = b.checkout
    for unit in ("session-recorder.service", "session-recorder-web.service"):
        assert (
            b.path(f"etc/systemd/system/{unit}").read_bytes()
            == (shipped / "systemd" / unit).read_bytes()
        )
    # the broker's websocket listener is on loopback only, and serves no page: the web server
    # carries it at /mqtt behind the page's login
    conf = b.path("etc/mosquitto/conf.d/session-recorder.conf").read_text()
    listeners = [line for line in conf.splitlines() if line.startswith("listener ")]
    assert listeners == ["listener 1883 127.0.0.1", "listener 9001 127.0.0.1"]
    assert not any(line.startswith("http_dir") for line in conf.splitlines())
    assert (
        b.path("etc/mosquitto/conf.d/session-recorder.conf").read_bytes()
        == (shipped / "dashboard" / "mosquitto" / "session-recorder.conf").read_bytes()
    )
    acl = b.path("etc/mosquitto/session-recorder.acl").read_text()
    assert "@" not in acl
    assert f"topic readwrite session-recorder/{DEVICE_ID}/#" in acl
    assert f"topic write session-recorder/{DEVICE_ID}/cmd" in acl
    passwd = b.path("etc/mosquitto/session-recorder.passwd").read_text()
    assert [line.split(":")[0] for line in passwd.splitlines()] == ["recorder", "dashboard"]
    assert len(b.path("etc/session-recorder/mqtt.pass").read_text().strip()) >= 24
    assert not b.path("etc/udev/rules.d/90-session-recorder-audio.rules").exists()
    page = b.path("usr/share/session-recorder/dashboard/index.html")
    assert page.read_bytes() == (shipped / "dashboard" / "dist" / "index.html").read_bytes()

    # first-boot provisioning, when the checkout has it (firmware/)
    if (shipped / "firmware" / "provision.py").exists():
        assert _mode(b.path("opt/session-recorder/firmware/provision.py")) == 0o755
        assert (
            b.path("etc/systemd/system/session-recorder-provision.service").read_bytes()
            == (shipped / "firmware" / "session-recorder-provision.service").read_bytes()
        )

    # no passwords in the image: the box made its own at its first start, then the marker went
    assert b.marker_after_install and b.passwords_after_install == []
    assert "made by each box at its first start" in out
    assert "broker passwords: made for this box" in b.first_boot.stdout
    assert not b.path("etc/session-recorder/first-boot-secrets").exists()
    assert "http://<box>.local/" in out and ":9001" not in out.split("Dashboard:")[1]
    assert "config.toml" in out
    template = b.path("usr/share/session-recorder/mosquitto/session-recorder.acl")
    assert (
        template.read_bytes() == (shipped / "dashboard/mosquitto/session-recorder.acl").read_bytes()
    )

    if shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin"):
        _broker_accepts_installed_users(b, tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_second_run_changes_nothing(box):
    before, recordings = _secrets(box), _tree(box.path("var/lib/session-recorder"))
    done = box.run(*ARGS)
    assert "Nothing changed" in done.stdout, done.stdout
    assert "\n    + " not in done.stdout  # no change reported by any step
    assert "password: as before" in done.stdout  # not printed again
    assert _secrets(box) == before
    assert _tree(box.path("var/lib/session-recorder")) == recordings


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_usb_id_installs_the_udev_rule(box):
    rule = box.path("etc/udev/rules.d/90-session-recorder-audio.rules")
    done = box.run(*ARGS, "--usb-id", "0D8C:0014")
    text = rule.read_text()
    assert 'ATTRS{idVendor}=="0d8c", ATTRS{idProduct}=="0014", ATTR{id}="Recorder"' in text
    assert "@" not in text
    assert _mode(rule) == 0o644
    assert "plughw:CARD=Recorder,DEV=0" in done.stdout
    # without --usb-id the rule stays, and nothing else changes
    again = box.run(*ARGS)
    assert "Nothing changed" in again.stdout, again.stdout
    assert rule.read_text() == text


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_upgrade_keeps_an_edited_config(box, tmp_path):
    config = box.path("etc/session-recorder/config.toml")
    new = box.path("etc/session-recorder/config.toml.new")
    config.write_text(config.read_text().replace("min_free_mb = 200", "min_free_mb = 500"))
    edited = config.read_bytes()
    secrets = {k: v for k, v in _secrets(box).items() if "config.toml" not in k}

    done = box.run(*ARGS)
    assert config.read_bytes() == edited
    assert not new.exists()  # the example did not change: nothing to compare with
    assert "kept" in done.stdout and "Nothing changed" in done.stdout

    # a newer checkout whose example changed: the edit is kept, the example lands beside it
    newer = copy_checkout(tmp_path / "newer")
    example = newer / "docs" / "config.example.toml"
    example.write_text(example.read_text() + "\n# a key explained better\n")
    done = box.run(*ARGS, checkout=newer)
    assert config.read_bytes() == edited
    assert "# a key explained better" in new.read_text()
    assert f'id = "{DEVICE_ID}"' in new.read_text()
    assert _mode(new) == 0o640
    assert "unchanged  session-recorder" in done.stdout  # same package source: no reinstall
    assert {k: v for k, v in _secrets(box).items() if "config.toml" not in k} == secrets

    # a broken edit is kept too, but said out loud (the daemon would not start with it)
    config.write_text(config.read_text().replace("min_free_mb = 500", "min_free_mbb = 500"))
    done = box.run(*ARGS)
    assert "does not pass config check" in done.stderr
    assert "did you mean 'min_free_mb'" in done.stderr
    config.write_bytes(edited)

    # an rclone.conf that first-boot provisioning made before the group existed (0600 root)
    rclone = box.path("etc/session-recorder/rclone.conf")
    rclone.write_text("[secret]\ntype = crypt\n")
    rclone.chmod(0o600)
    box.run(*ARGS)
    st = rclone.stat()
    assert (_mode(rclone), st.st_uid, st.st_gid) == (0o640, 0, box.gid("session-recorder"))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_new_device_id_from_the_boot_partition_moves_the_acl(box, tmp_path):
    """provision.py renders the ACL for the new id exactly as install.sh does: the dashboard
    reads the renamed box, and the next upgrade sees nothing to change."""
    acl = box.path("etc/mosquitto/session-recorder.acl")
    box.path("etc/session-recorder/config.toml.new").unlink(missing_ok=True)  # the upgrade's
    box.provision("device_id = room-9\n")
    assert "topic readwrite session-recorder/room-9/#" in acl.read_text()
    again = box.run(*ARGS)
    assert "Nothing changed" in again.stdout, again.stdout
    assert 'device id "room-9"' in again.stdout
    assert not box.path("etc/session-recorder/config.toml.new").exists()
    if shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin"):
        _broker_accepts_installed_users(box, tmp_path, "room-9")
    box.provision(f"device_id = {DEVICE_ID}\n")  # as the tests after this one expect
    assert f"session-recorder/{DEVICE_ID}/#" in acl.read_text()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_uninstall_keeps_recordings_and_purge_removes_them(box, tmp_path):
    recordings = _tree(box.path("var/lib/session-recorder"))
    passwords = _hashes(
        box.path(f"etc/session-recorder/{p}") for p in ("mqtt.pass", "dashboard.pass")
    )
    done = box.run("--no-services", "--uninstall")
    for rel in (
        "opt/session-recorder",
        "etc/systemd/system/session-recorder.service",
        "etc/systemd/system/session-recorder-web.service",
        "etc/systemd/system/session-recorder-provision.service",
        "etc/udev/rules.d/90-session-recorder-audio.rules",
        "etc/mosquitto/conf.d/session-recorder.conf",
        "etc/mosquitto/session-recorder.acl",
        "etc/mosquitto/session-recorder.passwd",
        "usr/share/session-recorder",
    ):
        assert not box.path(rel).exists(), rel
    assert box.account("session-recorder") is None
    assert box.account("session-recorder", "etc/group") is None
    assert _tree(box.path("var/lib/session-recorder")) == recordings
    assert box.path("etc/session-recorder/config.toml").exists()
    assert "kept" in done.stdout
    again = box.run("--no-services", "--uninstall")
    assert "Nothing changed" in again.stdout, again.stdout

    # installed again: the kept passwords are the broker's again (never rotated)
    box.run(*ARGS)
    assert (
        _hashes(box.path(f"etc/session-recorder/{p}") for p in ("mqtt.pass", "dashboard.pass"))
        == passwords
    )
    assert box.account("session-recorder") is not None
    if shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin"):
        _broker_accepts_installed_users(box, tmp_path)

    purge = box.run("--no-services", "--uninstall", "--purge-recordings")
    assert SESSION.rsplit("/", 1)[1] in purge.stdout  # said what it deletes
    assert not box.path("var/lib/session-recorder").exists()
    assert not box.path("etc/session-recorder").exists()
    again = box.run("--no-services", "--uninstall", "--purge-recordings")
    assert "Nothing changed" in again.stdout
    assert _hashes(HOST_ACCOUNTS) == box.host_accounts, "the host's accounts changed"


# ---- image mode: --root DIR where DIR is an OS tree ---------------------------------------

# Runs in a private mount namespace (unshare -m): every mount below vanishes with it, so the
# test's clean-up never sees this machine's /usr or /dev inside DIR. /usr is an overlay, so
# writes to DIR/usr land in DIR.
IMAGE_MOUNTS = r"""
set -euo pipefail
D=$1 CACHE=$2 CHECKOUT=$3
shift 3
mount -t overlay overlay -o "lowerdir=/usr,upperdir=$D/.overlay/usr,workdir=$D/.overlay/work" "$D/usr"
mount --bind /dev "$D/dev"
mount -t proc proc "$D/proc"
mount --bind -o ro /etc/ssl "$D/etc/ssl"
mount --bind "$CACHE" "$D/var/cache/pip"
mount --bind "$CHECKOUT" "$D/mnt/checkout"
[ "${1:-}" = probe ] && exit 0
"$@"
echo "--- inside"
chroot "$D" /opt/session-recorder/venv/bin/session-recorder config check \
    --config /etc/session-recorder/config.toml
chroot "$D" /opt/session-recorder/venv/bin/python -c \
    'import importlib.util as u, sys; sys.exit(not u.find_spec("lgpio"))'
# install.sh run inside the image, without --root (no systemd running there), twice
echo "--- in the chroot"
chroot "$D" bash /mnt/checkout/install.sh --no-packages
echo "--- in the chroot again"
chroot "$D" bash /mnt/checkout/install.sh --no-packages
"""


def _os_tree(root: Path) -> Path:
    """A root with this machine's programs (mounted by IMAGE_MOUNTS) and a Pi's boot partition."""
    _scratch_root(root)
    for d in ("usr", "dev", "proc", "etc/ssl", "var/cache/pip", "boot/firmware", "mnt/checkout"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for d in (".overlay/usr", ".overlay/work"):
        (root / d).mkdir(parents=True)
    (root / "tmp").mkdir(mode=0o1777)
    (root / "tmp").chmod(0o1777)
    for link in ("bin", "lib", "lib64", "sbin"):
        (root / link).symlink_to(f"usr/{link}")
    for name in ("ld.so.cache", "resolv.conf", "hosts", "nsswitch.conf"):
        with contextlib.suppress(FileNotFoundError):
            shutil.copy(f"/etc/{name}", root / "etc" / name)
    shutil.copytree("/etc/alternatives", root / "etc" / "alternatives", symlinks=True)  # awk
    (root / "etc" / "hostname").write_text("box+7.lan\n")  # made safe: box-7
    (root / "boot" / "firmware" / "config.txt").write_text("# a Raspberry Pi OS image\n")
    return root


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_image_build_makes_the_venv_inside_the_root(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("install.sh runs as root (chroot, useradd --root)")
    if shutil.which("unshare") is None or not Path("/bin").is_symlink():
        pytest.skip("needs unshare and a merged /usr (Debian 12) to lend this machine's /usr")
    reason = _index_unreachable()
    if reason:
        pytest.skip(f"making the venv needs pip to download packages: {reason}")
    home = pwd.getpwuid(os.getuid()).pw_dir
    cache = Path(os.environ.get("PIP_CACHE_DIR") or Path(home) / ".cache" / "pip")
    cache.mkdir(parents=True, exist_ok=True)
    root = _os_tree(tmp_path / "image")
    checkout = copy_checkout(tmp_path / "checkout")
    mounts = ["unshare", "-m", "--propagation", "private", "bash", "-c", IMAGE_MOUNTS, "bash"]
    where = [str(root), str(cache), str(checkout)]
    probe = subprocess.run([*mounts, *where, "probe"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount an overlay in a private namespace here: {probe.stderr.strip()}")
    host = _hashes(HOST_ACCOUNTS)
    env = dict(os.environ, HOME=home, PIP_CACHE_DIR="/var/cache/pip")
    for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(var, None)

    # as firmware/pi-gen/stage-session-recorder/00-install/00-run.sh calls it
    install = ["bash", str(checkout / "install.sh"), "--root", str(root), "--no-services"]
    done = subprocess.run(
        [*mounts, *where, *install],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "image mode" in done.stdout
    inside, chrooted = done.stdout.split("--- inside", 1)[1].split("--- in the chroot\n", 1)
    assert '"id": "box-7"' in inside  # config check ran in the image, on its own paths
    # inside the image without --root: no systemd runs there, so services are only enabled
    first, again = chrooted.split("--- in the chroot again\n", 1)
    assert "unchanged  session-recorder" in first  # the venv made from outside is the same
    assert "+ enabled session-recorder.service" in first
    assert "+ enabled session-recorder-web.service" in first
    assert "Nothing changed" in again, again
    wants = root / "etc/systemd/system/multi-user.target.wants"
    assert (wants / "session-recorder.service").is_symlink()
    assert (wants / "session-recorder-web.service").is_symlink()
    # no broker password is baked into the image: each box makes its own at its first start
    assert (root / "etc/session-recorder/first-boot-secrets").is_file()
    for secret in (
        "etc/session-recorder/mqtt.pass",
        "etc/session-recorder/dashboard.pass",
        "etc/mosquitto/session-recorder.passwd",
    ):
        assert not (root / secret).exists(), secret
    # the venv is the box's: its scripts name the path it has on the box
    script = root / "opt/session-recorder/venv/bin/session-recorder"
    assert script.read_text().splitlines()[0] == "#!/opt/session-recorder/venv/bin/python"
    assert "/usr/bin/python3" in (root / "opt/session-recorder/venv/pyvenv.cfg").read_text()
    assert (root / ".overlay/usr/share/session-recorder/dashboard/index.html").exists()
    assert not Path("/usr/share/session-recorder").exists()
    assert list((root / "tmp").iterdir()) == []  # its staging folder is gone
    assert _hashes(HOST_ACCOUNTS) == host
