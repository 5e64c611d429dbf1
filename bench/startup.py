"""Start-up: from process start to READY and to the first pre-roll frame, beside `arecord` and
the bare interpreter.

The daemon is the real `session-recorder run` with NOTIFY_SOCKET (READY is timed from outside)
and the virtual microphone, which its capture helper process opens; beside it the same daemon
with ALSA in its own process (bench/inprocess.py), for what starting the helper costs. The first
frame is timed at the FIFO: one period is written as soon as ALSA opens the FIFO, and the moment
the write end reports nothing left unread (FIONREAD) is the moment the capture read took it.

    .venv/bin/python -m bench.startup [--quick] [--runs N]
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import soundfile

from bench.capture import CHANNELS, PERIOD, RATE, PipeFeeder, arecord_command
from bench.common import (
    Daemon,
    Options,
    Section,
    Unavailable,
    Usage,
    frame_bytes,
    median,
    mic,
    source_file,
    standalone,
    table,
    timed_process,
    write_config,
)

FMT = "S16_LE"
POLL_S = 0.0002  # how often the FIFO is looked at: the resolution of "first frame"
SIDES = ("recorder", "inprocess", "arecord", "python", "import")
PASS = [sys.executable, "-c", "pass"]
IMPORT = [sys.executable, "-c", "import recorder.app.daemon"]
# the same import, saying when the interpreter was ready and when the import was done: the
# monotonic clock is the machine's, so the times line up with this process's
TIMED_IMPORT = [
    sys.executable,
    "-c",
    "import time; t, c = time.monotonic(), time.process_time(); import recorder.app.daemon; "
    "print(t, c, time.monotonic(), time.process_time())",
]


def one_period() -> bytes:
    with open(source_file(FMT, 1.0, RATE, CHANNELS), "rb") as f:
        return f.read(PERIOD * frame_bytes(FMT, CHANNELS))


def first_read(probe: PipeFeeder, alive: Callable[[], bool], deadline: float) -> float:
    """When the reader took the one period: written, and then nothing left unread.

    On Linux FIONREAD on a pipe's write end gives the bytes not yet read; polled every 0.2 ms,
    so the time is at most that (plus scheduling) late.
    """
    while not probe.written:
        # a reader that took the period and exited already is fine: look once more
        if (probe.error or not alive() or time.monotonic() > deadline) and not probe.written:
            raise RuntimeError(f"the FIFO was never opened or written: {probe.error}")
        time.sleep(POLL_S)
    while probe.unread():
        if not alive() or time.monotonic() > deadline:
            raise RuntimeError("the first period was never read")
        time.sleep(POLL_S)
    return time.monotonic()


def run_recorder(where: Path, period: bytes, inprocess: bool = False) -> dict:
    """The daemon with its default config (10-s pre-roll): READY, first frame, CPU by then
    (the daemon's and its capture helper's). `inprocess`: ALSA in the daemon's process."""
    where.mkdir(parents=True)
    vmic = mic(where)
    config = write_config(where, vmic.name, audio={"format": FMT})
    probe = PipeFeeder(vmic.infile, iter([period]))
    probe.start()
    daemon = Daemon(config, vmic, inprocess=inprocess)
    try:
        first = first_read(probe, daemon.alive, time.monotonic() + 60) - daemon.started_at
        ready = daemon.wait_ready()
        cpu = daemon.cpu()  # once READY and the first frame have both happened
        # the helper's word that the device is open reaches the controller a moment after the
        # first read (later on a busy machine): wait for it rather than sample it once
        deadline = time.monotonic() + 20
        status = daemon.status()
        while status.get("device") == "opening" and time.monotonic() < deadline:
            time.sleep(0.05)
            status = daemon.status()
    finally:
        probe.stop()  # end of file: the capture thread can see the stop at once
        daemon.stop(timeout=10)
    # one period and then nothing: a second later the device is "stalled", and that is right
    if status["device"] not in ("ok", "stalled"):
        raise RuntimeError(f"the daemon has no device: {status}")
    shutil.rmtree(where, ignore_errors=True)
    return {
        "ready_s": ready,
        "first_frame_s": first,
        "cpu_s": cpu["total"],
        "daemon_cpu_s": cpu["daemon"],
        "helper_cpu_s": cpu["helper"],
    }


def run_arecord(where: Path, period: bytes) -> dict:
    """`arecord` taking one period from the same kind of microphone, then exiting."""
    where.mkdir(parents=True)
    vmic = mic(where)
    out = where / "one.wav"
    command = arecord_command(vmic.name, FMT, PERIOD, out)
    probe = PipeFeeder(vmic.infile, iter([period]))
    probe.start()
    result: dict[str, float | Usage | BaseException] = {}

    def record() -> None:
        result["started"] = time.monotonic()
        try:
            result["usage"] = timed_process(command, env=vmic.env())
        except BaseException as exc:  # reported below
            result["error"] = exc

    runner = threading.Thread(target=record, name="arecord")
    runner.start()
    try:
        first = first_read(probe, runner.is_alive, time.monotonic() + 30)
        runner.join(30)
    finally:
        probe.stop()
    usage = result.get("usage")
    if not isinstance(usage, Usage):
        raise RuntimeError(f"arecord failed: {result.get('error', 'no result in time')}")
    frames = soundfile.info(str(out)).frames
    if frames != PERIOD:
        raise RuntimeError(f"arecord wrote {frames} frames, not {PERIOD}")
    shutil.rmtree(where, ignore_errors=True)
    started = result["started"]
    assert isinstance(started, float)
    return {"first_frame_s": first - started, "exit_s": usage.wall_s, "cpu_s": usage.cpu_s}


