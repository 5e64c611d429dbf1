"""Cloud storage through rclone: the only code in the recorder that runs rclone.

rclone-python builds shell command strings and runs them with `shell=True`, quoting paths with
double quotes only. So every value that reaches a command line (remote, paths, file names, the
binary, flags) goes through `vet()` first: a small set of characters that mean nothing to a
shell inside double quotes. Secrets never reach a command line: the config file is named by
`RCLONE_CONFIG` and its password travels in `RCLONE_CONFIG_PASS`, both in the environment the
rclone processes inherit (rclone-python gives them `os.environ`).

rclone-python 0.1.25's `copy()` runs whatever `rclone` is on PATH (the command is hard-coded),
ignoring `set_executable_file()`, so `upload()` gives its own command line to the library's
progress runner (`utils.rclone_progress`). Everything else goes through `utils.run_rclone_cmd`
with `raise_errors=False`, which keeps the exit code its wrappers (`purge`, `link`, `check`)
throw away.

rclone behaviours this module works around (rclone v1.75, verified against `rclone serve s3`):
- With a wrong key or a server that does not answer, creating an S3 (or crypt-over-S3) folder
  that does not exist yet fails with "is a file not a directory": the HEAD on the folder fails,
  and so does the listing that would show it is a folder. The real cause is only logged at
  DEBUG level. `lsf` on the same path reports it, so unclassified failures are re-diagnosed.
- `copy --files-from-raw` silently skips listed files that do not exist locally.
- A transfer frozen while a session records (SIGSTOP, `pause_transfers`) loses its
  connections when the freeze outlasts `--timeout` or the server's idle limit (S3 closes a
  request idle for about 20 s). A file sent in one PUT (below `--s3-upload-cutoff`, 200 MiB by
  default: every MP3, a stereo FLAC of up to 35 minutes) then starts again from its first byte
  (measured: a 40 MiB file frozen at 12 MiB sent 52 MiB), and S3
  cannot resume a multipart upload across rclone runs either (only Oracle's backend has
  `--oos-attempt-resume-upload`). So everything above one part goes multipart
  (`S3_MULTIPART_FLAGS`): each part is retried on its own, and a freeze costs at most the
  parts in flight (2 × 5 MiB), whatever the file's size.
- A crypt remote stores no hashes; `check` then compares sizes only (exit 0) and says
  "No common hash found". Crypt remotes use `cryptcheck`; others fall back to `check --download`.
  `cryptcheck` needs hashes from the storage under the crypt: on a backend with none (plain
  WebDAV) it fails with "does not support any hashes", and objects without one pass on size
  ("hashes could not be checked"). Both fall back to `check --download` too.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from recorder.adapters.rclone.processes import RcloneProcesses

log = logging.getLogger(__name__)


@functools.cache
def _lib():
    """rclone-python's `rclone` and `utils`, imported at the first rclone command: with rich,
    which it imports, it costs 3.2 MB, for nothing while uploads are held back."""
    from rclone_python import rclone, utils

    # Its warnings repeat rclone's errors through a console handler of its own; every failure
    # is reported here as an RcloneError instead.
    rclone.set_log_level(logging.ERROR)
    return rclone, utils


KINDS = ("auth", "config", "network", "not_found", "quota", "verify", "other")

_SAFE = re.compile(r"[A-Za-z0-9_./:@+=,%-]+")
_FLAG = re.compile(r"--?[A-Za-z0-9][A-Za-z0-9-]*(=[A-Za-z0-9_./:@+=,%-]*)?")

# An appliance on a flaky link: fail an attempt within a couple of minutes and let the outbox
# retry it later with backoff, rather than rclone's defaults (3 retries of the whole operation,
# 10 low-level retries, 1 min connect and 5 min idle timeouts) that can hold one attempt for
# most of an hour. --ask-password=false: never wait for a config password on a terminal.
DEFAULT_FLAGS: tuple[str, ...] = (
    "--retries",
    "2",
    "--retries-sleep",
    "10s",
    "--low-level-retries",
    "3",
    "--contimeout",
    "15s",
    "--timeout",
    "60s",
    "--ask-password=false",
)
S3_PART_MIB = 5  # S3's smallest part, and rclone's default --s3-chunk-size
S3_PARTS_IN_FLIGHT = 2  # per file; rclone's default 4 would hold 20 MiB per file on a Pi
# Multipart above one part, so that a frozen or broken connection costs the parts in flight,
# not the file (see the module docstring). Backend flags are global: other backends ignore them.
S3_MULTIPART_FLAGS: tuple[str, ...] = (
    "--s3-upload-cutoff",
    f"{S3_PART_MIB}Mi",
    "--s3-chunk-size",
    f"{S3_PART_MIB}Mi",
    "--s3-upload-concurrency",
    str(S3_PARTS_IN_FLIGHT),
)
# What check and cryptcheck say when the storage keeps no hash to compare: a size match is all
# they could do (check, or cryptcheck on objects without one), or they did nothing (cryptcheck
# on a backend without hashes, such as plain WebDAV).
NO_HASH = re.compile(
    r"No common hash found|hashes could not be checked|does not support any hashes"
)
STATS_FLAGS = ("--stats", "1s", "--stats-unit", "bytes", "--use-json-log", "-v")

# (kind, pattern) in priority order: what the user must fix comes before what may pass, and
# quota before auth because providers report a full account as 403 too.
_MESSAGES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        (
            "config",
            r"didn't find section in config file|couldn't find type of fs|"
            r"didn't find backend called|config file .* not found|failed to load config|"
            r"unable to decrypt configuration|couldn't decrypt configuration|"
            r"unknown flag|unknown shorthand flag|unknown command|invalid argument \".*\" for",
        ),
        (
            "quota",
            r"quota|insufficient storage|\b507\b|storage (is )?full|not enough space|"
            r"max transfer limit reached",
        ),
        (
            "auth",
            r"InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|InvalidToken|"
            r"ExpiredToken|\b(401|403)\b|Forbidden|Unauthori[sz]ed|invalid_grant|"
            r"invalid_client|token (has )?expired|authentication failed|bad credentials",
        ),
        (
            "network",
            r"connection refused|connection reset|no such host|i/o timeout|timed? ?out|"
            r"\bEOF\b|network is unreachable|no route to host|TLS handshake|"
            r"context deadline exceeded|server misbehaving|name resolution|broken pipe",
        ),
        ("verify", r"differences found|hashes differ|corrupted on transfer|sizes differ"),
        (
            "not_found",
            r"directory not found|object not found|file not found|NoSuchBucket|NoSuchKey",
        ),
    )
)
# rclone's exit codes (lib/exitcode). 1 and 2 swapped meaning in v1.69 (usage became 2), and
# Debian ships older releases, so neither says anything on its own.
_EXIT_CODES = {3: "not_found", 4: "not_found", 5: "network", 8: "quota"}
_NO_LINKS = re.compile(
    r"doesn't support public links|not supported|not implemented|can't link", re.IGNORECASE
)
_TIMESTAMP = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ")
_QUERY = re.compile(r"(https?://[^\s\"?]*)\?[^\s\"]*")  # URL queries: long, may hold signatures


def vet(value: str, what: str) -> str:
    """`value` unchanged if a shell inside double quotes and rclone's option parser ignore it."""
    if not isinstance(value, str) or not _SAFE.fullmatch(value) or value.startswith("-"):
        raise ValueError(
            f"{what} {value!r} may only use letters, digits and _./:@+=,%- "
            "and must not start with '-'"
        )
    return value


