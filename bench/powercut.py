"""Power-cut torture: the card is copied at random instants while the real daemon records onto
it, and the recorder is booted on each copy.

The recorder's card is an ext4 image on a loop device. Its image file lives on a second
loop-mounted ext4 (the "outer" disk, bench/common.FreezableDisk). To cut the power, the outer
disk is frozen (`fsfreeze`): the card's loop device can then hand nothing more to its image
file, so a copy taken meanwhile holds exactly the blocks the card had been given up to one
instant, while the card's own file system, its page cache and the daemon go on unaware (the
daemon only sees a card that is slow for a moment). The card itself is never frozen, synced or
unmounted: the copy is what a power cut at that instant leaves on a card that keeps every write
it acknowledged. Device-mapper (dm-log-writes, dm-flakey) would also let a cut drop writes the
card had acknowledged but not flushed; this kernel has no device-mapper.

Each copy is then booted as the box would be: e2fsck replays the journal (as systemd-fsck does
before the mount), a forced check says whether anything beyond the journal needed repair, the
copy is mounted, the real daemon is started on it (recovery runs at start) and stopped, and the
sessions are read back with `session-recorder sessions --json`, sox and libsndfile.

    .venv/bin/python -m bench.powercut [--quick] [--runs ROUNDS]
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.common import (
    Daemon,
    FreezableDisk,
    Options,
    Section,
    Unavailable,
    median,
    mic,
    standalone,
    table,
    verdict,
    write_config,
)
from bench.memory import FRAME_BYTES, PERIOD_FRAMES, PERIOD_S, RATE, bytes_reader, compare
from bench.memory import session_audio as _session_audio
from recorder.app.virtualmic import Feeder, random_periods
from recorder.core.formats import FORMATS

ROUNDS = 30
QUICK_ROUNDS = 3
LOSS_LIMIT_S = 1.0  # the promise: a power cut loses at most this much of what came before it
CARD_MB = 256
PREROLL_S = 10.0  # the default: what a cut just after a start can take with it
SEGMENT_S = 2.0  # short segments, so cuts also land on a segment change
# Where in a round the cut is aimed, and how often. The moments around a start (a new folder,
# the pre-roll, the first manifest) and a stop (final headers, manifest, rename) write the most
# metadata, so they get more than their share of the time.
AIMS = {
    "recording": 0.35,
    "just after the start": 0.15,
    "just after a start with a full pre-roll": 0.10,
    "as a start with a full pre-roll is answered": 0.0,  # only when asked for (the tests)
    "at the stop": 0.25,
    "after the stop": 0.15,
}

AT_A_START = [kind for kind in AIMS if "start" in kind]


def aim_at(kind: str, length: float, rng: random.Random) -> float:
    """Seconds after the start request for a cut of `kind` in a session of `length` s."""
    match kind:
        case "recording":
            return rng.uniform(0.0, length)
        case "just after the start" | "just after a start with a full pre-roll":
            return rng.uniform(0.0, 0.3)
        case "as a start with a full pre-roll is answered":
            return 0.0
        case "at the stop":
            return length + rng.uniform(0.0, 0.08)  # the finalize takes some 50 ms here
        case _:
            return length + rng.uniform(0.3, 1.5)


METHOD = (
    "atomic copy of the card's block image while the outer disk holding it is frozen "
    "(no device-mapper in this kernel)"
)


def _sbin(tool: str) -> str:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin") or tool


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_sbin(command[0]), *command[1:]], capture_output=True, text=True, check=False
    )


# ---- the card and its power cuts -------------------------------------------------------------


class Card:
    """The recorder's ext4 card, whose image sits on a freezable outer disk (see the module
    docstring): `cut(dest)` copies the card as a power cut at that instant would leave it."""

    def __init__(self, workdir: Path, size_mb: int = CARD_MB) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.outer = FreezableDisk(workdir, size_mb + 64)
        self.size_mb = size_mb
        self.mount = workdir / "card"

    @property
    def image(self) -> Path:
        return self.outer.mount / "card.img"

    def __enter__(self) -> Card:
        self.outer.__enter__()
        try:
            with open(self.image, "wb") as f:
                f.truncate(self.size_mb * 1024 * 1024)
            subprocess.run([_sbin("mkfs.ext4"), "-q", "-F", str(self.image)], check=True)
            self.mount.mkdir(exist_ok=True)
            done = _run("mount", "-o", "loop", str(self.image), str(self.mount))
            if done.returncode:
                raise RuntimeError(f"cannot loop-mount a disk image here: {done.stderr.strip()}")
        except BaseException:
            self.outer.__exit__(None, None, None)
            raise
        return self

    def freeze(self) -> None:
        """From now on the card's loop device can write nothing more to its image."""
        self.outer.freeze()

    def copy_and_thaw(self, dest: Path) -> None:
        try:
            subprocess.run(["cp", "--sparse=always", str(self.image), str(dest)], check=True)
        finally:
            self.outer.thaw()

    def __exit__(self, *exc: object) -> None:
        self.outer.thaw()
        _run("umount", str(self.mount))
        self.outer.__exit__(*exc)