def run_python() -> dict:
    usage = timed_process(PASS)
    return {"exit_s": usage.wall_s, "cpu_s": usage.cpu_s}


def run_import() -> dict:
    """`import recorder.app.daemon` in a fresh interpreter: its timeline from inside, CPU from wait4
    (interpreter teardown included, which the daemon's start-up does not have)."""
    started = time.monotonic()
    proc = subprocess.Popen(
        TIMED_IMPORT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    exited = time.monotonic()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"import recorder.app.daemon failed: {err.decode()[-500:]}")
    ready, ready_cpu, imported, imported_cpu = map(float, out.split())
    return {
        "interpreter_s": ready - started,
        "import_s": imported - ready,
        "import_cpu_s": imported_cpu - ready_cpu,
        "exit_s": exited - started,
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }


def outside(name: str) -> bool:
    """A package from outside the standard library and the recorder (top level only)."""
    return not (
        "." in name or name.startswith(("_", "recorder")) or name in sys.stdlib_module_names
    )


def import_breakdown() -> tuple[float, list[tuple[str, float]], list[tuple[str, float]]]:
    """`import recorder.app.daemon` under -X importtime (one run; it adds a little): the whole
    import in ms; each outside package's share, packages nested in it taken out; each of the
    recorder's modules' own code (pydantic builds its models there)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *IMPORT[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    own: dict[str, float] = {}
    mine: dict[str, float] = {}  # the recorder's modules: their own code only
    pending: list[tuple[int, float]] = []  # (depth, ms) of outside imports not yet attributed
    total = 0.0
    # a module's line comes after the lines of everything it imported, one level deeper
    for m in re.finditer(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)$", done.stderr, re.M):
        cum, depth, name = int(m[2]) / 1000, len(m[3]) // 2, m[4]
        if name.startswith("recorder"):
            mine[name] = int(m[1]) / 1000
        inner = sum(t for d, t in pending if d > depth)
        pending = [(d, t) for d, t in pending if d <= depth]
        if outside(name):
            own[name] = cum - inner
            pending.append((depth, cum))
        elif inner:
            pending.append((depth, inner))
        if name == "recorder.app.daemon":
            total = cum
    return (
        total,
        sorted(own.items(), key=lambda kv: -kv[1]),
        sorted(mine.items(), key=lambda kv: -kv[1]),
    )


def run(opts: Options) -> Section:
    if shutil.which("arecord") is None:
        raise Unavailable("arecord is missing (Debian package alsa-utils): no baseline")
    runs = max(opts.runs, 2) if opts.quick else max(opts.runs, 7)  # each run takes seconds
    period = one_period()
    results: dict[str, list[dict]] = {side: [] for side in SIDES}
    for i in range(runs):
        k = i % len(SIDES)
        for side in SIDES[k:] + SIDES[:k]:  # each goes first in turn
            where = opts.workdir / f"{side}-{i}"
            if side in ("recorder", "inprocess"):
                results[side].append(run_recorder(where, period, side == "inprocess"))
            elif side == "arecord":
                results[side].append(run_arecord(where, period))
            else:
                results[side].append(run_python() if side == "python" else run_import())
    return section(runs, results, *import_breakdown())


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}" if seconds >= 0.1 else f"{seconds * 1000:.1f}"


def section(
    runs: int,
    results: dict[str, list[dict]],
    import_ms: float,
    imports: list[tuple[str, float]],
    mine: list[tuple[str, float]],
) -> Section:
    def med(side: str, key: str) -> float:
        return median([r[key] for r in results[side]])

    ready, first = med("recorder", "ready_s"), med("recorder", "first_frame_s")
    i_ready, i_first = med("inprocess", "ready_s"), med("inprocess", "first_frame_s")
    a_first = med("arecord", "first_frame_s")
    py, imp = med("python", "exit_s"), med("import", "import_s")
    interp = med("import", "interpreter_s")
    rows = [
        ["to READY (sd_notify), ms", ms(ready), ms(i_ready), "", "", ""],
        ["to the first pre-roll frame read, ms", ms(first), ms(i_first), ms(a_first), "", ""],
        ["… ÷ arecord's", f"{first / a_first:.0f}×", f"{i_first / a_first:.0f}×", "1×", "", ""],
        ["to the interpreter running the script, ms", "", "", "", "", ms(interp)],
        ["… then `import recorder.app.daemon` alone, ms", "", "", "", "", ms(imp)],
        ["to exit, ms", "", "", ms(med("arecord", "exit_s")), ms(py),
         ms(med("import", "exit_s"))],
        ["CPU, ms", *(ms(med(side, "cpu_s")) for side in SIDES)],
        ["… of which the capture helper, ms", ms(med("recorder", "helper_cpu_s")), "", "", "",
         ""],
        ["… of which the import alone, ms", "", "", "", "", ms(med("import", "import_cpu_s"))],
    ]  # fmt: skip
    tables = [
        table(
            [
                f"from process start (median of {runs})",
                "session-recorder run",
                "… ALSA in the daemon's process",
                "arecord, one period",
                "python -c pass",
                "python -c 'import recorder.app.daemon'",
            ],
            rows,
        )
    ]
    if imports:
        outside_ms = sum(cost for _, cost in imports)
        rows = [[f"`{name}`", f"{cost:.0f}"] for name, cost in imports[:6]]
        rows.append([f"all {len(imports)} outside packages", f"{outside_ms:.0f}"])
        rows += [[f"`{name}` (its own code)", f"{cost:.0f}"] for name, cost in mine[:3]]
        rows.append(["the recorder's modules and the standard library, in all",
                     f"{import_ms - outside_ms:.0f}"])  # fmt: skip
        rows.append(["`import recorder.app.daemon` in all", f"{import_ms:.0f}"])
        tables.append(table(["what `import recorder.app.daemon` spends its time on", "ms"], rows))
    later = max(ready, first)
    findings = [
        f"Start-up to READY: {ready:.2f} s; to the first pre-roll frame: {first:.2f} s, "
        f"{first / a_first:.0f}× arecord's {ms(a_first)} ms (no target; CPU by then "
        f"{med('recorder', 'cpu_s'):.2f} s, of which the capture helper "
        f"{med('recorder', 'helper_cpu_s'):.2f} s)",
        f"The capture helper's cost at start-up: with ALSA in the daemon's own process the "
        f"first frame comes after {i_first:.2f} s ({first - i_first:+.2f} s with the helper, "
        f"which starts a second interpreter once the daemon's threads run), READY after "
        f"{i_ready:.2f} s ({ready - i_ready:+.2f} s), CPU "
        f"{med('inprocess', 'cpu_s'):.2f} s ({med('recorder', 'cpu_s') - med('inprocess', 'cpu_s'):+.2f} s)",
        f"Interpreter and imports: the interpreter runs its first line {ms(interp)} ms after "
        f"the process starts (`python -c pass` exits after {ms(py)} ms); `import "
        f"recorder.app.daemon` then takes {ms(imp)} ms ({ms(med('import', 'import_cpu_s'))} ms CPU):"
        f" together {100 * (interp + imp) / later:.0f}% of the daemon's start-up (other processes,"
        " other runs: near 100% means the imports are all of it)",
    ]
    return Section(
        key="startup",
        title="Start-up: process start to READY and to the first frame",
        text=TEXT.format(runs=runs, poll_ms=POLL_S * 1000),
        tables=tables,
        findings=findings,
        data={
            "runs": runs,
            "results": results,
            "import_ms": import_ms,
            "imports_own_ms": dict(imports),
            "recorder_modules_own_ms": dict(mine),
        },
    )


TEXT = """\
How long after systemd starts the service it is ready and hearing the room, and how much of
that is Python. *Recorder*: the real `session-recorder run` (default config: 10-s pre-roll; no
GPIO, MQTT or upload) in a process of its own with NOTIFY_SOCKET set, timed from just before
the process is created to READY=1 on the notify socket and to the first pre-roll frame, which
its capture helper process (a second interpreter, started by the capture thread, that owns the
ALSA device) reads and hands on through a pipe; CPU is the daemon's and the helper's. Beside it,
taking turns, the same daemon with ALSA in its own process (`bench/inprocess.py`): the
difference is what the helper costs at start-up. The
virtual microphone's FIFO is opened by a writer that blocks until ALSA opens the other end and
then writes one period (0.1 s of S16_LE 48 kHz stereo); the frame counts as read when the pipe's
write end reports nothing left unread (FIONREAD, polled every {poll_ms:.1f} ms). CPU is the
two processes' user + system time once both have happened. *Baselines*, taking turns ({runs}
runs each, medians): `arecord` reading one period the same way (process start to first frame;
exit and CPU from wait4); the bare interpreter (`python -c pass`, to exit); and a fresh
interpreter running `import recorder.app.daemon`, which reports from inside when its first line ran
and when the import was done (the monotonic clock is shared, so the times line up). That import
is the part of the daemon's start-up that is Python and its libraries rather than the
recorder's own work (config, storage lock, crash repair, threads, opening the device); its
exit and CPU include tearing the interpreter down, which the daemon's start-up does not.
Caches are warm (every run but the first finds the files in memory): a cold boot from a Pi's
SD card is slower, mostly in the import. The second table breaks the import down (one run with
`-X importtime`, which adds a little): outside packages with the packages nested in them taken
out, and the recorder's heaviest modules by their own code (pydantic builds its models there).
"""


if __name__ == "__main__":
    standalone(run)
