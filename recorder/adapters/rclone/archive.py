"""The encrypted archive read back through rclone, for the web server (`ArchiveReader`).

`rclone cat REMOTE:PATH --offset N --count M` through a crypt remote gives exactly those bytes of
the decrypted file: crypt opens the object with the range of ciphertext blocks (64 KiB each)
that holds them and decrypts only those, so a player that seeks into an hour's FLAC fetches the
blocks it needs, not the file. `lsjson` gives the decrypted sizes (crypt computes them from
the ciphertext's).

Every rclone runs from an argument list (no shell: nothing here goes through rclone-python),
with the config named in its environment (`RCLONE_CONFIG`, `RCLONE_CONFIG_PASS`), never on
its command line. Session ids are checked by the caller and file names are the web server's
fixed list; both are checked again here before a path is made.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from recorder.adapters.rclone.client import DEFAULT_FLAGS, classify, find_binary
from recorder.ports.archive import ArchiveError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*", re.ASCII)  # a session id or a file name
PIECE = 64 * 1024
SIZE_TTL_S = 60.0  # labels and transcripts are sent again after a coach's edit


class RcloneArchive:
    """`remote` is the `[upload] remote` the outbox sends sessions to (`name:path`)."""

    def __init__(
        self,
        remote: str,
        config_path: Path,
        binary: Path | None = None,
        password_file: Path | None = None,
        flags: Sequence[str] = DEFAULT_FLAGS,
    ) -> None:
        self.remote = remote
        self.config_path = Path(config_path).absolute()
        self.binary = find_binary(binary)
        self.flags = tuple(flags)
        self._password = (
            password_file.read_text(encoding="utf-8").rstrip("\r\n") if password_file else None
        )
        self._lock = threading.Lock()  # guards _sizes
        self._sizes: dict[str, tuple[float, dict[str, int]]] = {}  # id: (when, {name: size})

    def __getstate__(self) -> dict:
        """What a build process (started by spawn) gets: the settings, without the lock and
        the sizes this process has cached."""
        state = self.__dict__.copy()
        del state["_lock"]
        state["_sizes"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _path(self, session_id: str, name: str | None = None) -> str:
        for part in (session_id, name):
            if part is not None and not _NAME.fullmatch(part):
                raise ArchiveError(f"not a plain name: {part!r}")
        base = self.remote if self.remote.endswith(":") else self.remote.rstrip("/") + "/"
        return f"{base}{session_id}" + (f"/{name}" if name else "")

    def _env(self) -> dict[str, str]:
        env = {**os.environ, "RCLONE_CONFIG": str(self.config_path)}
        if self._password is not None:
            env["RCLONE_CONFIG_PASS"] = self._password
        return env

    def _command(self, *args: str) -> list[str]:
        return [str(self.binary), *args, *self.flags]

    def _run(self, *args: str, timeout: float = 120.0) -> bytes | None:
        """rclone's output; None when what was asked for is not there; ArchiveError else."""
        try:
            done = subprocess.run(
                self._command(*args),
                capture_output=True,
                env=self._env(),
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ArchiveError(f"rclone {args[0]}: {exc}") from None
        if done.returncode == 0:
            return done.stdout
        err = done.stderr.decode("utf-8", "replace")
        if classify(done.returncode, err) == "not_found":
            return None
        raise ArchiveError(f"rclone {args[0]} failed ({done.returncode}): {err.strip()[-500:]}")

    def read_each(self, name: str) -> list[bytes]:
        if not _NAME.fullmatch(name):
            raise ArchiveError(f"not a plain name: {name!r}")
        # One rclone for every folder's file, each into a file of its own, so a damaged one
        # stays apart from the rest (`cat --separator` would do it in memory, but Debian
        # bookworm's rclone, the box's, is 1.60: it has no such flag).
        with tempfile.TemporaryDirectory(prefix="archive-") as into:
            self._run(
                "copy", self.remote, into, "--include", f"/*/{name}", "--no-update-modtime",
                timeout=300,
            )  # fmt: skip
            found = sorted(Path(into).glob(f"*/{name}"))
            return [f.read_bytes() for f in found if f.is_file() and not f.is_symlink()]

    def _listing(self, session_id: str) -> dict[str, int]:
        with self._lock:
            cached = self._sizes.get(session_id)
        if cached is not None and time.monotonic() - cached[0] < SIZE_TTL_S:
            return cached[1]
        out = self._run("lsjson", "--files-only", self._path(session_id))
        sizes = {e["Name"]: int(e["Size"]) for e in json.loads(out or b"[]") if e["Size"] >= 0}
        with self._lock:
            self._sizes[session_id] = (time.monotonic(), sizes)
        return sizes

    def size(self, session_id: str, name: str) -> int | None:
        return self._listing(session_id).get(name)

    def read_range(self, session_id: str, name: str, offset: int, count: int) -> Iterator[bytes]:
        if offset < 0 or count < 0:
            raise ArchiveError(f"not a range: offset {offset}, count {count}")
        path = self._path(session_id, name)
        return self._cat(path, offset, count)

    def _cat(self, path: str, offset: int, count: int) -> Iterator[bytes]:
        args = ("cat", path, "--offset", str(offset), "--count", str(count))
        with tempfile.TemporaryFile() as err:  # a pipe could fill and stall rclone
            try:
                proc = subprocess.Popen(
                    self._command(*args), stdout=subprocess.PIPE, stderr=err, env=self._env()
                )
            except OSError as exc:
                raise ArchiveError(f"rclone cat: {exc}") from None
            left = count
            try:
                while left > 0:
                    piece = proc.stdout.read1(min(PIECE, left)) if proc.stdout else b""
                    if not piece:
                        break
                    left -= len(piece)
                    yield piece
            finally:
                if proc.poll() is None:
                    proc.kill()  # the reader went away (a seek), or rclone sent too much
                proc.wait(timeout=30)
                if proc.stdout:
                    proc.stdout.close()
            if left:
                err.seek(0)
                why = err.read().decode("utf-8", "replace").strip()[-500:]
                raise ArchiveError(f"rclone cat {path}: {left} of {count} bytes missing: {why}")
