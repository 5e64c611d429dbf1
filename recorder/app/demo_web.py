"""`session-recorder demo --web`: the demo's box kept up after its session, for the page.

The same parts a box runs, on loopback only: the demo's recorder (still recording nothing,
its virtual microphone still fed), its own mosquitto rendered from the shipped config and ACL
(`dashboard/mosquitto/`, as the installer renders them) for the page's live status, and
`session-recorder web` in a process of its own on a free port of 127.0.0.1, with a page
password made for the demo. Ctrl-C stops them all: the web server, the recorder, the broker.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"  # the demo's box faces nobody but this machine
CLONE = Path(__file__).resolve().parents[2]
DASHBOARD = CLONE / "dashboard"
INSTALLED_PAGE = Path("/usr/share/session-recorder/dashboard")
DEVICE_ID = "demo"
PREFIX = "session-recorder"
HA_PREFIX = "homeassistant"
BUILD = "cd dashboard && npm ci && npm run build"


def say(text: str) -> None:
    print(text, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def secret_file(path: Path, text: str) -> Path:
    """`text` in a file only its owner reads (the daemon and the web server refuse others)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    return path


def _binary(name: str) -> str | None:
    """Debian's mosquitto lives in /usr/sbin, which is not on every PATH."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")


def render_broker_config(shipped: str, port: int, ws_port: int, folder: Path) -> str:
    """The shipped session-recorder.conf with the demo's ports and files in place of the box's
    (raises ValueError when a line it replaces is no longer there, rather than serve another)."""
    swaps = [
        ("listener 1883 127.0.0.1\n", f"listener {port} {HOST}\n"),
        ("listener 9001 127.0.0.1\n", f"listener {ws_port} {HOST}\n"),
        ("password_file /etc/mosquitto/session-recorder.passwd\n", f"password_file {folder}/passwd\n"),
        ("acl_file /etc/mosquitto/session-recorder.acl\n", f"acl_file {folder}/acl\n"),
    ]  # fmt: skip
    for old, new in swaps:
        if shipped.count(old) != 1:
            raise ValueError(f"the shipped broker config no longer has {old.strip()!r} once")
        shipped = shipped.replace(old, new)
    head = "log_dest stderr\nlog_type error\nlog_type warning\n"
    if os.geteuid() == 0:  # else mosquitto drops to its own user, who cannot read this folder
        head += "user root\n"
    return head + shipped


def render_acl(template: str) -> str:
    for key, value in (
        ("@PREFIX@", PREFIX),
        ("@DEVICE_ID@", DEVICE_ID),
        ("@HA_PREFIX@", HA_PREFIX),
    ):
        template = template.replace(key, value)
    if re.search(r"^[^#\n]*@[A-Z_]+@", template, re.MULTILINE):
        raise ValueError("the shipped ACL has a placeholder the demo does not fill")
    return template


@dataclass
class Ports:
    """The demo box's addresses, chosen before its config is written."""

    web: int
    mqtt: int
    mqtt_ws: int


