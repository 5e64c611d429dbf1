"""What every benchmark shares: the machine it ran on, medians and percentiles, Markdown
tables, speech-like source files, the real daemon in a subprocess (READY time, CPU, memory, its
capture helper process counted beside it) and a real disk that can be frozen.

Each benchmark module has `run(opts) -> Section`; `bench/run.py` runs them all and writes
docs/benchmarks.md. Nothing here judges a number: sections state the target beside the result.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from bench import ROOT
from recorder import __version__
from recorder.adapters.control_socket import send
from recorder.app.virtualmic import VirtualMic, speech_periods
from recorder.core.formats import FORMATS

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "session-recorder-bench"
TICK = os.sysconf("SC_CLK_TCK")


# ---- options and results --------------------------------------------------------------------


class Unavailable(Exception):
    """This machine cannot run the benchmark (not root, a tool missing): the report says why."""


@dataclass(frozen=True)
class Options:
    quick: bool  # seconds, not minutes: CI keeps the code working, numbers mean nothing
    runs: int  # repetitions of each side-by-side comparison; medians are reported
    workdir: Path  # scratch space, removed by the runner


@dataclass
class Section:
    """One benchmark's part of docs/benchmarks.md."""

    key: str
    title: str
    text: str  # what was measured, against what, how to read it
    tables: list[str] = field(default_factory=list)  # Markdown
    findings: list[str] = field(default_factory=list)  # one line each: result beside target
    data: dict = field(default_factory=dict)  # the raw numbers, for the JSON file

    def markdown(self) -> str:
        parts = [f"## {self.title}", "", self.text.strip(), ""]
        for t in self.tables:
            parts += [t, ""]
        parts += [f"- {f}" for f in self.findings]
        return "\n".join(parts).rstrip() + "\n"


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def table(headers: list[str], rows: list[list[object]]) -> str:
    def cell(v: object) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


# ---- the machine ----------------------------------------------------------------------------


def _first_line(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return "not found"
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else "?"


def machine() -> dict[str, str]:
    """What the numbers depend on, for the report's header."""
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError, ValueError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kib / 1024**2:.1f} GiB"
    distro = "?"
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                distro = line.split("=", 1)[1].strip('"')

    rclone = shutil.which("rclone") or str(Path(sys.executable).parent / "rclone")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": f"{cpu} ({os.cpu_count()} logical cores, {platform.machine()})",
        "memory": mem,
        "os": f"{distro}, Linux {platform.release()}",
        "python": platform.python_version(),
        "session-recorder": __version__,
        "numpy / libsndfile": f"{np.__version__} / {soundfile.__libsndfile_version__}",
        "arecord": _first_line(["arecord", "--version"]),
        "rclone": _first_line([rclone, "version"]),
        "load at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


# ---- audio sources --------------------------------------------------------------------------


def source_file(fmt: str, seconds: float, rate: int = 48000, channels: int = 2) -> Path:
    """Raw speech-like audio in `fmt`, made once and kept in CACHE (an hour of S32_LE stereo is
    1.4 GB: worth keeping between runs)."""
    period = rate // 10
    count = round(seconds * 10)
    path = CACHE / f"speech-{fmt}-{rate}-{channels}ch-{count * period}.raw"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        batch: list[bytes] = []
        for chunk in speech_periods(fmt, rate, channels, period, count):
            batch.append(chunk)
            if len(batch) == 100:
                f.write(b"".join(batch))
                batch.clear()
        f.write(b"".join(batch))
    tmp.replace(path)
    return path


def file_chunks(path: Path, chunk_bytes: int) -> Iterator[bytes]:
    """The file in whole chunks (each a whole number of periods: see virtualmic)."""
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            yield chunk


def mic(workdir: Path, name: str = "benchmic") -> VirtualMic:
    return VirtualMic(workdir / f"alsa-{name}", name=name).install()


# ---- the real daemon ------------------------------------------------------------------------


