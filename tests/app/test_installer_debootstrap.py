"""install.sh on a fresh Debian: what a user gets from `sudo ./install.sh` on a new box.

tests/app/test_installer.py installs into a scratch root with --root and --no-packages, so it never
sees a machine that lacks the Debian packages, Python or a mosquitto account. Here debootstrap
builds a minimal Debian bookworm (`--variant=minbase` plus systemd-sysv, as every installed
Debian and Raspberry Pi OS has systemd), and `bash install.sh` runs inside it through chroot with
no options: it installs its own Debian packages with apt-get and the venv from PyPI. systemd does
not run in a chroot, so install.sh enables the services without starting them and leaves the
broker passwords to the first start. The tests then do, inside the root, what the box and its
user do next: install.sh again (nothing changes), `config check` (also as the service user), the
first start (`provision.py` makes the passwords), Debian's mosquitto with the installed config
(the dashboard user reads what the recorder user publishes, and the phone page is served),
`session-recorder demo`, and `install.sh --uninstall` (the recordings stay).

Every command runs in private mount and PID namespaces (`unshare`): the mounts (/proc, /dev,
/etc/resolv.conf) and any process left behind vanish with them. install.sh and the first start
run on this machine's network, as apt and pip need the registries; the broker and the demo run in
a network namespace of their own (loopback only), so ports 1883 and 9001 cannot clash with this
machine's. pip inside trusts the CA bundle this machine trusts (PIP_CERT), for networks that
inspect TLS.

Slow (a few minutes; some 160 MB of Debian packages and wheels, and the base system the first
time), so it is opt-in:

    SESSION_RECORDER_DEBOOTSTRAP=1 .venv/bin/python -m pytest -q tests/app/test_installer_debootstrap.py

It needs root, debootstrap (installed with apt-get when missing), the Debian mirror apt uses here
and PyPI. The debootstrapped root is cached as a tarball in
~/.cache/session-recorder/debootstrap/ (rebuilt after 30 days; delete it to rebuild now). The
root (about 0.9 GB) is deleted after a clean run and kept under pytest's tmp dir when a test
failed. Add -s to see the timings.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import ROOT, copy_checkout, opt_in

OPT_IN = "SESSION_RECORDER_DEBOOTSTRAP"
SUITE = "bookworm"
INCLUDE = "systemd-sysv"  # systemctl, to enable the units as on any installed Debian
CACHE_DAYS = 30
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PYPI = "https://pypi.org/simple/pip/"
HOSTNAME = "fresh-box"  # install.sh takes the device id from it
CHECKOUT = "/root/session-recorder"  # where the user cloned the project
CA_IN_ROOT = "/run/host-ca.pem"
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PASS_THROUGH = (
    "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
    "PIP_INDEX_URL", "PIP_DEFAULT_TIMEOUT",
)  # fmt: skip
VENV_BIN = "/opt/session-recorder/venv/bin"
CONFIG = "/etc/session-recorder/config.toml"
RECORDING = "var/lib/session-recorder/outbox/000001-20261129T093000Z"

pytestmark = [
    pytest.mark.debootstrap,
    opt_in(
        OPT_IN,
        "slow (debootstraps a Debian root, minutes)",
        "tests/app/test_installer_debootstrap.py",
    ),
]

# Runs on this machine inside the new namespaces, then becomes the command in the chroot.
# "isolated": a network namespace of its own (loopback up); "online": this machine's network.
ENTER = r"""
set -euo pipefail
root=$1 net=$2
shift 2
if [ "$net" = isolated ]; then
  ip link set lo up
else
  mount --bind /etc/resolv.conf "$root/etc/resolv.conf"
