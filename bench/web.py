"""The web server: media throughput beside aiohttp's plain static files, what it costs the
recording, and its memory.

(a) A 60-minute session's session.mp3 and session.flac, served by `session-recorder web` (the
    login checked, the session found in the store, its files named) and by a bare aiohttp
    static route over the same folder (no login, no lookup): four clients at once, whole files
    and 256 KiB Range requests at random offsets, runs alternating, medians and ratios.
(b) The recorder's capture CPU (the daemon and its capture helper, a real-time virtual
    microphone) over the same window with the web server idle, and with three clients pulling
    the MP3 piece by piece as players do and a fourth downloading the FLAC, all unthrottled;
    every session compared with what was fed, sample for sample.
(c) The web server's RSS idle, and its peak under those loads.

    .venv/bin/python -m bench.web [--quick] [--runs N]
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

import httpx

from bench.capture import wait_for_device
from bench.common import (
    CACHE,
    Daemon,
    Options,
    Section,
    Unavailable,
    cpu_times,
    median,
    mic,
    process_memory_kib,
    standalone,
    table,
    write_config,
)
from bench.deliverables import make_session
from recorder.app.virtualmic import Feeder, random_periods
from recorder.core.formats import FORMATS
from recorder.media.deliverables import build_deliverables
from recorder.store.sessions import SessionStore
from recorder.web.auth import COOKIE
from tests.factories import SESSION_ID
from tests.mosquitto import HOST, free_port
from tests.support import expected_audio, sox_raw
from tests.web.serving import PASSWORD, WebProcess, page_dir, password_file

CLIENTS = 4
PIECE = 256 * 1024  # what a phone's player asks for at a time
FILES = ("session.mp3", "session.flac")
S16 = FORMATS["S16_LE"]
BASELINE = """\
import sys
from aiohttp import web
from recorder.threads.priority import lower_priority
lower_priority(nice=10)  # as `session-recorder web` runs: the clients compete alike with both
app = web.Application()
app.router.add_static("/", sys.argv[1])
web.run_app(app, host=sys.argv[2], port=int(sys.argv[3]), print=None, access_log=None)
"""


# ---- pure helpers: curl's work lists ----------------------------------------------------------


def range_plan(size: int, piece: int, count: int, seed: int) -> list[tuple[int, int]]:
    """`count` (first, last) byte ranges of `piece` bytes (shorter at the end of the file) at
    seeded random offsets in a file of `size` bytes: a player seeking about."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        first = rng.randrange(0, max(1, size - 1))
        out.append((first, min(size, first + piece) - 1))
    return out


def sequential_plan(size: int, piece: int) -> list[tuple[int, int]]:
    """The whole file in `piece`-byte ranges, in order: a player playing it through."""
    return [(at, min(size, at + piece) - 1) for at in range(0, size, piece)]


def curl_config(url: str, headers: dict[str, str], ranges: list[tuple[int, int] | None]) -> str:
    """A curl --config running one request per entry (None: the whole file) over one kept-alive
    connection, each printing its status and the bytes it received."""
    blocks = []
    for r in ranges:
        lines = [
            f'url = "{url}"',
            'output = "/dev/null"',
            'write-out = "%{http_code} %{size_download}\\n"',
        ]
        lines += [f'header = "{k}: {v}"' for k, v in headers.items()]
        if r is not None:
            lines.append(f'range = "{r[0]}-{r[1]}"')
        blocks.append("\n".join(lines))
    return "\nnext\n".join(blocks) + "\n"


def check_transfers(out: str, ranges: list[tuple[int, int] | None], size: int) -> list[str]:
    """What went wrong in curl's write-out for these requests (empty: every answer had the
    status and exactly the byte count asked for)."""
    rows = [line.split() for line in out.splitlines() if line.strip()]
    wrong = []
    if len(rows) != len(ranges):
        wrong.append(f"{len(rows)} answers to {len(ranges)} requests")
    for row, r in zip(rows, ranges, strict=False):
        want = ("200", size) if r is None else ("206", r[1] - r[0] + 1)
        if (row[0], int(row[1])) != want:
            wrong.append(f"{r}: {row} (wanted {want})")
    return wrong