# ---- what happened while recording ------------------------------------------------------------


@dataclass
class Truth:
    """One session as the daemon's client saw it (monotonic times, capture positions)."""

    id: str
    asked_at: float
    asked_pos: int
    acked_at: float
    stop_asked_at: float | None = None
    stop_acked_at: float | None = None
    stop_frames: int | None = None  # what the stop reply said the session holds
    finalized_at: float | None = None  # status showed it as the last finished session


@dataclass
class Cut:
    """One power cut: when it began (the freeze was asked for) and when it surely held."""

    round: int
    image: str
    began_at: float
    held_at: float
    pos_before: int  # frames captured when the freeze was asked for
    pos_held: int  # frames captured when it held: nothing captured later can be on the card
    freeze_s: float = 0.0  # fsfreeze, until it returned
    copy_s: float = 0.0  # the copy, while frozen
    planned: dict = field(default_factory=dict)  # where in the round the cut was aimed


def captured(feeder: Feeder) -> int:
    """Frames the recorder has taken from the virtual microphone so far."""
    return (feeder.written - feeder.unread()) // FRAME_BYTES


def record(
    card: Card,
    workdir: Path,
    plan: list[str],
    seed: int,
    log: Callable[[str], None] = lambda s: None,
) -> tuple[list[Truth], list[Cut], bytes]:
    """The real daemon records one session per entry of `plan` onto the card, cutting the power
    once in each, at a random instant of the part of the round the entry names (AIMS)."""
    rng = random.Random(seed)
    folder = workdir / "recording"
    folder.mkdir()
    snaps = workdir / "cuts"
    snaps.mkdir()
    m = mic(folder, "cardmic")
    fmt = FORMATS["S16_LE"]
    feeder = Feeder(
        m.infile, random_periods(fmt, 2, PERIOD_FRAMES, None, seed=seed), PERIOD_S, record=True
    )
    feeder.start()
    cfg = write_config(
        folder,
        m.name,
        audio={"preroll_s": PREROLL_S, "segment_s": SEGMENT_S},
        storage={"dir": str(card.mount / "sessions")},
    )
    daemon = Daemon(cfg, m)
    truths: list[Truth] = []
    cuts: list[Cut] = []
    try:
        daemon.wait_ready()
        daemon.wait_for(lambda s: s["device"] == "ok", 30)
        time.sleep(1.0)
        for n, kind in enumerate(plan):
            length = rng.uniform(2.0, 6.0)
            aim = aim_at(kind, length, rng)
            truth = start_session(daemon, feeder, n, kind)
            truths.append(truth)
            cut = Cut(n, str(snaps / f"cut-{n:02d}.img"), 0, 0, 0, 0)
            cut.planned = {"session": truth.id, "length_s": length, "at_s": aim, "aim": kind}
            cutter = threading.Thread(
                target=cut_power,
                args=(card, feeder, cut, truth.asked_at + aim),
                name="bench-cut",
                daemon=True,
            )
            cutter.start()
            time.sleep(max(0.0, truth.asked_at + length - time.monotonic()))
            stop_session(daemon, truth)
            cutter.join(60)
            cuts.append(cut)
            log(
                f"round {n}: {truth.id} {length:.1f} s, cut at {aim:.2f} s "
                f"(freeze {cut.freeze_s * 1000:.0f} ms, copy {cut.copy_s * 1000:.0f} ms)"
            )
            time.sleep(rng.uniform(0.3, 1.0))
    finally:
        daemon.stop()
        feeder.stop()
    if feeder.error is not None:
        raise RuntimeError(f"the virtual microphone's feeder failed: {feeder.error!r}")
    return truths, cuts, bytes(feeder.recorded or b"")