fi
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
exec chroot "$root" "$@"
"""

# Inside the chroot: the box's mosquitto started as mosquitto.service would start it.
BROKER = r"""
set -eu
sed -n 's/^ExecStartPre=-\{0,1\}//p' /lib/systemd/system/mosquitto.service | sh -e
/usr/sbin/mosquitto -c /etc/mosquitto/mosquitto.conf &
broker=$!
rc=0
/opt/session-recorder/venv/bin/python /root/broker-check.py || rc=$?
kill "$broker"
wait "$broker" || true
if [ "$rc" != 0 ]; then cat /var/log/mosquitto/mosquitto.log >&2; fi
exit "$rc"
"""

# Inside the chroot, on the box's own venv (paho from its dependencies).
BROKER_CHECK = r'''
"""recorder publishes its state, dashboard reads it; a wrong password is refused; no page."""
import http.client
import socket
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request

import paho.mqtt.client as mqtt

with open("/etc/session-recorder/config.toml", "rb") as f:
    cfg = tomllib.load(f)
topic = f"{cfg.get('mqtt', {}).get('prefix', 'session-recorder')}/{cfg['device']['id']}/state"


def secret(path):
    with open(path) as f:
        return f.readline().strip()


def connect(user, password):
    """A connected client, or the broker's answer when it refuses."""
    answered, reasons = threading.Event(), []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"check-{user}-{time.time_ns()}")
    client.username_pw_set(user, password)
    client.on_connect = lambda _c, _u, _f, reason, _p: (reasons.append(reason), answered.set())
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    if not answered.wait(10):
        sys.exit(f"{user}: the broker did not answer")
    if reasons[0].is_failure:
        client.loop_stop()
        return str(reasons[0])
    return client


deadline = time.monotonic() + 20
while True:
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=1).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("mosquitto did not listen on 127.0.0.1:1883")
        time.sleep(0.1)

got, payloads = threading.Event(), []
reader = connect("dashboard", secret("/etc/session-recorder/dashboard.pass"))
if isinstance(reader, str):
    sys.exit(f"dashboard refused: {reader}")
reader.on_message = lambda _c, _u, msg: (payloads.append(msg.payload), got.set())
reader.subscribe(topic, qos=1)
writer = connect("recorder", secret("/etc/session-recorder/mqtt.pass"))
if isinstance(writer, str):
    sys.exit(f"recorder refused: {writer}")
writer.publish(topic, b'{"state": "idle"}', qos=1, retain=True).wait_for_publish(10)
if not got.wait(10):
    sys.exit(f"the dashboard did not receive {topic}")
refused = connect("dashboard", "not-the-password")
if not isinstance(refused, str):
    sys.exit("a wrong password was accepted")
# The websockets listener is there, on loopback, and serves no page (the web server does):
# without http_dir mosquitto 2.0 closes a plain HTTP request unanswered.
socket.create_connection(("127.0.0.1", 9001), timeout=10).close()
try:
    urllib.request.urlopen("http://127.0.0.1:9001/", timeout=10).close()
    sys.exit("port 9001 serves a page: the broker's websocket listener must not")
except (urllib.error.URLError, http.client.HTTPException, ConnectionError):
    pass
