"""Capture cost: the daemon's whole recording path beside `arecord`, for the same audio.

Both read the same speech-like file through the same virtual ALSA microphone (alsa-lib's file
plugin on a FIFO), as fast as they can take it, and write WAV: the recorder as the real
`session-recorder run` (its capture helper process reading ALSA and piping each period to the
capture thread, pre-roll tap, queue, writer with levels, segments whose header is brought up to
date and fsynced every 0.5 s), `arecord` into one file; and the same daemon with ALSA in its own
process (bench/inprocess.py), for what the process boundary costs. CPU comes from the kernel's
accounting, the daemon's and the helper's; each recording is checked sample by sample.

    .venv/bin/python -m bench.capture [--quick] [--runs N]
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import soundfile

from bench.common import (
    TICK,
    Daemon,
    Options,
    Section,
    Unavailable,
    Usage,
    file_chunks,
    frame_bytes,
    median,
    mic,
    source_file,
    standalone,
    table,
    timed_process,
    verdict,
    write_config,
)
from recorder.app.virtualmic import Feeder
from recorder.media.wav import SoundfileSegment, file_sha256

RATE = 48000
CHANNELS = 2
PERIOD = 4800  # frames: the daemon's default period_ms = 100
PERIODS = 4  # the ALSA buffer the daemon asks for (recorder.adapters.alsa)
CHUNK_PERIODS = 10  # each write() into the FIFO: whole periods (see virtualmic)
SYNC_PERIODS = 5  # the default [storage] sync_s = 0.5
SEGMENT_PERIODS = 3000  # the default [audio] segment_s = 300
LEAD_S = 20  # how far the feed may run ahead of the recorder's segments (its queue holds 60 s)
FORMATS = ("S16_LE", "S32_LE")
TARGET_RATIO = 3.0
FULL_S, QUICK_S, PROFILE_S = 3600, 20, 600  # seconds of audio
FULL_REALTIME_S, QUICK_REALTIME_S = 30, 4  # seconds of a session recorded at real time


class PipeFeeder(Feeder):
    """A Feeder that keeps within `lead` bytes of what the recorder has consumed (`held_back`),
    so that fed flat out its queue never overflows. (Feeder itself waits for room in the pipe
    before each write, so no write is split across a full pipe.)
    """

    def __init__(
        self,
        fifo: Path,
        chunks: Iterator[bytes],
        held_back: Callable[[], int] | None = None,
        lead: int = 0,
    ) -> None:
        super().__init__(fifo, self._gate(chunks), period_s=None)
        self.held_back = held_back
        self.lead = lead
        self.sent = 0  # bytes handed to write()
        self.opened = threading.Event()  # the reader has opened the FIFO (our open returned)

    def _open(self) -> int:
        fd = super()._open()
        self.opened.set()
        return fd

    def _gate(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            while self.held_back is not None and self.sent - self.held_back() > self.lead:
                if self.stopping.wait(0.002):
                    return
            self.sent += len(chunk)
            yield chunk

    def stop(self) -> None:
        """Also when no reader ever came: a reader of our own lets the blocked open() return."""
        self.stopping.set()
        if not self.opened.is_set() and self.is_alive():
            fd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
            try:
                self.join(5)
            finally:
                os.close(fd)
        super().stop()


# ---- checking what was written --------------------------------------------------------------


def wav_data(path: Path) -> tuple[int, int]:
    """(offset, size) of a WAV file's data chunk, as its header declares it."""
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise ValueError(f"{path}: not a RIFF/WAVE file")
        while hdr := f.read(8):
            cid, size = hdr[:4], struct.unpack("<I", hdr[4:8])[0]
            if cid == b"data":
                return f.tell(), size
            f.seek(size + (size & 1), os.SEEK_CUR)
    raise ValueError(f"{path}: no data chunk")


def digest(parts: list[tuple[Path, int, int]]) -> str:
    """sha256 over byte ranges (path, offset, size) taken in order."""
    h = hashlib.sha256()
    for path, offset, size in parts:
        with open(path, "rb") as f:
            f.seek(offset)
            left = size
            while left > 0 and (chunk := f.read(min(left, 1 << 22))):
                h.update(chunk)
                left -= len(chunk)
    return h.hexdigest()


class SegmentWatch:
    """Audio bytes the recorder's writer has handed to the kernel so far, from the sizes of its
    segment files (read from outside: costs the daemon nothing)."""

    def __init__(self, sessions: Path) -> None:
        self.sessions = sessions
        self._offsets: dict[Path, int] = {}  # where each segment's audio starts

    def audio_bytes(self) -> int:
        total = 0
        for seg in self.sessions.glob("recording/*/seg-*.wav"):
            try:
                if seg not in self._offsets:
                    self._offsets[seg] = wav_data(seg)[0]
                total += seg.stat().st_size - self._offsets[seg]
            except (OSError, ValueError):  # moved to the outbox, or the header not yet whole
                pass
        return total


# ---- the daemon's threads, from outside -----------------------------------------------------


def py_spy() -> str | None:
    found = shutil.which("py-spy") or Path(sys.executable).with_name("py-spy")
    return str(found) if found and Path(found).exists() else None