def start_session(daemon: Daemon, feeder: Feeder, n: int, kind: str) -> Truth:
    """Round `n`'s session started (after an idle spell that fills the pre-roll, when its kind
    of cut wants one), as the client saw it."""
    if "full pre-roll" in kind:
        time.sleep(PREROLL_S + 0.3)  # idle long enough to fill the ring
    asked_at, asked_pos = time.monotonic(), captured(feeder)
    reply = daemon.request({"cmd": "start"})
    if not reply.get("ok"):
        raise RuntimeError(f"round {n}: start refused: {reply}")
    return Truth(reply["session_id"], asked_at, asked_pos, time.monotonic())


def stop_session(daemon: Daemon, truth: Truth) -> None:
    """Stop the session and wait until it is finalized, noting when each happened."""
    truth.stop_asked_at = time.monotonic()
    stop = daemon.request({"cmd": "stop"})
    truth.stop_acked_at = time.monotonic()
    truth.stop_frames = stop.get("frames")
    daemon.wait_for(lambda s: (s.get("last_session") or {}).get("id") == truth.id, 60, 0.05)
    truth.finalized_at = time.monotonic()


def cut_power(card: Card, feeder: Feeder, cut: Cut, at: float) -> None:
    """At monotonic time `at`, the power cut: the card frozen, copied and thawed; `cut` notes
    when it began and held, and how much had been captured by then."""
    time.sleep(max(0.0, at - time.monotonic()))
    cut.began_at, cut.pos_before = time.monotonic(), captured(feeder)
    card.freeze()
    # the freeze held before fsfreeze returned: what was captured by now bounds it
    cut.held_at, cut.pos_held = time.monotonic(), captured(feeder)
    card.copy_and_thaw(Path(cut.image))
    cut.freeze_s = cut.held_at - cut.began_at
    cut.copy_s = time.monotonic() - cut.held_at


# ---- booting on a copy ---------------------------------------------------------------------


def fsck(image: Path) -> dict:
    """As a boot would: replay the journal, then a forced read-only check; repair only if that
    found something (and say what)."""
    replay = _run("e2fsck", "-E", "journal_only", "-y", str(image))
    check = _run("e2fsck", "-fn", str(image))
    out = {
        "journal_replayed": "recovering journal" in replay.stdout,
        "journal_rc": replay.returncode,
        "check_rc": check.returncode,
        "repairs": [],
    }
    if check.returncode:
        fix = _run("e2fsck", "-fy", str(image))
        out["repair_rc"] = fix.returncode
        out["repairs"] = [line for line in check.stdout.splitlines() if line.strip()][-20:]
    return out