class Broker:
    """The demo's own mosquitto: the box's shipped config and ACL, the demo's ports and users
    (`recorder` with a random password, `dashboard` with the page password)."""

    def __init__(self, folder: Path, ports: Ports, page_password: str) -> None:
        self.folder = folder
        self.ports = ports
        self.page_password = page_password
        self.recorder_password = secrets.token_urlsafe(16)
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def unavailable() -> str | None:
        """Why the demo has no broker here, or None."""
        if _binary("mosquitto") is None or _binary("mosquitto_passwd") is None:
            return "mosquitto is not installed (Debian package `mosquitto`)"
        if not (DASHBOARD / "mosquitto" / "session-recorder.conf").is_file():
            return f"the shipped broker config is not in {DASHBOARD / 'mosquitto'}"
        return None

    def start(self, timeout: float = 15.0) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        passwd = self.folder / "passwd"
        passwd.unlink(missing_ok=True)
        passwd.touch(mode=0o600)
        for user, password in (("recorder", self.recorder_password),
                               ("dashboard", self.page_password)):  # fmt: skip
            subprocess.run(
                [str(_binary("mosquitto_passwd")), "-b", str(passwd), user, password],
                check=True, capture_output=True, timeout=30,
            )  # fmt: skip
        shipped = DASHBOARD / "mosquitto"
        (self.folder / "acl").write_text(render_acl((shipped / "session-recorder.acl").read_text()))
        conf = self.folder / "mosquitto.conf"
        conf.write_text(
            render_broker_config(
                (shipped / "session-recorder.conf").read_text(),
                self.ports.mqtt,
                self.ports.mqtt_ws,
                self.folder,
            )
        )
        with open(self.folder / "mosquitto.log", "ab") as log:
            self.proc = subprocess.Popen(
                [str(_binary("mosquitto")), "-c", str(conf)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        for port in (self.ports.mqtt, self.ports.mqtt_ws):
            _wait_for_port(port, self.proc, timeout, self.folder / "mosquitto.log")

    def mqtt_section(self) -> str:
        pw = secret_file(self.folder / "recorder.pass", self.recorder_password)
        return (
            "\n[mqtt]\n# The demo's own broker, on loopback: the page's live status.\n"
            f'host = "{HOST}"\nport = {self.ports.mqtt}\nusername = "recorder"\n'
            f'password_file = "{pw}"\nprefix = "{PREFIX}"\n'
        )

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None


def web_section(page_dir: Path, ports: Ports, password_file: Path) -> str:
    return (
        "\n[web]\n# `session-recorder web` for the demo: this machine only, a password of its own.\n"
        f'host = "{HOST}"\nport = {ports.web}\npassword_file = "{password_file}"\n'
        f'dashboard_dir = "{page_dir}"\nbroker_ws_port = {ports.mqtt_ws}\n'
    )


def page_dir() -> Path:
    """The built page: the clone's dashboard/dist (built with npm when it is missing and npm is
    there), else the installed one; a missing page is said, and served as 404."""
    dist = DASHBOARD / "dist"
    if (dist / "index.html").is_file():
        return dist
    if (INSTALLED_PAGE / "index.html").is_file() and not DASHBOARD.is_dir():
        return INSTALLED_PAGE
    npm = shutil.which("npm")
    if npm and (DASHBOARD / "package.json").is_file():
        say(f"the page is not built: building it ({BUILD}) ...")
        for args in (["ci"], ["run", "build"]):
            done = subprocess.run([npm, *args], cwd=DASHBOARD, capture_output=True, check=False)
            if done.returncode:
                say(f"  npm {' '.join(args)} failed: {done.stderr.decode(errors='replace')[-300:]}")
                break
        else:
            return dist
    say(f"(the page is not built, so / answers 404 and only the API serves: {BUILD})")
    return dist


class Box:
    """What `--web` adds to the demo: ports and a page password chosen up front (they go into
    the demo's config), then the broker and, after the session, the web server."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = Ports(free_port(), free_port(), free_port())
        self.password = secrets.token_urlsafe(12)
        self.password_file = secret_file(root / "page.pass", self.password)
        self.broker: Broker | None = None
        self.web: subprocess.Popen | None = None

    def config_sections(self) -> str:
        """The [mqtt] (when a broker can run here) and [web] sections of the demo's config;
        starts the broker first, so the recorder finds it."""
        why = Broker.unavailable()
        mqtt = ""
        if why is None:
            self.broker = Broker(self.root / "mosquitto", self.ports, self.password)
            try:
                self.broker.start()
                mqtt = self.broker.mqtt_section()
                say(f"the demo's broker: mosquitto on {HOST}:{self.ports.mqtt} (and websockets "
                    f"on {HOST}:{self.ports.mqtt_ws}), the shipped config and ACL")  # fmt: skip
            except (OSError, ValueError, RuntimeError, subprocess.SubprocessError) as exc:
                self.broker.stop()
                self.broker, why = None, str(exc)
        if why is not None:
            say(f"(no live status on the page: {why})")
        return mqtt + web_section(page_dir(), self.ports, self.password_file)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.ports.web}/?device={DEVICE_ID}"

    def serve(self, config: Path) -> None:
        """`session-recorder web` on the demo's config, until it answers."""
        with open(self.root / "web.log", "ab") as log:
            self.web = subprocess.Popen(
                [sys.executable, "-m", "recorder", "web", "--config", str(config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,
            )  # fmt: skip
        _wait_for_port(self.ports.web, self.web, 60, self.root / "web.log")

    def until_interrupted(self) -> int:
        """Say how to open the page, then wait for Ctrl-C (or SIGTERM); 1 if the server died."""
        say("\nthe demo's box stays up for the page (this machine only):")
        say(f"  open {self.url}")
        say(f"  page password: {self.password}  (also in {self.password_file}, mode 0600)")
        if self.broker is None:
            say("  the page lists and plays the sessions; without a broker it shows no live status")
        say(f"  web server log: {self.root / 'web.log'}")
        say("  Ctrl-C stops the box")
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            while self.web is not None and self.web.poll() is None:
                time.sleep(0.2)
        except KeyboardInterrupt:
            say("\nstopping the demo's box ...")
            return 0
        finally:
            signal.signal(signal.SIGTERM, previous)
        say(f"the web server stopped on its own: see {self.root / 'web.log'}")
        return 1

    def stop_web(self) -> None:
        _stop(self.web)
        self.web = None

    def stop(self) -> None:
        """The web server, then the broker (after the recorder, which publishes to it)."""
        self.stop_web()
        if self.broker is not None:
            self.broker.stop()


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}; see {log}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"not listening on {HOST}:{port} after {timeout:.0f} s; see {log}")


def _stop(proc: subprocess.Popen | None) -> None:
    """SIGTERM, a moment to finish, then SIGKILL; always reaped."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
