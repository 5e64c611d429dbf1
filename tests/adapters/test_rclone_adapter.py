"""The rclone adapter against a real rclone and a real S3 server on loopback.

The remote is what an appliance would use: `secret:` (crypt) over `s3remote:bucket/recordings`
served by `rclone serve s3` from a temporary directory (tests/rclone_server.py), so a test can
look at, corrupt and delete exactly what the cloud holds. Error kinds are checked against
rclone's own output for each failure, not invented strings only.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from rclone_python import utils as rclone_utils

from recorder.adapters.rclone.client import (
    KINDS,
    S3_PART_MIB,
    S3_PARTS_IN_FLIGHT,
    Rclone,
    RcloneError,
    classify,
    find_binary,
    summary,
    vet,
)
from tests.rclone_server import (
    CRYPT_REMOTE,
    HOST,
    S3_REMOTE,
    S3Server,
    encrypt_config,
    free_port,
    rclone_binary,
    write_config,
)
from tests.support import wait_until

# Bounded for tests: one attempt, short timeouts, no sleeping between retries. One transfer at
# a time: `rclone serve s3` answers 500 (Dir.Rename error) now and then when two uploads create
# the same new folder at once, a server race that is not what these tests are about.
FAST = (
    "--transfers",
    "1",
    "--retries",
    "1",
    "--low-level-retries",
    "1",
    "--contimeout",
    "2s",
    "--timeout",
    "5s",
    "--retries-sleep",
    "0s",
)
QUICK_S = 10.0  # every failure must be reported well within this
SESSION_ID = "000001-20261129T093000Z"
FILES = ["seg-0000.wav", "manifest.json", "labels.txt"]


# -- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    s = S3Server(tmp_path_factory.mktemp("s3")).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def config(server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(tmp_path_factory.mktemp("conf") / "rclone.conf", server)


@pytest.fixture
def rc(config: Path) -> Rclone:
    return Rclone(config, binary=rclone_binary(), extra_flags=FAST)


def wav_bytes(seconds: float = 1.0, rate: int = 48000) -> bytes:
    """A real WAV file: a 440 Hz tone, so plaintext audio would be recognisable on the server."""
    t = np.arange(int(seconds * rate)) / rate
    samples = (np.sin(2 * np.pi * 440 * t) * 12000).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


@pytest.fixture
def session(tmp_path: Path) -> Path:
    folder = tmp_path / "outbox" / SESSION_ID
    folder.mkdir(parents=True)
    (folder / "seg-0000.wav").write_bytes(wav_bytes())
    (folder / "manifest.json").write_text(f'{{"id": "{SESSION_ID}", "state": "finalized"}}\n')
    (folder / "labels.txt").write_text("1.000000\t1.000000\tmarker 1\n")
    return folder


def remote_dir(remote: str = CRYPT_REMOTE) -> str:
    """A fresh folder per test on the shared server."""
    return f"{remote}:t{uuid.uuid4().hex[:8]}/{SESSION_ID}"


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
    }


def rclone_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """rclone itself, for reading back and for capturing real error output."""
    return subprocess.run(
        [str(rclone_binary()), "--config", str(config), *args, *FAST],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )


def timed_error(call: Callable[[], object]) -> tuple[RcloneError, float]:
    start = time.monotonic()
    with pytest.raises(RcloneError) as info:
        call()
    return info.value, time.monotonic() - start


def new_objects(server: S3Server, before: set[Path]) -> list[Path]:
    return [p for p in server.objects() if p not in before]


# -- upload, verify, read back -----------------------------------------------------------------


def test_upload_through_crypt_verifies_stores_only_ciphertext_and_reads_back(
    rc: Rclone, server: S3Server, config: Path, session: Path, tmp_path: Path
) -> None:
    before = set(server.objects())
    local = snapshot(session)
    dest = remote_dir()

    rc.upload(session, FILES, dest)

    assert rc.verify(session, FILES, dest) == []
    assert snapshot(session) == local
    stored = new_objects(server, before)
    assert len(stored) == len(FILES)
    plain_names = {*FILES, SESSION_ID, dest.split(":")[1].split("/")[0]}
    for obj in stored:
        rel = obj.relative_to(server.bucket_dir).parts
        assert rel[0] == "recordings"  # the crypt remote's root, named in the config
        assert not plain_names & set(rel[1:]), rel
        data = obj.read_bytes()
        assert data.startswith(b"RCLONE\x00\x00")  # crypt's file header
        for marker in (b"RIFF", b"WAVEfmt", SESSION_ID.encode(), b"marker 1"):
            assert marker not in data
    audio = (session / "seg-0000.wav").read_bytes()
    assert all(
        audio[i : i + 64] not in b"".join(o.read_bytes() for o in stored) for i in (44, 40000)
    )

    back = tmp_path / "back"
    done = rclone_cli(config, "copy", dest, str(back))
    assert done.returncode == 0, done.stderr
    assert {p.name: p.read_bytes() for p in back.iterdir()} == {
        n: (session / n).read_bytes() for n in FILES
    }


def test_verify_detects_a_corrupted_remote_file_and_force_repairs_it(
    rc: Rclone, server: S3Server, session: Path
) -> None:
    before = set(server.objects())
    dest = remote_dir()
    rc.upload(session, FILES, dest)
    wav = max(new_objects(server, before), key=lambda p: p.stat().st_size)
    st = wav.stat()
    with open(wav, "r+b") as f:  # bit rot: flip bytes in the middle, same size and time
        f.seek(st.st_size // 2)
        chunk = f.read(16)
        f.seek(st.st_size // 2)
        f.write(bytes(b ^ 0xFF for b in chunk))
    os.utime(wav, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert wav.stat().st_size == st.st_size
    server.settle()

    assert rc.verify(session, FILES, dest) == ["seg-0000.wav"]
    rc.upload(session, FILES, dest)  # same size and time: an ordinary upload skips it
    assert rc.verify(session, FILES, dest) == ["seg-0000.wav"]
    rc.upload(session, FILES, dest, force=True)
    assert rc.verify(session, FILES, dest) == []


def test_verify_detects_missing_remote_files(rc: Rclone, server: S3Server, session: Path) -> None:
    before = set(server.objects())
    dest = remote_dir()
    rc.upload(session, ["seg-0000.wav", "manifest.json"], dest)
    assert rc.verify(session, FILES, dest) == ["labels.txt"]  # never uploaded

    smallest = min(new_objects(server, before), key=lambda p: p.stat().st_size)
    smallest.unlink()  # lost on the server: the manifest is the smaller one
    server.settle()
    assert rc.verify(session, FILES, dest) == ["manifest.json", "labels.txt"]
    assert rc.verify(session, FILES, remote_dir()) == FILES  # a folder that was never made


def test_verify_on_a_plain_s3_remote_uses_hashes(
    rc: Rclone, server: S3Server, session: Path
) -> None:
    dest = f"{S3_REMOTE}:bucket/plain-{uuid.uuid4().hex[:8]}/{SESSION_ID}"
    assert rc.remote_type(dest) == "s3"
    assert rc.remote_type(CRYPT_REMOTE + ":x") == "crypt"
    rc.upload(session, FILES, dest)
    assert rc.verify(session, FILES, dest) == []
    stored = server.bucket_dir / dest.split(":bucket/")[1] / "labels.txt"
    stored.write_bytes(stored.read_bytes().replace(b"marker", b"MARKER"))
    server.settle()
    assert rc.verify(session, FILES, dest) == ["labels.txt"]


def test_verify_without_common_hashes_reads_the_remote_copy_back(
    server: S3Server, config: Path, session: Path, tmp_path: Path
) -> None:
    """An alias of the crypt remote is not "crypt" by type: plain `check` would compare sizes
    only (rclone: "No common hash found"), so the adapter falls back to `check --download`."""
    aliased = tmp_path / "alias.conf"
    aliased.write_text(config.read_text() + f"\n[vault]\ntype = alias\nremote = {CRYPT_REMOTE}:\n")
    aliased.chmod(0o600)
    rc = Rclone(aliased, binary=rclone_binary(), extra_flags=FAST)
    assert rc.remote_type("vault:x") == "alias"
    before = set(server.objects())
    dest = remote_dir("vault")
    rc.upload(session, FILES, dest)
    assert rc.verify(session, FILES, dest) == []

    wav = max(new_objects(server, before), key=lambda p: p.stat().st_size)
    st = wav.stat()
    data = bytearray(wav.read_bytes())
    data[st.st_size // 2] ^= 0xFF
    wav.write_bytes(bytes(data))
    os.utime(wav, ns=(st.st_atime_ns, st.st_mtime_ns))
    server.settle()
    assert rc.verify(session, FILES, dest) == ["seg-0000.wav"]


def test_verify_on_storage_without_hashes_reads_the_remote_copy_back(
    session: Path, tmp_path: Path
) -> None:
    """Crypt over plain WebDAV (`rclone serve webdav` on loopback) keeps no hashes: cryptcheck
    gives up ("does not support any hashes"). A session must still be verified by content before
    its local copy may go, so the adapter reads the copy back, decrypted, and compares it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = tmp_path / "dav"
    store.mkdir()
    server = subprocess.Popen(
        [str(rclone_binary()), "serve", "webdav", str(store), "--addr", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "rclone serve webdav did not listen"
                time.sleep(0.05)
        password = subprocess.run(
            [str(rclone_binary()), "obscure", "-"],
            input="crypt password\n",
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        conf = tmp_path / "dav.conf"
        conf.write_text(
            f"[dav]\ntype = webdav\nurl = http://127.0.0.1:{port}/\nvendor = other\n\n"
            f"[vault]\ntype = crypt\nremote = dav:recordings\npassword = {password}\n"
        )
        conf.chmod(0o600)
        rc = Rclone(conf, binary=rclone_binary(), extra_flags=FAST)
        dest = f"vault:{SESSION_ID}"
        rc.upload(session, FILES, dest)
        assert rc.verify(session, FILES, dest) == []

        stored = max((p for p in store.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
        data = bytearray(stored.read_bytes())
        data[len(data) // 2] ^= 0xFF
        stored.write_bytes(bytes(data))
        assert rc.verify(session, FILES, dest) == ["seg-0000.wav"]
    finally:
        server.kill()
        server.wait(timeout=10)


def test_upload_refuses_files_that_are_not_there(
    rc: Rclone, server: S3Server, session: Path
) -> None:
    before = set(server.objects())
    error, _ = timed_error(lambda: rc.upload(session, [*FILES, "seg-0001.wav"], remote_dir()))
    assert error.kind == "not_found"
    assert "seg-0001.wav" in str(error)
    assert set(server.objects()) == before


# -- progress ----------------------------------------------------------------------------------


def test_progress_is_reported_normalised_and_ends_at_100(
    config: Path, session: Path, tmp_path: Path
) -> None:
    (session / "seg-0001.wav").write_bytes(os.urandom(3 * 1024 * 1024))
    rc = Rclone(
        config,
        binary=rclone_binary(),
        extra_flags=(*FAST, "--bwlimit", "2M", "--stats", "0.2s"),
    )
    updates: list[dict] = []

    rc.upload(session, [*FILES, "seg-0001.wav"], remote_dir(), progress=updates.append)

    assert updates
    for u in updates:
        assert set(u) == {"bytes", "total", "percent", "rate_bps", "eta_s"}
        assert isinstance(u["bytes"], int) and isinstance(u["total"], int)
        assert u["eta_s"] is None or u["eta_s"] >= 0
    assert any(u["total"] > 3_000_000 and 0 < u["percent"] < 100 for u in updates), updates
    assert updates[-1]["percent"] == 100.0
    assert updates[-1]["bytes"] == updates[-1]["total"] > 3_000_000
    assert any(u["rate_bps"] > 0 for u in updates)


def test_a_failing_progress_callback_does_not_abort_the_upload(rc: Rclone, session: Path) -> None:
    def broken(update: dict) -> None:
        raise RuntimeError("dashboard gone")

    dest = remote_dir()
    rc.upload(session, FILES, dest, progress=broken)
    assert rc.verify(session, FILES, dest) == []


# -- failures: kinds, speed, local files untouched ---------------------------------------------


def test_wrong_secret_is_auth_quickly_for_every_operation(
    server: S3Server, session: Path, tmp_path: Path
) -> None:
    bad = write_config(tmp_path / "bad.conf", server, secret="not-the-secret")
    rc = Rclone(bad, binary=rclone_binary(), extra_flags=FAST)
    local = snapshot(session)
    dest = remote_dir()
    for call in (
        lambda: rc.upload(session, FILES, dest),
        lambda: rc.verify(session, FILES, dest),
        lambda: rc.purge(dest),
        lambda: rc.reachable(f"{CRYPT_REMOTE}:"),
        lambda: rc.link(f"{S3_REMOTE}:bucket/x.wav"),
    ):
        error, took = timed_error(call)
        assert error.kind == "auth", error
        assert took < QUICK_S
        assert "SignatureDoesNotMatch" in str(error) or "403" in str(error)
        assert "not-the-secret" not in str(error)
    assert snapshot(session) == local


def test_unknown_remote_is_config(rc: Rclone, session: Path) -> None:
    local = snapshot(session)
    for call in (
        lambda: rc.upload(session, FILES, "nosuch:recordings/x"),
        lambda: rc.verify(session, FILES, "nosuch:recordings/x"),
        lambda: rc.reachable("nosuch:"),
    ):
        error, took = timed_error(call)
        assert error.kind == "config", error
        assert "didn't find section in config file" in str(error)
        assert took < QUICK_S
    assert snapshot(session) == local


def test_server_down_is_network_and_a_restart_recovers(tmp_path: Path, session: Path) -> None:
    server = S3Server(tmp_path / "s3").start()
    try:
        rc = Rclone(
            write_config(tmp_path / "rclone.conf", server),
            binary=rclone_binary(),
            extra_flags=FAST,
        )
        dest = remote_dir()
        local = snapshot(session)
        server.stop()
        for call in (
            lambda: rc.upload(session, FILES, dest),
            lambda: rc.verify(session, FILES, dest),
            lambda: rc.reachable(f"{CRYPT_REMOTE}:"),
        ):
            error, took = timed_error(call)
            assert error.kind == "network", error
            assert "connection refused" in str(error)
            assert took < QUICK_S
        assert snapshot(session) == local

        server.start()  # same port, same folder
        rc.upload(session, FILES, dest)
        assert rc.verify(session, FILES, dest) == []
    finally:
        server.stop()


# -- config, password file, binary -------------------------------------------------------------


def test_config_readable_by_others_is_refused_with_the_fix(config: Path, tmp_path: Path) -> None:
    loose = tmp_path / "loose.conf"
    loose.write_bytes(config.read_bytes())
    loose.chmod(0o644)
    with pytest.raises(RcloneError) as info:
        Rclone(loose, binary=rclone_binary())
    assert info.value.kind == "config"
    assert f"chmod 600 {loose}" in str(info.value)
    assert "secret_access_key" not in str(info.value)

    with pytest.raises(RcloneError) as info:
        Rclone(tmp_path / "absent.conf", binary=rclone_binary())
    assert info.value.kind == "config"
    assert "absent.conf" in str(info.value)


def test_encrypted_config_with_password_file(
    server: S3Server, config: Path, tmp_path: Path
) -> None:
    password = "pw-" + uuid.uuid4().hex
    pw_file = tmp_path / "config.pass"
    pw_file.write_text(password + "\n")
    pw_file.chmod(0o600)
    enc = tmp_path / "enc.conf"
    enc.write_bytes(config.read_bytes())
    enc.chmod(0o600)
    encrypt_config(enc, pw_file)

    # a wrapper binary records what each rclone process was given
    argv_log, env_log = tmp_path / "argv.log", tmp_path / "env.log"
    wrapper = tmp_path / "bin" / "rclone"
    wrapper.parent.mkdir()
    wrapper.write_text(
        "#!/bin/sh\n"
        f'printf \'%s\\n\' "$0" "$@" >> {argv_log}\n'
        f'[ "$RCLONE_CONFIG_PASS" = "{password}" ] && echo pass >> {env_log}\n'
        f'exec {rclone_binary()} "$@"\n'
    )
    wrapper.chmod(0o700)
    outside = {k: os.environ.get(k) for k in ("RCLONE_CONFIG", "RCLONE_CONFIG_PASS")}

    rc = Rclone(enc, binary=wrapper, password_file=pw_file, extra_flags=FAST)
    rc.reachable(f"{CRYPT_REMOTE}:")
    assert rc.remote_type(f"{CRYPT_REMOTE}:x") == "crypt"
    assert env_log.read_text().split() == ["pass", "pass"]
    assert password not in argv_log.read_text()
    assert str(pw_file) not in argv_log.read_text()
    assert {k: os.environ.get(k) for k in outside} == outside  # restored after each call

    error, _ = timed_error(
        lambda: Rclone(enc, binary=rclone_binary(), extra_flags=FAST).reachable("secret:")
    )
    assert error.kind == "config"
    assert "unable to decrypt configuration" in str(error)

    wrong = tmp_path / "wrong.pass"
    wrong.write_text("not the password\n")
    wrong.chmod(0o600)
    error, _ = timed_error(
        lambda: Rclone(enc, binary=rclone_binary(), password_file=wrong).reachable("secret:")
    )
    assert error.kind == "config"
    assert "not the password" not in str(error)

    pw_file.chmod(0o644)
    with pytest.raises(RcloneError) as info:
        Rclone(enc, binary=rclone_binary(), password_file=pw_file)
    assert info.value.kind == "config"
    assert f"chmod 600 {pw_file}" in str(info.value)
    assert password not in str(info.value)


def test_binary_found_beside_python_when_not_on_path(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # as under systemd: the venv's bin/ is not on PATH
    assert find_binary() == Path(sys.executable).parent / "rclone"
    rc = Rclone(config, extra_flags=FAST)
    assert rc.binary == Path(sys.executable).parent / "rclone"
    rc.reachable(f"{CRYPT_REMOTE}:")  # the upload path does not rely on PATH either

    with pytest.raises(RcloneError) as info:
        Rclone(config, binary=tmp_path / "no-rclone")
    assert info.value.kind == "config"


# -- hostile values never reach a shell --------------------------------------------------------

HOSTILE = [
    'x"; touch {marker}; "',
    "$(touch {marker})",
    "`touch {marker}`",
    "x\ntouch {marker}",
    "x; touch {marker}",
    "x | touch {marker}",
    "x && touch {marker}",
    "--config={marker}",
    "-vv",
    "x'y",
    "x y",
    "",
]


def test_shell_injection_is_real_without_vetting(tmp_path: Path) -> None:
    """Control: the detector works. rclone-python itself runs a hostile path through a shell."""
    marker = tmp_path / "pwned"
    rclone_utils.Config().executable_path = str(rclone_binary())
    rclone_utils.run_rclone_cmd(
        f'lsf "x"; touch {marker}; ""', ["--config", "/dev/null"], raise_errors=False
    )
    assert marker.exists()


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_values_are_rejected_with_no_side_effects(
    template: str, rc: Rclone, config: Path, session: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    value = template.format(marker=marker)
    strings: list[Callable[[], object]] = [
        lambda: vet(value, "thing"),
        lambda: rc.upload(session, FILES, value),
        lambda: rc.upload(session, [value], remote_dir()),
        lambda: rc.verify(session, FILES, value),
        lambda: rc.verify(session, [value], remote_dir()),
        lambda: rc.purge(value),
        lambda: rc.link(value),
        lambda: rc.reachable(value),
    ]
    if not value.startswith("-"):  # "--config=…" and "-vv" are well-formed flags
        strings.append(lambda: Rclone(config, extra_flags=["--bwlimit", value]))
    for call in strings:
        with pytest.raises(ValueError) as info:
            call()
        assert repr(value) in str(info.value)
    # paths are made absolute first: "/here/--config=x" is a harmless (missing) path
    for call in (
        lambda: Rclone(config, binary=Path(value)),
        lambda: Rclone(Path(value), binary=rclone_binary()),
        lambda: Rclone(config, password_file=Path(value)),
        lambda: rc.upload(Path(value), FILES, remote_dir()),
        lambda: rc.verify(Path(value), FILES, remote_dir()),
    ):
        with pytest.raises((ValueError, RcloneError)):
            call()
    time.sleep(0.1)
    assert not marker.exists()
    assert not (Path.cwd() / "pwned").exists()


def test_file_names_cannot_leave_the_session_folder(rc: Rclone, session: Path) -> None:
    for name in ("../secrets.txt", "/etc/passwd", "a/../../b", "./x", "a//b"):
        with pytest.raises(ValueError):
            rc.upload(session, [name], remote_dir())


def test_vet_accepts_what_the_recorder_uses() -> None:
    for value in (
        "secret:recordings/000042-20261129T093000Z",
        "secret:recordings/000042-20261129T093000Z-u/seg-0000.wav",
        "b2,hard_delete=true:bucket/x",
        "/var/lib/session-recorder/outbox/000042-20261129T093000Z",
        "/etc/session-recorder/rclone.conf",
        "user@host:path/a+b%20c",
    ):
        assert vet(value, "value") == value


# -- purge, link, reachable --------------------------------------------------------------------


def test_purge_removes_the_folder_and_a_missing_folder_is_fine(
    rc: Rclone, server: S3Server, session: Path
) -> None:
    before = set(server.objects())
    dest = remote_dir()
    rc.upload(session, FILES, dest)
    assert len(new_objects(server, before)) == len(FILES)

    rc.purge(dest)
    assert new_objects(server, before) == []
    assert rc.verify(session, FILES, dest) == FILES
    rc.purge(dest)  # gone already
    rc.purge(remote_dir())  # never there
    rc.purge(str(session.parent / "never-there"))  # a local folder: rclone exits 1 here


def test_link_returns_a_string_or_none_without_raising(
    rc: Rclone, session: Path, tmp_path: Path
) -> None:
    crypt_dest = remote_dir()
    rc.upload(session, FILES, crypt_dest)
    assert rc.link(f"{crypt_dest}/seg-0000.wav") is None  # a link to ciphertext is no use

    plain = f"{S3_REMOTE}:bucket/plain-{uuid.uuid4().hex[:8]}"
    rc.upload(session, FILES, plain)
    url = rc.link(f"{plain}/seg-0000.wav")
    assert isinstance(url, str)
    assert url.startswith("http://127.0.0.1:")

    assert rc.link(str(session / "seg-0000.wav")) is None  # local: no public links


def test_reachable(rc: Rclone) -> None:
    rc.reachable(f"{CRYPT_REMOTE}:")
    rc.reachable(f"{CRYPT_REMOTE}:not-created-yet")
    rc.reachable(f"{S3_REMOTE}:bucket")


# -- classify on real rclone output ------------------------------------------------------------


def test_classify_real_rclone_output(server: S3Server, config: Path, tmp_path: Path) -> None:
    bad_secret = write_config(tmp_path / "bad-secret.conf", server, secret="wrong")
    bad_key = tmp_path / "bad-key.conf"
    bad_key.write_text(config.read_text().replace(f"= {server.key}\n", "= nobody\n"))
    dead = write_config(tmp_path / "dead.conf", S3Server(tmp_path / "dead"))  # never started
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, text in ((a, "one"), (b, "two")):
        folder.mkdir()
        (folder / "f.txt").write_text(text)
    (a / "big.bin").write_bytes(os.urandom(300_000))
    enc = tmp_path / "enc.conf"
    enc.write_bytes(config.read_bytes())
    pw = tmp_path / "pw"
    pw.write_text("pw")
    encrypt_config(enc, pw)

    cases = [
        ("auth", bad_secret, ["lsf", f"{CRYPT_REMOTE}:"], "SignatureDoesNotMatch"),
        ("auth", bad_key, ["lsf", f"{S3_REMOTE}:bucket"], "InvalidAccessKeyId"),
        ("config", config, ["lsf", "nosuch:"], "didn't find section in config file"),
        ("config", tmp_path / "none.conf", ["lsf", "secret:"], "didn't find section"),
        ("config", config, ["lsf", "secret:", "--bogus"], "unknown flag"),
        ("config", enc, ["lsf", "secret:", "--ask-password=false"], "unable to decrypt"),
        ("network", dead, ["lsf", f"{CRYPT_REMOTE}:"], "connection refused"),
        ("verify", config, ["check", str(b), str(a), "--one-way"], "differences found"),
        ("not_found", config, ["purge", str(tmp_path / "nothing")], "directory not found"),
        (
            "quota",
            config,
            ["copy", str(a), f"{S3_REMOTE}:bucket/q", "--max-transfer", "100k"],
            "max transfer limit reached",
        ),
    ]
    for kind, conf, args, phrase in cases:
        out = rclone_cli(conf, *args)
        assert out.returncode != 0, args
        assert phrase in out.stderr, (args, out.stderr)
        assert classify(out.returncode, out.stderr) == kind, (args, out.returncode, out.stderr)
        assert summary(out.stderr)


def test_classify_messages_rclone_cannot_easily_produce_here() -> None:
    assert classify(1, "api error AccessDenied: Access Denied") == "auth"
    assert classify(7, "couldn't fetch token: invalid_grant: maybe token expired?") == "auth"
    assert (
        classify(
            7,
            "googleapi: Error 403: The user's Drive storage quota has been exceeded., storageQuotaExceeded",
        )
        == "quota"
    )
    assert classify(1, "api error QuotaExceeded: storage quota exceeded") == "quota"
    assert classify(1, "HTTP 507 Insufficient Storage") == "quota"
    assert classify(1, "dial tcp: lookup s3.example.invalid: no such host") == "network"
    assert classify(1, "read tcp 10.0.0.2:51234->1.2.3.4:443: i/o timeout") == "network"
    assert classify(1, "Failed to copy: unexpected EOF") == "network"
    assert classify(3, "") == "not_found"
    assert classify(4, "") == "not_found"
    assert classify(5, "") == "network"
    assert classify(8, "") == "quota"
    assert classify(7, "") == "other"
    assert set(classify(c, "") for c in range(11)) <= set(KINDS)


def test_summary_keeps_the_last_meaningful_lines() -> None:
    stderr = "\n".join(
        [
            '{"level":"info","msg":"\\nTransferred: 0 B","stats":{"bytes":0}}',
            '{"level":"error","msg":"Failed to copy: boom","object":"a.wav"}',
            "2026/11/29 05:00:00 NOTICE: Failed to link: object not found",
            '2026/11/29 05:00:00 ERROR : GET "http://h/b/k?X-Amz-Signature=abc&X-Amz-Credential=key": EOF',
            "",
            "      --retries int   Retry operations this many times",
        ]
    )
    text = summary(stderr)
    assert text == (
        "a.wav: Failed to copy: boom; NOTICE: Failed to link: object not found; "
        'ERROR : GET "http://h/b/k": EOF'
    )
    assert "Signature" not in text


# -- a transfer frozen while a session records ---------------------------------------------------


class IdleCuttingProxy:
    """A TCP relay in front of the S3 server that counts the bytes clients send it and, as S3
    does (RequestTimeout: a request idle for about 20 s is closed), cuts a connection that has
    been idle for `idle_s`. `rclone serve s3` itself waits an hour, so without this a freeze
    would only meet rclone's own --timeout."""

    def __init__(self, server: S3Server, idle_s: float) -> None:
        self.target = (HOST, server.port)
        self.key, self.secret = server.key, server.secret
        self.idle_s = idle_s
        self.port = free_port()
        self.sent = 0  # guarded by _lock: bytes from clients
        self.cut = 0  # guarded by _lock: connections closed for idling
        self._last: dict[socket.socket, tuple[float, socket.socket]] = {}  # guarded by _lock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server((HOST, self.port))

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> IdleCuttingProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        threading.Thread(target=self._reap, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            pairs = list(self._last.items())
        for client, (_, upstream) in pairs:
            self._close(client, upstream)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
            with self._lock:
                self._last[client] = (time.monotonic(), upstream)
            threading.Thread(
                target=self._pipe, args=(client, upstream, client), daemon=True
            ).start()
            threading.Thread(
                target=self._pipe, args=(upstream, client, client), daemon=True
            ).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, client: socket.socket) -> None:
        try:
            while data := src.recv(1 << 16):
                with self._lock:
                    if src is client:
                        self.sent += len(data)
                    if client in self._last:
                        self._last[client] = (time.monotonic(), self._last[client][1])
                dst.sendall(data)
        except OSError:
            pass
        with self._lock:
            pair = self._last.pop(client, None)
        if pair is not None:
            self._close(client, pair[1])

    def _reap(self) -> None:
        while not self._stop.wait(0.1):
            now = time.monotonic()
            with self._lock:
                idle = [(c, u) for c, (at, u) in self._last.items() if now - at > self.idle_s]
                for c, _ in idle:
                    del self._last[c]
                self.cut += len(idle)
            for c, u in idle:
                self._close(c, u)

    @staticmethod
    def _close(*socks: socket.socket) -> None:
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def test_a_frozen_upload_sends_again_only_the_parts_in_flight(
    server: S3Server, tmp_path: Path
) -> None:
    """A large file frozen mid-upload (as while a session records) for longer than rclone's
    --timeout and the server's idle limit: its connections are gone when it thaws, yet the
    upload completes in the same attempt, and what was sent before the freeze is not sent
    again beyond the parts that were in flight (before, the file went in one PUT and started
    again from its first byte)."""
    proxy = IdleCuttingProxy(server, idle_s=2.0).start()
    try:
        conf = write_config(tmp_path / "rclone.conf", proxy)  # type: ignore[arg-type]
        flags = ("--bwlimit", "4M", "--timeout", "3s", "--contimeout", "2s", "--retries", "1")
        rc = Rclone(conf, binary=rclone_binary(), extra_flags=(*flags, "--transfers", "1"))
        folder = tmp_path / "outbox" / SESSION_ID
        folder.mkdir(parents=True)
        size = 24 << 20
        (folder / "session.flac").write_bytes(os.urandom(size))
        before = set(server.objects())
        outcome: dict[str, object] = {}
        where = remote_dir()

        def upload() -> None:
            try:
                rc.upload(folder, ["session.flac"], where)
                outcome["ok"] = True
            except Exception as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=upload)
        thread.start()
        in_flight = S3_PARTS_IN_FLIGHT * S3_PART_MIB << 20
        wait_until(lambda: proxy.sent > in_flight + (6 << 20) or not thread.is_alive(), 60)
        assert thread.is_alive(), outcome
        pids = rc.processes.pids()
        assert pids
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        sent_before = proxy.sent
        try:
            wait_until(lambda: proxy.cut > 0, 10, "the server dropping the idle connections")
            time.sleep(max(0.0, frozen_at + 4.0 - time.monotonic()))  # past rclone's --timeout
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        thread.join(120)
        assert outcome == {"ok": True}
        [stored] = new_objects(server, before)
        resent = proxy.sent - stored.stat().st_size  # (and the requests' headers)
        # From zero would be at least `sent_before` again; the parts in flight are the bound.
        assert sent_before > in_flight + (5 << 20)
        assert resent <= in_flight + (256 << 10), (resent, sent_before)
        assert rc.verify(folder, ["session.flac"], where) == []
    finally:
        proxy.stop()