# ---- servers and clients --------------------------------------------------------------------


@dataclass
class Store:
    sessions: Path
    folder: Path
    sizes: dict[str, int]


def session_store(minutes: float) -> Store:
    """A finished `minutes`-long stereo session with its session.flac and session.mp3, made
    once and kept in CACHE (the MP3 of an hour takes a couple of minutes to encode)."""
    sessions = CACHE / f"web-session-{minutes:g}min" / "sessions"
    folder = sessions / "outbox" / SESSION_ID
    ready = sessions.parent / "ready"
    if not ready.exists():
        shutil.rmtree(sessions.parent, ignore_errors=True)
        manifest = make_session(folder, minutes, 2)
        SessionStore(sessions).write_manifest(folder, manifest)
        build_deliverables(folder, manifest)
        ready.touch()
    return Store(sessions, folder, {f: (folder / f).stat().st_size for f in FILES})


class Baseline:
    """aiohttp's own static route over the session folder, in a process of its own."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", BASELINE, str(folder), HOST, str(self.port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.head(f"{self.url}session.mp3", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("the baseline static server did not start") from None
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)


class Web:
    """`session-recorder web` over the store, logged in; `url` is the session's media folder."""

    def __init__(self, store: Store, where: Path) -> None:
        where.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        web = {
            "host": HOST,
            "port": self.port,
            "password_file": str(password_file(where)),
            "dashboard_dir": str(page_dir(where)),
        }
        config = write_config(where, "unused", storage={"dir": str(store.sessions)}, web=web)
        self.process = WebProcess(config, self.port, where).start()
        login = httpx.post(
            self.process.url + "api/login",
            json={"password": PASSWORD},
            headers={"X-Requested-With": "bench"},
        )
        login.raise_for_status()
        self.headers = {
            "Cookie": f"{COOKIE}={SimpleCookie(login.headers['set-cookie'])[COOKIE].value}"
        }
        self.url = f"{self.process.url}media/{SESSION_ID}/"

    @property
    def pid(self) -> int:
        assert self.process.proc is not None
        return self.process.proc.pid

    def close(self) -> None:
        self.process.close()


def exact(url: str, headers: dict[str, str], store: Store, seed: int) -> bool:
    """A few Range answers compared byte for byte with the files."""
    for name in FILES:
        data = (store.folder / name).read_bytes()
        for first, last in range_plan(len(data), PIECE, 3, seed):
            got = httpx.get(url + name, headers={**headers, "Range": f"bytes={first}-{last}"})
            if got.status_code != 206 or got.content != data[first : last + 1]:
                return False
    return True


