"""Memory of the real daemon: idle, recording, over a two-hour session, and with the pre-roll
and the writer buffer full, beside the bare interpreter with the same imports.

Everything is read from outside, from /proc of `session-recorder run` (VmRSS now, VmHWM the peak
so far) and of its capture helper process (the child that owns the ALSA device), with both
together counted page by page, fed by the virtual ALSA microphone; beside it the same daemon
with ALSA in its own process (bench/inprocess.py), for what the process boundary costs, and the
daemon of an earlier revision (`--before REV`, default `BEFORE_REV`), taking turns in the same
run, for what a change did. The buffer's worst case is a full buffer, so it is filled for real:
the storage is a loop-mounted ext4 frozen with `fsfreeze`.

    .venv/bin/python -m bench.memory [--quick] [--runs N] [--before REV]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile

from bench.common import (
    ROOT,
    Daemon,
    FreezableDisk,
    Options,
    Section,
    file_chunks,
    median,
    mic,
    source_file,
    standalone,
    table,
    verdict,
    write_config,
)
from recorder.app.virtualmic import Feeder

FMT = "S16_LE"
RATE = 48000
FRAME_BYTES = 4  # S16_LE stereo
PERIOD_S = 0.1
PERIOD_FRAMES = int(RATE * PERIOD_S)
PERIOD_BYTES = PERIOD_FRAMES * FRAME_BYTES
RAW_MB_PER_MIN = RATE * FRAME_BYTES * 60 / 1e6  # 11.52: what a minute of audio is, raw
TARGET_MB = 60.0
FIRST_SESSION_TARGET_MB = 55.0  # both processes, recording the first session (issue 21)
GROWTH_TARGET_MB = 2.0
# The revision measured beside this one: the tree before a box paid only for what its config
# uses (python-docx, mutagen and soxr were imported by every daemon).
BEFORE_REV = "c0856e9"


def mb(kib: float) -> float:
    """/proc reports KiB; MB here are 10^6 bytes (the stricter reading of the target)."""
    return kib * 1024 / 1e6


# ---- bytecode, as on the box ----------------------------------------------------------------

# Every process measured here (the daemon and the import probes) gets this environment.
ENV: dict[str, str] = {}


def use_bytecode(workdir: Path) -> None:
    """Run the daemon from compiled bytecode, as on the box (install.sh's `pip install`
    compiles every module; a checkout run with PYTHONDONTWRITEBYTECODE=1 would otherwise
    compile the recorder's sources at each start, about 1.4 MB more RSS). The .pyc files go to
    a PYTHONPYCACHEPREFIX in the scratch dir, written once by importing everything the daemon
    imports (MQTT included), so the checkout is left alone."""
    ENV["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    warm = (
        "import recorder.app.cli, recorder.app.daemon, recorder.adapters.mqtt, recorder.adapters.alsa, "
        "recorder.adapters.alsa_process, recorder.adapters.alsa_helper, bench.inprocess"
    )
    subprocess.run([sys.executable, "-c", warm], cwd=ROOT, env={**env, **ENV}, check=True)


# ---- an earlier revision, to measure beside this one ---------------------------------------


def checkout(workdir: Path, rev: str) -> tuple[Path | None, str | None]:
    """The `recorder` package of `rev` in a folder of its own (`git archive`: the checkout and
    its .git are left alone), compiled to bytecode like this one; (folder, None), or (None, why
    not) where there is no git or no such revision (a shallow clone)."""
    root = workdir / f"before-{rev}"
    root.mkdir()
    try:
        tar = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", rev, "recorder"],
            capture_output=True,
            check=False,
        )
    except OSError as exc:
        return None, f"no git here ({exc})"
    if tar.returncode:
        return None, f"revision {rev} not found: {tar.stderr.decode(errors='replace').strip()}"
    subprocess.run(["tar", "-x", "-C", str(root)], input=tar.stdout, check=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "recorder"],
        cwd=root,
        env={**env, **ENV},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return root, None


# ---- feeding the virtual microphone ---------------------------------------------------------


class Pacer:
    """Periods for a Feeder: at real time, or as fast as capture takes them while `fast` is set;
    `hold` stops the flow. After the last period comes silence at real time, so capture never
    starves: a capture thread blocked in read() delays every shutdown.

    Capture reads far faster than the writer writes, so a fast feed alone would overflow the
    buffer in a fraction of a second. With `backlog` set (seconds waiting in the daemon's
    buffer), the fast feed asks it every `CHECK` periods and waits above `HIGH` s until it is
    below `LOW`: at most HIGH + CHECK + the pipe's 5.5 s are ever queued, far below 60 s.
    """

    CHECK = 50
    HIGH, LOW = 15.0, 5.0

    def __init__(self, periods: Iterable[bytes]) -> None:
        self.periods = periods
        self.fast = threading.Event()
        self.hold = threading.Event()
        self.done = threading.Event()  # every period of `periods` is handed to the Feeder
        self.sent = 0  # periods of `periods` handed over
        self.backlog: Callable[[], float] | None = None
        self.waited_s = 0.0  # time spent waiting for the writer

    def __iter__(self) -> Iterator[bytes]:
        due = time.monotonic()
        for chunk in self.periods:
            while self.hold.is_set():
                time.sleep(0.005)
            fast = self.fast.is_set()
            if fast and self.backlog is not None and self.sent % self.CHECK == 0:
                self._throttle(self.backlog)
            due = self._wait(due, fast)
            self.sent += 1
            yield chunk
        self.done.set()
        silence = bytes(PERIOD_BYTES)
        while True:
            due = self._wait(due, False)
            yield silence

    def _throttle(self, backlog: Callable[[], float]) -> None:
        if backlog() <= self.HIGH:
            return
        t0 = time.monotonic()
        while backlog() > self.LOW:
            time.sleep(0.05)
        self.waited_s += time.monotonic() - t0

    @staticmethod
    def _wait(due: float, fast: bool) -> float:
        now = time.monotonic()
        if fast:
            return now
        due = max(due + PERIOD_S, now - PERIOD_S)  # after a hold: no burst to catch up
        if due > now:
            time.sleep(due - now)
        return due


@dataclass
class Run:
    """One running daemon and what feeds it, with the few requests the measurements need."""

    daemon: Daemon
    pacer: Pacer
    feeder: Feeder
    folder: Path
    storage: Path

    def mem(self) -> dict[str, int]:
        return self.daemon.memory_kib()

    def start(self) -> str:
        reply = self.daemon.request({"cmd": "start"})
        if not reply.get("ok"):
            raise RuntimeError(f"start refused: {reply}")
        return reply["session_id"]

    def stop_session(self, session_id: str, timeout: float) -> dict:
        """Stop, wait until the writer has finalized it; the stop reply (frames)."""
        reply = self.daemon.request({"cmd": "stop"})
        if not reply.get("ok"):
            raise RuntimeError(f"stop refused: {reply}")
        self.daemon.wait_for(
            lambda s: (s.get("last_session") or {}).get("id") == session_id, timeout
        )
        return reply

    def manifest(self, session_id: str) -> dict:
        return json.loads((self.storage / "outbox" / session_id / "manifest.json").read_text())

    def wait_deliverables(self, session_id: str, timeout: float) -> bool:
        """The outbox worker builds session.flac and session.mp3 after a stop (for an upload)."""
        mp3 = self.storage / "outbox" / session_id / "session.mp3"
        deadline = time.monotonic() + timeout
        while not mp3.exists():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True


@dataclass(frozen=True)
class Side:
    """Which daemon a lifecycle runs: the `recorder` package under `root` (this checkout, or an
    earlier revision's, see `checkout`), with the held-back upload or with a minimal config
    (no [upload], [share], [transcript] or [mqtt]: what such a box pays); `inprocess`: ALSA in
    the daemon's process, no helper (bench/inprocess.py)."""

    root: Path = ROOT
    upload: bool = True
    inprocess: bool = False


@contextlib.contextmanager
def running(
    workdir: Path,
    name: str,
    periods: Iterable[bytes],
    audio: dict | None = None,
    storage: Path | None = None,
    mqtt_port: int | None = None,
    env: dict[str, str] | None = None,
    side: Side | None = None,
) -> Iterator[Run]:
    """The daemon in a folder of its own (defaults unless `audio` says otherwise), its
    microphone fed by a Pacer, its memory sampled for the peaks; everything is stopped and the
    folder removed afterwards. `side`: which revision runs, whether with the held-back upload,
    and whether ALSA is read in its own process (the default: this one, with, a helper)."""
    side = side or Side()
    folder = workdir / name
    folder.mkdir(parents=True)
    m = mic(folder)
    pacer = Pacer(periods)
    feeder = Feeder(m.infile, iter(pacer), None)
    feeder.start()
    store = storage or folder / "sessions"
    extra = {"mqtt": {"host": "127.0.0.1", "port": mqtt_port}} if mqtt_port else {}
    # Deliverables are built only for an upload: one is configured, held back by delay_min, so
    # the outbox builds the FLAC and MP3 and never runs rclone.
    conf = folder / "rclone.conf"
    conf.touch(mode=0o600)
    if side.upload:
        extra["upload"] = {"remote": "bench:held", "rclone_config": str(conf), "delay_min": 1e6}
    cfg = write_config(folder, m.name, audio=audio or {}, storage={"dir": str(store)}, **extra)
    daemon = Daemon(cfg, m, {**ENV, **(env or {})}, inprocess=side.inprocess, root=side.root)
    daemon.watch_memory()
    try:
        daemon.wait_ready()
        daemon.wait_for(lambda s: s["device"] == "ok", 30)
        yield Run(daemon, pacer, feeder, folder, store)
    finally:
        daemon.stop()
        feeder.stop()
        shutil.rmtree(folder, ignore_errors=True)
        if storage is not None:
            shutil.rmtree(storage, ignore_errors=True)


def source(seconds: float) -> Path:
    return source_file(FMT, seconds)


def periods(path: Path, seconds: float | None = None) -> Iterator[bytes]:
    chunks = file_chunks(path, PERIOD_BYTES)
    return chunks if seconds is None else itertools.islice(chunks, round(seconds / PERIOD_S))


# ---- the baseline: the interpreter and the imports alone ------------------------------------

PROBE = """
import json, sys
def hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1])
out = [hwm()]
for names in sys.argv[1:]:
    for name in names.split(','):
        __import__(name)
    out.append(hwm())
print(json.dumps(out))
"""

# In import order (a module's shared dependencies are charged to the first that loads them).
IMPORT_STEPS = [
    ("numpy", "numpy"),
    ("soundfile (cffi, libsndfile)", "soundfile"),
    ("pydantic (the package)", "pydantic"),
    (
        "pydantic's model and schema machinery (imported at the first model)",
        "pydantic.main,pydantic._internal._generate_schema",
    ),
    ("OpenSSL's libcrypto (hashlib, for `pydantic.types` and the segments' SHA-256)", "hashlib"),
    (
        "`importlib.metadata` (pydantic's plugin loader, at the first model)",
        "pydantic.plugin._loader",
    ),
    (
        "the config and manifest models (pydantic-core builds their validators and serializers)",
        "recorder.config,recorder.core.manifest",
    ),
    ("pyalsaaudio", "alsaaudio"),
    (
        "the rest of `recorder.app.cli` + `recorder.app.daemon`",
        "recorder.app.cli,recorder.app.daemon",
    ),
    # After the line: what a daemon imports only when its config or its work needs it.
    ("paho-mqtt and ssl (imported only for an `[mqtt]` section)", "recorder.adapters.mqtt"),
    ("rclone-python (imported only for `[upload]` or `[share]`)", "rclone_python.rclone"),
    ("mutagen (imported only to tag an MP3 or retag a file)", "mutagen.id3,mutagen.flac"),
    ("python-docx and lxml (imported only to write a transcript)", "docx"),
    ("python-soxr (imported only to resample)", "soxr"),
]
OPTIONAL_STEPS = 5  # the last steps above, each charged beyond what `run` imports


# what the capture helper (`python -S -m recorder.adapters.alsa_helper`) imports
HELPER_IMPORTS = "recorder.adapters.alsa_helper,recorder.adapters.alsa"


def probe(modules: list[str], root: Path = ROOT) -> list[int]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *modules],
        cwd=root,
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


DAEMON_IMPORTS = ["recorder.app.cli", "recorder.app.daemon"]  # what `session-recorder run` loads


def measure_baseline(runs: int, before: Path | None = None) -> dict:
    """VmHWM of the bare interpreter, after each import step, and after exactly what
    `session-recorder run` imports (recorder.app.cli, then recorder.app.daemon); the same of
    the revision in `before`, taking turns."""
    steps = [probe([m for _, m in IMPORT_STEPS]) for _ in range(runs)]
    daemon_imports, before_imports = [], []
    for _ in range(runs):
        daemon_imports.append(probe(DAEMON_IMPORTS)[-1])
        if before is not None:
            before_imports.append(probe(DAEMON_IMPORTS, before)[-1])
    helper_imports = [probe([HELPER_IMPORTS])[-1] for _ in range(runs)]
    chain = [median([s[i] for s in steps]) for i in range(len(IMPORT_STEPS) + 1)]
    return {
        "bare_kib": chain[0],
        "steps": [
            {"what": what, "kib": chain[i + 1] - chain[i]}
            for i, (what, _) in enumerate(IMPORT_STEPS)
        ],
        "all_steps_kib": chain[-1],
        "daemon_imports_kib": median(daemon_imports),
        "before_daemon_imports_kib": median(before_imports) if before_imports else None,
        "helper_imports_kib": median(helper_imports),
        "raw": {
            "steps": steps,
            "daemon_imports": daemon_imports,
            "before_daemon_imports": before_imports,
            "helper": helper_imports,
        },
    }


# ---- idle and recording ---------------------------------------------------------------------


@contextlib.contextmanager
def broker(workdir: Path) -> Iterator[int | None]:
    """A bare mosquitto on a free loopback port (anonymous, nothing kept), or None without one."""
    binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/bin")
    if binary is None:
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("mosquitto did not start")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def measure_lifecycle(
    workdir: Path,
    n: int,
    quick: bool,
    mqtt_port: int | None = None,
    side: Side | None = None,
) -> dict:
    """READY, idle (the pre-roll full), a session at real time, after its finalize and its
    deliverables (with an upload configured), and a second session (VmHWM is a lifetime peak;
    VmRSS in the second session shows what the first one left behind)."""
    side = side or Side()
    idle_s, rec_s = (0.5, 1.0) if quick else (15.0, 20.0)  # 15 s: the 10-s pre-roll is full
    out: dict = {}
    name = f"life-{n}" + ("-mqtt" if mqtt_port else "") + ("-inprocess" if side.inprocess else "")
    name += ("" if side.root == ROOT else "-before") + ("" if side.upload else "-minimal")
    feed = periods(source(60 if quick else 600))
    with running(workdir, name, feed, mqtt_port=mqtt_port, side=side) as r:
        out["ready"] = r.mem()
        time.sleep(idle_s)
        out["idle"] = r.mem()
        sid = r.start()
        time.sleep(rec_s)
        out["recording"] = r.mem()
        r.stop_session(sid, 60)
        out["finalized"] = r.mem()
        out["deliverables_built"] = side.upload and r.wait_deliverables(sid, 120)
        out["deliverables"] = r.mem()
        sid = r.start()
        time.sleep(rec_s)
        out["second_session"] = r.mem()
        r.stop_session(sid, 60)
    return out


# ---- a long session, fed faster than real time ----------------------------------------------


def session_audio(session_dir: Path, manifest: dict, block: int = 1 << 18) -> Iterator[bytes]:
    """The session's samples, segment after segment, as raw bytes (as captured)."""
    for seg in manifest["segments"]:
        with soundfile.SoundFile(session_dir / seg["file"]) as wav:
            while len(data := wav.read(block, dtype="int16")):
                yield data.tobytes()


def whole_periods(chunks: Iterable[bytes]) -> Iterator[bytes]:
    rest = b""
    for chunk in chunks:
        rest += chunk
        cut = len(rest) - len(rest) % PERIOD_BYTES
        for i in range(0, cut, PERIOD_BYTES):
            yield rest[i : i + PERIOD_BYTES]
        rest = rest[cut:]
    if rest:
        yield rest


@dataclass
class Check:
    """A recording compared with what was fed, capture period by capture period."""

    frames: int = 0  # session frames compared
    exact: int = 0  # periods equal to what was fed
    short_reads: int = 0  # periods that hold the start of a fed period, then silence
    mismatched: int = 0  # anything else: the recorder changed, lost or invented audio
    first_mismatch_s: float | None = None  # session time of the first mismatch
    fed_offset_s: float = 0.0  # where in the feed the session starts, against start_pos


def compare(
    recording: Iterable[bytes],
    fed: Callable[[int, int], bytes],
    start_pos: int,
    gaps: list[dict],
) -> Check:
    """Walk the session period by period beside the feed, skipping the feed over recorded gaps.

    alsa-lib's `file` plugin fills a period with one read() of the FIFO. On this kernel a reader
    sometimes gets only part of a 19200-byte write although the pipe is enlarged (the virtual
    microphone's known trap, more often the faster it is fed): that period holds the start of
    the fed one and then whatever was in the plugin's buffer, and the feed goes on in the next
    period. Such a period is a `short_read` when the next period starts in the feed within its
    fed prefix: an artefact of the harness (the recorder stored exactly what ALSA gave it).
    Anything else is a mismatch.
    """
    c = Check()
    periods = whole_periods(recording)
    head = next(periods, b"")
    nominal = start_pos * FRAME_BYTES
    offset = nominal
    if head and fed(nominal, len(head)) != head:
        # a short read before the session moved the feed against capture positions
        lo = max(0, nominal - 600 * PERIOD_BYTES)
        found = fed(lo, nominal - lo + len(head)).rfind(head)
        if found >= 0:
            offset = lo + found
    c.fed_offset_s = (offset - nominal) / FRAME_BYTES / RATE
    skips = {g["at_frame"]: g["frames"] for g in gaps}
    pending: tuple[int, int, float] | None = None  # (offset, fed prefix, session time)
    probe = 64  # bytes: short reads are whole pages (4096 bytes) here

    def mismatch(at_s: float) -> None:
        c.mismatched += 1
        if c.first_mismatch_s is None:
            c.first_mismatch_s = at_s

    for rec in itertools.chain([head] if head else [], periods):
        offset += skips.pop(c.frames, 0) * FRAME_BYTES
        if pending is not None:
            # the last period was not what was fed: was it the start of it, cut short? Then
            # this one begins (whole, or cut short too) just after that start.
            before, prefix, at_s = pending
            pending = None
            found = fed(before + 1, prefix + probe - 1).find(rec[:probe]) if prefix else -1
            if found >= 0:
                c.short_reads += 1
                offset = before + 1 + found
            else:
                mismatch(at_s)
        if rec == fed(offset, len(rec)):
            c.exact += 1
        else:
            same = np.frombuffer(rec, np.uint8) == np.frombuffer(fed(offset, len(rec)), np.uint8)
            pending = (offset, int(np.argmin(same)), c.frames / RATE)
        offset += len(rec)
        c.frames += len(rec) // FRAME_BYTES
    if pending is not None:
        mismatch(pending[2])
    return c


def file_reader(fd: int) -> Callable[[int, int], bytes]:
    """The fed stream when it was a file: pread, and silence beyond its end (the tail)."""

    def read(offset: int, n: int) -> bytes:
        data = os.pread(fd, n, offset)
        return data + bytes(n - len(data))

    return read


def bytes_reader(fed: bytes) -> Callable[[int, int], bytes]:
    """The fed stream as a Feeder recorded it, silence beyond its end."""

    def read(offset: int, n: int) -> bytes:
        data = fed[offset : offset + n]
        return data + bytes(n - len(data))

    return read


def measure_long(workdir: Path, quick: bool) -> dict:
    """One session of `minutes` of audio fed as fast as the writer keeps up (see Pacer), VmRSS
    sampled every `every` minutes of session audio; then the finalize, a sample-exact check
    against the source, and VmRSS while the outbox builds its deliverables (for at most
    `watch_s`: they stream in blocks, so a few minutes of the build show whether it grows)."""
    minutes, every, watch_s = (1.0, 0.25, 5.0) if quick else (120.0, 5.0, 180.0)
    src = source(minutes * 60)
    samples: list[dict] = []
    out: dict = {"minutes": minutes, "every_min": every, "samples": samples}
    with running(workdir, "long", periods(src)) as r:
        sid = r.start()
        t0 = time.monotonic()
        r.pacer.backlog = lambda: r.daemon.status()["buffer_s"]
        r.pacer.fast.set()
        next_mark = every
        peak_buffer = 0.0
        while True:
            s = r.daemon.status()
            peak_buffer = max(peak_buffer, s["buffer_s"])
            while s["frames"] >= next_mark * 60 * RATE:
                samples.append({"minute": next_mark, "frames": s["frames"], **r.mem()})
                next_mark += every
            if r.pacer.done.is_set() and s["buffer_s"] < 0.5:
                break
            time.sleep(0.1)
        out["feed_s"] = time.monotonic() - t0
        out["throttled_s"] = r.pacer.waited_s  # the feed waiting for the writer
        out["peak_buffer_s"] = peak_buffer
        stop = r.stop_session(sid, 600)
        out["stop_frames"] = stop["frames"]
        out["overflow_frames"] = r.daemon.status()["overflow_frames"]
        out["finalized"] = r.mem()
        m = r.manifest(sid)
        out["manifest"] = {k: m[k] for k in ("frames", "start_pos", "preroll_frames", "gaps")}
        out["segments"] = len(m["segments"])
        audio = session_audio(r.storage / "outbox" / sid, m)
        with open(src, "rb") as f:
            check = compare(audio, file_reader(f.fileno()), m["start_pos"], m["gaps"])
        out["check"] = asdict(check)
        # The deliverables of the long session: does building them grow with its length?
        t1 = time.monotonic()
        peak_rss = peak_union = 0
        mp3 = r.storage / "outbox" / sid / "session.mp3"
        while not mp3.exists() and time.monotonic() < t1 + watch_s:
            m = r.mem()
            peak_rss, peak_union = max(peak_rss, m["VmRSS"]), max(peak_union, m["union_RSS"])
            time.sleep(0.5)
        out["deliverables_built"] = mp3.exists()
        out["deliverables_watched_s"] = time.monotonic() - t1
        out["deliverables"] = m = r.mem()
        out["deliverables_peak_rss"] = max(peak_rss, m["VmRSS"])
        out["deliverables_peak_union"] = max(peak_union, m["union_RSS"])
    return out


# ---- scaling with the pre-roll and the buffer -----------------------------------------------


def measure_preroll(workdir: Path, preroll_s: float, n: int, src: Path) -> dict:
    """The pre-roll filled fast (capture only, no disk), then a session that takes it over."""
    feed = periods(src, preroll_s + 5)
    out: dict = {"preroll_s": preroll_s}
    with running(workdir, f"preroll-{preroll_s:g}-{n}", feed, {"preroll_s": preroll_s}) as r:
        r.pacer.fast.set()
        r.pacer.done.wait(120)
        time.sleep(1.0)  # the last MB in the pipe reaches the ring
        out["idle"] = r.mem()
        sid = r.start()
        s = r.daemon.wait_for(
            lambda s: s["frames"] >= preroll_s * RATE and s["buffer_s"] < 0.3, 120, 0.1
        )
        out["taken_over"] = r.mem()
        out["session_preroll_frames"] = s["frames"]
        out["overflow_frames"] = s["overflow_frames"]
        r.stop_session(sid, 60)
        out["gaps"] = r.manifest(sid)["gaps"]
    return out


def measure_buffer(workdir: Path, disk: FreezableDisk, buffer_s: float, n: int, src: Path) -> dict:
    """A session on a frozen disk, fed as fast as capture reads until the buffer is full."""
    out: dict = {"buffer_s": buffer_s}
    store = disk.mount / f"buffer-{buffer_s:g}-{n}"
    feed = periods(src)
    with running(workdir, f"buffer-{buffer_s:g}-{n}", feed, {"buffer_s": buffer_s}, store) as r:
        sid = r.start()
        r.daemon.wait_for(lambda s: s["buffer_s"] < 0.3, 30, 0.1)  # the pre-roll is on disk
        out["before"] = r.mem()
        try:
            disk.freeze()
            r.pacer.fast.set()
            s = r.daemon.wait_for(
                lambda s: s["buffer_s"] >= buffer_s - 0.2 or s["overflow_frames"] > 0, 120, 0.05
            )
            r.pacer.hold.set()
            time.sleep(0.3)
            out["full"] = r.mem()
            out["filled_s"] = r.daemon.status()["buffer_s"]
            out["overflow_at_read"] = s["overflow_frames"]
        finally:
            r.pacer.fast.clear()
            r.pacer.hold.clear()
            disk.thaw()
        r.daemon.wait_for(lambda s: s["buffer_s"] < 0.3, 300, 0.2)
        time.sleep(1.0)
        out["drained"] = r.mem()
        r.stop_session(sid, 120)
    return out


# ---- the report -----------------------------------------------------------------------------


def measure_lifecycles(opts: Options, before_root: Path | None) -> dict[str, list[dict]]:
    """The lifecycle of each daemon compared, taking turns run after run (the order rotates,
    so none always goes first): this one, with ALSA in its own process, with a minimal config,
    and the earlier revision with either config."""
    sides = {
        "lifecycle": Side(),
        "lifecycle_inprocess": Side(inprocess=True),
        "lifecycle_minimal": Side(upload=False),
    }
    if before_root is not None:
        sides["before"] = Side(before_root)
        sides["before_minimal"] = Side(before_root, upload=False)
    out: dict[str, list[dict]] = {key: [] for key in sides}
    order = list(sides)
    for n in range(opts.runs):
        turn = n % len(order)
        for key in order[turn:] + order[:turn]:
            out[key].append(measure_lifecycle(opts.workdir, n, opts.quick, side=sides[key]))
    return out


def run(opts: Options, before: str | None = BEFORE_REV) -> Section:
    quick = opts.quick
    load_start = os.getloadavg()[0]
    small = source(60 if quick else 600)
    use_bytecode(opts.workdir)
    before_root, before_why = checkout(opts.workdir, before) if before else (None, "not asked")
    baseline = measure_baseline(opts.runs, before_root)
    lifecycles = measure_lifecycles(opts, before_root)
    lifecycle, inprocess = lifecycles["lifecycle"], lifecycles["lifecycle_inprocess"]
    with broker(opts.workdir) as port:  # one run: the numbers above vary by < 0.3 MB
        with_mqtt = measure_lifecycle(opts.workdir, 0, quick, port) if port else None
    long = measure_long(opts.workdir, quick)
    preroll_values = (0.0, 5.0) if quick else (0.0, 10.0, 60.0, 300.0)
    prerolls = {
        v: [measure_preroll(opts.workdir, v, n, small) for n in range(opts.runs)]
        for v in preroll_values
    }
    buffer_values = (5.0,) if quick else (30.0, 60.0, 300.0)
    buffers: dict[float, list[dict]] = {}
    why = FreezableDisk.unavailable()
    if why is None:
        try:
            with FreezableDisk(opts.workdir, 128 if quick else 1024) as disk:
                for v in buffer_values:
                    buffers[v] = [
                        measure_buffer(opts.workdir, disk, v, n, small) for n in range(opts.runs)
                    ]
        except RuntimeError as exc:
            if not str(exc).startswith("cannot loop-mount"):  # no loop devices (a container)
                raise
            why = str(exc)
    data = {
        "baseline": baseline,
        "lifecycle": lifecycle,
        "lifecycle_inprocess": inprocess,
        "lifecycle_minimal": lifecycles["lifecycle_minimal"],
        "before": {
            "rev": before,
            "unavailable": before_why,
            "lifecycle": lifecycles.get("before", []),
            "lifecycle_minimal": lifecycles.get("before_minimal", []),
        },
        "lifecycle_mqtt": with_mqtt,
        "long": long,
        "preroll": {str(k): v for k, v in prerolls.items()},
        "buffer": {str(k): v for k, v in buffers.items()},
        "disk_unavailable": why,
        "load": [load_start, os.getloadavg()[0]],
    }
    return report(opts, data)


def _med(runs: list[dict], *path: str) -> float:
    def get(d):
        for p in path:
            d = d[p]
        return d

    return median([get(r) for r in runs])


def _f(kib: float) -> str:
    return f"{mb(kib):.1f}"


STAGES = [
    ("READY (no audio yet)", "ready"),
    ("idle, pre-roll full", "idle"),
    ("recording (first session)", "recording"),
    ("stopped and finalized (its FLAC + MP3 under way)", "finalized"),
    ("after its FLAC + MP3 were built", "deliverables"),
    ("recording (second session)", "second_session"),
]


def ring_overhead_pct(prerolls: dict[str, list[dict]]) -> float:
    """How much more the pre-roll ring holds than its raw audio, in %, at the largest pre-roll."""
    low, high = min(prerolls, key=float), max(prerolls, key=float)
    if float(high) == float(low):
        return float("nan")
    held = mb(_med(prerolls[high], "idle", "VmRSS") - _med(prerolls[low], "idle", "VmRSS"))
    return 100 * (held / (RAW_MB_PER_MIN * (float(high) - float(low)) / 60) - 1)


def before_after(data: dict) -> tuple[str | None, list[str]]:
    """This daemon beside the earlier revision's, measured taking turns in this run: a table
    (each figure before, now, their ratio and difference) and the findings."""
    before, lifecycle = data["before"], data["lifecycle"]
    minimal = data["lifecycle_minimal"]
    rev = before["rev"]
    if not before["lifecycle"]:
        return None, [f"before and after: not measured here ({before['unavailable']})"]
    b_life, b_min = before["lifecycle"], before["lifecycle_minimal"]
    base = data["baseline"]

    def row(label: str, old: float, new: float) -> list[object]:
        return [label, _f(old), _f(new), f"{new / old:.2f}×", f"{mb(new - old):+.1f}"]

    rows = [
        row(
            "what `session-recorder run` imports, alone (the daemon)",
            base["before_daemon_imports_kib"],
            base["daemon_imports_kib"],
        )
    ]
    for config, old, new in (("held upload", b_life, lifecycle), ("minimal", b_min, minimal)):
        rows += [
            row(f"{config}: the daemon's VmRSS, recording the first session",
                _med(old, "recording", "VmRSS"), _med(new, "recording", "VmRSS")),
            row(f"{config}: the capture helper's VmRSS, recording the first session",
                _med(old, "recording", "helper_VmRSS"), _med(new, "recording", "helper_VmRSS")),
            row(f"{config}: **both, each page once, peak while recording the first session**",
                _med(old, "recording", "peak_union_RSS"),
                _med(new, "recording", "peak_union_RSS")),
            row(f"{config}: both, each page once, recording the second session",
                _med(old, "second_session", "union_RSS"),
                _med(new, "second_session", "union_RSS")),
        ]  # fmt: skip
    headers = ["daemon and capture helper", f"before ({rev}), MB", "now, MB", "now / before"]
    headers.append("difference, MB")

    def first(runs: list[dict]) -> float:
        return mb(_med(runs, "recording", "peak_union_RSS"))

    target = FIRST_SESSION_TARGET_MB
    findings = [
        f"before and after ({rev} beside this tree, taking turns in this run): peak while "
        f"recording the first session, both processes, each page once: {first(lifecycle):.1f} MB "
        f"against {first(b_life):.1f} MB ({first(lifecycle) / first(b_life):.2f}×, "
        f"{first(lifecycle) - first(b_life):+.1f} MB); target ≤ {target:g} MB: "
        f"{verdict(first(lifecycle) <= target)}; with a minimal config (no [upload], [share], "
        f"[transcript] or [mqtt]) {first(minimal):.1f} MB against {first(b_min):.1f} MB "
        f"({first(minimal) / first(b_min):.2f}×); target ≤ {target:g} MB: "
        f"{verdict(first(minimal) <= target)}"
    ]
    return table(headers, rows), findings


def _baseline_table(baseline: dict) -> str:
    bare, imports = baseline["bare_kib"], baseline["daemon_imports_kib"]
    rows = [["bare interpreter (`python -c pass`)", "", _f(bare)]]
    total = bare
    for step in baseline["steps"]:
        if step is baseline["steps"][-OPTIONAL_STEPS]:  # after the line: optional
            rows.append(["what `session-recorder run` imports, alone", "", f"**{_f(imports)}**"])
        total += step["kib"]
        rows.append([f"+ {step['what']}", f"+{mb(step['kib']):.1f}", _f(total)])
    rows.append(
        [
            "what the capture helper imports, alone (`recorder.adapters.alsa_helper`, pyalsaaudio)",
            "",
            f"**{_f(baseline['helper_imports_kib'])}**",
        ]
    )
    return table(["baseline", "VmHWM MB (step)", "VmHWM MB (total)"], rows)


def _lifecycle_tables(data: dict) -> list[str]:
    """The daemon alone, then the daemon and its helper, stage by stage."""
    lifecycle, with_mqtt = data["lifecycle"], data["lifecycle_mqtt"]
    inproc = data["lifecycle_inprocess"]
    bare, imports = data["baseline"]["bare_kib"], data["baseline"]["daemon_imports_kib"]
    life_rows, both_rows = [], []
    for label, key in STAGES:
        rss = _med(lifecycle, key, "VmRSS")
        row = [label, _f(rss), _f(_med(lifecycle, key, "VmHWM")), _f(rss - bare)]
        row += [f"{mb(rss - imports):+.1f}"]
        row += [_f(with_mqtt[key]["VmRSS"]) if with_mqtt else "—"]
        life_rows.append(row)
        union, i_union = _med(lifecycle, key, "union_RSS"), _med(inproc, key, "union_RSS")
        both_rows.append(
            [
                label,
                _f(_med(lifecycle, key, "helper_VmRSS")),
                _f(_med(lifecycle, key, "helper_Pss")),
                _f(_med(lifecycle, key, "total_Pss")),
                _f(union),
                _f(_med(lifecycle, key, "peak_union_RSS")),
                _f(i_union),
                _f(_med(inproc, key, "peak_union_RSS")),
                f"{mb(union - i_union):+.1f}",
                _f(with_mqtt[key]["union_RSS"]) if with_mqtt else "—",
            ]
        )
    life_headers = ["daemon, defaults", "VmRSS MB", "VmHWM MB", "over the bare interpreter"]
    life_headers += ["over its imports", "VmRSS MB with [mqtt]"]
    both_headers = [
        "daemon and capture helper, defaults",
        "helper VmRSS MB",
        "helper PSS MB",
        "both by PSS, MB",
        "both, each page once, MB",
        "… its peak so far",
        "ALSA in the daemon's process, MB",
        "… its peak so far",
        "boundary's cost, MB",
        "both, each page once, with [mqtt]",
    ]
    return [table(life_headers, life_rows), table(both_headers, both_rows)]


def _long_part(long: dict, quick: bool) -> tuple[str, list[str]]:
    """The long session's table and its finding: growth after the first minutes, wholeness."""
    samples = long["samples"]
    ref = next((x for x in samples if x["minute"] >= _ref_minute(long, quick)), None)
    last = samples[-1] if samples else None
    shown = [x for x in samples if quick or x["minute"] in (10, 30, 60, 90, 120) or x is last]
    fin = long["finalized"]
    rows = [
        [f"{x['minute']:g} min", _f(x["VmRSS"]), _f(x["VmHWM"]), _f(x["helper_VmRSS"]),
         _f(x["union_RSS"])]
        for x in shown
    ] + [
        ["stopped and finalized", _f(fin["VmRSS"]), _f(fin["VmHWM"]), _f(fin["helper_VmRSS"]),
         _f(fin["union_RSS"])]
    ]  # fmt: skip
    watched = f"{long['deliverables_watched_s']:.0f} s"
    built = "built" if long["deliverables_built"] else f"first {watched}"
    rows.append(
        [
            f"building its FLAC + MP3 (peak, {built})",
            _f(long["deliverables_peak_rss"]),
            _f(long["deliverables"]["VmHWM"]),
            _f(long["deliverables"]["helper_VmRSS"]),
            _f(long["deliverables_peak_union"]),
        ]
    )
    growth = mb(last["VmRSS"] - ref["VmRSS"]) if ref and last else float("nan")
    h_growth = mb(last["helper_VmRSS"] - ref["helper_VmRSS"]) if ref and last else float("nan")
    check = long["check"]
    whole = (
        not long["manifest"]["gaps"]
        and long["overflow_frames"] == 0
        and long["manifest"]["frames"] == long["stop_frames"] == check["frames"]
        and check["mismatched"] == 0
    )
    finding = (
        f"growth over a {long['minutes']:g}-min session ({ref['minute'] if ref else '?'} → "
        f"{last['minute'] if last else '?'} min): {growth:+.2f} MB (the daemon; the helper "
        f"{h_growth:+.2f} MB); target ≤ {GROWTH_TARGET_MB:g} MB: "
        f"{verdict(abs(growth) + abs(h_growth) <= GROWTH_TARGET_MB)}; the session is "
        + ("whole (every frame, no gaps, sample-exact)" if whole else "**not whole**")
    )
    headers = [f"{long['minutes']:g}-min session", "VmRSS MB", "VmHWM MB", "helper VmRSS MB"]
    return table([*headers, "both, each page once, MB"], rows), [finding]


def _ref_minute(long: dict, quick: bool) -> float:
    """The sample growth is counted from: after the first minutes' one-time costs."""
    return long["every_min"] if quick else 10.0


def _preroll_table(prerolls: dict[str, list[dict]]) -> str:
    rows = []
    p0 = _med(prerolls[min(prerolls, key=float)], "idle", "VmRSS")
    for v, runs in prerolls.items():
        sec = float(v)
        idle = _med(runs, "idle", "VmRSS")
        per_min = f"{mb(idle - p0) / (sec / 60):.2f}" if sec else "—"
        lost = max(r["overflow_frames"] for r in runs) / RATE
        rows.append(
            [
                f"{sec:g}",
                _f(idle),
                per_min,
                f"{RAW_MB_PER_MIN * sec / 60:.1f}",
                _f(_med(runs, "taken_over", "VmHWM")),
                _f(_med(runs, "taken_over", "VmRSS")),
                f"{lost:.2f}",
            ]
        )
    headers = ["preroll_s", "idle VmRSS MB (ring full)", "MB per minute of pre-roll"]
    headers += ["raw audio MB", "VmHWM MB after the take-over", "VmRSS MB once written"]
    return table([*headers, "s lost at the start"], rows)


def _buffer_part(buffers: dict[str, list[dict]], imports: float) -> tuple[list[str], list[str]]:
    """The buffer table and the worst case's finding; nothing where it did not run."""
    if not buffers:
        return [], []
    rows = []
    for v, runs in buffers.items():
        full, before = _med(runs, "full", "VmRSS"), _med(runs, "before", "VmRSS")
        filled = _med(runs, "filled_s")
        per_min = mb(full - before) / (filled / 60) if filled else float("nan")
        rows.append(
            [
                f"{float(v):g}",
                f"{filled:.1f}",
                _f(before),
                _f(full),
                f"{per_min:.2f}",
                f"{RAW_MB_PER_MIN * filled / 60:.1f}",
                _f(_med(runs, "drained", "VmRSS")),
                _f(_med(runs, "full", "union_RSS")),
            ]
        )
    key = "60.0" if "60.0" in buffers else max(buffers, key=float)
    worst = buffers[key]
    worst_mb = mb(_med(worst, "full", "union_RSS"))
    which = "the default buffer" if key == "60.0" else f"buffer_s {float(key):g}"
    finding = (
        f"worst case, {which} full ({_med(worst, 'filled_s'):.0f} s of audio "
        f"waiting for a stalled disk), daemon and helper: {worst_mb:.1f} MB; target ≤ "
        f"{TARGET_MB:g} MB: {verdict(worst_mb <= TARGET_MB)} (the daemon alone "
        f"{mb(_med(worst, 'full', 'VmRSS')):.1f} MB; the buffer is raw audio, "
        f"{RAW_MB_PER_MIN:.2f} MB a minute, on top of the {mb(imports):.0f} MB of imports)"
    )
    headers = ["buffer_s", "filled, s", "VmRSS MB before", "VmRSS MB full", "MB per minute held"]
    headers += ["raw audio MB", "VmRSS MB drained", "daemon + helper full, each page once, MB"]
    return [table(headers, rows)], [finding]


def _at(runs: list[dict], stage: str, key: str) -> float:
    return mb(_med(runs, stage, key))


def _exact(data: dict) -> bool:
    """Whether the union was read page by page (frame numbers are hidden without root)."""
    runs = data["lifecycle"] + data["lifecycle_inprocess"]
    return all(r[k]["union_exact"] for r in runs for _, k in STAGES)


def _lifecycle_findings(data: dict) -> list[str]:
    """The first and second session against their targets, with [mqtt], and the boundary."""
    lifecycle, with_mqtt = data["lifecycle"], data["lifecycle_mqtt"]
    inproc = data["lifecycle_inprocess"]
    rec_peak = _at(lifecycle, "recording", "peak_union_RSS")
    second = _at(lifecycle, "second_session", "union_RSS")
    helper_rss = _at(lifecycle, "recording", "helper_VmRSS")
    how = (
        ""
        if _exact(data)
        else " (frame numbers hidden here: the daemon's RSS + the helper's private)"
    )
    findings = [
        f"peak memory while recording (first session), the daemon and its capture helper with "
        f"each page counted once{how}: {rec_peak:.1f} MB; target ≤ {FIRST_SESSION_TARGET_MB:g} "
        f"MB: {verdict(rec_peak <= FIRST_SESSION_TARGET_MB)} (the daemon alone, VmHWM as in "
        f"earlier reports, {_at(lifecycle, 'recording', 'VmHWM'):.1f} MB; the helper's RSS "
        f"{helper_rss:.1f} MB, PSS {_at(lifecycle, 'recording', 'helper_Pss'):.1f} MB; the two "
        f"by PSS {_at(lifecycle, 'recording', 'peak_total_Pss'):.1f} MB, which on this shared "
        "machine splits the libraries' pages with other processes: see the text)",
        f"while recording a second session, after the first one's deliverables: "
        f"{second:.1f} MB; target ≤ {TARGET_MB:g} MB: {verdict(second <= TARGET_MB)} "
        f"(lifetime peak, reached while building the deliverables: "
        f"{_at(lifecycle, 'second_session', 'peak_union_RSS'):.1f} MB; by PSS "
        f"{_at(lifecycle, 'second_session', 'total_Pss'):.1f} MB)",
    ]
    if with_mqtt:
        m1 = mb(with_mqtt["recording"]["peak_union_RSS"])
        m2 = mb(with_mqtt["second_session"]["union_RSS"])
        findings.append(
            f"the same with [mqtt] on (a local mosquitto): {m1:.1f} MB first session, "
            f"{m2:.1f} MB second; target ≤ {TARGET_MB:g} MB: "
            f"{verdict(m2 <= TARGET_MB)}"
        )
    if inproc:
        i_peak = _at(inproc, "recording", "peak_union_RSS")
        i_second = _at(inproc, "second_session", "union_RSS")
        added = _at(lifecycle, "recording", "union_RSS") - _at(lifecycle, "recording", "VmRSS")
        findings.append(
            f"the process boundary in memory (taking turns with the same daemon reading ALSA "
            f"in its own process): peak while recording {rec_peak:.1f} against {i_peak:.1f} MB "
            f"({rec_peak / i_peak:.2f}×, {rec_peak - i_peak:+.1f} MB), second session "
            f"{second:.1f} against {i_second:.1f} MB ({second / i_second:.2f}×); the helper "
            f"adds {added:.1f} MB of pages the daemon does not map (its RSS is "
            f"{helper_rss:.1f} MB, the rest shared with the daemon), and the daemon no longer "
            "loads pyalsaaudio and alsa-lib"
        )
    return findings


def _imports_finding(data: dict) -> str:
    baseline, lifecycle = data["baseline"], data["lifecycle"]
    bare, imports = baseline["bare_kib"], baseline["daemon_imports_kib"]
    return (
        f"the interpreter and libraries are {mb(imports):.1f} MB of the daemon (bare "
        f"interpreter {mb(bare):.1f} MB); the recorder's own data while recording "
        f"{mb(_med(lifecycle, 'recording', 'VmRSS') - imports):.1f} MB; the capture helper is "
        f"a second interpreter with pyalsaaudio ({mb(baseline['helper_imports_kib']):.1f} MB "
        "alone), most of it shared with the daemon"
    )


def _text(opts: Options, data: dict) -> str:
    long, lifecycle = data["long"], data["lifecycle"]
    return TEXT.format(
        before=data["before"]["rev"] or "(none)",
        runs=opts.runs,
        raw=RAW_MB_PER_MIN,
        minutes=long["minutes"],
        every=long["every_min"],
        ref=_ref_minute(long, opts.quick),
        feed_x=long["minutes"] * 60 / long["feed_s"],
        short=long["check"]["short_reads"],
        disk="" if not data["disk_unavailable"] else f" (not run here: {data['disk_unavailable']})",
        union_note=""
        if _exact(data)
        else "; not here: the daemon's RSS plus the helper's private pages",
        target=TARGET_MB,
        ring_over=ring_overhead_pct(data["preroll"]),
        pss_gap=mb(
            _med(lifecycle, "recording", "VmRSS")
            - _med(lifecycle, "recording", "total_Pss")
            + _med(lifecycle, "recording", "helper_Pss")
        ),
        load_start=data.get("load", [0, 0])[0],
        load_end=data.get("load", [0, 0])[1],
        cores=os.cpu_count(),
    )


def report(opts: Options, data: dict) -> Section:
    compared, compared_findings = before_after(data)
    long_table, long_findings = _long_part(data["long"], opts.quick)
    buffer_tables, buffer_findings = _buffer_part(
        data["buffer"], data["baseline"]["daemon_imports_kib"]
    )
    findings = compared_findings + _lifecycle_findings(data) + long_findings
    findings += [_imports_finding(data), *buffer_findings]
    tables = [] if compared is None else [compared]
    tables += [_baseline_table(data["baseline"]), *_lifecycle_tables(data), long_table]
    tables += [_preroll_table(data["preroll"]), *buffer_tables]
    return Section(
        key="memory",
        title="Memory: idle, recording, a long session, pre-roll and buffer (`bench/memory.py`)",
        text=_text(opts, data),
        tables=tables,
        findings=findings,
        data=data,
    )


TEXT = """
The real daemon (`session-recorder run`, defaults: 48 kHz S16_LE stereo, `preroll_s` 10,
`buffer_s` 60, 300-s segments; no MQTT, no GPIO, an upload held back by `delay_min`, so that
the deliverables are built and nothing is sent) fed by the virtual ALSA microphone
with speech-like audio, its memory read from outside in `/proc/<pid>/status`: VmRSS is the
resident size now, VmHWM the peak so far. MB are 10^6 bytes. Medians of {runs} runs, each a
fresh process.

**Two processes.** The daemon no longer calls ALSA itself: its capture helper, a child process
(`python -S -m recorder.adapters.alsa_helper`: a second interpreter with pyalsaaudio and
alsa-lib), owns the device and pipes each period to it, so an ALSA call that blocks cannot
freeze the daemon. The helper's memory counts too. Adding the two VmRSS would count twice the
pages they share (the interpreter's code, libc), so the second lifecycle table gives the
helper's VmRSS and PSS (`/proc/<pid>/smaps_rollup`), the two PSS summed, and the two with each
resident page counted once: the union of the physical pages either maps, read from
`/proc/<pid>/pagemap` (which gives frame numbers to root{union_note}). That union is the figure
to compare with earlier reports (one process's VmRSS counts each of its pages once, in full)
and with the {target:g} MB target. PSS, the usual answer to shared pages, does not serve here:
it splits each shared page among *every* process mapping it, and on this machine other Python
processes (other agents' tests) map the same numpy, libpython and libcrypto pages, so the
daemon's PSS was {pss_gap:.1f} MB below its RSS while recording (median) and moves with what
else runs; on the box nothing else maps them. The table gives it beside the union; the verdicts
use the union.
Peaks of the union (and of the PSS sum) are the largest of samples taken every 0.2 s
(the kernel keeps a peak, VmHWM, only for one process's RSS). The pipe between the two (1 MB
at most, while the daemon is slow to read) is kernel memory, in neither figure. Beside each
lifecycle run, taking turns with it, the same daemon with ALSA in its own process (given the
in-process `AlsaSource` through its `Parts` port, `bench/inprocess.py`: how it read the device
before the helper), counted the same way: the difference is what the process boundary costs.
This run: the load average (1 min) was {load_start:.2f} at the start and {load_end:.2f} at the
end of this benchmark, on {cores} cores; the report of 2026-12-03 was not made on a quiet
machine (a shared 2-core VM where other agents' test suites ran now and then).

**Before and after.** Beside this tree, the daemon of revision {before} (`--before REV`: a
`git archive` of its `recorder` package, compiled to bytecode the same way) runs the same
lifecycle, taking turns with this one run after run (the order rotates), with the same config
(the held-back upload) and with a minimal one (no `[upload]`, `[share]`, `[transcript]` or
`[mqtt]`: a box that records and nothing else); the first table gives both and their ratio. In
{before} every daemon imported python-docx and lxml (to write transcript.docx), mutagen (to tag
MP3s) and python-soxr (to resample), through the retagger and the transcript builder, whatever
its config. Now each is imported where it is used (`recorder.transcript.docx_file`,
`recorder.media.tag_files`, `recorder.media.mp3`), and the daemon no longer imports the
transcript builder at all (the titles it needs are `recorder.transcript.titles`);
`tests/app/test_memory_lazy.py` keeps it so. The baseline table charges each of them beyond the line.

**Baseline.** The bare interpreter, then the same interpreter importing the daemon's libraries
one after another (each step is charged what it adds to the peak; a shared dependency counts
where it is first loaded), then exactly what `session-recorder run` imports, in a process that
does nothing else. What the daemon holds above that line is the recorder's own: its threads,
the pre-roll ring, the buffer, libsndfile's and the level meter's working memory.

**Lifecycle.** READY, idle until the pre-roll ring is full, one session at real time, stopped
and finalized, then after the outbox worker built the session's FLAC and MP3 (it does so only
for an upload), then a second session: VmHWM is a lifetime peak, so the second session's VmRSS
shows what the first session and its deliverables left resident. The last column is one run
with `[mqtt]` on, against a local mosquitto (status, levels four times a second, HA discovery).

**A long session.** {minutes:g} minutes of audio fed as fast as the writer keeps up (the feed
pauses while more than 15 s wait in the buffer, so nothing overflows; {feed_x:.0f}× real time
here), VmRSS sampled every {every:g} minutes of session audio (status `frames`). Growth is the
last sample minus the one at {ref:g} min: the first minutes hold one-time costs (libsndfile's
and the writer's buffers, the first segment roll-over with its SHA-256 at 5 min, the allocator's
arenas reaching their working size), and the question is whether anything grows with length
after that. The session is then checked: as many frames as capture handed over, no gaps, and
every period equal to the source file from its first capture position ({short} periods were
short reads of the virtual microphone's FIFO, an artefact of the harness, see `bench/stall.py`).
Its deliverables are built after the stop, streaming; their peak is watched for a few minutes.

**Pre-roll.** For each `preroll_s` the ring is filled fast (idle capture touches only RAM) and
VmRSS read with it full; then a session takes it over and the writer drains it. MB per minute
is the increase over `preroll_s` 0 per minute of pre-roll, beside the raw audio (48000 × 4
bytes a second = {raw:.2f} MB a minute): the difference is the overhead.

**Buffer.** Its worst case is full, so it is filled for real{disk}: the session's storage is a
loop-mounted ext4 that `fsfreeze` makes block every write (a stalled card), and audio is fed as
fast as capture reads until status `buffer_s` reaches the configured size. MB per minute held is
(full − before) over the minutes held. Drained is after the thaw, once the writer caught up:
glibc keeps the freed blocks resident (reused by the next backlog, so this is a peak kept, not
growth) until the outbox worker's next pass after the session hands them back.

**Where the memory goes.** About 50 MB is the interpreter and its libraries before the recorder
holds a byte: numpy (15 MB, for level metering and deliverables), pydantic with the config and
manifest models (16 MB, including OpenSSL's libcrypto, which `pydantic.types` loads through
`secrets`/`hmac`), libsndfile, the bare interpreter (11 MB). The recorder's own data is a few
MB: the pre-roll ring and the buffer ({ring_over:+.0f}% over their raw audio size in this run,
from the largest pre-roll; the report of 2026-11-29 found about 1%), the threads, libsndfile's
and the meter's working memory. A finished session's FLAC and MP3 add
about 4 MB that stay: LAME's and FLAC's code pages, mapped once (file-backed, reclaimable), and
about 1 MB live in the outbox thread's malloc arena. The capture helper's pages beyond the
daemon's are almost all its own heap: a second interpreter's objects (4.7 MB of private pages
for a bare `python -c`, 2.6 MB of them with `-S`: the venv's `site` setup is the rest), the few
modules `recorder.adapters.alsa_helper` imports (pyalsaaudio, struct, signal, ctypes for the
parent-death signal), and alsa-lib's parsed configuration once the device is open; its code
pages (the interpreter, libc) are the daemon's. The helper runs with `-S` and only pyalsaaudio's
and the recorder's folders on its path, in a module of its own (measured apart: 7.3 MB of
private pages as `python -m recorder.adapters.alsa_process` with the venv's `site`, 4.9 MB as
it is now).

**Fixes made from these numbers** (before → after, medians of 3 here, minutes apart): the daemon
imported paho-mqtt and ssl with MQTT off; now `recorder.app.daemon` imports the MQTT link only for
an `[mqtt]` section (imports 53.3 → 50.1 MB; recording 57.4 → 54.2 MB). Building a session's
FLAC and MP3 left the encoders' freed buffers resident in glibc's heap; the outbox worker now
hands freed memory back (`malloc_trim`) after each pass (RSS after the first deliverables
63.3 → 57.0 MB; while recording the second session 63.3 → 57.2 MB, so the target holds for
every session, not just the first). And the pre-roll handed to the writer at a start used to
count against `buffer_s`: with `preroll_s` 300 and the default buffer a start lost 1.9 s of
live audio right after the pre-roll, with no stall at all (the last column of the pre-roll
table, now 0); it is now queued outside the bound (`recorder/recording/blockqueue.py`), so the whole
buffer is left for a stalled disk (see `bench/stall.py`, a stall at the start). The
benchmark now runs the daemon from compiled bytecode, as `pip install` leaves it on the box (it
used to compile the recorder's sources at each start under PYTHONDONTWRITEBYTECODE: imports
50.4 → 48.6 MB, a correction of the measurement, not of the recorder). `session-recorder run`
now limits glibc to one malloc arena before its threads start (`use_one_malloc_arena` in
`recorder/app/daemon.py`): the blocks capture allocates and the writer frees, and the encoders' memory
on the outbox thread, no longer stay resident in per-thread arenas (one run each, bytecode both
sides: recording the second session 56.9 → 53.9 MB, lifetime peak 58.7 → 55.6 MB; with [mqtt]
61.0 → 57.8 MB, now met; the full 60-s buffer unchanged, 61.8 → 61.7 MB, still missed; drained
61.8 → between 50.9 and 61.6 MB over three runs). Where the +12.1 MB "models" step went: the
models' own validators (pydantic-core) and the first model's schema code about 4 MB, pydantic's
lazily imported model machinery 2.4 MB, OpenSSL's libcrypto 3.7 MB (loaded by `hashlib`, which
the segments' SHA-256 import anyway), `importlib.metadata` for pydantic's plugin loader 1.8 MB.
`defer_build` and building sections only on demand saved under 0.1 MB once a session is
recording (the manifest and config validators are all needed then), so they were not kept.
A box now pays only for what its config uses (the before-and-after table, medians of 3 taking
turns with c0856e9 in the run of 2026-12-06): the retagger, added after the report of
2026-12-03, had every daemon import python-docx and lxml (7.8 MB beyond the daemon's own
imports, measured apart), mutagen (1.9 MB) and, through the transcript builder, python-soxr
(0.4 MB); now they are imported where they are used. What `session-recorder run` imports went
from 61.1 to 50.3 MB, and the peak while recording the first session, both processes, from
73.2 to 64.0 MB with the held-back upload and from 70.1 to 59.8 MB with a minimal config: still
over the 55 MB target. What is left is what every box uses: numpy, pydantic with its models
and libcrypto, libsndfile, the bare interpreter, the recorder's own modules (4.1 MB) and the
capture helper's own pages (6.3 MB); a box with `[upload]` or `[share]` also loads
rclone-python, which brings rich for progress bars the recorder never shows (3.2 MB, rich
2.7 MB of it, measured apart).
"""


def main() -> None:
    """`--before REV` (default BEFORE_REV; "" for none) is read here; the rest by standalone."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--before", default=BEFORE_REV, help="the revision to measure beside")
    args, rest = parser.parse_known_args()
    sys.argv[1:] = rest
    standalone(lambda opts: run(opts, args.before or None))


if __name__ == "__main__":
    main()
