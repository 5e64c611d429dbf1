"""The checks `scripts/arm64` runs inside the booted arm64 guest, and what they need there.

`scripts/arm64` copies this file into the guest's root with a spoken clip (speech.wav:
espeak-ng on the host reading arm64_speech.txt, copied beside it as speech.txt) and three units
of its own: `arm64-mic` (`feed`: the virtual microphone, ALSA's `file` plugin on a FIFO, as the
box's default PCM), `arm64-s3` (a loopback `rclone serve s3`, the cloud) and `arm64-check`
(`check`, once the boot is done). Everything else
is the box as `install.sh` and its first-boot provisioning left it: the shipped config, the
shipped units, the settings file read from /boot/firmware.

`check` prints one line per check to the serial console, `CHECK <name> PASS|FAIL <seconds>
<note>`, then `CHECKS DONE`, and powers the guest off. It runs with the box's own Python
(/opt/session-recorder/venv), so numpy, soundfile and the recorder's modules are those
installed for arm64.
"""

from __future__ import annotations

import argparse
import functools
import http.cookiejar
import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import soundfile
import soxr

FIFO = Path("/run/arm64-mic/mic.fifo")
HERE = Path(__file__).resolve().parent
SPEECH = HERE / "speech.wav"  # espeak-ng reading speech.txt, made on the host
SETTINGS = HERE / "settings.json"  # what scripts/arm64 told the box (passwords, bucket)
CONFIG = "/etc/session-recorder/config.toml"
BIN = "/opt/session-recorder/venv/bin/session-recorder"
SEED = 24
BUSY_EVERY_S = 600.0
CONSOLE: TextIO | None = None  # the serial console, once `check` opened it
SCRIPT = (HERE / "speech.txt").read_text(encoding="utf-8")  # what the clip says
# The microphone plays the clip (about 5 s), then quiet, every LOOP_S. The session the checks
# record is stopped with `ctl stop` once AFTER_PRESS_S follow the start press: the transcript
# counts from the press, so wherever in the loop the press falls, the clip is spoken whole
# after it at least once (with a 10-s pre-roll the session ends some 35 s long: the command
# line takes about ten seconds to stop it under emulation). No longer, because whisper is slow
# under emulation (its vector code runs in QEMU's software CPU).
LOOP_S = 12.0
CLIP_MAX_S = 6.0  # espeak-ng's reading of speech.txt is shorter
AFTER_PRESS_S = LOOP_S + CLIP_MAX_S


# ---- the signal: the same on both sides of the FIFO -------------------------------------


def stream_loop(rate: int, channels: int, width: int) -> np.ndarray:
    """What the microphone plays, round and round: (frames, channels) integers in the box's
    sample width. The clip, then quiet up to `LOOP_S`: the coach speaking into the first
    microphone, heard 20 dB lower by the others (so one channel is transcribed, not each),
    plus seeded noise of a few steps, so that each stretch of the loop differs from every
    other and a recording shows where in it it began."""
    spoken, clip_rate = soundfile.read(SPEECH, dtype="float64")  # espeak-ng's 22.05 kHz
    if len(spoken) > CLIP_MAX_S * clip_rate:  # a longer clip might not fit after the press
        raise Failed(f"{SPEECH} lasts {len(spoken) / clip_rate:.1f} s, over {CLIP_MAX_S} s")
    spoken = soxr.resample(spoken, clip_rate, rate)
    clip = np.zeros(int(LOOP_S * rate))
    clip[: len(spoken)] = spoken
    scale = 2 ** (8 * width - 1) - 1
    rng = np.random.default_rng(SEED)
    gains = [1.0] + [0.1] * (channels - 1)  # -20 dB: the other microphones, across a table
    loop = np.empty((len(clip), channels), dtype=np.int64)
    for c, gain in enumerate(gains):
        noise = rng.integers(-4, 5, size=len(clip)) * (1 << max(0, 8 * width - 16))
        loop[:, c] = np.clip(np.round(clip * gain * 0.5 * scale) + noise, -scale, scale)
    return loop


def feed() -> None:
    """The microphone: the loop into the FIFO at real time, period by period, for ever."""
    from recorder.app.virtualmic import Feeder, encode  # noqa: PLC0415 (the box's modules)
    from recorder.config import load_config  # noqa: PLC0415
    from recorder.core.formats import FORMATS  # noqa: PLC0415

    audio = load_config(CONFIG).audio
    fmt = FORMATS[audio.format]
    loop = stream_loop(audio.rate, audio.channels, fmt.width)
    period = audio.rate * audio.period_ms // 1000

    def periods() -> Iterator[bytes]:
        at = 0
        while True:
            rows = np.take(loop, np.arange(at, at + period), axis=0, mode="wrap")
            yield encode(rows, fmt)
            at = (at + period) % len(loop)

    while True:  # the recorder closes the FIFO when it restarts: open it again
        feeder = Feeder(FIFO, periods(), period / audio.rate)
        feeder.run()
        if feeder.error is not None:
            raise feeder.error