def boot(image: Path, where: Path, seed: int) -> dict:
    """Mount the copy, start the real daemon on it (recovery runs at start), stop it, and list
    the sessions as a user would."""
    where.mkdir()
    mnt = where / "card"
    mnt.mkdir()
    done = _run("mount", "-o", "loop", str(image), str(mnt))
    if done.returncode:
        raise RuntimeError(f"the copy {image} does not mount: {done.stderr.strip()}")
    m = mic(where, "bootmic")
    feeder = Feeder(
        m.infile, random_periods(FORMATS["S16_LE"], 2, PERIOD_FRAMES, None, seed), PERIOD_S
    )
    feeder.start()
    cfg = write_config(
        where,
        m.name,
        audio={"preroll_s": PREROLL_S, "segment_s": SEGMENT_S},
        storage={"dir": str(mnt / "sessions")},
    )
    try:
        daemon = Daemon(cfg, m)
        try:
            daemon.wait_ready()
        finally:
            usage = daemon.stop()
            feeder.stop()
        listing = subprocess.run(
            [sys.executable, "-m", "recorder", "sessions", "--json", "--config", str(cfg)],
            capture_output=True,
            text=True,
            check=True,
        )
        sessions = json.loads(listing.stdout)
        daemon_log = (where / "daemon.log").read_text(errors="replace")
        return {
            "mount": mnt,
            "sessions": sessions,
            "recovered": [
                x["id"] for x in sessions if f"recovered session {x['id']}" in daemon_log
            ],
            "exit": daemon.proc.returncode,
            "cpu_s": usage.cpu_s,
        }
    except BaseException:
        _run("umount", str(mnt))
        raise