def thread_names(pid: int) -> dict[int, str]:
    """Thread id -> Python thread name, from `py-spy dump` when installed (Python 3.11 does not
    name its OS threads); {} otherwise."""
    tool = py_spy()
    if tool is None:
        return {}
    try:
        out = subprocess.run(
            [tool, "dump", "--pid", str(pid)],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {int(m[1]): m[2] for m in re.finditer(r'^Thread (\d+) \(\w+\): "([^"]*)"', out, re.M)}


def thread_cpu(pid: int) -> dict[int, tuple[float, float]]:
    """Thread id -> (user, system) seconds."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        out[int(task.name)] = (int(fields[11]) / TICK, int(fields[12]) / TICK)
    return out


# ---- one run of each side -------------------------------------------------------------------


class Source:
    """The raw source file of one format and what every recording of it must equal."""

    def __init__(self, fmt: str, seconds: float) -> None:
        self.fmt = fmt
        self.path = source_file(fmt, seconds, RATE, CHANNELS)
        self.frame_bytes = frame_bytes(fmt, CHANNELS)
        self.bytes = self.path.stat().st_size
        self.frames = self.bytes // self.frame_bytes
        self.seconds = self.frames / RATE
        self.sha256 = digest([(self.path, 0, self.bytes)])

    def chunks(self) -> Iterator[bytes]:
        return file_chunks(self.path, CHUNK_PERIODS * PERIOD * self.frame_bytes)


def prelude_then(src: Source, go: threading.Event, count: list[int]) -> Iterator[bytes]:
    """Silence at real time, period by period, until `go`; then the source as fast as it is
    taken. The daemon refuses a start while the device delivers nothing (it is stalled after a
    second without sound), so the microphone must be live before the session; the silence lands
    in the pre-roll and the session, and `count[0]` says how many bytes of it were fed."""
    silence = bytes(PERIOD * src.frame_bytes)
    while not go.is_set():
        count[0] += len(silence)
        yield silence
        time.sleep(PERIOD / RATE)
    yield from src.chunks()


def run_recorder(
    src: Source, where: Path, profile_to: Path | None = None, inprocess: bool = False
) -> dict:
    """The real daemon: READY, start a session, feed the file, wait until the writer has it.
    `inprocess`: ALSA in the daemon's own process (bench/inprocess.py) instead of the helper."""
    where.mkdir(parents=True)
    vmic = mic(where)
    config = write_config(where, vmic.name, audio={"format": src.fmt})
    feed = SessionFeed(src, vmic.infile, SegmentWatch(where / "sessions"))
    feed.feeder.start()
    daemon = Daemon(config, vmic, inprocess=inprocess)
    deadline = time.monotonic() + 120 + src.seconds  # slower than real time is a failure
    try:
        ready_s = daemon.wait_ready()
        ready_cpu = daemon.cpu_s()
        helper = wait_for_device(daemon, inprocess)
        names = thread_labels(daemon.proc.pid)
        measured = record_feed(daemon, feed, helper, profile_to, deadline)
    finally:
        feed.stop()  # the reader now sees end of file (silence, fast) until it stops
        # The outbox now builds the session's FLAC and MP3 (paused while recording, so never
        # inside the measurement); not capture's cost, and minutes for an hour: not waited for.
        usage = daemon.stop(timeout=3)
    cpu = measured.cpu()
    per_thread = thread_shares(measured, names, inprocess)
    check = recorder_check(measured, src, feed.prelude[0])
    shutil.rmtree(where, ignore_errors=True)
    return {
        "cpu_s": cpu["total"],
        "daemon_cpu_s": cpu["daemon"],
        "helper_cpu_s": cpu["helper"],
        "reaped_children_cpu_s": cpu["reaped_children"],
        "user_s": cpu["user"],
        "system_s": cpu["system"],
        "wall_s": measured.wall_s,
        "ready_s": ready_s,
        "ready_cpu_s": ready_cpu,
        "process_cpu_s": usage.cpu_s,
        "threads_cpu_s": per_thread,
        "memory_kib": measured.memory_kib,
        "check": check,
    }


class SessionFeed:
    """What the recorder's microphone hears: silence at real time until `go`, then the source
    as fast as it is taken, never more than LEAD_S ahead of what the segments hold."""

    def __init__(self, src: Source, infile: Path, watch: SegmentWatch) -> None:
        self.src = src
        self.watch = watch
        self.go = threading.Event()
        self.prelude = [0]  # bytes of silence fed before `go`
        lead = LEAD_S * RATE * src.frame_bytes
        self.feeder = PipeFeeder(
            infile, prelude_then(src, self.go, self.prelude), watch.audio_bytes, lead
        )

    def written(self) -> bool:
        """The segments hold every byte fed: the silence and the whole source."""
        return self.watch.audio_bytes() >= self.prelude[0] + self.src.bytes

    def stop(self) -> None:
        self.go.set()
        self.feeder.stop()


@dataclass
class Measured:
    """The daemon while it recorded the source: its CPU per process and per thread before and
    after, the wall-clock time, its memory at the end, its status and the finished session."""

    before: dict[str, float]
    threads_before: dict[int, tuple[float, float]]
    after: dict[str, float]
    threads_after: dict[int, tuple[float, float]]
    wall_s: float
    memory_kib: dict
    status: dict  # once every byte is written: the frames held, nothing left queued
    session: dict  # last_session once stopped

    def cpu(self) -> dict[str, float]:
        return {k: self.after[k] - self.before[k] for k in self.after}


def wait_for_device(daemon: Daemon, inprocess: bool) -> int | None:
    """The capture helper's pid once the daemon has its device open (None in-process)."""
    daemon.wait_for(lambda s: s["device"] == "ok", 30, every=0.02)
    helper = daemon.helper_pid()
    if not inprocess and helper is None:
        raise RuntimeError("the device is open but no capture helper process was found")
    return helper


def thread_labels(pid: int) -> dict[int, str]:
    """Thread id -> name: py-spy's names, else numbered in creation order (the same in every
    run)."""
    return thread_names(pid) or {
        tid: f"thread {k}" for k, tid in enumerate(sorted(thread_cpu(pid)))
    }


def record_feed(
    daemon: Daemon, feed: SessionFeed, helper: int | None, profile_to: Path | None, deadline: float
) -> Measured:
    """A session of the whole feed, measured from its start until the segments hold it all
    (profiled by py-spy into `profile_to`, if given), then stopped."""
    pid = daemon.proc.pid
    spy = start_profile(pid, profile_to) if profile_to is not None else None
    try:
        before, threads_before = daemon.cpu(), thread_cpu(pid)
        reply = daemon.request({"cmd": "start"})
        if not reply.get("ok"):
            raise RuntimeError(f"the daemon did not start a session: {reply}")
        start = time.monotonic()
        feed.go.set()
        wait_until_written(daemon, feed, deadline)
        wall = time.monotonic() - start
        after, threads_after = daemon.cpu(), thread_cpu(pid)
        memory = daemon.memory_kib()  # the queue holds at most LEAD_S s: not the box's peak
        if daemon.helper_pid() != helper:
            raise RuntimeError("the capture helper was restarted during the measurement")
        status = daemon.status()
        if spy is not None:
            spy.send_signal(2)  # SIGINT: py-spy writes what it has
            spy.wait(60)
        daemon.request({"cmd": "stop"})
        last = daemon.wait_for(
            lambda s: (s.get("last_session") or {}).get("id") == reply["session_id"], 120, 0.05
        )["last_session"]
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
    return Measured(before, threads_before, after, threads_after, wall, memory, status, last)


def wait_until_written(daemon: Daemon, feed: SessionFeed, deadline: float) -> None:
    """Until the segments hold every byte: watched from outside, with a status request (which
    costs the daemon CPU) only once a second, for an early sign of lost audio."""
    status = daemon.status()
    polled = time.monotonic()
    while not feed.written() and not status["overflow_frames"]:
        if feed.feeder.error or not daemon.alive():
            raise RuntimeError(f"feeding stopped early: {feed.feeder.error or 'daemon exited'}")
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the recorder wrote {feed.watch.audio_bytes()} of {feed.src.bytes} bytes"
            )
        if time.monotonic() - polled > 1:
            status, polled = daemon.status(), time.monotonic()
        time.sleep(0.005)