# ---- the checks -------------------------------------------------------------------------


class Failed(Exception):
    """A check failed: the message says what was found."""


def run(*args: str, timeout: float = 600, check: bool = True) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise Failed(f"{' '.join(args[:3])} exited {done.returncode}: {done.stderr[-300:]}")
    return done.stdout


def wait_for(what: str, probe: Callable[[], object], seconds: float) -> object:
    """probe() until it returns something true; Failed after `seconds`. A long wait shows what
    the guest is busy with every `BUSY_EVERY_S` (`BUSY` lines on the console)."""
    started = time.monotonic()
    deadline = started + seconds
    shown = started
    last: object = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        if time.monotonic() - shown >= BUSY_EVERY_S:
            shown = time.monotonic()
            busy(f"waiting {shown - started:.0f} s for {what}")
        time.sleep(1.0)
    raise Failed(f"no {what} after {seconds:.0f} s (last: {str(last)[:200]})")


def busy(why: str) -> None:
    """The processes using the CPU, on the console."""
    if CONSOLE is None:
        return
    top = run("ps", "-eo", "pcpu,cputime,ni,cls,comm", "--sort=-pcpu", check=False)
    print(f"BUSY {why}", file=CONSOLE)
    for line in top.splitlines()[:8]:
        print(f"BUSY {line}", file=CONSOLE)


def unit_property(unit: str, name: str) -> str:
    return run("systemctl", "show", unit, "-p", name, "--value").strip()


def ctl(*args: str) -> str:
    return run(BIN, "ctl", "--config", CONFIG, *args, timeout=120)


@functools.cache
def box_config() -> Any:
    """The box's config (read once: `status` is asked every second)."""
    from recorder.config import load_config  # noqa: PLC0415 (the box's modules)

    return load_config(CONFIG)


def status() -> dict:
    """What `ctl status --json` prints, asked on the control socket itself: the command line
    takes about ten seconds to start under emulation, the socket answers at once."""
    from recorder.adapters.control_socket import send  # noqa: PLC0415 (the box's modules)

    answer = send(box_config().socket_path, {"cmd": "status"})
    if not answer.get("ok"):
        raise Failed(f"status refused: {answer.get('message')}")
    return answer["status"]


def sessions() -> list[dict]:
    return json.loads(run(BIN, "sessions", "--config", CONFIG, "--json", timeout=300))


def session(session_id: str) -> dict:
    for found in sessions():
        if found["id"] == session_id:
            return found
    raise Failed(f"session {session_id} is not in `sessions --json`")