def curl(config: Path) -> subprocess.Popen:
    return subprocess.Popen(
        ["curl", "--silent", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip


class Sampler(threading.Thread):
    """The largest VmRSS of `pid` while it runs, sampled every 0.1 s (KiB)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak = pid, 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.peak = max(self.peak, process_memory_kib(self.pid)["VmRSS"])
            time.sleep(0.1)

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.join()


def load(url: str, headers: dict[str, str], work: list[list[tuple[int, int] | None]],
         size: int, where: Path) -> dict:  # fmt: skip
    """One curl per client, all at once; the wall time until the last is done."""
    configs = []
    for n, ranges in enumerate(work):
        path = where / f"client-{n}.curl"
        path.write_text(curl_config(url, headers, ranges))
        configs.append(path)
    start = time.perf_counter()
    procs = [curl(c) for c in configs]
    outs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - start
    wrong = [
        w
        for out, ranges in zip(outs, work, strict=True)
        for w in check_transfers(out, ranges, size)
    ]
    if wrong:
        raise RuntimeError(f"wrong answers: {wrong[:5]}")
    sent = sum(size if r is None else r[1] - r[0] + 1 for ranges in work for r in ranges)
    return {"wall_s": wall, "mb_s": sent / wall / 1e6, "req_s": sum(map(len, work)) / wall}


# ---- (a) throughput ---------------------------------------------------------------------------


def workloads(store: Store, quick: bool) -> dict[str, tuple[str, list[list]]]:
    """name -> (file, each client's requests)."""
    mp3, flac = store.sizes["session.mp3"], store.sizes["session.flac"]
    whole_mp3, whole_flac, ranges = (1, 1, 20) if quick else (5, 2, 300)
    return {
        "MP3 whole": ("session.mp3", [[None] * whole_mp3 for _ in range(CLIENTS)]),
        "FLAC whole": ("session.flac", [[None] * whole_flac for _ in range(CLIENTS)]),
        "MP3 Range 256 KiB": ("session.mp3", [range_plan(mp3, PIECE, ranges, n) for n in range(CLIENTS)]),
        "FLAC Range 256 KiB": ("session.flac", [range_plan(flac, PIECE, ranges, n) for n in range(CLIENTS)]),
    }  # fmt: skip


def throughput(store: Store, opts: Options) -> dict:
    work = workloads(store, opts.quick)
    results: dict[str, dict[str, list[dict]]] = {k: {"web": [], "static": []} for k in work}
    rss: dict[str, list[int]] = {
        "web idle": [],
        "web peak": [],
        "static idle": [],
        "static peak": [],
    }
    checks = []
    for run in range(opts.runs):
        order = ("web", "static") if run % 2 == 0 else ("static", "web")
        for side in order:
            server = (
                Web(store, opts.workdir / f"web-{run}") if side == "web" else Baseline(store.folder)
            )
            headers = server.headers if side == "web" else {}
            pid = server.pid if side == "web" else server.proc.pid
            try:
                checks.append(exact(server.url, headers, store, run))
                rss[f"{side} idle"].append(process_memory_kib(pid)["VmRSS"])
                with Sampler(pid) as sampler:
                    for name, (file, requests) in work.items():
                        size = store.sizes[file]
                        results[name][side].append(
                            load(server.url + file, headers, requests, size, opts.workdir)
                        )
                rss[f"{side} peak"].append(sampler.peak)
            finally:
                server.close()
    return {"results": results, "rss_kib": rss, "exact": all(checks)}


# ---- (b) capture CPU with and without the web server busy ---------------------------------------


class Busy:
    """Three players pulling the MP3 through in 256 KiB pieces and one FLAC download, each
    again and again, unthrottled, until stopped; every answer's size checked."""

    def __init__(self, web: Web, store: Store, where: Path) -> None:
        mp3, flac = store.sizes["session.mp3"], store.sizes["session.flac"]
        self.jobs = [("session.mp3", sequential_plan(mp3, PIECE), mp3)] * 3
        self.jobs.append(("session.flac", [None], flac))
        self.web, self.where = web, where
        self.stopping = threading.Event()
        self.requests = 0
        self.wrong: list[str] = []
        self.threads = [
            threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(4)
        ]

    def _client(self, n: int) -> None:
        file, ranges, size = self.jobs[n]
        config = self.where / f"busy-{n}.curl"
        config.write_text(curl_config(self.web.url + file, self.web.headers, ranges))
        while not self.stopping.is_set():
            proc = curl(config)
            while proc.poll() is None:
                if self.stopping.wait(0.05):
                    proc.terminate()
            out = proc.communicate()[0]
            if not self.stopping.is_set():
                self.wrong += check_transfers(out, ranges, size)
                self.requests += len(ranges)

    def __enter__(self) -> Busy:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(60)


def recorded_window(daemon: Daemon, feeder: Feeder, window_s: float, sessions: Path) -> dict:
    """One session of `window_s`: the capture CPU over it, then the session checked against
    what was fed."""
    reply = daemon.request({"cmd": "start"})
    if not reply.get("ok"):
        raise RuntimeError(f"no session started: {reply}")
    time.sleep(1.0)  # the session's first second: its opening is not capture's steady cost
    before = daemon.cpu()
    time.sleep(window_s)
    after = daemon.cpu()
    daemon.request({"cmd": "stop"})
    daemon.wait_for(
        lambda s: (s.get("last_session") or {}).get("id") == reply["session_id"], 120, 0.1
    )
    session = SessionStore(sessions).find(reply["session_id"])
    assert session is not None and session.manifest is not None
    m = session.manifest
    audio = sox_raw([str(session.path / s.file) for s in m.segments])
    return {
        "cpu_s": after["total"] - before["total"],
        "daemon_cpu_s": after["daemon"] - before["daemon"],
        "helper_cpu_s": after["helper"] - before["helper"],
        "exact": not m.gaps and audio == expected_audio(feeder, m),
        "frames": m.frames,
    }


def capture_cost(store: Store, opts: Options) -> dict:
    window = 5.0 if opts.quick else 60.0
    where = opts.workdir / "recorder"
    where.mkdir()
    box_mic = mic(where)
    config = write_config(
        where, box_mic.name, warnings={"disk_minutes": 0, "clip_repeat": 1_000_000}
    )
    feeder = Feeder(box_mic.infile, random_periods(S16, 2, 4800, None, seed=3), 0.1, record=True)
    feeder.start()
    daemon = Daemon(config, box_mic)
    web = Web(store, opts.workdir / "web-busy")
    out: dict[str, list] = {"idle": [], "busy": [], "web_cpu_s": [], "requests": []}
    try:
        daemon.wait_ready()
        wait_for_device(daemon, inprocess=False)
        out["web_idle_kib"] = process_memory_kib(web.pid)["VmRSS"]
        with Sampler(web.pid) as sampler:
            for run in range(opts.runs):
                for side in ("idle", "busy") if run % 2 == 0 else ("busy", "idle"):
                    if side == "idle":
                        out["idle"].append(
                            recorded_window(daemon, feeder, window, where / "sessions")
                        )
                        continue
                    web_before = _cpu(web.pid)
                    with Busy(web, store, opts.workdir) as busy:
                        out["busy"].append(
                            recorded_window(daemon, feeder, window, where / "sessions")
                        )
                    out["web_cpu_s"].append(_cpu(web.pid) - web_before)
                    out["requests"].append(busy.requests)
                    if busy.wrong:
                        raise RuntimeError(f"wrong answers under load: {busy.wrong[:5]}")
        out["web_peak_kib"] = sampler.peak
    finally:
        web.close()
        daemon.stop(timeout=10)
        feeder.stop()
    out["window_s"] = window
    return out


def _cpu(pid: int) -> float:
    user, system, _ = cpu_times(pid)
    return user + system


# ---- the report -------------------------------------------------------------------------------

TEXT = """
A {minutes}-minute stereo session (speech-like, 48 kHz; session.mp3 {mp3} MB, session.flac
{flac} MB) served over loopback by `session-recorder web` (its own process at nice 10 with idle
disk I/O, as its unit runs it; the login cookie checked, the session looked up in the store,
its files named) and, in the same run, by a bare aiohttp static route over the same folder (no
login, no lookup), at the same priority: the baseline. {clients} curl clients at once, each over
one kept-alive connection: whole files again and again, or 256 KiB Range requests at seeded
random offsets (a player seeking). Runs alternate between the two servers; medians of {runs}.
Every answer's status and byte count is checked, and a few ranges byte for byte ({exact}).
Whole files cost the same (both hand the file to the kernel); a Range request costs the web
server its login check and session lookup on top, which a phone feels once per 256 KiB (half a
minute of MP3).

Then the recorder (`session-recorder run` in its own process, with its capture helper, a
virtual microphone fed at real time) records {window}-s sessions, alternately with the web
server idle and with three clients pulling session.mp3 through in 256 KiB pieces as a player
does and a fourth downloading session.flac, each again and again as fast as loopback allows
(far more than phones on Wi-Fi pull: an MP3 plays at 8 KB/s). The curl clients run on the same
2 cores, so the machine is busier than a box whose clients are phones. Capture CPU is the
daemon's and its helper's user + system time over each window (after its first second); every
session is compared with what was fed, sample for sample. RSS is VmRSS, sampled every 0.1 s.
"""


def run(opts: Options) -> Section:
    if shutil.which("curl") is None:
        raise Unavailable("curl is missing (Debian package curl): the clients are curl")
    minutes = 2.0 if opts.quick else 60.0
    store = session_store(minutes)
    a = throughput(store, opts)
    b = capture_cost(store, opts)
    return section(opts, minutes, store, a, b)


def section(opts: Options, minutes: float, store: Store, a: dict, b: dict) -> Section:
    rows = []
    for name, sides in a["results"].items():
        web = {k: median([r[k] for r in sides["web"]]) for k in ("mb_s", "req_s")}
        static = {k: median([r[k] for r in sides["static"]]) for k in ("mb_s", "req_s")}
        rows.append([name, f"{web['mb_s']:.0f}", f"{static['mb_s']:.0f}", f"{web['req_s']:.0f}",
                     f"{static['req_s']:.0f}", f"{web['mb_s'] / static['mb_s']:.2f}"])  # fmt: skip
    idle = median([r["cpu_s"] for r in b["idle"]])
    busy = median([r["cpu_s"] for r in b["busy"]])
    window = b["window_s"]
    exact = all(r["exact"] for r in b["idle"] + b["busy"])
    mib = {k: median(v) / 1024 for k, v in a["rss_kib"].items()}
    capture_rows = [
        ["web server idle", f"{idle:.2f}", f"{100 * idle / window:.1f}", "", ""],
        ["3 MP3 players + 1 FLAC download", f"{busy:.2f}", f"{100 * busy / window:.1f}",
         f"{median(b['web_cpu_s']):.1f}", f"{median(b['requests']):.0f}"],
    ]  # fmt: skip
    memory_rows = [
        ["`session-recorder web`", f"{mib['web idle']:.0f}", f"{mib['web peak']:.0f}",
         f"{b['web_idle_kib'] / 1024:.0f}", f"{b['web_peak_kib'] / 1024:.0f}"],
        ["aiohttp static (baseline)", f"{mib['static idle']:.0f}", f"{mib['static peak']:.0f}", "", ""],
    ]  # fmt: skip
    return Section(
        key="web",
        title="The web server: media throughput, capture beside it, memory (`bench/web.py`)",
        text=TEXT.format(
            minutes=f"{minutes:g}",
            mp3=f"{store.sizes['session.mp3'] / 1e6:.1f}",
            flac=f"{store.sizes['session.flac'] / 1e6:.0f}",
            clients=CLIENTS,
            runs=opts.runs,
            exact="all exact" if a["exact"] else "**not all exact**",
            window=f"{window:g}",
        ),
        tables=[
            table(
                ["", "web MB/s", "static MB/s", "web req/s", "static req/s", "web / static"], rows
            ),
            table(
                [
                    "recording while",
                    "capture CPU s",
                    "% of one core",
                    "web server CPU s",
                    "requests served",
                ],
                capture_rows,
            ),
            table(
                ["RSS MiB", "idle (a)", "peak under (a)", "idle (b)", "peak under (b)"], memory_rows
            ),
        ],
        findings=[
            f"web server media throughput beside a bare aiohttp static route's (4 clients, "
            f"loopback): whole files {_span(rows, 'whole')}, 256 KiB Range requests "
            f"{_span(rows, 'Range')}",
            f"capture CPU with 3 MP3 players and a FLAC download: {busy / idle:.2f}× idle's "
            f"({100 * busy / window:.1f} % vs {100 * idle / window:.1f} % of a core); every session "
            f"sample-exact: {'yes' if exact else '**no**'}",
            f"web server RSS: {b['web_idle_kib'] / 1024:.0f} MiB idle, "
            f"{max(b['web_peak_kib'] / 1024, mib['web peak']):.0f} MiB peak under load",
        ],
        data={"minutes": minutes, "sizes": store.sizes, "throughput": a, "capture": b},
    )


def _span(rows: list[list[str]], kind: str) -> str:
    """The range of web / static ratios of the rows whose name has `kind`: "0.93× to 1.06×"."""
    ratios = sorted(float(r[5]) for r in rows if kind in r[0])
    return f"{ratios[0]:.2f}× to {ratios[-1]:.2f}×"


if __name__ == "__main__":
    standalone(run)