def _vet_flag(flag: str) -> str:
    """A flag (`--name`, `--name=value`) or a flag's value; nothing a shell would act on."""
    if isinstance(flag, str) and _FLAG.fullmatch(flag):
        return flag
    return vet(flag, "rclone flag")


def _vet_name(name: str) -> str:
    """A file name relative to the session folder: vetted, and no way out of the folder."""
    vet(name, "file name")
    parts = name.split("/")
    if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"file name {name!r} must be a plain relative name")
    return name


class RcloneError(Exception):
    """An rclone command failed; `kind` says what the user (or the retry policy) can do."""

    def __init__(self, message: str, kind: str = "other", returncode: int | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown RcloneError kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.returncode = returncode


def classify(returncode: int, stderr: str) -> str:
    """The kind of an rclone failure, from its messages first and its exit code second."""
    for kind, pattern in _MESSAGES:
        if pattern.search(stderr):
            return kind
    return _EXIT_CODES.get(returncode, "other")


def summary(stderr: str, lines: int = 3) -> str:
    """The last few meaningful lines of rclone's stderr (JSON log lines reduced to messages)."""
    found: list[str] = []
    for raw in stderr.splitlines():
        line = raw.strip()
        if not line or raw[:1].isspace() or line.startswith(("Usage:", 'Use "rclone', "Flags")):
            continue  # blank lines and --help text after a usage error
        if line.startswith("{"):
            try:
                item = json.loads(line)
            except ValueError:
                item = None
            if isinstance(item, dict):
                if item.get("stats") is not None or item.get("level") not in ("error", "critical"):
                    continue
                obj = item.get("object")
                line = f"{obj}: {item.get('msg', '')}" if obj else str(item.get("msg", ""))
        line = _QUERY.sub(r"\1", _TIMESTAMP.sub("", line))
        line = line.replace("RequestID: , HostID: , ", "")[:400]
        if line in found:
            found.remove(line)
        found.append(line)
    return "; ".join(found[-lines:])


def _remote_name(path: str) -> str | None:
    """The configured remote a path is on (None for a local path or an on-the-fly backend)."""
    head, colon, _ = path.partition(":")
    if not colon or not head or "/" in head:
        return None
    return head.split(",", 1)[0]


class _SharedEnvironment:
    """`os.environ` and rclone-python's config are process-wide, so the rclone settings in them
    are too. Calls with the same settings (the daemon's one remote) run concurrently; a call with
    different settings (another config file) waits until those finish. Restored afterwards, so
    other child processes do not inherit the config password."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._key: tuple[str, str, str | None] | None = None  # guarded by _cond
        self._users = 0  # guarded by _cond
        self._saved: dict[str, str | None] = {}  # guarded by _cond

    @contextlib.contextmanager
    def use(self, binary: str, config: str, password: str | None) -> Iterator[None]:
        key = (binary, config, password)
        with self._cond:
            while self._users and self._key != key:
                self._cond.wait()
            if not self._users:
                env = {"RCLONE_CONFIG": config}
                if password is not None:
                    env["RCLONE_CONFIG_PASS"] = password
                self._saved = {k: os.environ.get(k) for k in env}
                os.environ.update(env)
                rclone_lib, rclone_utils = _lib()
                rclone_lib.set_executable_file(binary)
                rclone_utils.Config().config_path = None  # or it adds an unvetted --config
                self._key = key
            self._users += 1
        try:
            yield
        finally:
            with self._cond:
                self._users -= 1
                if not self._users:
                    for k, v in self._saved.items():
                        if v is None:
                            os.environ.pop(k, None)
                        else:
                            os.environ[k] = v
                    self._key = None
                    self._cond.notify_all()


_ENV = _SharedEnvironment()


def _check_private(path: Path, what: str) -> None:
    if not path.is_file():
        raise RcloneError(f"{what} {path} does not exist", kind="config")
    if path.stat().st_mode & 0o004:
        raise RcloneError(
            f"{what} {path} is readable by every user: chmod 600 {path}", kind="config"
        )
    if not os.access(path, os.R_OK):
        raise RcloneError(f"{what} {path} is not readable by this user", kind="config")


def find_binary(binary: Path | None = None) -> Path:
    """The given rclone, else the one on PATH, else the one beside this Python (a venv's bin/
    is not on PATH under systemd)."""
    if binary is not None:
        candidates = [binary]
    else:
        on_path = shutil.which("rclone")
        candidates = [Path(on_path)] if on_path else []
        candidates.append(Path(sys.executable).parent / "rclone")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise RcloneError(
        f"no rclone binary at {binary}" if binary else "no rclone on PATH or beside Python",
        kind="config",
    )


class Rclone:
    """One configured rclone: upload, verify, purge and share session folders.

    Thread-safe; progress callbacks run on the calling thread.
    """

    def __init__(
        self,
        config_path: Path,
        binary: Path | None = None,
        password_file: Path | None = None,
        extra_flags: Sequence[str] = (),
    ) -> None:
        self.config_path = Path(vet(str(Path(config_path).absolute()), "rclone config path"))
        _check_private(self.config_path, "rclone config")
        self._password: str | None = None
        if password_file is not None:
            _check_private(Path(password_file), "rclone config password file")
            self._password = Path(password_file).read_text(encoding="utf-8").rstrip("\r\n")
            if not self._password:
                raise RcloneError(f"password file {password_file} is empty", kind="config")
        found = find_binary(Path(vet(str(binary), "rclone binary")) if binary else None)
        self.binary = Path(vet(str(found.absolute()), "rclone binary"))
        self.flags: tuple[str, ...] = tuple(
            _vet_flag(f) for f in (*DEFAULT_FLAGS, *S3_MULTIPART_FLAGS, *extra_flags)
        )
        self._types: dict[str, str] = {}  # remote name -> backend type; guarded by _lock
        self._lock = threading.Lock()
        self.processes = RcloneProcesses(self.config_path)

    # -- running rclone ------------------------------------------------------------------------

    def _env(self) -> contextlib.AbstractContextManager[None]:
        return _ENV.use(str(self.binary), str(self.config_path), self._password)

    def _run(self, command: str, args: Sequence[str] = ()) -> tuple[int, str, str]:
        """`rclone COMMAND ARGS FLAGS` (everything in it vetted) -> (exit code, stdout, stderr)."""
        with self._env():
            code, out, err = _lib()[1].run_rclone_cmd(
                command, [*args, *self.flags], raise_errors=False
            )
        return int(code), out, err

    def _failure(
        self, what: str, path: str, code: int, stderr: str, probe: bool = True
    ) -> RcloneError:
        """An RcloneError for a failed command; if its output says nothing recognisable, ask
        `lsf` on the same path, which reports causes (auth, network) other commands hide."""
        kind = classify(code, stderr)
        message = f"rclone {what} {path} failed (exit {code}): {summary(stderr) or 'no message'}"
        if kind == "other" and probe and path:
            probe_code, _, probe_err = self._run(f'lsf "{path}"', ["--max-depth", "1"])
            probe_kind = classify(probe_code, probe_err)
            if probe_code != 0 and probe_kind not in ("other", "not_found"):
                return RcloneError(
                    f"rclone {what} {path} failed: {summary(probe_err)}", probe_kind, probe_code
                )
        return RcloneError(message, kind, code)

    def remote_type(self, remote_path: str) -> str | None:
        """The backend type of the configured remote `remote_path` is on (`crypt`, `s3`, …),
        from `rclone listremotes --long`, which (unlike `config show`) prints no secrets."""
        name = _remote_name(vet(remote_path, "remote path"))
        if name is None:
            return None
        with self._lock:
            if name in self._types:
                return self._types[name]
        code, out, err = self._run("listremotes", ["--long"])
        if code != 0:
            raise self._failure("listremotes", "", code, err, probe=False)
        types = {}
        for line in out.splitlines():
            remote, _, kind = line.partition(":")
            if remote.strip() and kind.strip():
                types[remote.strip()] = kind.split()[0]
        with self._lock:
            self._types.update(types)
        return types.get(name)

    # -- the port ------------------------------------------------------------------------------

    def upload(
        self,
        local_dir: Path,
        files: Sequence[str],
        remote_dir: str,
        force: bool = False,
        progress: Callable[[dict], None] | None = None,
    ) -> None:
        """Copy exactly `files` from `local_dir` into `remote_dir`. `force` re-sends files whose
        size and time match, to repair a remote copy that failed verification."""
        src = vet(str(Path(local_dir).absolute()), "local folder")
        dst = vet(remote_dir, "remote folder")
        names = [_vet_name(n) for n in files]
        missing = [n for n in names if not (Path(src) / n).is_file()]
        if missing:  # rclone would skip them and report success
            raise RcloneError(f"not in {src}: {', '.join(missing)}", kind="not_found")
        total = sum((Path(src) / n).stat().st_size for n in names)
        log.debug("rclone copy %s -> %s", src, dst)
        last: dict = {}

        def on_stats(update: Mapping) -> None:
            stats = update.get("rclone_output") or {}
            done, size = int(update.get("sent", 0)), int(update.get("total", 0))
            # rclone's speed and eta are moving averages that stay 0/null for the first seconds
            rate = float(stats.get("speed") or 0.0)
            if not rate and stats.get("transferTime"):
                rate = done / float(stats["transferTime"])
            eta = stats.get("eta")
            if eta is None and rate > 0:
                eta = max(0.0, size - done) / rate
            last.update(
                bytes=done,
                total=size,
                percent=min(100.0, 100.0 * done / size) if size else 0.0,
                rate_bps=rate,
                eta_s=float(eta) if eta is not None else None,
            )
            _report(progress, dict(last))

        with tempfile.TemporaryDirectory(prefix="rclone-") as tmp:
            listing = Path(vet(tmp, "temporary folder")) / "files"
            listing.write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
            words = [
                f'"{self.binary}" copy "{src}" "{dst}" --files-from-raw "{listing}"',
                *(["--ignore-times"] if force else []),
                *STATS_FLAGS,
                *self.flags,
            ]
            with self._env():
                process, errors = _lib()[1].rclone_progress(
                    " ".join(words), "upload", show_progress=False, listener=on_stats
                )
                code = process.wait()
        if code != 0:
            raise self._failure("copy to", dst, code, "\n".join(errors))
        if last.get("percent") != 100.0:  # nothing left to send, or no final stats line
            size = last.get("total") or total
            _report(
                progress,
                {
                    "bytes": size,
                    "total": size,
                    "percent": 100.0,
                    "rate_bps": last.get("rate_bps", 0.0),
                    "eta_s": 0.0,
                },
            )

    def verify(self, local_dir: Path, files: Sequence[str], remote_dir: str) -> list[str]:
        """The names among `files` that are missing or different in `remote_dir`; [] when every
        one matches by content (cryptcheck for crypt remotes, else a hash or download check)."""
        src = vet(str(Path(local_dir).absolute()), "local folder")
        dst = vet(remote_dir, "remote folder")
        names = [_vet_name(n) for n in files]
        missing = [n for n in names if not (Path(src) / n).is_file()]
        if missing:
            raise RcloneError(f"not in {src}: {', '.join(missing)}", kind="not_found")
        command = "cryptcheck" if self.remote_type(dst) == "crypt" else "check"
        results, code, err = self._check(command, src, dst, names, download=False)
        if NO_HASH.search(err):
            # Sizes only, or nothing at all: not a verification. Read the remote copy back
            # (through crypt, decrypted) and compare it byte for byte instead.
            command = "check"
            results, code, err = self._check(command, src, dst, names, download=True)
        wrong = [n for n in names if results.get(n) != "="]
        if code == 0 or (wrong and all(n in results for n in names)):
            # "!" (could not read or hash) is a copy to send again, unless the cause is one
            # that sending again cannot fix, such as a dead link or a refused key
            unreadable = any(results.get(n) == "!" for n in wrong)
            if unreadable and classify(code, err) not in ("other", "verify", "not_found"):
                raise self._failure(command, dst, code, err)
            return wrong
        raise self._failure(command, dst, code, err)  # no result for every file: rclone failed

    def _check(
        self, command: str, src: str, dst: str, names: list[str], download: bool
    ) -> tuple[dict[str, str], int, str]:
        """Run check or cryptcheck one way over `names` -> ({name: symbol}, exit code, stderr)."""
        log.debug("rclone %s %s -> %s", command, src, dst)
        with tempfile.TemporaryDirectory(prefix="rclone-") as tmp:
            folder = Path(vet(tmp, "temporary folder"))
            (folder / "files").write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
            args = ["--one-way", f'--files-from-raw "{folder / "files"}"']
            args.append(f'--combined "{folder / "combined"}"')
            if download:
                args.append("--download")
            code, _, err = self._run(f'{command} "{src}" "{dst}"', args)
            combined = folder / "combined"
            lines = combined.read_text(encoding="utf-8").splitlines() if combined.exists() else []
        results = {}
        for line in lines:
            symbol, _, name = line.partition(" ")
            results[name] = symbol
        return results, code, err

    def purge(self, remote_dir: str) -> None:
        """Delete `remote_dir` and everything in it; a folder that is not there is success."""
        path = vet(remote_dir, "remote folder")
        log.debug("rclone purge %s", path)
        code, _, err = self._run(f'purge "{path}"')
        if code != 0:
            failure = self._failure("purge", path, code, err)
            if failure.kind != "not_found":
                raise failure

    def link(self, remote_path: str) -> str | None:
        """A public link to `remote_path`, or None when the remote cannot give a useful one: the
        backend has no links, or the remote is crypt (its links download the ciphertext)."""
        path = vet(remote_path, "remote path")
        if self.remote_type(path) == "crypt":
            return None
        log.debug("rclone link %s", path)
        code, out, err = self._run(f'link "{path}"')
        if code != 0:
            if _NO_LINKS.search(err):
                return None
            raise self._failure("link", path, code, err)
        return out.strip() or None

    def pause_transfers(self) -> None:
        """Freeze every rclone command in flight on this config, whichever thread started it."""
        self.processes.pause()

    def resume_transfers(self) -> None:
        self.processes.resume()

    def stop_transfers(self) -> None:
        """End every rclone command in flight on this config: each call fails with an
        RcloneError, as if the remote had."""
        self.processes.stop()

    def reachable(self, remote: str) -> None:
        """Raise RcloneError unless `remote` can be listed (a folder not created yet is fine)."""
        path = vet(remote, "remote")
        log.debug("rclone lsf %s", path)
        code, _, err = self._run(f'lsf "{path}"', ["--max-depth", "1"])
        if code != 0:
            failure = self._failure("lsf", path, code, err, probe=False)
            if failure.kind != "not_found":
                raise failure


def _report(progress: Callable[[dict], None] | None, update: dict) -> None:
    """Hand `update` to the caller's callback; its failure must not abort the upload."""
    if progress is None:
        return
    try:
        progress(update)
    except Exception:
        log.exception("upload progress callback failed")
