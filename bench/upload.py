"""One upload pass of a one-hour session beside a bare `rclone copy` of the same files.

The session is what the recorder leaves in `outbox/`: 48 kHz S16_LE stereo speech-like audio
in 300 s WAV segments, three markers (cue chunks, labels.txt) and a finalized manifest. Its
deliverables are built once, as the box builds them (FLAC with its decode-and-compare check,
mono CBR MP3), and timed on their own; they are not part of the upload pass.

The pass is `OutboxWorker.pass_once()` with the real `Rclone` adapter, in its two phases: the
upload phase (copy through rclone-python into a crypt remote over `rclone serve s3` on
loopback, manifest marked "uploaded" and sent again, move to `uploaded/`: the session is on the
remote), then the verify phase (`cryptcheck`, manifest marked verified locally and on the
remote, retention). The upload phase is what is judged against the target; the verify phase
and the whole pass are reported beside it. The baseline is one bare `rclone copy` of the same
files with the same config and flags into a fresh folder of the same remote. Runs alternate
(pass, bare, bare, pass, ...), each into a fresh remote folder; medians.

    .venv/bin/python bench/upload.py [--quick] [--runs N]
"""

from __future__ import annotations

import os
import resource
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from bench.common import (
    TICK,
    Options,
    Section,
    frame_bytes,
    median,
    self_cpu_s,
    source_file,
    standalone,
    table,
    timed_process,
    verdict,
)
from recorder.adapters.disk import StatvfsDisk
from recorder.adapters.rclone.client import Rclone
from recorder.config import UploadSection
from recorder.core.manifest import AudioInfo, Manifest, Marker, SegmentInfo
from recorder.core.recording.state import Event, SessionUploaded
from recorder.media.deliverables import FLAC_NAME, MP3_NAME
from recorder.media.flac import build_flac
from recorder.media.mp3 import build_mp3, mp3_bitrate_kbps
from recorder.media.wav import SoundfileSegment, file_sha256
from recorder.outbox.worker import Hookup, OutboxWorker
from recorder.store.markers import finalize_markers
from recorder.store.sessions import MANIFEST, SessionStore
from tests.rclone_server import CRYPT_REMOTE, S3Server, rclone_binary, write_config

RATE, CHANNELS, FMT = 48000, 2, "S16_LE"
SEGMENT_S = 300  # the recorder's default segment length
SESSION_ID = "000001-20261129T093000Z"
TARGET = 1.1  # the session must be on the remote within this many times the bare copy's time

T = TypeVar("T")


# ---- the session ----------------------------------------------------------------------------