def thread_shares(measured: Measured, names: dict[int, str], inprocess: bool) -> dict[str, float]:
    """CPU seconds per thread over the measurement; what no living thread accounts for in one
    row, and the capture helper's process in another."""
    cpu = measured.cpu()
    per_thread = {}
    for tid, (u, s) in measured.threads_after.items():
        u0, s0 = measured.threads_before.get(tid, (0.0, 0.0))
        if u - u0 + s - s0 > 0:
            per_thread[names.get(tid, OTHER_THREADS)] = round(u - u0 + s - s0, 3)
    per_thread[OTHER_THREADS] = round(max(0.0, cpu["daemon"] - sum(per_thread.values())), 3)
    if not inprocess:
        per_thread[HELPER_ROW] = round(cpu["helper"] + cpu["reaped_children"], 3)
    return per_thread


def recorder_check(measured: Measured, src: Source, lead_bytes: int) -> dict:
    """The session checked against the source (check_session), and the daemon's status agreeing:
    every frame held, nothing queued, nothing lost."""
    status = measured.status
    lead_frames = lead_bytes // src.frame_bytes
    check = check_session(Path(measured.session["path"]), src, lead_bytes)
    check.update(
        status_frames=status["frames"],
        status_buffer_s=status["buffer_s"],
        overflow_frames=status["overflow_frames"],
        overruns=status.get("overruns", 0),
    )
    check["ok"] = (
        check["ok"]
        and status["frames"] == lead_frames + src.frames
        and status["buffer_s"] == 0
        and status["overflow_frames"] == 0
        and not check["overruns"]
    )
    return check


OTHER_THREADS = "control requests, rounding (exited threads)"
HELPER_ROW = "capture helper process (ALSA reads, the pipe to the daemon)"


def check_session(path: Path, src: Source, lead_bytes: int = 0) -> dict:
    """The session is `lead_bytes` of fed silence (the live microphone before the start, in
    the pre-roll) and then the source, sample for sample."""
    manifest = json.loads((path / "manifest.json").read_text())
    parts = []
    for seg in manifest["segments"]:
        offset, size = wav_data(path / seg["file"])
        parts.append((path / seg["file"], offset, size))
    silent, skip = True, lead_bytes
    while skip and parts:
        seg, offset, size = parts[0]
        take = min(skip, size)
        with open(seg, "rb") as f:
            f.seek(offset)
            silent = silent and not any(f.read(take))
        parts[0] = (seg, offset + take, size - take)
        if take == size:
            parts.pop(0)
        skip -= take
    got = digest(parts)
    frames = manifest["frames"]
    lead_frames = lead_bytes // src.frame_bytes
    ok = (
        frames == lead_frames + src.frames
        and sum(s["frames"] for s in manifest["segments"]) == frames
        and not manifest["gaps"]
        and manifest["overruns"] == 0
        and silent
        and got == src.sha256
    )
    return {
        "ok": ok,
        "frames": frames,
        "lead_frames": lead_frames,
        "lead_silent": silent,
        "segments": len(manifest["segments"]),
        "gaps": len(manifest["gaps"]),
        "preroll_frames": manifest["preroll_frames"],
        "identical": got == src.sha256,
    }


def arecord_command(device: str, fmt: str, frames: int, out: Path) -> list[str]:
    """`arecord` with the daemon's period and ALSA buffer, `frames` frames into one WAV."""
    return [
        "arecord", "-q", "-D", device, "-t", "wav", "-f", fmt, "-r", str(RATE),
        "-c", str(CHANNELS), f"--period-size={PERIOD}", f"--buffer-size={PERIOD * PERIODS}",
        "-s", str(frames), str(out),
    ]  # fmt: skip