def write_config(workdir: Path, mic_name: str, **sections: dict) -> Path:
    """A config.toml for the daemon: the virtual microphone, no GPIO, no MQTT, no upload."""
    data: dict[str, dict] = {
        "device": {"id": "bench"},
        "audio": {"device": mic_name, "rate": 48000, "channels": 2, "format": "S16_LE"},
        "storage": {"dir": str(workdir / "sessions"), "min_free_mb": 1},
        "gpio": {"enabled": False},
        "warnings": {"disk_minutes": 0},
        "control": {"socket": str(workdir / "control.sock")},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    lines = []
    for name, values in data.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path = workdir / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Usage:
    cpu_s: float  # user + system
    wall_s: float
    maxrss_kib: int


# ---- processes, from /proc ------------------------------------------------------------------

HELPER_MODULE = "recorder.adapters.alsa_helper"  # the capture helper: `python -m` this
INPROCESS_RUNNER = "bench.inprocess"  # the daemon with ALSA in its own process (a baseline)


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name (which may hold spaces): field 3 is index 0."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_times(pid: int) -> tuple[float, float, float]:
    """(user, system, reaped children's user + system) seconds of one process, all threads."""
    f = _stat(pid)
    return int(f[11]) / TICK, int(f[12]) / TICK, (int(f[13]) + int(f[14])) / TICK


def children(pid: int) -> list[int]:
    """The live child processes of `pid`. This kernel has no /proc/<pid>/task/<tid>/children
    (CONFIG_PROC_CHILDREN), so every process's parent is read instead."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int(_stat(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
    return found


def capture_helper(pid: int) -> int | None:
    """The daemon's capture helper process (`python -S -m recorder.adapters.alsa_helper`), if it
    runs now."""
    for child in children(pid):
        with contextlib.suppress(OSError):
            if HELPER_MODULE.encode() in Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0"):
                return child
    return None


def process_memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (/proc/<pid>/status), Pss and the private pages, clean + dirty, from
    /proc/<pid>/smaps_rollup; KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    private = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, value = line.partition(":")
        if key == "Pss":
            out["Pss"] = int(value.split()[0])
        elif key in ("Private_Clean", "Private_Dirty"):
            private += int(value.split()[0])
    out["Private"] = private
    return out


PAGE = os.sysconf("SC_PAGE_SIZE")
_PRESENT, _PFN = 1 << 63, (1 << 55) - 1  # /proc/<pid>/pagemap: bit 63 present, 0-54 the frame


def resident_frames(pid: int):
    """The physical page frames `pid` has resident (a numpy array), or None where the kernel
    hides frame numbers (without CAP_SYS_ADMIN it reports them as 0)."""
    found = []
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            start, end = (int(x, 16) for x in line.split()[0].split("-"))
            if start >= 1 << 47:  # [vsyscall]: not in pagemap
                continue
            pagemap.seek(start // PAGE * 8)
            entries = np.frombuffer(pagemap.read((end - start) // PAGE * 8), dtype=np.uint64)
            found.append(entries[(entries & np.uint64(_PRESENT)) != 0] & np.uint64(_PFN))
    frames = np.unique(np.concatenate(found)) if found else np.zeros(0, np.uint64)
    return None if len(frames) and not frames.any() else frames


def union_kib(pids: list[int]) -> int | None:
    """KiB resident in any of `pids`, each physical page once however many of them map it:
    what one process's VmRSS says, for several. None where frame numbers are hidden."""
    sets = [resident_frames(pid) for pid in pids]
    if any(s is None for s in sets):
        return None
    return len(np.unique(np.concatenate(sets))) * PAGE // 1024


class Daemon:
    """`session-recorder run` as systemd would start it: a process of its own with
    NOTIFY_SOCKET, so READY is timed from outside; CPU and memory read from /proc, for the
    daemon and for its capture helper (the child process that owns the ALSA device) apart.

    `inprocess`: the same daemon with ALSA in its own process instead of the helper (see
    bench/inprocess.py), to measure what the process boundary costs. `root`: the folder whose
    `recorder` package runs (another revision's, for a before-and-after comparison)."""

    def __init__(
        self,
        config: Path,
        mic: VirtualMic,
        extra_env: dict[str, str] | None = None,
        inprocess: bool = False,
        root: Path = ROOT,
    ):
        self.config = config
        self.inprocess = inprocess
        self._helper: int | None = None
        self._peaks: dict[str, int] = {}
        self.socket_path = Path(tomllib.loads(config.read_text())["control"]["socket"])
        self._notify_path = config.parent / "notify.sock"
        self._notify_path.unlink(missing_ok=True)
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(str(self._notify_path))
        self.ready_at: float | None = None
        self._ready = threading.Event()
        env = {**mic.env(), "NOTIFY_SOCKET": str(self._notify_path), **(extra_env or {})}
        self.started_at = time.monotonic()
        module = INPROCESS_RUNNER if inprocess else "recorder"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "run", "--config", str(config)],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(config.parent / "daemon.log", "ab"),  # noqa: SIM115
        )
        threading.Thread(target=self._listen, name="bench-notify", daemon=True).start()

    def alive(self) -> bool:
        """Without reaping it (Popen.poll would): stop() takes the rusage from wait4."""
        if self.proc.returncode is not None:
            return False
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        try:
            return os.waitid(os.P_PID, self.proc.pid, flags) is None
        except ChildProcessError:
            return False

    def _listen(self) -> None:
        self._notify.settimeout(0.5)
        while self.alive():
            try:
                data = self._notify.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if b"READY=1" in data.split(b"\n") and self.ready_at is None:
                self.ready_at = time.monotonic()
                self._ready.set()

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds from the process start to READY=1."""
        if not self._ready.wait(timeout):
            raise RuntimeError(f"no READY in {timeout} s; see {self.config.parent / 'daemon.log'}")
        assert self.ready_at is not None
        return self.ready_at - self.started_at

    def request(self, payload: dict) -> dict:
        return send(self.socket_path, payload)

    def status(self) -> dict:
        reply = self.request({"cmd": "status"})
        return reply.get("status", reply)

    def helper_pid(self) -> int | None:
        """The capture helper's pid while it runs (None in-process, or before the first open)."""
        if self.inprocess:
            return None
        if self._helper is not None:
            with contextlib.suppress(OSError, IndexError):
                if int(_stat(self._helper)[1]) == self.proc.pid:
                    return self._helper
        self._helper = capture_helper(self.proc.pid)
        return self._helper

    def cpu(self) -> dict[str, float]:
        """user + system seconds so far: the daemon's own (all threads), the live capture
        helper's (a running child is not in the daemon's children's times; those count only
        children it has reaped, such as a helper that died), and their sum, `total`."""
        user, system, reaped = cpu_times(self.proc.pid)
        h_user = h_system = 0.0
        pid = self.helper_pid()
        if pid is not None:
            with contextlib.suppress(OSError):
                h_user, h_system, _ = cpu_times(pid)
        return {
            "daemon": user + system,
            "helper": h_user + h_system,
            "reaped_children": reaped,
            "total": user + system + h_user + h_system + reaped,
            "user": user + h_user,  # the two processes' user time (reaped children not split)
            "system": system + h_system,
        }

    def cpu_s(self) -> float:
        """user + system seconds so far, the daemon and its capture helper together."""
        return self.cpu()["total"]

    def memory_kib(self) -> dict[str, int]:
        """KiB. The daemon's VmRSS (now), VmHWM (its peak so far), Pss and private pages; the
        same of the capture helper as `helper_*` (0 without one). Summing the two VmRSS would
        count the interpreter and libraries they share twice, so two totals: `total_Pss`, the
        two PSS summed (a shared page split between the processes that map it, which on a
        shared machine includes every other process mapping the same libraries), and
        `union_RSS`, every page resident in either counted once, from pagemap (`union_exact`
        0 where frame numbers are hidden: then the daemon's RSS plus the helper's private
        pages, a close lower bound). With `watch_memory` running, also `peak_total_Pss` and
        `peak_union_RSS`: the largest of its samples so far."""
        out = process_memory_kib(self.proc.pid)
        helper = {"VmRSS": 0, "VmHWM": 0, "Pss": 0, "Private": 0}
        pid = self.helper_pid()
        union = None
        if pid is not None:
            with contextlib.suppress(OSError):
                helper = process_memory_kib(pid)
        with contextlib.suppress(OSError):
            union = union_kib([self.proc.pid] + ([pid] if helper["VmRSS"] else []))
        out.update({f"helper_{k}": v for k, v in helper.items()})
        out["total_Pss"] = out["Pss"] + helper["Pss"]
        out["union_exact"] = int(union is not None)
        out["union_RSS"] = union if union is not None else out["VmRSS"] + helper["Private"]
        for key in ("total_Pss", "union_RSS"):
            self._peaks[key] = max(self._peaks.get(key, 0), out[key])
            if self._watching:
                out[f"peak_{key}"] = self._peaks[key]
        return out

    _watching = False

    def watch_memory(self, every: float = 0.2) -> None:
        """Sample memory_kib every `every` s while the daemon runs: nothing keeps a peak of PSS
        (VmHWM is one process's RSS), so the peaks reported are those samples' largest."""
        self._watching = True

        def sample() -> None:
            while self.alive():
                with contextlib.suppress(OSError, KeyError):
                    self.memory_kib()
                time.sleep(every)

        threading.Thread(target=sample, name="bench-memory", daemon=True).start()

    def wait_for(self, predicate: Callable[[dict], bool], timeout: float, every: float = 0.25):
        """Poll status (a cheap request) until `predicate` holds; returns that status."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.status()
            if predicate(s):
                return s
            if time.monotonic() > deadline:
                raise TimeoutError(f"daemon status never matched: {s}")
            time.sleep(every)

    def stop(self, timeout: float = 60) -> Usage:
        """SIGTERM (as systemctl stop), wait, and the kernel's account of the whole process."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                self.proc.kill()
            time.sleep(0.02)
        self._notify.close()
        self._notify_path.unlink(missing_ok=True)
        return Usage(
            usage.ru_utime + usage.ru_stime, time.monotonic() - self.started_at, usage.ru_maxrss
        )