def make_session(store: SessionStore, seconds: float) -> Path:
    """A finalized session in outbox/, written by the recorder's own segment writer."""
    fb = frame_bytes(FMT, CHANNELS)
    source = source_file(FMT, seconds)
    total = source.stat().st_size // fb
    folder = store.state_dir("outbox") / SESSION_ID
    folder.mkdir(parents=True)
    segments: list[SegmentInfo] = []
    with open(source, "rb") as f:
        first = 0
        while first < total:
            frames = min(SEGMENT_S * RATE, total - first)
            name = f"seg-{len(segments):04d}.wav"
            seg = SoundfileSegment(folder / name, RATE, CHANNELS, FMT)
            left = frames
            while left:
                chunk = f.read(min(left, 10 * RATE) * fb)
                seg.write(chunk)
                left -= len(chunk) // fb
            seg.close()
            segments.append(
                SegmentInfo(
                    file=name,
                    index=len(segments),
                    first_frame=first,
                    first_pos=first,
                    frames=frames,
                    closed=True,
                )
            )
            first += frames
    markers = [
        Marker(frame=total * k // 4, seconds=round(total * k / 4 / RATE, 3), label=f"topic {k}")
        for k in (1, 2, 3)
    ]
    manifest = Manifest(
        id=SESSION_ID,
        device_id="bench",
        audio=AudioInfo(device="benchmic", rate=RATE, channels=CHANNELS, format=FMT),
        started_at="2026-11-29T09:30:00+00:00",
        clock_synced=True,
        start_pos=0,
        preroll_frames=0,
        frames=total,
        state="finalized",
        segments=segments,
        markers=markers,
        stop_reason="requested",
        ended_at="2026-11-29T10:30:00+00:00",
    )
    finalize_markers(folder, manifest)  # cue chunks into the segments, labels.txt
    for seg in segments:
        if seg.sha256 is None:
            seg.bytes = (folder / seg.file).stat().st_size
            seg.sha256 = file_sha256(folder / seg.file)
    store.write_manifest(folder, manifest)
    return folder


@dataclass
class Built:
    seconds: float  # of audio
    sizes: dict[str, int]  # "wav" (the segments), "flac", "mp3" -> bytes
    wall: dict[str, float]  # "flac", "mp3" -> seconds to build
    cpu: dict[str, float]


def build(folder: Path, store: SessionStore) -> Built:
    """FLAC (verified) and MP3, built as `build_deliverables` does but timed one by one."""
    manifest = store.read_manifest(folder)
    wall, cpu = {}, {}
    for kind, builder, name in (("flac", build_flac, FLAC_NAME), ("mp3", build_mp3, MP3_NAME)):
        t0, c0 = time.perf_counter(), self_cpu_s()
        builder(folder, manifest, folder / name)
        wall[kind], cpu[kind] = time.perf_counter() - t0, self_cpu_s() - c0
    sizes = {
        "wav": sum((folder / s.file).stat().st_size for s in manifest.segments),
        "flac": (folder / FLAC_NAME).stat().st_size,
        "mp3": (folder / MP3_NAME).stat().st_size,
    }
    return Built(manifest.frames / RATE, sizes, wall, cpu)


# ---- measuring ------------------------------------------------------------------------------


def children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def process_cpu_s(pid: int) -> float:
    """user + system seconds of a running process (the S3 server), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class TimedRemote:
    """The real Rclone adapter (a `RemoteStore`); the wall time of every call the worker makes
    is recorded under the phase it belongs to (`phase` is switched when the session reaches
    the remote), so the pass can be split into copy, verification, manifests and the rest."""

    def __init__(self, inner: Rclone) -> None:
        self.inner = inner
        self.phase = "upload"
        self.calls: list[tuple[str, str, float]] = []  # (phase, what, seconds)

    def _timed(self, what: str, call: Callable[[], T]) -> T:
        start = time.perf_counter()
        try:
            return call()
        finally:
            self.calls.append((self.phase, what, time.perf_counter() - start))

    def upload(
        self,
        local_dir: Path,
        files: Sequence[str],
        remote_dir: str,
        force: bool = False,
        progress: Callable[[dict], None] | None = None,
    ) -> None:
        what = "manifest" if list(files) == [MANIFEST] else "copy"
        self._timed(what, lambda: self.inner.upload(local_dir, files, remote_dir, force, progress))

    def verify(self, local_dir: Path, files: Sequence[str], remote_dir: str) -> list[str]:
        return self._timed("verify", lambda: self.inner.verify(local_dir, files, remote_dir))

    def purge(self, remote_dir: str) -> None:
        self.inner.purge(remote_dir)

    def link(self, remote_path: str) -> str | None:
        return self.inner.link(remote_path)


@dataclass(frozen=True)
class Clock:
    """Wall and CPU clocks read at one moment, to take differences of."""

    wall: float
    cpu_children: float
    cpu_self: float
    cpu_server: float


@dataclass
class Run:
    wall: float
    cpu_children: float  # rclone (and the shell rclone-python starts it with)
    cpu_self: float  # this process: the worker's Python
    cpu_server: float  # `rclone serve s3`: the cloud's side, not the box's
    phases: dict[str, float] = field(default_factory=dict)

    @classmethod
    def between(cls, a: Clock, b: Clock) -> Run:
        return cls(
            b.wall - a.wall,
            b.cpu_children - a.cpu_children,
            b.cpu_self - a.cpu_self,
            b.cpu_server - a.cpu_server,
        )

    def row(self) -> dict:
        return {
            "wall_s": self.wall,
            "cpu_rclone_s": self.cpu_children,
            "cpu_python_s": self.cpu_self,
            "cpu_server_s": self.cpu_server,
            **{f"{k}_s": v for k, v in self.phases.items()},
        }


class Bench:
    """One session, one S3 server and one rclone config, for passes and bare copies in turn."""

    def __init__(self, workdir: Path, server: S3Server, store: SessionStore, folder: Path):
        self.server = server
        self.store = store
        self.pristine = (folder / MANIFEST).read_bytes()
        self.config = write_config(workdir / "rclone.conf", server)
        self.remote = Rclone(self.config, rclone_binary())
        # A daemon asks `listremotes` once in its life (the adapter caches the answer); asked
        # here before any timing, so each pass is one of the steady state.
        start = time.perf_counter()
        self.remote.remote_type(f"{CRYPT_REMOTE}:")
        self.listremotes_s = time.perf_counter() - start
        self.files: list[str] = []
        self.sent = 0  # bytes the pass sends (the manifest counted once)

    def reset(self) -> Path:
        """The session back in outbox/ with its manifest as the recorder left it."""
        folder = self.store.state_dir("outbox") / SESSION_ID
        done = self.store.state_dir("uploaded") / SESSION_ID
        if done.exists():
            os.replace(done, folder)
        (folder / MANIFEST).write_bytes(self.pristine)
        return folder

    def forget_remote(self) -> None:
        """Empty the server between runs (behind its back, then drop its caches)."""
        prefix = self.server.bucket_dir / "recordings"
        if prefix.is_dir():
            for child in prefix.iterdir():
                shutil.rmtree(child)
            self.server.settle()

    def upload_pass(self, name: str) -> tuple[Run, Run, Run]:
        """One pass -> (the whole pass, its upload phase, its verify phase). The upload phase
        ends when the worker announces the session uploaded (moved to uploaded/, on the
        remote); everything after it is the verify phase."""
        self.reset()
        upload = UploadSection(
            remote=f"{CRYPT_REMOTE}:{name}", rclone_config=self.config, keep_free_mb=0
        )
        timed = TimedRemote(self.remote)
        arrived: list[Clock] = []

        def emit(event: Event) -> None:
            if isinstance(event, SessionUploaded):
                arrived.append(self._clock())
                timed.phase = "verify"

        worker = OutboxWorker(
            self.store, upload, timed, StatvfsDisk(), Hookup(recording=lambda: False, emit=emit)
        )
        start = self._clock()
        worker.pass_once()
        end = self._clock()
        done = self.store.sessions("uploaded")
        if [s.id for s in done] != [SESSION_ID] or done[0].manifest.upload.status != "verified":
            raise RuntimeError(f"the pass did not verify the session: {worker.status()}")
        self.files = list(done[0].manifest.upload.files)
        self.sent = sum(done[0].manifest.upload.files.values())
        whole = Run.between(start, end)
        phases = {"upload": Run.between(start, arrived[0]), "verify": Run.between(arrived[0], end)}
        for phase, what, seconds in timed.calls:
            key = f"{what}_{phase}" if what == "manifest" else what
            whole.phases[key] = whole.phases.get(key, 0.0) + seconds
        for phase, run in phases.items():
            remote_s = sum(s for p, _, s in timed.calls if p == phase)
            whole.phases[f"bookkeeping_{phase}"] = run.wall - remote_s
        self.forget_remote()
        return whole, phases["upload"], phases["verify"]

    def bare_copy(self, name: str) -> Run:
        folder = self.reset()
        listing = folder.parent.parent / "bare-files"
        listing.write_text("".join(f"{file}\n" for file in self.files))
        command = [
            str(self.remote.binary),
            "copy",
            str(folder),
            f"{CRYPT_REMOTE}:{name}/{SESSION_ID}",
            "--files-from-raw",
            str(listing),
            *self.remote.flags,
        ]
        env = {**os.environ, "RCLONE_CONFIG": str(self.config)}
        s0, c0, p0 = self._server_cpu(), children_cpu_s(), self_cpu_s()
        usage = timed_process(command, env=env)
        run = Run(usage.wall_s, children_cpu_s() - c0, self_cpu_s() - p0, self._server_cpu() - s0)
        listing.unlink()
        self.forget_remote()
        return run

    def _clock(self) -> Clock:
        return Clock(time.perf_counter(), children_cpu_s(), self_cpu_s(), self._server_cpu())

    def _server_cpu(self) -> float:
        assert self.server.proc is not None
        return process_cpu_s(self.server.proc.pid)


# ---- the section ----------------------------------------------------------------------------


def run(opts: Options) -> Section:
    seconds = 30.0 if opts.quick else 3600.0
    root = opts.workdir / "upload"
    store = SessionStore(root / "sessions")
    store.prepare()
    try:
        folder = make_session(store, seconds)
        built = build(folder, store)
        passes: list[Run] = []
        uploads: list[Run] = []  # the upload phase of each pass: until the session is on the remote
        verifies: list[Run] = []  # the verify phase of each pass
        bares: list[Run] = []

        def one_pass(n: int) -> None:
            whole, upload, verify = bench.upload_pass(f"pass-{n}")
            passes.append(whole)
            uploads.append(upload)
            verifies.append(verify)

        with S3Server(root / "s3") as server:
            bench = Bench(root, server, store, folder)
            bench.upload_pass("warm-up")  # warms the page cache, learns the files; not counted
            for n in range(opts.runs):
                # pass, bare, bare, pass, ...: neither always goes first
                if n % 2 == 0:
                    one_pass(n)
                    bares.append(bench.bare_copy(f"bare-{n}"))
                else:
                    bares.append(bench.bare_copy(f"bare-{n}"))
                    one_pass(n)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return section(opts, built, Measured(bares, uploads, verifies, passes), bench)


@dataclass
class Measured:
    bares: list[Run]
    uploads: list[Run]  # upload phases
    verifies: list[Run]  # verify phases
    passes: list[Run]  # whole passes


def _med(runs: list[Run], key: str) -> float:
    return median([r.row().get(key, 0.0) for r in runs])


def _length(seconds: float) -> str:
    return f"{seconds:.0f}-second" if seconds < 120 else f"{seconds / 60:.0f}-minute"


UPLINK_MBIT = 20  # a plausible office uplink, for the reading aid in the text only

PHASES = (
    ("upload", "copy", "rclone copy of the files (rclone-python, JSON stats every 1 s)"),
    ("upload", "manifest_upload", 'the manifest, marked "uploaded", sent again'),
    ("upload", "bookkeeping_upload", "manifest writes (fsync), listing, move to uploaded/"),
    ("verify", "verify", "verification: `rclone cryptcheck` of the same files"),
    ("verify", "manifest_verify", "the manifest, marked verified, sent again"),
    ("verify", "bookkeeping_verify", "listing of uploaded/, manifest write (fsync), retention"),
)


def section(opts: Options, built: Built, measured: Measured, bench: Bench) -> Section:
    hours = built.seconds / 3600
    per_hour = {k: v / hours / 1e6 for k, v in built.sizes.items()}
    sent = bench.sent
    kbps = mp3_bitrate_kbps()
    deliverables = table(
        ["file", "MB", "MB per hour", "of the WAV", "built at × real time", "build CPU s"],
        [
            ["WAV segments (the record)", built.sizes["wav"] / 1e6, per_hour["wav"], "100 %",
             "-", "-"],
            ["session.flac (incl. decode-and-compare)", built.sizes["flac"] / 1e6,
             per_hour["flac"], f"{100 * built.sizes['flac'] / built.sizes['wav']:.0f} %",
             built.seconds / built.wall["flac"], built.cpu["flac"]],
            [f"session.mp3 (mono {kbps} kbps CBR)", built.sizes["mp3"] / 1e6, per_hour["mp3"],
             f"{100 * built.sizes['mp3'] / built.sizes['wav']:.1f} %",
             built.seconds / built.wall["mp3"], built.cpu["mp3"]],
        ],
    )  # fmt: skip
    passes, bares = measured.passes, measured.bares
    pass_wall, bare_wall = _med(passes, "wall_s"), _med(bares, "wall_s")
    on_remote = _med(measured.uploads, "wall_s")
    verifying = _med(measured.verifies, "wall_s")
    ratio, whole_ratio = on_remote / bare_wall, pass_wall / bare_wall
    rows = []
    for name, runs, moved in (
        ("bare `rclone copy`", bares, True),
        ("upload phase: until the session is on the remote", measured.uploads, True),
        ("verify phase (after every queued upload)", measured.verifies, False),
        ("whole pass (`pass_once`: both phases)", passes, True),
    ):
        wall = _med(runs, "wall_s")
        rows.append(
            [
                name,
                wall,
                f"{wall / bare_wall:.2f}×",
                _med(runs, "cpu_rclone_s"),
                _med(runs, "cpu_python_s"),
                _med(runs, "cpu_server_s"),
                sent / wall / 1e6 if moved else "-",
            ]
        )
    upload = table(
        ["", "wall s", "vs bare", "rclone CPU s", "Python CPU s", "server CPU s", "MB/s"], rows
    )
    phase = {key: _med(passes, f"{key}_s") for _, key, _ in PHASES}
    breakdown = table(
        ["part of the pass", "phase", "wall s", "share of the pass", "vs bare copy"],
        [
            [text, where, phase[key], f"{100 * phase[key] / pass_wall:.0f} %",
             f"{phase[key] / bare_wall:.2f}×"]
            for where, key, text in PHASES
        ],
    )  # fmt: skip

    def box_cpu(runs: list[Run]) -> float:
        return _med(runs, "cpu_rclone_s") + _med(runs, "cpu_python_s")

    cpu_ratio = box_cpu(passes) / box_cpu(bares)
    uplink_s = sent * 8 / (UPLINK_MBIT * 1e6)
    findings = [
        f"Session on the remote (upload phase: copy, manifest, bookkeeping) {ratio:.2f}× the "
        f"wall time of a bare `rclone copy` of the same {sent / 1e6:.0f} MB "
        f"(target ≤ {TARGET}×): {verdict(ratio <= TARGET)}",
        f"Verification phase (`cryptcheck`, manifest marked verified, retention) "
        f"{verifying:.2f} s, {verifying / bare_wall:.2f}× the bare copy, run once every queued "
        f"session is on the remote; the whole pass is {whole_ratio:.2f}× (verification kept: "
        "see the text)",
        f"CPU on the box's side (rclone + Python): whole pass {cpu_ratio:.2f}× the bare copy",
        f"Per hour of speech-like audio: WAV {per_hour['wav']:.0f} MB, FLAC "
        f"{per_hour['flac']:.0f} MB, MP3 {per_hour['mp3']:.1f} MB; FLAC built (and verified) "
        f"at {built.seconds / built.wall['flac']:.0f}× real time, MP3 at "
        f"{built.seconds / built.wall['mp3']:.0f}×",
    ]
    if opts.quick:
        findings.append(
            f"Quick mode: {built.seconds:.0f} s of audio, so starting rclone processes (two in "
            "the upload phase, two in the verify phase, one in the bare copy) dominates every "
            "number; the ratios mean nothing here"
        )
    files = ", ".join(f"`{f}`" for f in bench.files)
    text = f"""
What was measured: a finished {_length(built.seconds)} session (48 kHz S16_LE stereo
speech-like audio in 300 s WAV segments written by the recorder's own segment writer, three
markers, a finalized manifest) in `outbox/`. Its deliverables were built once, as the box
builds them, and timed apart from the upload; the FLAC's time includes decoding it again and
comparing every sample with the segments. Sizes per hour are this session's scaled to 60 min.

The upload pass is `OutboxWorker.pass_once()` with the real `Rclone` adapter, called in this
process once the deliverables exist. It runs in two phases. The upload phase sends {files}
(the FLAC replaces the WAV segments) through rclone-python into a crypt remote over
`rclone serve s3` on loopback, writes the manifest as "uploaded", sends it again and moves the
session to `uploaded/`: it is on the remote, and the worker says so (`session_uploaded`);
that moment ends the upload phase, and that time is the one judged against the target. The
verify phase, which starts only once no due session is left in `outbox/`, runs
`rclone cryptcheck` on the files (the manifest aside: it changes with every state and is sent
again at each), writes the manifest as verified, sends it again and applies retention. The
baseline is one bare `rclone copy` of the same files with the same config and flags
(`--files-from-raw`, the adapter's retry and timeout flags) into a fresh folder of the same
crypt remote. Pass and bare copy alternate ({opts.runs} of each, after one unmeasured pass
that warms the page cache), every run into a fresh remote folder; medians are shown. CPU:
rclone's from `getrusage(RUSAGE_CHILDREN)` deltas, this process's own (the worker's Python),
and the server's from /proc (the cloud's cost, not the box's), each read at the start, at
the end of the upload phase and at the end of the pass. The remote's type is asked once
before timing (`rclone listremotes`, {bench.listremotes_s:.2f} s), as a running daemon asks
it once in its life. The worker runs at normal priority here; in the daemon its thread and
rclone run at nice 10.

How to read it: "vs bare" is wall time over the bare copy's; the breakdown splits the pass
by phase. Loopback is a link of unlimited speed, so this is the worst case for everything the
pass adds to the copy. Most of that is verification: `cryptcheck` reads every local file
again, encrypts it with the nonce of the remote copy and compares its MD5 with the one the
storage reports. `rclone copy` already compares the MD5 of the ciphertext it streamed with
the storage's, but that cannot see a remote object changed after the upload, nor a local read
that returned wrong bytes while sending; only a check after the upload can, and a session's
local copy may be deleted once it passes, so the check stays. It runs after every queued
upload rather than after each one, so sessions leave the box sooner: after a network outage
with a backlog, each session waits only for the copies queued before it, not for their
verifications as well, and if the link drops again, more of them are already off the box. It
still gates deletion: a session is "uploaded" (kept, whatever the free space) until its check
passes, and one that fails goes back to `outbox/` to be sent again. On the box the uplink sets
the copy's time: at {UPLINK_MBIT} Mbit/s these {sent / 1e6:.0f} MB take at least
{uplink_s:.0f} s, beside which this machine's verification time is
{100 * phase["verify"] / uplink_s:.1f} % (arithmetic, not measured; a Pi hashes slower).
Server and client share {os.cpu_count()} cores here, so the numbers are noisy: compare the
rows of one run, not runs.
"""
    return Section(
        key="upload",
        title="Upload: one pass of a one-hour session beside a bare rclone copy",
        text=text,
        tables=[deliverables, upload, breakdown],
        findings=findings,
        data={
            "audio_s": built.seconds,
            "sizes_bytes": built.sizes,
            "sizes_mb_per_hour": per_hour,
            "build_wall_s": built.wall,
            "build_cpu_s": built.cpu,
            "encode_x_realtime": {k: built.seconds / v for k, v in built.wall.items()},
            "files_sent": bench.files,
            "bytes_sent": sent,
            "listremotes_s": bench.listremotes_s,
            "ratio_on_remote_over_bare": ratio,
            "ratio_verify_phase_over_bare": verifying / bare_wall,
            "ratio_pass_over_bare": whole_ratio,
            "cpu_ratio": cpu_ratio,
            "target_ratio": TARGET,
            "passes": [r.row() for r in passes],
            "upload_phases": [r.row() for r in measured.uploads],
            "verify_phases": [r.row() for r in measured.verifies],
            "bare": [r.row() for r in bares],
        },
    )


if __name__ == "__main__":
    standalone(run)