def run_arecord(src: Source, where: Path) -> dict:
    """`arecord` from the same kind of microphone, same period and buffer, into one WAV."""
    where.mkdir(parents=True)
    vmic = mic(where)
    out = where / "arecord.wav"
    command = arecord_command(vmic.name, src.fmt, src.frames, out)
    feeder = PipeFeeder(vmic.infile, src.chunks())
    feeder.paused.set()
    feeder.start()
    result: dict[str, Usage | BaseException] = {}

    def record() -> None:
        try:
            result["usage"] = timed_process(command, env=vmic.env())
        except BaseException as exc:  # reported below, in this thread
            result["error"] = exc

    runner = threading.Thread(target=record, name="arecord")
    try:
        runner.start()
        while not feeder.opened.wait(0.05) and runner.is_alive():
            pass
        feeder.paused.clear()  # arecord has the device open
        runner.join(120 + src.seconds)
    finally:
        feeder.stop()
    if "error" in result or "usage" not in result:
        raise RuntimeError(f"arecord failed: {result.get('error', 'no result in time')}")
    usage = result["usage"]
    assert isinstance(usage, Usage)
    offset, size = wav_data(out)
    identical = digest([(out, offset, size)]) == src.sha256
    frames = soundfile.info(str(out)).frames
    shutil.rmtree(where, ignore_errors=True)
    return {
        "cpu_s": usage.cpu_s,
        "wall_s": usage.wall_s,
        "check": {
            "ok": identical and frames == src.frames,
            "frames": frames,
            "identical": identical,
        },
    }


def run_storage(src: Source, where: Path) -> dict:
    """The recorder's WAV adapter alone, on the writer's schedule: one write per period, the
    header updated and fsynced every 0.5 s, a new segment every 300 s (the closed one fsynced
    and hashed for the manifest). No threads, no metering: the floor that crash safety sets."""
    where.mkdir(parents=True)
    sink: SoundfileSegment | None = None
    start, cpu = time.monotonic(), time.thread_time()
    for i, period in enumerate(file_chunks(src.path, PERIOD * src.frame_bytes)):
        if i % SEGMENT_PERIODS == 0:
            if sink is not None:
                sink.close()
                file_sha256(sink.path)
            name = f"seg-{i // SEGMENT_PERIODS:04d}.wav"
            sink = SoundfileSegment(where / name, RATE, CHANNELS, src.fmt)
        sink.write(period)
        if i % SYNC_PERIODS == SYNC_PERIODS - 1:
            sink.sync()
    cpu, wall = time.thread_time() - cpu, time.monotonic() - start
    if sink is not None:
        sink.close()  # as the recorder's last segment: closed at stop, outside the measurement
    shutil.rmtree(where, ignore_errors=True)
    return {"cpu_s": cpu, "wall_s": wall}


def realtime_recorder(src: Source, seconds: float, where: Path, inprocess: bool = False) -> dict:
    """The daemon recording at real time (the feed paced to the clock, as a microphone is):
    its CPU and its capture helper's over `seconds` of a session, as a share of one core."""
    where.mkdir(parents=True)
    vmic = mic(where)
    config = write_config(where, vmic.name, audio={"format": src.fmt})
    feeder = Feeder(vmic.infile, file_chunks(src.path, PERIOD * src.frame_bytes), PERIOD / RATE)
    feeder.start()
    daemon = Daemon(config, vmic, inprocess=inprocess)
    try:
        daemon.wait_ready()
        daemon.wait_for(lambda s: s["device"] == "ok", 30, every=0.05)
        if not daemon.request({"cmd": "start"}).get("ok"):
            raise RuntimeError("the daemon did not start a session")
        time.sleep(1.0)  # past the session's first segment and manifest
        cpu0, t0 = daemon.cpu(), time.monotonic()
        time.sleep(seconds)
        cpu1, t1 = daemon.cpu(), time.monotonic()
        status = daemon.status()
        daemon.request({"cmd": "stop"})
    finally:
        feeder.stop()
        daemon.stop(timeout=3)
    shutil.rmtree(where, ignore_errors=True)
    pct = {k: 100 * (cpu1[k] - cpu0[k]) / (t1 - t0) for k in ("total", "daemon", "helper")}
    return {
        "core_pct": pct["total"],
        "daemon_core_pct": pct["daemon"],
        "helper_core_pct": pct["helper"],
        "overflow": status["overflow_frames"],
    }


def realtime_arecord(src: Source, seconds: float, where: Path) -> dict:
    """`arecord` from the same microphone at real time, for the same length."""
    where.mkdir(parents=True)
    vmic = mic(where)
    command = arecord_command(vmic.name, src.fmt, round(seconds * RATE), where / "arecord.wav")
    feeder = Feeder(vmic.infile, file_chunks(src.path, PERIOD * src.frame_bytes), PERIOD / RATE)
    feeder.start()
    try:
        usage = timed_process(command, env=vmic.env())
    finally:
        feeder.stop()
    shutil.rmtree(where, ignore_errors=True)
    return {"core_pct": 100 * usage.cpu_s / usage.wall_s}


# ---- a profile of the daemon ----------------------------------------------------------------