def soxi_frames(path: str) -> int | None:
    done = _run("soxi", "-s", path)
    return int(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def _describe_mismatch(folder: Path, manifest: dict, fed: bytes) -> dict:
    """Where a session stops being what was fed, and what it holds from there on (only gapless
    sessions are described)."""
    audio = b"".join(_session_audio(folder, manifest))
    start = manifest["start_pos"] * FRAME_BYTES
    expected = fed[start : start + len(audio)]
    first = next((i for i, (a, b) in enumerate(zip(audio, expected, strict=False)) if a != b), 0)
    rest = audio[first:]
    at = first // FRAME_BYTES
    in_fed = fed.find(rest[:64]) if len(rest) >= 64 else -1
    return {
        "first_wrong_frame": at,
        "wrong_frames": len(rest) // FRAME_BYTES,
        "all_zero": not any(rest),
        "found_in_feed_at_frame": in_fed // FRAME_BYTES if in_fed >= 0 else None,
        "expected_frame": (start + first) // FRAME_BYTES,
        "segment_bytes": [(folder / seg["file"]).stat().st_size for seg in manifest["segments"]],
    }


def judge_session(s: dict, truth: Truth, cut: Cut, fed: bytes, recovered: bool) -> dict:
    """One session on a booted copy beside what the client saw and what was fed."""
    folder = Path(s["path"])
    manifest = json.loads((folder / "manifest.json").read_text())
    check = compare(
        _session_audio(folder, manifest), bytes_reader(fed), manifest["start_pos"], s["gaps"]
    )
    offset = round(check.fed_offset_s * RATE)
    gap_frames = sum(g["frames"] for g in s["gaps"])
    end = manifest["start_pos"] + offset + s["frames"] + gap_frames  # in feed frames
    stopped = truth.stop_acked_at is not None and truth.stop_acked_at <= cut.began_at
    finalized = truth.finalized_at is not None and truth.finalized_at <= cut.began_at
    if stopped:
        assert truth.stop_frames is not None
        should_end = manifest["start_pos"] + offset + truth.stop_frames + gap_frames
    else:
        should_end = cut.pos_held
    playable = all(
        soxi_frames(path) == seg["frames"]
        for path, seg in zip(s["segments"], manifest["segments"], strict=True)
    )
    first = [seg["first_frame"] for seg in manifest["segments"]]
    sizes = [seg["frames"] for seg in manifest["segments"]]
    contiguous = first == [sum(sizes[:i]) for i in range(len(sizes))] and sum(sizes) == s["frames"]
    # a stop asked for before the power went may have reached the card, answered or not
    asked = truth.stop_asked_at is not None and truth.stop_asked_at <= cut.held_at
    want_reason = {"requested"} if finalized else {"requested", "interrupted"}
    if not asked:
        want_reason = {"interrupted"}
    return {
        "id": s["id"],
        "state": s["state"],
        "manifest_state": manifest["state"],
        "stop_reason": s["stop_reason"],
        "recovery": manifest.get("recovery"),
        "recovered_at_boot": recovered,
        "stop_asked_before_cut": asked,
        "stopped_before_cut": stopped,
        "finalized_before_cut": finalized,
        "frames": s["frames"],
        "gaps": s["gaps"],
        "lost_s": max(0, should_end - end) / RATE,
        "beyond_cut_s": max(0, end - should_end) / RATE,
        "check": asdict(check),
        "mismatch": _describe_mismatch(folder, manifest, fed) if check.mismatched else None,
        "in_order": check.mismatched == 0 and check.frames == s["frames"],
        "playable": playable and contiguous,
        "finalized": s["state"] == "outbox" and manifest["state"] == "finalized",
        "reason_ok": s["stop_reason"] in want_reason
        and (s["stop_reason"] != "interrupted" or bool(manifest.get("recovery"))),
    }


def judge(cut: Cut, truths: list[Truth], fed: bytes, booted: dict, fs: dict) -> dict:
    """Every session whose start was answered before the cut must be on the copy, finalized,
    playable, in order, and short of at most LOSS_LIMIT_S of what came before the cut."""
    listed = {s["id"]: s for s in booted["sessions"]}
    started = [t for t in truths if t.acked_at <= cut.began_at]
    in_flight = [t for t in truths if t.asked_at <= cut.held_at < t.acked_at]
    sessions = []
    missing = []
    for t in started:
        if t.id not in listed:
            missing.append(t.id)
            continue
        sessions.append(judge_session(listed[t.id], t, cut, fed, t.id in booted["recovered"]))
    unexpected = sorted(set(listed) - {t.id for t in started + in_flight})
    ordered = [s["id"] for s in booted["sessions"]] == sorted(listed)
    own = next(t for t in truths if t.id == cut.planned["session"])
    live = next((s for s in sessions if s["id"] == own.id), None)
    phase = _phase(cut, own)
    ok = (
        not missing
        and not unexpected
        and ordered
        and all(
            s["finalized"] and s["playable"] and s["in_order"] and s["reason_ok"] for s in sessions
        )
        and all(s["lost_s"] <= LOSS_LIMIT_S and s["beyond_cut_s"] < 0.2 for s in sessions)
        and all(s["lost_s"] == 0 for s in sessions if s["finalized_before_cut"])
    )
    return {
        "round": cut.round,
        "phase": phase,
        "cut_at_s": cut.began_at - own.asked_at,
        "planned": cut.planned,
        "freeze_ms": cut.freeze_s * 1000,
        "copy_ms": cut.copy_s * 1000,
        "fsck": fs,
        "expected": len(started),
        "listed": len(listed),
        "missing": missing,
        "unexpected": unexpected,
        "in_flight": [t.id for t in in_flight],
        "recovered": booted["recovered"],
        "stop_s": (own.finalized_at or 0) - (own.stop_asked_at or 0),
        "boot_exit": booted["exit"],
        "lost_s": max((s["lost_s"] for s in sessions), default=0.0),
        "live": live,
        "sessions": sessions,
        "ok": ok,
    }


PHASES = ("recording", "stopping", "after the stop")


def _phase(cut: Cut, t: Truth) -> str:
    """Where the cut fell in its round's session."""
    if t.stop_asked_at is None or cut.began_at < t.stop_asked_at:
        return "recording"
    if t.finalized_at is None or cut.began_at < t.finalized_at:
        return "stopping"
    return "after the stop"


def random_plan(rounds: int, seed: int) -> list[str]:
    """Which part of each round its cut aims at, drawn with AIMS's weights."""
    return random.Random(seed).choices(list(AIMS), weights=list(AIMS.values()), k=rounds)


def torture(
    workdir: Path,
    rounds: int | list[str],
    seed: int = 12,
    log: Callable[[str], None] = lambda s: None,
) -> dict:
    """The whole run: record with one cut per round (a number of rounds drawn at random, or
    the list of AIMS kinds, in order), then boot on every copy and judge it."""
    plan = random_plan(rounds, seed) if isinstance(rounds, int) else rounds
    unknown = sorted(set(plan) - set(AIMS))
    if unknown:
        raise ValueError(f"unknown kinds of cut {unknown}; known: {list(AIMS)}")
    why = FreezableDisk.unavailable()
    if why is not None:
        raise Unavailable(why)
    try:
        with Card(workdir / "disk") as card:
            truths, cuts, fed = record(card, workdir, plan, seed, log)
    except RuntimeError as exc:
        if not str(exc).startswith("cannot loop-mount"):  # no loop devices (a container)
            raise
        raise Unavailable(str(exc)) from None
    results = []
    for cut in cuts:
        image = Path(cut.image)
        fs = fsck(image)
        booted = boot(image, workdir / f"boot-{cut.round:02d}", seed + cut.round)
        try:
            results.append(judge(cut, truths, fed, booted, fs))
        finally:
            _run("umount", str(booted["mount"]))
            image.unlink()
        r = results[-1]
        log(
            f"round {cut.round}: {r['phase']}, {r['listed']}/{r['expected']} sessions, "
            f"lost {r['lost_s']:.2f} s, journal "
            f"{'replayed' if fs['journal_replayed'] else 'clean'}, check rc {fs['check_rc']}, "
            + ("ok" if r["ok"] else "NOT OK")
        )
    return {
        "method": METHOD,
        "rounds": results,
        "seed": seed,
        "sessions": [asdict(t) for t in truths],
    }


# ---- the report --------------------------------------------------------------------------------


def _kept(r: dict) -> bool:
    """Every session there, finalized, playable, in order, with its stop reason (the loss is
    judged on its own)."""
    return (
        not r["missing"]
        and not r["unexpected"]
        and r["boot_exit"] == 0
        and all(
            s["finalized"] and s["playable"] and s["in_order"] and s["reason_ok"]
            for s in r["sessions"]
        )
    )


def _fsck_word(fs: dict) -> str:
    journal = "journal replayed" if fs["journal_replayed"] else "clean"
    return journal + (f"; **repaired** ({len(fs['repairs'])} lines)" if fs["check_rc"] else "")


def report(data: dict) -> Section:
    rounds = data["rounds"]
    losses = [r["lost_s"] for r in rounds]
    while_recording = [r["lost_s"] for r in rounds if r["phase"] == "recording"] or [0.0]
    repaired = [r for r in rounds if r["fsck"]["check_rc"]]
    kept = [r for r in rounds if _kept(r)]
    stopped = [x["lost_s"] for r in rounds for x in r["sessions"] if x["stopped_before_cut"]]
    young = [r for r in rounds if r["phase"] == "recording" and r["cut_at_s"] < 1.0]
    at_start = [r for r in rounds if r["planned"]["aim"] in AT_A_START]
    full = sum("full pre-roll" in r["planned"]["aim"] for r in at_start)
    later = [r["lost_s"] for r in rounds if r["planned"]["aim"] not in AT_A_START]
    rows = []
    for r in rounds:
        live = r["live"] or {}
        c = live.get("check", {})
        recovered = "by recovery" if live.get("recovered_at_boot") else "before the cut"
        rows.append(
            [
                r["round"],
                r["planned"]["aim"],
                f"{r['cut_at_s']:.2f} of {r['planned']['length_s']:.1f}",
                r["phase"],
                f"{r['freeze_ms']:.0f} / {r['copy_ms']:.0f}",
                _fsck_word(r["fsck"]),
                f"{r['listed']} of {r['expected']}" + (" (+1 starting)" if r["in_flight"] else ""),
                f"{recovered}, {live.get('stop_reason', '—')}" if live else "**missing**",
                f"{r['lost_s']:.2f}",
                f"{c.get('exact', 0)} exact, {c.get('short_reads', 0)} short, "
                f"{c.get('mismatched', 0)} wrong",
                "yes" if r["ok"] else "**no**",
            ]
        )
    phases = {p: sum(r["phase"] == p for r in rounds) for p in PHASES}
    findings = [
        f"power cuts: {len(rounds)} rounds ("
        + ", ".join(f"{n} {p}" for p, n in phases.items())
        + "); every session whose start had been answered was on the copy, finalized, "
        f"playable, with the right stop reason and its audio exactly what was fed, in order, "
        f"after {len(kept)} of {len(rounds)} cuts ({len(young)} of them less than 1 s after "
        f"the start): {verdict(len(kept) == len(rounds))}",
        f"audio lost before a cut: max {max(losses):.2f} s, median {median(losses):.2f} s over "
        f"all {len(rounds)} rounds, {median(while_recording):.2f} s over the "
        f"{phases['recording']} cuts while recording (target at most {LOSS_LIMIT_S:g} s): "
        f"{verdict(max(losses) <= LOSS_LIMIT_S)}; sessions stopped before a cut "
        f"({len(stopped)} on all the copies) lost at most {max(stopped, default=0.0):.2f} s",
        f"cuts in the first 0.3 s after a start ({len(at_start)}, {full} of them with the "
        f"whole {PREROLL_S:g}-s pre-roll in the ring): up to "
        f"{max((r['lost_s'] for r in at_start), default=0.0):.2f} s lost; every other cut: up "
        f"to {max(later, default=0.0):.2f} s, median {median(later or [0.0]):.2f} s",
        f"e2fsck after the journal replay: {len(repaired)} of {len(rounds)} copies needed "
        "repairs; method: " + data["method"],
    ]
    return Section(
        key="powercut",
        title="Reliability: power cuts while recording (`bench/powercut.py`)",
        text=TEXT.format(
            limit=LOSS_LIMIT_S, segment=SEGMENT_S, preroll=PREROLL_S, full=PREROLL_S + 0.3
        ),
        tables=[
            table(
                [
                    "round",
                    "aimed",
                    "cut at s of",
                    "cut while",
                    "freeze / copy ms",
                    "e2fsck",
                    "sessions on the copy",
                    "its session: finalized, stop reason",
                    "s lost",
                    "its periods compared",
                    "ok",
                ],
                rows,
            )
        ],
        findings=findings,
        data=_compact(data),
    )


def _compact(data: dict) -> dict:
    """For the JSON: each copy's own session in full, the earlier ones it holds only counted
    unless one was not kept whole (30 copies of up to 30 sessions would be most of the JSON)."""

    def whole(s: dict) -> bool:
        return s["finalized"] and s["playable"] and s["in_order"] and s["lost_s"] == 0

    rounds = []
    for r in data["rounds"]:
        live = (r["live"] or {}).get("id")
        earlier = [s for s in r["sessions"] if s["id"] != live]
        rounds.append(
            {k: v for k, v in r.items() if k != "sessions"}
            | {"earlier_sessions": len(earlier)}
            | {"earlier_not_whole": [s for s in earlier if not whole(s)]}
        )
    return data | {"rounds": rounds}


TEXT = """
The real daemon (`session-recorder run`, `segment_s` {segment:g}, `preroll_s` {preroll:g}) records
onto a loop-mounted ext4 card fed by the virtual microphone at real time (random S16_LE stereo at
48 kHz, every fed byte kept). Each round starts a session 0.3-1 s after the last one stopped,
stops it 2-6 s later and cuts the power once at a random instant: anywhere in the session
(35 %, so also on a segment change), in the first 0.3 s after the start (15 %: the new folder,
the pre-roll, the first manifest), the same after {full:g} s idle, so that the whole pre-roll is
in the ring (10 %), in the first 0.08 s after the stop request (25 %: the finalize, some 50 ms
here: final headers, the manifest, the rename into the outbox) or 0.3-1.5 s after it (15 %).
The daemon runs on through all the rounds, so each copy also holds every earlier session, which
must be untouched.

**How the power is cut.** This kernel has no device-mapper (`dmsetup targets` fails), so
dm-log-writes and dm-flakey were not available. The card's image file lives on a second
loop-mounted ext4, and a cut freezes that outer disk (`fsfreeze`) and copies the image: while it
is frozen the card's loop device cannot hand its image file another block, so the copy holds
exactly what the card had been given up to one instant, atomically. The card's own file system
is never frozen, synced or unmounted and the daemon goes on recording (it sees a card that is
slow for the freeze and the copy). That is a power cut on a card that keeps every write it
acknowledged: it does not model a card with a volatile write cache losing acknowledged writes
since the last flush (dm-log-writes would), nor a torn sector.

**Booting on each copy**, as the box would: `e2fsck -E journal_only` replays the journal (as
systemd-fsck before the mount), `e2fsck -fn` then says whether anything else needed repair
(repaired with `-fy` if so, and counted), the copy is mounted, the real daemon is started on it
(recovery runs at start) and stopped, and `session-recorder sessions --json` lists what is there.
Every session whose start had been answered before the cut must be listed, in the outbox,
finalized, with stop reason `interrupted` and a recovery note (`requested` if its stop had been
answered before the cut), every segment readable by sox with the frames the manifest says, and
its audio exactly what was fed, period by period in order (gaps skipped). Audio lost is what had
been captured before the cut (the position when the freeze held, an upper bound) minus where the
recovered session ends; a session stopped before the cut must end where its stop said. Target:
at most {limit:g} s (the open segment's header is brought up to date and fsynced every 0.5 s).
A session whose start was still being answered when the power went may be there or not.

**Fixed from these measurements: a cut just after a start lost the pre-roll.** The writer was
handed the whole pre-roll at a start and wrote it at its usual pace, a header update and fsync
every 0.5 s of audio (`sync_s`), so the pre-roll reached the card some 20 fsyncs after the start
had been answered. Before, with a full 10-s pre-roll (the default), a cut this long after the
answer lost: 16 ms, 10.0 s (the session there with 0 frames); 50 ms, 5.6 s; 0.1 s, 2.1 s;
0.2 s, 3.2 s; 0.4 s, 0.5 s. Now the writer takes the pre-roll in 2-s batches, syncs the header
once it is all written, and only then lets the start be answered (`recorder/recording/writer/thread.py`);
`tests/recording/test_power_cut.py` cuts as the start is answered.

**Seen once, not reproduced:** in an earlier run of these 30 rounds, one copy cut 0.6 s into
a session held a recovered segment 117 frames (2.4 ms) longer than its last sync, ending on a
4096-byte page, whose last 117 frames were not what was fed; 100 more cuts while recording
(40, then 60, and 20 with the segment's pages pushed to the card every few tens of ms) showed
none. The cause is open (a page written back between two syncs with the file's new size, but
not its data, on the card is one candidate); the benchmark now records what such a tail holds.
"""


def run(opts: Options) -> Section:
    rounds = QUICK_ROUNDS if opts.quick else ROUNDS
    return report(torture(opts.workdir, rounds, log=lambda s: print(s, file=sys.stderr)))


if __name__ == "__main__":
    standalone(run)