print(f"ok: {topic} {payloads[0]!r}; wrong password: {refused}; no page on 9001")
'''


@dataclass
class Fresh:
    """The debootstrapped root after the first `bash install.sh` in it."""

    root: Path
    env: list[str]  # the chroot's whole environment
    install: subprocess.CompletedProcess[str] | None = None
    times: dict[str, str] = field(default_factory=dict)

    def path(self, rel: str) -> Path:
        return self.root / rel.lstrip("/")

    def run(
        self, *cmd: str, online: bool = False, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """cmd in the chroot, in its own mount and PID namespaces (and network, unless online)."""
        done = subprocess.run(
            [*_unshare(isolated=not online), "bash", "-c", ENTER, "enter", str(self.root),
             "online" if online else "isolated", "/usr/bin/env", "-i", *self.env, *cmd],
            capture_output=True,
            text=True,
            env=dict(os.environ, PATH=SBIN_PATH),
            check=False,
            timeout=timeout,
        )  # fmt: skip
        assert str(self.root) not in Path("/proc/self/mounts").read_text(), "a mount was left"
        return done

    def install_sh(self, *args: str, online: bool = True) -> subprocess.CompletedProcess[str]:
        """`bash install.sh ARGS` from the checkout, as the user types it."""
        return self.run(
            "bash", "-c", f'cd {CHECKOUT} && exec bash install.sh "$@"', "install.sh", *args,
            online=online,
            timeout=1500,
        )  # fmt: skip

    def gid(self, group: str) -> int:
        for line in self.path("etc/group").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == group:
                return int(fields[2])
        raise KeyError(group)


def _unshare(isolated: bool) -> list[str]:
    # --kill-child: a timeout that kills unshare takes the whole PID namespace with it.
    args = ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child"]
    return [*args, "--net"] if isolated else args


def _home() -> Path:
    """The real home (conftest points HOME at a throwaway folder for ALSA)."""
    return Path(pwd.getpwuid(os.getuid()).pw_dir)


def _mirror() -> str:
    """The Debian mirror this machine's apt uses for SUITE: the one reachable from here."""
    apt = Path("/etc/apt")
    lists = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]
    for f in lists:
        text = f.read_text() if f.is_file() else ""
        for line in text.splitlines():
            m = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m and m[2] == SUITE:
                return m[1]
    for f in sorted((apt / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", f.read_text()):
            fields = {}
            for line in stanza.splitlines():
                if not line.startswith(("#", " ", "\t")) and ":" in line:
                    key, value = line.split(":", 1)
                    fields[key.strip().lower()] = value.split()
            types, suites, uris = (fields.get(k, []) for k in ("types", "suites", "uris"))
            if "deb" in types and SUITE in suites and uris:
                return uris[0]
    return DEFAULT_MIRROR


def _host_ca() -> Path | None:
    """The CA bundle this machine's pip trusts, when there is one."""
    for candidate in (os.environ.get("PIP_CERT"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def _unreachable(url: str, ca: Path | None) -> str | None:
    """Why url cannot be fetched from here, or None."""
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    try:
        with urllib.request.urlopen(url, timeout=20, context=context) as answer:
            answer.read(1)
    except (OSError, urllib.error.URLError) as exc:
        return f"{url}: {exc}"
    return None


def _tool(name: str) -> str | None:
    return shutil.which(name, path=SBIN_PATH)


def _need_debootstrap() -> str:
    """debootstrap's path; installed with apt-get when missing, else the test is skipped."""
    tool = _tool("debootstrap")
    if tool is None and _tool("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", PATH=SBIN_PATH)
        for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "debootstrap"]):
            subprocess.run(cmd, capture_output=True, env=env, check=False, timeout=600)
        tool = _tool("debootstrap")
    if tool is None:
        pytest.skip("debootstrap is missing and apt-get could not install it")
    return tool


def _skip_unless_possible(probe: Path) -> tuple[str, str, Path | None]:
    """(mirror, architecture, CA bundle), or skip with the reason the test cannot run here."""
    if os.geteuid() != 0:
        pytest.skip("needs root (debootstrap, chroot, mounts)")
    for name, package in (("unshare", "util-linux"), ("chroot", "coreutils"), ("ip", "iproute2")):
        if _tool(name) is None:
            pytest.skip(f"{name} is missing (Debian package {package})")
    probe.mkdir()
    done = subprocess.run(
        [*_unshare(isolated=True), "sh", "-c", f"ip link set lo up && mount -t tmpfs t {probe}"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PATH=SBIN_PATH),
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"unshare and mount are not permitted here: {done.stderr.strip()}")
    mirror, ca = _mirror(), _host_ca()
    for url in (f"{mirror}/dists/{SUITE}/InRelease", os.environ.get("PIP_INDEX_URL") or PYPI):
        reason = _unreachable(url, ca)
        if reason:
            pytest.skip(f"a registry is unreachable: {reason}")
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return mirror, arch, ca


def _base_root(root: Path, mirror: str, arch: str, times: dict[str, str]) -> None:
    """A fresh minbase root in `root`: unpacked from the cache, else debootstrapped (and cached)."""
    cache_dir = _home() / ".cache" / "session-recorder" / "debootstrap"
    cache = cache_dir / f"{SUITE}-{arch}-minbase-{INCLUDE}.tar.gz"
    if cache.is_file() and time.time() - cache.stat().st_mtime > CACHE_DAYS * 86400:
        cache.unlink()
    root.mkdir()
    start = time.monotonic()
    if cache.is_file():
        subprocess.run(
            ["tar", "--numeric-owner", "-xpzf", str(cache), "-C", str(root)],
            check=True,
            timeout=600,
        )
        times["debootstrap"] = f"{time.monotonic() - start:.1f} s (unpacked from {cache})"
        return
    tool = _need_debootstrap()
    # debootstrap mounts /proc and /sys in the root: a private mount namespace keeps them there.
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", tool, "--variant=minbase",
         f"--include={INCLUDE}", f"--arch={arch}", SUITE, str(root), mirror],
        capture_output=True,
        text=True,
        env=dict(os.environ, PATH=SBIN_PATH),
        check=False,
        timeout=1800,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"debootstrap failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    times["debootstrap"] = f"{time.monotonic() - start:.1f} s (cold, from {mirror})"
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = cache.with_name(f"{cache.name}.{os.getpid()}.partial")
    subprocess.run(
        ["tar", "--numeric-owner", "-czf", str(partial), "-C", str(root), "."],
        check=True,
        timeout=600,
    )
    partial.replace(cache)


def _size(path: Path) -> str:
    done = subprocess.run(
        ["du", "-sx", "--block-size=1M", str(path)], capture_output=True, text=True, check=True
    )
    return f"{done.stdout.split()[0]} MB"


@pytest.fixture(scope="module")
def fresh(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Fresh]:
    failed_before = request.session.testsfailed
    base = tmp_path_factory.mktemp("debootstrap")
    mirror, arch, ca = _skip_unless_possible(base / "probe")
    box = Fresh(root=base / "root", env=[f"PATH={SBIN_PATH}", "HOME=/root", "LANG=C.UTF-8"])
    _base_root(box.root, mirror, arch, box.times)
    box.times["fresh root"] = _size(box.root)
    box.path("etc/hostname").write_text(f"{HOSTNAME}\n")
    if ca is not None:
        shutil.copy(ca, box.path(CA_IN_ROOT))
        box.env.append(f"PIP_CERT={CA_IN_ROOT}")
    box.env += [f"{k}={os.environ[k]}" for k in PASS_THROUGH if os.environ.get(k)]
    copy_checkout(box.path(CHECKOUT))

    start = time.monotonic()
    box.install = box.install_sh()
    box.times["install.sh"] = f"{time.monotonic() - start:.1f} s (apt-get, pip from PyPI)"
    box.times["installed root"] = _size(box.root)
    for key, value in box.times.items():  # shown with -s
        print(f"debootstrap test: {key}: {value}")
    assert box.install.returncode == 0, (
        f"install.sh on a fresh Debian:\n{box.install.stdout}\n{box.install.stderr}"
    )
    yield box
    # Every mount was in a namespace that is gone; never delete through one that is not.
    if request.session.testsfailed == failed_before:
        assert str(box.root) not in Path("/proc/self/mountinfo").read_text()
        shutil.rmtree(box.root)


def _debs() -> list[str]:
    """The Debian packages install.sh says it needs (its DEBS list)."""
    text = (ROOT / "install.sh").read_text()
    m = re.search(r"^DEBS=\(([^)]*)\)", text, re.MULTILINE)
    assert m, "install.sh has no DEBS=(...) list"
    return m[1].split()


@pytest.mark.timeout(3000)
def test_install_sh_installs_everything_on_a_fresh_debian(fresh: Fresh) -> None:
    assert fresh.install is not None
    out, err = fresh.install.stdout, fresh.install.stderr
    assert "+ installed Debian packages:" in out, out
    listed = fresh.run("dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev}\n", *_debs())
    assert listed.returncode == 0, listed.stderr
    assert all(line.split()[1] == "ii" for line in listed.stdout.splitlines()), listed.stdout
    assert "+ created virtualenv /opt/session-recorder/venv" in out
    assert f'device id "{HOSTNAME}"' in out
    # no systemd running in a chroot: enabled for the next boot, not started
    assert "systemd is not running here: services enabled but not started" in err
    wants = fresh.path("etc/systemd/system/multi-user.target.wants")
    for unit in ("session-recorder", "session-recorder-provision", "mosquitto"):
        assert (wants / f"{unit}.service").is_symlink(), unit
    # and no broker passwords yet: the box makes its own at its first start
    assert fresh.path("etc/session-recorder/first-boot-secrets").is_file()
    for secret in ("etc/session-recorder/mqtt.pass", "etc/session-recorder/dashboard.pass"):
        assert not fresh.path(secret).exists(), secret
    assert "made by each box at its first start" in out


@pytest.mark.timeout(1500)
def test_second_run_changes_nothing(fresh: Fresh) -> None:
    again = fresh.install_sh()
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing changed" in again.stdout, again.stdout
    assert "\n    + " not in again.stdout


@pytest.mark.timeout(300)
def test_config_check_passes_also_for_the_service_user(fresh: Fresh) -> None:
    check = [f"{VENV_BIN}/session-recorder", "config", "check", "--config", CONFIG]
    for prefix in ((), ("runuser", "-u", "session-recorder", "--")):
        done = fresh.run(*prefix, *check)
        assert done.returncode == 0, f"{prefix}: {done.stdout}\n{done.stderr}"
        shown = json.loads(done.stdout.split("\n", 1)[1])
        assert shown["device"]["id"] == HOSTNAME
        assert shown["mqtt"]["password_file"] == "/etc/session-recorder/mqtt.pass"


@pytest.mark.timeout(300)
def test_first_boot_makes_the_broker_passwords(fresh: Fresh) -> None:
    fresh.path("boot/firmware").mkdir(parents=True, exist_ok=True)
    done = fresh.run(
        "/usr/bin/python3", "/opt/session-recorder/firmware/provision.py",
        "--boot", "/boot/firmware", "--root", "/",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broker passwords: made for this box" in done.stdout
    assert not fresh.path("etc/session-recorder/first-boot-secrets").exists()
    service, broker = fresh.gid("session-recorder"), fresh.gid("mosquitto")
    for rel, mode, gid in (
        ("etc/session-recorder/mqtt.pass", 0o640, service),
        ("etc/session-recorder/dashboard.pass", 0o640, service),  # the web server reads it
        ("etc/mosquitto/session-recorder.passwd", 0o640, broker),
    ):
        st = fresh.path(rel).stat()
        assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (mode, 0, gid), rel
    assert len(fresh.path("etc/session-recorder/mqtt.pass").read_text().strip()) >= 24
    # the daemon runs as the service user: it must read its password
    read = fresh.run(
        "runuser", "-u", "session-recorder", "--", "cat", "/etc/session-recorder/mqtt.pass"
    )
    assert read.returncode == 0, read.stderr
    again = fresh.install_sh()  # after the first start: passwords kept, nothing to do
    assert "Nothing changed" in again.stdout, again.stdout + again.stderr


@pytest.mark.timeout(300)
def test_debians_mosquitto_serves_the_installed_users(fresh: Fresh) -> None:
    if not fresh.path("etc/session-recorder/mqtt.pass").exists():
        pytest.skip("needs the passwords of the first start (test above)")
    fresh.path("root/broker-check.py").write_text(BROKER_CHECK)
    done = fresh.run("sh", "-c", BROKER)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok: session-recorder/"), done.stdout


@pytest.mark.timeout(300)
def test_demo_records_a_session(fresh: Fresh) -> None:
    done = fresh.run(f"{VENV_BIN}/session-recorder", "demo", "--dir", "/root/demo")
    assert done.returncode == 0, done.stdout + done.stderr
    manifests = list(fresh.path("root/demo/sessions").glob("*/*/manifest.json"))
    assert manifests, done.stdout
    # Debian's rclone, installed by install.sh, carried it to the demo's crypt remote
    assert manifests[0].parent.parent.name == "uploaded", done.stdout


@pytest.mark.timeout(600)
def test_uninstall_keeps_the_recordings(fresh: Fresh) -> None:
    session = fresh.path(RECORDING)
    session.mkdir(parents=True, exist_ok=True)
    (session / "seg-0000.wav").write_bytes(os.urandom(4096))
    (session / "manifest.json").write_text('{"id": "000001-20261129T093000Z"}\n')
    before = {p.name: p.read_bytes() for p in session.iterdir()}
    done = fresh.install_sh("--uninstall", online=False)
    assert done.returncode == 0, done.stdout + done.stderr
    for rel in (
        "opt/session-recorder",
        "etc/systemd/system/session-recorder.service",
        "etc/systemd/system/multi-user.target.wants/session-recorder.service",
        "etc/mosquitto/conf.d/session-recorder.conf",
        "usr/share/session-recorder",
    ):
        assert not fresh.path(rel).exists(), rel
    assert {p.name: p.read_bytes() for p in session.iterdir()} == before
    assert fresh.path(CONFIG).is_file()
    assert "session-recorder:" not in fresh.path("etc/passwd").read_text()
    again = fresh.install_sh("--uninstall", online=False)
    assert "Nothing changed" in again.stdout, again.stdout + again.stderr