def start_profile(pid: int, out: Path) -> subprocess.Popen | None:
    """py-spy sampling the thread that holds the GIL (Python and the C code it calls; time in
    write/fsync/ALSA reads, which release the GIL, shows in the per-thread CPU instead)."""
    tool = py_spy()
    if tool is None:
        return None
    proc = subprocess.Popen(
        [tool, "record", "--gil", "--nonblocking", "--rate", "250", "--format", "raw",
         "--output", str(out), "--pid", str(pid)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1.0)  # attaching takes a moment; an early exit means no permission to trace
    return proc if proc.poll() is None else None


def frame_name(frame: str) -> str:
    """`Class.method (path:line)` as `Class.method (recorder/x.py)` or `(library.py)`."""
    m = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if m is None:
        return frame
    name, path = m[1], m[2]
    where = path[path.rindex("recorder/") :] if "recorder/" in path else Path(path).name
    return f"{name} ({where})"


def profile_top(raw: Path, count: int = 10) -> list[tuple[str, float, float]]:
    """(function, self %, inclusive %) of the most sampled functions in py-spy's raw output."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = [frame_name(f) for f in stack.split(";")[1:]]  # the first names the thread
        if not frames or not n.isdigit():
            continue
        total += int(n)
        own[frames[-1]] += int(n)
        for f in set(frames):
            inclusive[f] += int(n)
    if not total:
        return []
    top = own.most_common(count)
    return [(f, 100 * own[f] / total, 100 * inclusive[f] / total) for f, _ in top]


# ---- the section ----------------------------------------------------------------------------


def run(opts: Options) -> Section:
    if shutil.which("arecord") is None:
        raise Unavailable("arecord is missing (Debian package alsa-utils): no baseline")
    seconds = QUICK_S if opts.quick else FULL_S
    sources = {fmt: Source(fmt, seconds) for fmt in FORMATS}
    raw = opts.workdir / "profile.txt"
    # quick mode profiles its one S16_LE run (its numbers mean nothing anyway); full mode a
    # separate run, so that sampling cannot colour the medians
    profiled = py_spy() is not None and opts.quick
    runs = format_runs(opts, sources, raw if profiled else None)
    realtime_s = QUICK_REALTIME_S if opts.quick else FULL_REALTIME_S
    realtime = realtime_runs(opts, realtime_s)
    profile, profile_note = daemon_profile(opts, sources, raw)
    section_ = section(opts, seconds, sources, runs, profile, profile_note)
    add_realtime(section_, realtime_s, realtime)
    return section_


def format_runs(
    opts: Options, sources: dict[str, Source], profile_to: Path | None
) -> dict[str, dict[str, list[dict]]]:
    """Every side on every format, `opts.runs` times, each side going first in turn; the
    recorder's first S16_LE run profiled into `profile_to`, if given."""
    sides = list(SIDES)
    runs: dict[str, dict[str, list[dict]]] = {f: {s: [] for s in sides} for f in FORMATS}
    for i in range(opts.runs):
        for fmt in FORMATS:
            k = i % len(sides)
            for side in sides[k:] + sides[:k]:  # each goes first in turn
                where = opts.workdir / f"{side}-{fmt}-{i}"
                spy = profile_to if fmt == "S16_LE" and i == 0 else None
                runs[fmt][side].append(run_side(side, sources[fmt], where, spy))
    return runs


def run_side(side: str, src: Source, where: Path, profile_to: Path | None) -> dict:
    """One flat-out run of one side (SIDES) on `src`."""
    match side:
        case "arecord":
            return run_arecord(src, where)
        case "storage":
            return run_storage(src, where)
        case "inprocess":
            return run_recorder(src, where, inprocess=True)
        case _:
            return run_recorder(src, where, profile_to)


def realtime_runs(opts: Options, realtime_s: float) -> dict[str, list[dict]]:
    """The daemon, in-process and with its helper, and arecord at real time, taking turns."""
    live = Source("S16_LE", realtime_s + 15)
    live_sides = ["recorder", "inprocess", "arecord"]
    realtime: dict[str, list[dict]] = {side: [] for side in live_sides}
    for i in range(opts.runs):
        k = i % len(live_sides)
        for side in live_sides[k:] + live_sides[:k]:
            where = opts.workdir / f"realtime-{side}-{i}"
            if side == "arecord":
                realtime[side].append(realtime_arecord(live, realtime_s, where))
            else:
                realtime[side].append(
                    realtime_recorder(live, realtime_s, where, inprocess=side == "inprocess")
                )
    return realtime


def daemon_profile(
    opts: Options, sources: dict[str, Source], raw: Path
) -> tuple[list[tuple[str, float, float]], str]:
    """The daemon's most sampled functions (py-spy's raw output in `raw`; full mode records it
    now, in a run of its own), and a note on how they were sampled, or why there are none."""
    if py_spy() is None:
        return [], "py-spy is not installed (`.venv/bin/pip install py-spy`): no profile"
    prof_src = sources["S16_LE"] if opts.quick else Source("S16_LE", PROFILE_S)
    if not opts.quick:
        run_recorder(prof_src, opts.workdir / "profile", profile_to=raw)
    if not raw.exists():
        return [], "py-spy could not attach here (ptrace not permitted?): no profile"
    profile_note = (
        f"py-spy on {prof_src.seconds:.0f} s of S16_LE"
        + (", an extra run not in the medians" if not opts.quick else "")
        + ", sampling whichever of the daemon's threads holds the GIL (the capture "
        "helper, a process of its own, is not sampled); % of those samples"
    )
    return profile_top(raw), profile_note


SIDES = ("recorder", "inprocess", "arecord", "storage")
LOAD_START = os.getloadavg()[0]  # when this module was loaded: the benchmark's start


def add_realtime(section_: Section, realtime_s: float, realtime: dict[str, list[dict]]) -> None:
    """The real-time comparison: a table and a finding after the per-format ones."""

    def med(side: str, key: str = "core_pct") -> float:
        return median([r[key] for r in realtime[side]])

    r_pct, i_pct, a_pct = med("recorder"), med("inprocess"), med("arecord")
    r_d, r_h = med("recorder", "daemon_core_pct"), med("recorder", "helper_core_pct")
    section_.tables.insert(
        len(FORMATS),
        table(
            [
                f"S16_LE at real time, {realtime_s:.0f} s of a session",
                "session-recorder",
                "ALSA in the daemon's process",
                "arecord",
            ],
            [
                ["CPU, % of one core", f"{r_pct:.2f}", f"{i_pct:.2f}", f"{a_pct:.3f}"],
                ["… the daemon / the capture helper", f"{r_d:.2f} / {r_h:.2f}", "", ""],
                ["… ÷ in-process", f"{r_pct / i_pct:.2f}×" if i_pct else "—", "1×", ""],
            ],
        ),
    )
    section_.findings.insert(
        len(FORMATS) + 1,
        f"At real time (as a microphone delivers) the recorder uses {r_pct:.2f}% of one core "
        f"while recording S16_LE stereo (the daemon {r_d:.2f}%, the capture helper "
        f"{r_h:.2f}%), {i_pct:.2f}% with ALSA in the daemon's own process "
        f"({r_pct / i_pct if i_pct else float('inf'):.2f}×); arecord {a_pct:.3f}%",
    )
    section_.data["realtime"] = {"seconds": realtime_s, **realtime}


def per_hour(cpu_s: float, src: Source) -> float:
    return cpu_s * 3600 / src.seconds


def mb(kib: float) -> float:
    return kib * 1024 / 1e6


def section(
    opts: Options,
    seconds: float,
    sources: dict[str, Source],
    runs: dict[str, dict[str, list[dict]]],
    profile: list[tuple[str, float, float]],
    profile_note: str,
) -> Section:
    tables, findings, boundary = [], [], []
    data: dict = {"seconds": seconds, "runs": opts.runs, "formats": {}}
    all_ok = True
    thread_rows: list[list[object]] = []
    for fmt in FORMATS:
        src, rec, base = sources[fmt], runs[fmt]["recorder"], runs[fmt]["arecord"]
        store, inproc = runs[fmt]["storage"], runs[fmt]["inprocess"]

        def hour(side: list[dict], key: str, src: Source = src) -> float:
            return median([per_hour(r[key], src) for r in side])

        def speed(side: list[dict], src: Source = src) -> float:
            return median([src.seconds / r["wall_s"] for r in side])

        def memory(side: list[dict], key: str) -> float:
            return mb(median([r["memory_kib"][key] for r in side]))

        r_cpu, i_cpu = hour(rec, "cpu_s"), hour(inproc, "cpu_s")
        a_cpu, s_cpu = hour(base, "cpu_s"), hour(store, "cpu_s")
        r_daemon, r_helper = hour(rec, "daemon_cpu_s"), hour(rec, "helper_cpu_s")
        r_speed, i_speed, a_speed, s_speed = (speed(x) for x in (rec, inproc, base, store))
        ratio = r_cpu / a_cpu if a_cpu else float("inf")
        i_ratio = i_cpu / a_cpu if a_cpu else float("inf")
        s_ratio = s_cpu / a_cpu if a_cpu else float("inf")
        b_ratio = r_cpu / i_cpu if i_cpu else float("inf")
        r_mem, i_mem = memory(rec, "union_RSS"), memory(inproc, "union_RSS")
        tables.append(
            table(
                [
                    f"{fmt}, 48 kHz stereo, {src.seconds:.0f} s of audio",
                    "session-recorder",
                    "ALSA in the daemon's process",
                    "arecord",
                    "WAV adapter alone",
                ],
                [
                    ["capture CPU, s per audio hour", r_cpu, i_cpu, a_cpu, s_cpu],
                    [
                        "… the daemon / the capture helper",
                        f"{r_daemon:.3g} / {r_helper:.3g}",
                        "",
                        "",
                        "",
                    ],
                    ["… ÷ arecord's", f"{ratio:.1f}×", f"{i_ratio:.1f}×", "1×", f"{s_ratio:.1f}×"],
                    ["… ÷ in-process", f"{b_ratio:.2f}×", "1×", "", ""],
                    [
                        "… user / system",
                        f"{hour(rec, 'user_s'):.3g} / {hour(rec, 'system_s'):.3g}",
                        f"{hour(inproc, 'user_s'):.3g} / {hour(inproc, 'system_s'):.3g}",
                        "",
                        "",
                    ],
                    [
                        "wall-clock throughput, × real time",
                        *(f"{x:.0f}" for x in (r_speed, i_speed, a_speed, s_speed)),
                    ],
                    [
                        "resident at the end, MB (daemon + helper, each page once)",
                        f"{r_mem:.1f}",
                        f"{i_mem:.1f}",
                        "",
                        "",
                    ],
                    [
                        "… the daemon's VmHWM / the helper's VmRSS, MB",
                        f"{memory(rec, 'VmHWM'):.1f} / {memory(rec, 'helper_VmRSS'):.1f}",
                        f"{memory(inproc, 'VmHWM'):.1f}",
                        "",
                        "",
                    ],
                    [
                        "start-up (not above): process start to READY, s",
                        median([r["ready_s"] for r in rec]),
                        median([r["ready_s"] for r in inproc]),
                        "",
                        "",
                    ],
                    [
                        "start-up CPU at READY, s",
                        median([r["ready_cpu_s"] for r in rec]),
                        median([r["ready_cpu_s"] for r in inproc]),
                        "",
                        "",
                    ],
                ],
            )
        )
        threads: dict[str, list[float]] = collections.defaultdict(list)
        for r in rec:
            for name, cpu in r["threads_cpu_s"].items():
                threads[name].append(per_hour(cpu, src))
        in_threads: dict[str, list[float]] = collections.defaultdict(list)
        for r in inproc:
            for name, cpu in r["threads_cpu_s"].items():
                in_threads[name].append(per_hour(cpu, src))
        top = sorted(threads.items(), key=lambda kv: -median(kv[1]))
        share = ", ".join(f"{n} {100 * median(v) / r_cpu:.0f}%" for n, v in top[:3] if r_cpu)
        findings.append(
            f"Capture CPU, {fmt}: {ratio:.1f}× arecord's ({r_cpu:.3g} vs {a_cpu:.3g} s per "
            f"audio hour, the daemon and its capture helper together; {r_speed:.0f}× vs "
            f"{a_speed:.0f}× real time); target ≤ {TARGET_RATIO:.0f}×: "
            f"{verdict(ratio <= TARGET_RATIO)}. Largest shares: {share}; the WAV adapter alone "
            f"(write, header + fsync every 0.5 s) costs {s_ratio:.1f}×"
        )
        boundary.append(
            f"{fmt} {b_ratio:.2f}× ({r_cpu:.3g} = daemon {r_daemon:.3g} + helper "
            f"{r_helper:.3g}, against {i_cpu:.3g} s per audio hour; throughput {r_speed:.0f}× "
            f"against {i_speed:.0f}× real time; resident at the end {r_mem:.1f} against "
            f"{i_mem:.1f} MB, {r_mem / i_mem:.2f}×)"
        )
        ok = all(r["check"]["ok"] for r in rec + inproc + base)
        all_ok = all_ok and ok
        data["formats"][fmt] = {
            "source_frames": src.frames,
            "recorder_cpu_s_per_audio_hour": r_cpu,
            "recorder_daemon_cpu_s_per_audio_hour": r_daemon,
            "recorder_helper_cpu_s_per_audio_hour": r_helper,
            "inprocess_cpu_s_per_audio_hour": i_cpu,
            "helper_over_inprocess": b_ratio,
            "arecord_cpu_s_per_audio_hour": a_cpu,
            "ratio": ratio,
            "inprocess_ratio": i_ratio,
            "recorder_x_realtime": r_speed,
            "inprocess_x_realtime": i_speed,
            "arecord_x_realtime": a_speed,
            "storage_cpu_s_per_audio_hour": s_cpu,
            "storage_x_realtime": s_speed,
            "recorder_end_union_rss_mb": r_mem,
            "inprocess_end_union_rss_mb": i_mem,
            "threads_cpu_s_per_audio_hour": {n: median(v) for n, v in top},
            "inprocess_threads_cpu_s_per_audio_hour": {n: median(v) for n, v in in_threads.items()},
            "recorder_runs": rec,
            "inprocess_runs": inproc,
            "arecord_runs": base,
            "storage_runs": store,
        }
        if fmt == FORMATS[0]:
            names = [n for n, _ in top] + sorted(set(in_threads) - set(threads))
            for n in names:
                mine = median(threads[n]) if n in threads else None
                theirs = median(in_threads[n]) if n in in_threads else None
                thread_rows.append(
                    [
                        n,
                        "—" if mine is None else mine,
                        "" if mine is None else f"{100 * mine / r_cpu:.0f}%",
                        "—" if theirs is None else theirs,
                        "" if theirs is None else f"{100 * theirs / i_cpu:.0f}%",
                    ]
                )
    tables.append(
        table(
            [
                "recorder thread (S16_LE)",
                "CPU s per audio hour",
                "share",
                "with ALSA in the daemon's process",
                "share",
            ],
            thread_rows,
        )
    )
    if profile:
        tables.append(
            table(
                ["function (py-spy, S16_LE)", "self %", "inclusive %"],
                [[f"`{f}`", own, incl] for f, own, incl in profile],
            )
        )
    data["profile"] = [{"function": f, "self_pct": o, "inclusive_pct": i} for f, o, i in profile]
    findings.append(
        "The process boundary (the capture helper against ALSA in the daemon's own process, "
        "same microphone, interleaved): capture CPU " + "; ".join(boundary)
    )
    sides = ("recorder", "inprocess", "arecord")
    checked = sum(len(runs[f][side]) for f in FORMATS for side in sides)
    findings.append(
        f"Every recording equals its source sample for sample (frames, sha256 of the audio, no "
        f"gap, overflow or overrun; {checked} recordings): {verdict(all_ok)}"
    )
    startup = ", ".join(
        f"{f} {median([r['ready_s'] for r in runs[f]['recorder']]):.2f} s / "
        f"{median([r['ready_cpu_s'] for r in runs[f]['recorder']]):.2f} s CPU"
        for f in FORMATS
    )
    findings.append(f"Start-up, kept out of the per-hour figures: to READY {startup}")
    return Section(
        key="capture",
        title="Capture cost: the recording path beside arecord",
        text=TEXT.format(
            seconds=seconds,
            runs=opts.runs,
            lead=LEAD_S,
            profile_note=profile_note,
            load_start=LOAD_START,
            load_end=os.getloadavg()[0],
            cores=os.cpu_count(),
        ),
        tables=tables,
        findings=findings,
        data=data,
    )


TEXT = """\
What an hour of recording costs in CPU, beside the cheapest way to record the same audio. For
S16_LE and S32_LE at 48 kHz stereo, {seconds:.0f} s of speech-like audio (a raw file made once)
goes into the virtual microphone (alsa-lib's `file` plugin reading a FIFO) as fast as the reader
takes it, in whole 0.1-s periods. A plain file as the plugin's `infile` would be simpler, but
after its end both tools would go on reading silence with no exact place to stop: the FIFO stays
open after the last period, so the reader blocks instead, and the feed is held back until the
side under test has the device open (`arecord`) or has started its session (the daemon, which
gets silence until then: see below), so nothing of the file is read early.

*Recorder*: the real `session-recorder run` with its default config (pre-roll 10 s, 300-s
segments, header updated and fsynced every 0.5 s of audio, levels four times a second) in a
process of its own, with its capture helper: the child process (`python -S -m
recorder.adapters.alsa_helper`) that owns the ALSA device, so that an ALSA call that blocks
cannot freeze the daemon, and writes every period into a pipe that the daemon's capture thread
reads. After READY, `ctl start`, then the feed; done when the segment files hold every byte.
Capture CPU is the user + system time over that stretch of the daemon and of the helper, each
read from its own `/proc/<pid>/stat` (the helper is a child still running, so its time is not
yet in the daemon's children's times), start-up excluded (reported apart). A device that
delivers nothing is "stalled" after a second and a start is then refused, so until the session
has started the microphone gets silence at real time, period by period; that silence lands in
the pre-roll ring (empty before: nothing else was fed), and the session must be exactly that
silence and then the file. *ALSA in the daemon's process*: the same daemon, same config and
command line, given the in-process `AlsaSource` through its `Parts` port (`bench/inprocess.py`;
how it read the device before the helper), on the same kind of microphone, taking turns with
it: the ratio of the two is the process boundary's own cost. Flat out, capture outruns the
writer many times over (reading a period takes microseconds; the writer fsyncs), and the
daemon, which never lets capture wait for the disk, would drop audio once its 60-s queue
filled; so the feed is kept at most {lead} s ahead of what the writer has put in its
segments, and the throughput shown is the writer's. *Baseline*: `arecord -f <format> -r 48000 -c 2 --period-size 4800
--buffer-size 19200 -s <frames>` (the daemon's period and buffer) from the same kind of
microphone into one WAV; CPU from wait4, its start-up (milliseconds) included. *WAV adapter
alone*: the recorder's `SoundfileSegment` on the writer's schedule in a bare loop in this
process (a write per period, header + fsync every 0.5 s, a new segment every 300 s, the closed
one hashed as the manifest wants): the floor that crash safety sets before any Python around
it. They take turns, {runs} run(s) each; medians. Every recording is checked against the
source: frame count, sha256 of the audio, no gap, no buffer overflow, no ALSA overrun.

*At real time*: the same daemon (S16_LE) fed at the pace of a real microphone, its CPU and its
helper's over a stretch of a session as a share of one core, beside the in-process daemon and
`arecord` recording the same way: what a box actually spends while it records, the room it
leaves.

How to read it: the ratio is what carries over to a Pi; S16_LE comes out worse than S32_LE
because `arecord`'s cost follows the bytes while most of the recorder's follows the blocks
(36,000 an hour). The per-thread table says which part costs what, the capture helper as one
row (its whole process: the ALSA reads and the writes into the pipe), beside the same threads
with ALSA in the daemon's process; there the capture thread does the ALSA reads itself, with the
helper it reads the pipe instead, and the two cost it about the same: the boundary's price is
then mostly the helper's own row. The profile ({profile_note}) shows the Python side only:
writes, fsyncs, ALSA and pipe reads release the GIL and appear in the per-thread figures and the
user/system split instead. The memory figures here are read at the end of a flat-out run (the
queue then holds up to {lead} s of audio): `bench/memory.py` has the box's real peaks.

This run: the load average (1 min) was {load_start:.2f} when this benchmark started and
{load_end:.2f} when it ended, on {cores} cores. The report of 2026-12-03 was not made on a quiet
machine (a shared 2-core VM where other agents' test suites ran now and then): medians of
interleaved runs, and the ratios, are what to read; absolute figures may be high.

What was found and changed while writing this (2026-11-29, on a shared 2-core VM with other
work running; 600 s of audio, three interleaved runs each):
- Level metering dominated. `LevelMeter.feed` reduced an interleaved (frames, channels) block
  along its frames axis, which numpy walks one frame at a time: about 0.45 ms of the writer's
  0.6 ms per block. It now meters a channel-major copy (sums of squares exact for 16-bit
  audio, pairwise and so more accurate beyond). Capture CPU went from 27.4 to
  16.0 s per audio hour for S16_LE (26× to 15× arecord's) and from 30.2 to 18.3 for S32_LE
  (16× to 10×); the writer thread from 22.6 to 11.2 and 24 to 13; throughput from 45× to 87×
  and 46× to 72× real time.
- The WAV adapter alone costs 4.5 (S16_LE) and 6.1 (S32_LE) s per audio hour in that first
  run, 4.3× and 3.2× arecord's (2–3× on a quiet machine): a header update and fsync every
  0.5 s take most of the 3× allowed before any Python around them.
- Level reports (four a second): with them switched off in a patched copy (not shipped), the
  controller thread's ~3.3 s per audio hour disappeared (17.6 to 12.9 in total). Each report
  goes through the state machine; when it changes the state (in every pause the silence
  counter moves), the daemon built a full status snapshot for systemd's status line twice,
  and sent it once whether it changed or not. Now the status line is looked at when a field
  it shows changes or a second has passed, and sent once (recorder/app/daemon.py). In the
  profile, the writer's `Condition.notify` is the wake-up of the controller for each report;
  a futex wake is slow on this virtual machine. The figures above are from after both fixes.
- Second round (later the same day, quiet machine, 3600 s, three interleaved runs each of the
  code before and after, beside arecord): the writer was woken for every 0.1-s block and did
  everything per block (a free-space check, a write, a decode and a metering pass). It now
  sleeps until a level report's worth of audio (0.25 s) or a control item has arrived
  (`FrameQueue.get_batch`), writes each stretch with one call per segment, meters it in one
  pass split exactly at report boundaries, and still updates the header every `sync_s`;
  metering squares in place instead of through a second array. S16_LE went from 14.1 to
  10.9 s per audio hour (12.5× to 9.6× arecord's; writer thread 10.7 to 7.7; 171× to 231×
  real time), S32_LE from 14.7 to 11.8 (6.6× to 5.3×). A trap met on the way: `np.dot` for
  the sums of squares made the writer's own time smaller but the daemon's CPU more than
  double (28.7 s per audio hour), because it is BLAS and OpenBLAS's worker threads spin
  between calls; the per-thread table showed the writer cheaper and the total did not add up.
- Why 3× is still missed: per audio hour the recorder does what arecord does (36,000 ALSA
  reads: its capture thread alone costs about arecord's whole figure) and on top of it 7,200
  header updates with fsync (crash safety), exact metering of every sample (peaks, RMS and
  clipping for the warnings, the LED and the phone), 14,400 level reports through the state
  machine, each waking two threads. Driving `WriterThread` directly in one process (1200 s
  of audio, no other threads) and removing one part at a time, the writer's own time is about
  half metering, a third header + fsync, a quarter the writes and bookkeeping and a tenth the
  free-space checks (the parts overlap, so the shares add up to more than one). What would
  reach 3× is giving up one of these (durability or live levels) or a writer outside Python;
  neither is worth it for a box that uses about 1 % of one core while it records.
- Not a recorder bug, but it made the first smoke runs wrong: `virtualmic.Feeder` fed flat out
  added one or two periods of silence to a 20-s source and shifted everything after them. A
  write larger than the room left in the pipe is not atomic on Linux: the writer copies part,
  sleeps, and alsa-lib's single read() of a period can take the part; the file plugin pads the
  rest with silence (the DESIGN.md trap, reached through a full pipe rather than a short
  write). `virtualmic.Feeder` now waits for room before each write (FIONREAD on the write
  end), and every recording matches its source. Real-time feeding never fills the pipe.
"""


if __name__ == "__main__":
    standalone(run)