def timed_process(command: list[str], env: dict[str, str] | None = None) -> Usage:
    """Run to the end; CPU and peak RSS from wait4 (the child alone, not this process)."""
    start = time.monotonic()
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode:
        raise RuntimeError(f"{command[0]} exited {proc.returncode}: {err.strip()[-500:]}")
    return Usage(usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss)


def self_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ---- a real disk that stops answering -------------------------------------------------------


class FreezableDisk:
    """A small ext4 file system on a loop device; `fsfreeze` makes every write to it block in
    the kernel, as a stalled SD card or USB stick does. Needs root and loop devices."""

    def __init__(self, workdir: Path, size_mb: int) -> None:
        self.image = workdir / "disk.img"
        self.mount = workdir / "disk"
        self.size_mb = size_mb
        self.frozen = False

    @staticmethod
    def unavailable() -> str | None:
        if os.geteuid() != 0:
            return "needs root (mount, fsfreeze)"
        for tool in ("mkfs.ext4", "fsfreeze", "losetup"):
            if shutil.which(tool) is None and shutil.which(tool, path="/usr/sbin:/sbin") is None:
                return f"{tool} is missing (Debian packages e2fsprogs, util-linux)"
        return None

    def __enter__(self) -> FreezableDisk:
        with open(self.image, "wb") as f:
            f.truncate(self.size_mb * 1024 * 1024)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(self.image)], check=True)
        self.mount.mkdir(exist_ok=True)
        done = subprocess.run(
            ["mount", "-o", "loop", str(self.image), str(self.mount)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"cannot loop-mount a disk image here: {done.stderr.strip()}")
        return self

    def freeze(self) -> None:
        subprocess.run(["fsfreeze", "-f", str(self.mount)], check=True)
        self.frozen = True

    def thaw(self) -> None:
        if self.frozen:
            subprocess.run(["fsfreeze", "-u", str(self.mount)], check=True)
            self.frozen = False

    def __exit__(self, *exc: object) -> None:
        self.thaw()  # first: a process blocked in a frozen write cannot even be killed
        subprocess.run(["umount", "-l", str(self.mount)], check=False)
        self.image.unlink(missing_ok=True)


def frame_bytes(fmt: str, channels: int = 2) -> int:
    return FORMATS[fmt].frame_bytes(channels)


def standalone(run: Callable[[Options], Section]) -> None:
    """`python -m bench.<name> [--quick] [--runs N] [--json PATH]`: one section, printed (and
    saved as JSON for bench/run.py, which runs each benchmark in a process of its own)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="seconds, not minutes")
    parser.add_argument("--runs", type=int, default=None, help="repetitions (default 3; quick 1)")
    parser.add_argument("--json", type=Path, help="also write the section here")
    args = parser.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        try:
            section = run(Options(args.quick, runs, Path(tmp)))
        except Unavailable as exc:
            print(f"skipped: {exc}")
            if args.json:
                args.json.write_text(json.dumps({"unavailable": str(exc)}))
            return
    print(section.markdown())
    if args.json:
        args.json.write_text(json.dumps(dataclasses.asdict(section), indent=1, default=str))