class Checks:
    """The guest's checks, in order; each returns its note or raises Failed."""

    def __init__(self) -> None:
        self.settings = json.loads(SETTINGS.read_text())
        self.recorded: str | None = None  # the session `record` made

    def unit(self) -> str:
        def active() -> bool:
            return unit_property("session-recorder", "ActiveState") == "active"

        wait_for("active session-recorder.service", active, 600)
        watchdog = unit_property("session-recorder", "WatchdogUSec")
        if watchdog in ("", "0", "infinity"):
            raise Failed(f"no watchdog on the unit: WatchdogUSec={watchdog}")
        pid = unit_property("session-recorder", "MainPID")
        pings = [unit_property("session-recorder", "WatchdogTimestampMonotonic")]

        def pinged() -> bool:  # systemd keeps the time of the last ping it received
            now = unit_property("session-recorder", "WatchdogTimestampMonotonic")
            if now != pings[-1]:
                pings.append(now)
            return len(pings) >= 3

        wait_for("two watchdog pings", pinged, 180)
        after = unit_property("session-recorder", "MainPID")
        restarts = unit_property("session-recorder", "NRestarts")
        if not active() or after != pid or restarts != "0":
            raise Failed(f"restarted (pid {pid} -> {after}, NRestarts={restarts})")
        text = unit_property("session-recorder", "StatusText")
        return f"active, watchdog {watchdog}, pinged twice by the same pid; status: {text}"

    def provision(self) -> str:
        done = Path("/boot/firmware/session-recorder-provisioned.txt")
        error = Path("/boot/firmware/session-recorder-error.txt")
        if error.exists():
            raise Failed(f"provisioning refused the settings: {error.read_text()[:300]}")
        if not done.exists() or Path("/boot/firmware/session-recorder.txt").exists():
            raise Failed("the settings file was not read and removed")
        return "the settings file was read and deleted; rclone.conf with the crypt remote"

    def doctor(self) -> str:
        done = subprocess.run(
            [BIN, "doctor", "--config", CONFIG, "--json"],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        checks = json.loads(done.stdout)
        blocking = [c["name"] for c in checks if not c["ok"] and c["blocks"]]
        warned = {c["name"]: c["detail"] for c in checks if not c["ok"] and not c["blocks"]}
        if done.returncode != 0 or blocking:
            raise Failed(f"doctor exited {done.returncode}, blocking: {blocking}")
        if "gpio" not in warned:
            raise Failed("doctor saw GPIO on a machine that has none")
        unexpected = set(warned) - {"gpio", "clock"}
        if unexpected:
            raise Failed(f"doctor warned about {sorted(unexpected)}: {warned}")
        return f"{len(checks)} checks, warnings: {', '.join(sorted(warned))} (no GPIO here)"

    def record(self) -> str:
        ctl("start")
        started = wait_for("session id", lambda: status().get("session_id"), 120)
        length = box_config().audio.preroll_s + AFTER_PRESS_S  # elapsed_s counts the pre-roll
        wait_for("the session's length", lambda: status().get("elapsed_s", 0) >= length, 300)
        ctl("stop")
        self.recorded = recorded = str(started)

        def finished() -> dict | None:
            found = session(recorded)
            return found if found["state"] != "recording" else None

        found = wait_for("the finished session", finished, 300)
        assert isinstance(found, dict)
        return self._exact(found)

    def _exact(self, found: dict) -> str:
        """The session's segments are a stretch of what the microphone played, sample for
        sample: nothing dropped, repeated or padded."""
        got = np.concatenate(
            [soundfile.read(p, dtype="int32", always_2d=True)[0] for p in found["segments"]]
        )
        width = {16: 2, 24: 3, 32: 4}[int(soundfile.info(found["segments"][0]).subtype[4:])]
        loop = stream_loop(found["rate"], found["channels"], width) << (32 - 8 * width)
        if len(got) != found["frames"]:
            raise Failed(f"{len(got)} frames in the segments, the manifest says {found['frames']}")
        head = got[:64]
        twice = np.concatenate([loop, loop])
        starts = np.flatnonzero(twice[: len(loop), 0] == head[0, 0])
        at = [s for s in starts if np.array_equal(twice[s : s + 64], head)]
        if len(at) != 1:
            raise Failed(f"the first frames match the microphone at {len(at)} places")
        want = np.take(loop, np.arange(at[0], at[0] + len(got)), axis=0, mode="wrap")
        bad = np.flatnonzero((want != got).any(axis=1))
        if bad.size:
            raise Failed(f"{bad.size} of {len(got)} frames differ, the first at frame {bad[0]}")
        return f"{len(got)} frames ({len(got) / found['rate']:.1f} s) sample-exact"

    def upload(self) -> str:
        if self.recorded is None:
            raise Failed("no session recorded")

        def verified() -> dict | None:
            found = session(self.recorded)
            return found if found["upload"].get("status") == "verified" else None

        found = wait_for("verified upload", verified, 900)
        assert isinstance(found, dict)
        bucket = Path(self.settings["bucket_dir"])
        stored = [p for p in bucket.rglob("*") if p.is_file()]
        if not stored or any(self.recorded in str(p) for p in stored):
            raise Failed(f"the bucket does not hold encrypted names: {stored[:3]}")
        files = found["upload"].get("files", [])
        return f"{len(files)} files verified (rclone cryptcheck); {len(stored)} objects in S3"

    def transcript(self) -> str:
        if self.recorded is None:
            raise Failed("no session recorded")

        seen: list[tuple[str, str]] = []  # (transcript, its upload) at each change
        errors: list[str] = []

        def done() -> dict | None:
            found = session(recorded)
            built, sent = found["transcript"], found["upload"]["transcript"]
            state = (str(built.get("status")), str(sent["status"]))
            if not seen or seen[-1] != state:
                seen.append(state)
                busy(f"transcript {state[0]}, its upload {state[1]}")
            errors[:] = [e for e in (built.get("error"), sent.get("last_error")) if e]
            return found if state[1] == "verified" else None

        recorded = self.recorded
        try:
            found = wait_for("verified transcript", done, 4800)
        except Failed as exc:
            raise Failed(f"{exc}; states: {seen}; errors: {errors}") from None
        assert isinstance(found, dict)
        from recorder.transcript.status import document_of  # noqa: PLC0415 (the box's)

        path = Path(found["path"]) / "transcript.json"
        doc = document_of(json.loads(path.read_text()), str(path))
        if doc is None:
            raise Failed(f"{path} holds no finished transcript")
        engine = doc.engine
        said = " ".join(line.text for line in doc.lines).lower()
        heard = set(re.findall(r"[a-z']+", said))
        script = {w for w in re.findall(r"[a-z']+", SCRIPT.lower()) if len(w) > 3}
        share = len(script & heard) / len(script)
        if engine != "whisper" or share < 0.7:
            raise Failed(f"engine {engine}, {share:.0%} of the words heard: {said[:200]}")
        seconds = found["frames"] / found["rate"]
        return f"whisper heard {share:.0%} of the clip's words in {seconds:.0f} s; sent, verified"

    def web(self) -> str:
        jar = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        base = "http://127.0.0.1"
        page = jar.open(f"{base}/", timeout=60).read().decode()
        login = urllib.request.Request(
            f"{base}/api/login",
            data=json.dumps({"password": self.settings["dashboard_password"]}).encode(),
            headers={"Content-Type": "application/json", "Origin": base},
        )
        jar.open(login, timeout=60)
        listed = json.loads(jar.open(f"{base}/api/sessions", timeout=120).read())
        ids = [r.get("id") for r in listed]
        if self.recorded not in ids:
            raise Failed(f"/api/sessions lists {ids}")
        return f"port 80: the page ({len(page)} bytes), login, /api/sessions lists the session"

    def stop(self) -> str:
        ctl("start")
        started = str(wait_for("session id", lambda: status().get("session_id"), 120))
        length = box_config().audio.preroll_s + 5.0  # 5 s past the pre-roll
        wait_for("5 s past the pre-roll", lambda: status().get("elapsed_s", 0) >= length, 120)
        run("systemctl", "stop", "session-recorder", timeout=180)
        found = session(started)
        if found["state"] == "recording":
            raise Failed("the session is still in recording/ after the stop")
        note = self._exact(found)
        stopped = json.loads((Path(found["path"]) / "manifest.json").read_text())
        reason = stopped.get("stop_reason")
        if reason != "shutdown":
            raise Failed(f"stop_reason {reason}")
        run("systemctl", "start", "session-recorder", timeout=300)
        return f"finalized in {found['state']}/ with stop_reason shutdown; {note}"


def check() -> int:
    """Every check in order, each line on the console; then power off."""
    global CONSOLE  # noqa: PLW0603 (the one console, for `busy`)
    out = CONSOLE = open("/dev/ttyAMA0", "w", buffering=1)  # noqa: SIM115 (kept open)
    checks = Checks()
    failed = 0
    try:
        state = run("systemctl", "is-system-running", "--wait", timeout=900, check=False)
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        failed_units = run("systemctl", "--failed", "--plain", "--no-legend", check=False).split()
        booted = "PASS" if state.strip() == "running" else "FAIL"
        failed += booted == "FAIL"
        note = f"systemd: {state.strip()} {' '.join(u for u in failed_units if '.' in u)}"
        print(f"CHECK booted {booted} {uptime:.0f} {note}", file=out)
        for name in (
            "unit",
            "provision",
            "doctor",
            "record",
            "upload",
            "web",
            "transcript",
            "stop",
        ):
            started = time.monotonic()
            try:
                note = getattr(checks, name)()
                result = "PASS"
            except Exception as exc:  # a check's failure is reported, the others still run
                note, result = f"{type(exc).__name__}: {exc}", "FAIL"
                failed += 1
            note = " ".join(str(note).split())
            print(f"CHECK {name} {result} {time.monotonic() - started:.0f} {note}", file=out)
        if failed:
            journal = run(
                "journalctl", "-b", "-u", "session-recorder*", "-n", "60", "--no-pager", check=False
            )
            for line in journal.splitlines():
                print(f"JOURNAL {line}", file=out)
    finally:
        print("CHECKS DONE", file=out)
        out.close()
        subprocess.run(["systemctl", "poweroff"], check=False)
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("feed")
    sub.add_parser("check")
    args = parser.parse_args()
    if args.mode == "feed":
        feed()
        return 0
    return check()


if __name__ == "__main__":
    sys.exit(main())
