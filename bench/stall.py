"""Stall tolerance: the storage stops answering while capture goes on at real time.

The real daemon (`session-recorder run`) keeps its sessions on a loop-mounted ext4 that
`fsfreeze` freezes: every write to it blocks in the kernel, as a stalled SD card's do. The
virtual microphone is fed at real time (whole 0.1-s periods of speech-like S16_LE stereo,
48 kHz) and keeps every byte it fed, so each session is compared with the feed sample by sample.

    .venv/bin/python -m bench.stall [--quick]
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import threading
import time
from dataclasses import asdict
from pathlib import Path

from bench.common import (
    Daemon,
    FreezableDisk,
    Options,
    Section,
    Unavailable,
    file_chunks,
    mic,
    source_file,
    standalone,
    table,
    verdict,
    write_config,
)
from bench.memory import (
    FMT,
    FRAME_BYTES,
    PERIOD_BYTES,
    PERIOD_S,
    RATE,
    bytes_reader,
    compare,
    session_audio,
)
from recorder.app.virtualmic import Feeder

# The syscalls a thread blocked on the frozen disk can be in (x86-64 and arm64 numbers).
SYSCALLS = {
    "x86_64": {0: "read", 1: "write", 3: "close", 18: "pwrite64", 74: "fsync", 75: "fdatasync",
               82: "rename", 83: "mkdir", 87: "unlink", 137: "statfs", 257: "openat",
               263: "unlinkat", 264: "renameat", 316: "renameat2"},
    "aarch64": {63: "read", 64: "write", 57: "close", 68: "pwrite64", 82: "fsync",
                83: "fdatasync", 34: "mkdirat", 43: "statfs", 56: "openat", 35: "unlinkat",
                38: "renameat", 276: "renameat2"},
}.get(platform.machine(), {})  # fmt: skip


# Which argument of these syscalls is a path (for a rename the new name), read from the
# process's memory.
PATH_ARG = {"openat": 1, "rename": 1, "renameat": 3, "renameat2": 3, "mkdir": 0, "mkdirat": 1,
            "unlink": 0, "unlinkat": 1, "statfs": 0}  # fmt: skip
FD_CALLS = ("read", "write", "pwrite64", "fsync", "fdatasync", "close")


def _c_string(pid: int, address: int) -> str:
    with open(f"/proc/{pid}/mem", "rb") as mem:
        mem.seek(address)
        return mem.read(512).split(b"\0", 1)[0].decode(errors="replace")


def blocked_threads(pid: int) -> list[str]:
    """Threads of `pid` in uninterruptible sleep (D): the syscall, the file it works on and the
    kernel function it waits in (`/proc/<pid>/task/*/{stat,syscall,wchan}`, and for a path
    argument the process's own memory: needs root, as the frozen disk does)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "D":
                continue
            call = (task / "syscall").read_text().split()
            nr = int(call[0])
            name = SYSCALLS.get(nr, f"syscall {nr}")
            target = ""
            if name in FD_CALLS:
                target = " " + Path(os.readlink(f"/proc/{pid}/fd/{int(call[1], 16)}")).name
            elif name in PATH_ARG:
                target = " " + Path(_c_string(pid, int(call[1 + PATH_ARG[name]], 16))).name
            wchan = (task / "wchan").read_text().strip()
            found.append(f"{name}{target} (waits in {wchan})")
    return sorted(found)


class Restart(threading.Thread):
    """A start request sent while the disk is frozen, timed."""

    def __init__(self, daemon: Daemon, feeder: Feeder) -> None:
        super().__init__(name="bench-restart", daemon=True)
        self.daemon = daemon
        self.feeder = feeder
        self.asked_at_frame = 0  # capture position when the start was asked for (≈ fed frames)
        self.reply: dict = {}
        self.reply_s = 0.0

    def run(self) -> None:
        self.asked_at_frame = self.feeder.written // FRAME_BYTES
        t = time.monotonic()
        self.reply = self.daemon.request({"cmd": "start"})
        self.reply_s = time.monotonic() - t


def check_session(store: Path, sid: str, fed: bytes) -> dict:
    """A finalized session beside the feed: its manifest facts and the period-by-period check."""
    folder = store / "outbox" / sid
    manifest = json.loads((folder / "manifest.json").read_text())
    c = compare(session_audio(folder, manifest), bytes_reader(fed), manifest["start_pos"],
                manifest["gaps"])  # fmt: skip
    return {
        "id": sid,
        "frames": manifest["frames"],
        "start_pos": manifest["start_pos"],
        "preroll_frames": manifest["preroll_frames"],
        "gaps": manifest["gaps"],
        "lost_frames": sum(g["frames"] for g in manifest["gaps"]),
        "markers": [k["label"] for k in manifest["markers"]],
        "check": asdict(c),
        "exact": c.mismatched == 0 and c.frames == manifest["frames"],
    }


def one_stall(
    workdir: Path,
    disk: FreezableDisk,
    n: int,
    stall_s: float,
    buffer_s: float,
    quick: bool,
    restart_at: float | None = None,
    at_start: float | None = None,
) -> dict:
    """A fresh daemon, a session, the disk frozen for `stall_s`, then thawed; everything the
    session should show, measured. With `restart_at`, the session is stopped that many
    seconds into the stall and a new one asked for a second later (a box handed to the next
    speaker while its card hangs). With `at_start` (a pre-roll length), the pre-roll is let
    fill and the disk freezes the moment the session starts, with all of it still queued."""
    before_s, after_s = (0.5, 0.5) if quick else (3.0, 3.0)
    folder = workdir / f"stall-{n}"
    folder.mkdir()
    store = disk.mount / f"stall-{n}"
    m = mic(folder)
    src = source_file(FMT, 60 if quick else 180)
    feeder = Feeder(m.infile, file_chunks(src, PERIOD_BYTES), PERIOD_S, record=True)
    feeder.start()
    audio = {"buffer_s": buffer_s} | ({"preroll_s": at_start} if at_start is not None else {})
    cfg = write_config(folder, m.name, audio=audio, storage={"dir": str(store)})
    daemon = Daemon(cfg, m)
    out: dict = {"stall_s": stall_s, "buffer_s": buffer_s, "restart_at": restart_at}
    out["at_start"] = at_start
    mark_at = min(1.0, stall_s / 2, restart_at / 2 if restart_at is not None else 1.0)
    watch = StallWatch(daemon, feeder, mark_at, restart_at)
    try:
        sids = [start_session(daemon, at_start, before_s)]
        watch.freeze_for(disk, stall_s)
        out.update(watch.replies)
        out["frozen_s"] = watch.frozen_s
        t_thaw = time.monotonic()
        if watch.restart is not None:
            watch.restart.join(30)
            sids.append(daemon.wait_for(lambda s: s["session_id"] is not None, 30)["session_id"])
        daemon.wait_for(lambda s: s["buffer_s"] < 0.3, 300, 0.1)
        out["catch_up_s"] = time.monotonic() - t_thaw
        time.sleep(after_s)
        stop = daemon.request({"cmd": "stop"})
        daemon.wait_for(lambda s: (s.get("last_session") or {}).get("id") == sids[-1], 120)
        status = daemon.status()
    finally:
        usage = daemon.stop()
        feeder.stop()
    fed = bytes(feeder.recorded or b"")
    sessions = [check_session(store, sid, fed) for sid in sids]
    out.update(stall_figures(watch, sessions, status, stop))
    out["maxrss_kib"] = usage.maxrss_kib
    out["whole"] = (
        all(x["exact"] for x in sessions)
        and sessions[-1]["frames"] == stop.get("frames")
        and out["lost_frames"] == status["overflow_frames"]
        and "during the stall" in sessions[0]["markers"]
    )
    if watch.restart is not None:
        out["restart"] = restart_figures(watch.restart, sessions[-1])
    shutil.rmtree(store, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    return out


def start_session(daemon: Daemon, at_start: float | None, before_s: float) -> str:
    """The session's id once the daemon hears the microphone and has started it: with
    `at_start`, after the pre-roll ring has filled; without, after its pre-roll is on disk and
    `before_s` more of recording."""
    daemon.wait_ready()
    daemon.wait_for(lambda s: s["device"] == "ok", 30)
    if at_start is not None:
        time.sleep(at_start + 0.5)  # the ring fills at real time
    sid = daemon.request({"cmd": "start"})["session_id"]
    if at_start is None:
        daemon.wait_for(lambda s: s["buffer_s"] < 0.3, 30, 0.1)  # the pre-roll is on disk
        time.sleep(before_s)
    return sid


class StallWatch:
    """What the daemon does while the disk is frozen: how capture keeps pace, how fast the
    controller answers a marker, which threads are blocked, and (with `restart_at`) a stop and
    a new start asked for during the stall."""

    def __init__(
        self, daemon: Daemon, feeder: Feeder, mark_at: float, restart_at: float | None
    ) -> None:
        self.daemon = daemon
        self.feeder = feeder
        self.mark_at = mark_at
        self.restart_at = restart_at
        self.samples: list[tuple[float, int, float]] = []  # (time, captured frames, buffer_s)
        self.blocked: set[str] = set()
        self.mark_ms: float | None = None
        self.restart: Restart | None = None
        self.replies: dict = {}  # the stop asked for during the stall, and how long it took
        self.frozen_s = 0.0

    def freeze_for(self, disk: FreezableDisk, stall_s: float) -> None:
        """Freeze the disk for `stall_s`, watching the daemon every 0.1 s; thaw it."""
        try:
            disk.freeze()
            t0 = time.monotonic()
            while (now := time.monotonic()) < t0 + stall_s:
                self.sample(now - t0)
                if self.mark_ms is None and now > t0 + self.mark_at:
                    self.mark()
                if (
                    self.restart_at is not None
                    and now > t0 + self.restart_at
                    and self.restart is None
                ):
                    self.stop_and_start()
                time.sleep(0.1)
            self.blocked.update(blocked_threads(self.daemon.proc.pid))
        finally:
            disk.thaw()
        self.frozen_s = time.monotonic() - t0

    def sample(self, t: float) -> None:
        s = self.daemon.status()
        if s["state"] == "recording" and self.restart is None:
            self.samples.append((t, s["frames"] + s["overflow_frames"], s["buffer_s"]))

    def mark(self) -> None:
        """The controller must keep answering while the writer is stuck."""
        t_mark = time.monotonic()
        answer = self.daemon.request({"cmd": "mark", "label": "during the stall"})
        self.mark_ms = (time.monotonic() - t_mark) * 1000 if answer.get("ok") else -1.0
        self.blocked.update(blocked_threads(self.daemon.proc.pid))

    def stop_and_start(self) -> None:
        """Stop the session, and a second later ask for a new one (answered in a thread)."""
        t_stop = time.monotonic()
        self.replies["stop_reply"] = self.daemon.request({"cmd": "stop"})
        self.replies["stop_reply_ms"] = (time.monotonic() - t_stop) * 1000
        time.sleep(1.0)
        self.restart = Restart(self.daemon, self.feeder)
        self.restart.start()
        time.sleep(1.0)
        self.blocked.update(blocked_threads(self.daemon.proc.pid))


def stall_figures(watch: StallWatch, sessions: list[dict], status: dict, stop: dict) -> dict:
    """The stall's figures, from what was watched during it and the sessions afterwards."""
    # capture lag: how far the captured frames fell behind the wall clock during the stall
    samples = watch.samples
    lags = [t * RATE - (f - samples[0][1]) for t, f, _ in samples] or [0.0]
    return {
        "peak_buffer_s": max((b for _, _, b in samples), default=0.0),
        "capture_lag_s": (max(lags) - min(lags)) / RATE,
        "mark_reply_ms": watch.mark_ms,
        "blocked_threads": sorted(watch.blocked),
        "overflow_frames": status["overflow_frames"],
        "overruns": status.get("overruns", 0),
        "last_stop_frames": stop.get("frames"),
        "sessions": sessions,
        "lost_frames": sum(x["lost_frames"] for x in sessions),
    }


def restart_figures(restart: Restart, session: dict) -> dict:
    """The start asked for during the stall: its reply, and where its session begins."""
    return {
        "reply": restart.reply,
        "reply_s": restart.reply_s,
        "asked_at_frame": restart.asked_at_frame,
        # > 0: the new session begins after the moment its start was asked for
        "late_s": (session["start_pos"] - restart.asked_at_frame) / RATE,
    }


def run(opts: Options) -> Section:
    why = FreezableDisk.unavailable()
    if why is not None:
        raise Unavailable(why)
    buffer_s = 5.0 if opts.quick else 60.0
    stalls = (2.0, 7.0) if opts.quick else (5.0, 30.0, 60.0, 75.0)
    # a stall as the session starts, its pre-roll still queued: (stall, pre-roll)
    start_stall, preroll = (3.0, 2.0) if opts.quick else (55.0, 10.0)
    restart_stall, restart_at = (2.0, 0.5) if opts.quick else (30.0, 5.0)
    results = []
    try:
        with FreezableDisk(opts.workdir, 128 if opts.quick else 512) as disk:
            for n, stall in enumerate(stalls):
                results.append(one_stall(opts.workdir, disk, n, stall, buffer_s, opts.quick))
            n = len(stalls)
            results.append(
                one_stall(
                    opts.workdir, disk, n, start_stall, buffer_s, opts.quick, at_start=preroll
                )
            )
            restart = one_stall(
                opts.workdir, disk, n + 1, restart_stall, buffer_s, opts.quick, restart_at
            )
    except RuntimeError as exc:
        if not str(exc).startswith("cannot loop-mount"):  # no loop devices (a container)
            raise
        raise Unavailable(str(exc)) from None
    return report(opts, buffer_s, results, restart)


def _thread_of(blocked: str) -> str:
    """Which of the daemon's threads makes that call (only the writer writes a session's files;
    only the controller creates a session)."""
    if "seg-" in blocked or "manifest" in blocked:
        return "the writer"
    if "sequence" in blocked or blocked.startswith("mkdir"):
        return "the controller"
    return "another thread"


def _gap_kinds(r: dict) -> str:
    return ", ".join(sorted({g["kind"] for x in r["sessions"] for g in x["gaps"]})) or "none"


def report(opts: Options, buffer_s: float, results: list[dict], restart: dict) -> Section:
    rows = []
    for r in results:
        c = r["sessions"][0]["check"]
        when = (
            "" if r["at_start"] is None else f" at the start, {r['at_start']:g}-s pre-roll queued"
        )
        rows.append(
            [
                f"{r['stall_s']:g}{when}",
                f"{r['frozen_s']:.1f}",
                f"{r['peak_buffer_s']:.1f}",
                r["lost_frames"],
                f"{r['lost_frames'] / RATE:.2f}",
                _gap_kinds(r),
                f"{r['capture_lag_s']:.2f}",
                f"{r['mark_reply_ms']:.0f}" if r["mark_reply_ms"] is not None else "—",
                f"{r['catch_up_s']:.1f}",
                f"{c['exact']} exact, {c['short_reads']} short reads, {c['mismatched']} wrong",
                "yes" if r["whole"] else "**no**",
            ]
        )
    within = [r for r in results if r["stall_s"] <= buffer_s]
    beyond = [r for r in results if r["stall_s"] > buffer_s]
    blocked = sorted({b for r in results for b in r["blocked_threads"]})
    upto = ", ".join(f"{r['stall_s']:g} s" for r in within)
    findings = [
        f"stalls up to the buffer ({upto}; buffer_s {buffer_s:g}): "
        f"{sum(r['lost_frames'] for r in within)} frames lost; target 0: "
        f"{verdict(all(r['lost_frames'] == 0 and r['whole'] for r in within))}",
    ]
    for r in beyond:
        findings.append(
            f"a {r['stall_s']:g}-s stall (beyond the {buffer_s:g}-s buffer) loses "
            f"{r['lost_frames'] / RATE:.1f} s, recorded as {_gap_kinds(r)}; the session is "
            f"otherwise {'whole' if r['whole'] else '**not whole**'}"
        )
    owners = sorted({_thread_of(b) for b in blocked})
    findings.append(
        f"threads blocked on the frozen disk while recording: {', '.join(owners) or 'none'} ("
        + ("; ".join(blocked) if blocked else "none seen")
        + f"); capture kept pace (largest lag {max(r['capture_lag_s'] for r in results):.2f} s)"
    )
    rs = restart["restart"]
    answered = rs["reply"].get("ok") and rs["reply_s"] < 10
    restart_rows = [
        [
            f"{restart['stall_s']:g}",
            f"{restart['restart_at']:g} s / {restart['restart_at'] + 1:g} s",
            f"{restart.get('stop_reply_ms', 0):.0f}",
            f"{rs['reply_s']:.1f}" + ("" if answered else f" ({rs['reply'].get('message')})"),
            "; ".join(restart["blocked_threads"]),
            f"{rs['late_s']:+.1f}",
            "yes" if restart["whole"] else "**no**",
        ]
    ]
    if rs["late_s"] <= 0:
        outcome = (
            f"the new session holds the audio from the press on (it begins "
            f"{-rs['late_s']:.1f} s before the request: its pre-roll)"
        )
    else:
        outcome = (
            f"the new session begins {rs['late_s']:+.1f} s after the request: audio after the "
            "press is not in it"
        )
    findings.append(
        f"a start asked for during a {restart['stall_s']:g}-s stall: ctl "
        + ("answered" if answered else "timed out")
        + f" after {rs['reply_s']:.1f} s ({rs['reply'].get('message', '')!r}); {outcome}"
    )
    text = TEXT.format(buffer_s=buffer_s, before=0.5 if opts.quick else 3)
    return Section(
        key="stall",
        title="Stall tolerance: a frozen disk while recording (`bench/stall.py`)",
        text=text,
        tables=[
            table(
                [
                    "stall s",
                    "frozen s",
                    "peak buffer_s",
                    "frames lost",
                    "s lost",
                    "gap kinds",
                    "capture lag s",
                    "marker reply ms",
                    "catch-up s",
                    "periods compared",
                    "whole",
                ],
                rows,
            ),
            table(
                [
                    "stall s",
                    "stop / start asked at",
                    "stop reply ms",
                    "start reply s",
                    "blocked threads",
                    "new session starts after the request, s",
                    "both sessions whole",
                ],
                restart_rows,
            ),
        ],
        findings=findings,
        data={"buffer_s": buffer_s, "results": results, "restart": restart},
    )


TEXT = """
The real daemon (`session-recorder run`, defaults but `buffer_s` {buffer_s:g}) records onto a
loop-mounted ext4 while the virtual microphone is fed at real time (Feeder, whole 0.1-s periods
of speech-like S16_LE stereo at 48 kHz, every fed byte kept). For each stall a fresh daemon
starts a session, records {before:g} s, then `fsfreeze` freezes the disk for the stall: every
write blocks in the kernel, as on a stalled SD card (a real fault, nothing faked in the
recorder). Then it is thawed, the writer catches up, the session runs on and is stopped. One
stall begins the moment the session starts, with its whole pre-roll still queued.

Per stall: the peak of status `buffer_s` during it (seconds queued for the writer), the frames
lost (the manifest's gaps; they must equal status `overflow_frames`), the capture lag (how far
captured frames fell behind the wall clock during the stall; a real ALSA device holds only 4
periods = 0.4 s, so a capture thread held up longer than that would lose audio there), the time
the controller took to answer a marker request sent during the stall (the marker must then be
in the manifest), how long the writer took to catch up after the thaw, and the session compared
with the feed period by period (gaps skipped). A session is whole when every period is what was
fed, its length is what the stop reported, its gaps account for every lost frame and the marker
is there. Threads in uninterruptible sleep were read from `/proc/<pid>/task/*/{{stat,syscall,
wchan}}` during each stall.

Stalls up to the buffer must lose nothing; beyond it the loss must be one `buffer_overflow` gap
of about stall − buffer, with everything else recorded. Short reads are an artefact of the
virtual microphone, not of the recorder: alsa-lib's file plugin sometimes gets only part of a
period's write from the FIFO and fills the rest itself (counted, then skipped).

**Fixed from these measurements:** the pre-roll handed to the writer at a start counted against
`buffer_s`, so a stall right after a start had only buffer − pre-roll of room (before: a 4-s
stall at the start with a 3-s pre-roll and a 5-s buffer lost 1.3 s; with the defaults the room
was 50 s, not 60). The pre-roll is now queued outside the bound (`recorder/recording/blockqueue.py`).

**Fixed, a start during a stall (the second table):** the session is stopped during the stall
and a new one asked for a second later (the box handed to the next speaker while its card
hangs). The start used to block the controller thread in the session store (writing the
sequence file and the session folder on the frozen disk) until the thaw: ctl, MQTT and the
button got no answer meanwhile, and the new session began at the thaw minus the pre-roll, so
audio after the press was missing from it. Before (30-s stall, start asked 6 s into it): ctl
timed out after 10 s and the session began 14.1 s after the request. Now the id is handed out
from memory, the tap starts at the press and the writer makes the folder when the card answers;
the controller waits at most 1 s for the writer's word, so a card that refuses writes still
refuses the start with its reason, and a stalled one gets an answer saying the audio waits in
memory.
"""


if __name__ == "__main__":
    standalone(run)
