"""The transcript from end to end: recorded through real ALSA, built by the real worker process
after the stop, frozen while a new session records, and every way it can fail or hang."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from recorder.app import doctor
from recorder.app.demo import speech_periods
from recorder.app.virtualmic import Feeder
from recorder.core.manifest import Manifest
from recorder.core.recording.state import Start, Stop
from recorder.store.sessions import MANIFEST, SessionStore
from recorder.transcript.runner import TranscriptError, TranscriptRunner, TranscriptStep
from recorder.transcript.settings import Settings
from recorder.transcript.status import read_status, summary
from recorder.views.sessions import session_json
from tests.factories import finished_session
from tests.speech import ESPEAK, SCRIPT, conversation, to_int16
from tests.support import Running, make_config, wait_until

pytestmark = pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed")

RATE = 48000
FAST = None  # the feeder writes as fast as the recorder reads
LEAD_S = 0.5  # quiet between the press and the first word


def _proc_state(pid: int) -> str:
    """The kernel's one-letter state of a process: R, S, T (stopped), Z, ..."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


class SpeechAfterPress:
    """A quiet room until `go` (the start press), then `audio`, then the quiet room again; it
    knows the stream frame where the speech ends, wherever the press fell (a busy machine can
    leave seconds of quiet queued between the FIFO and the recorder)."""

    def __init__(self, audio: np.ndarray, period: int) -> None:
        self.audio = audio
        self.period = period
        self.go = threading.Event()
        self.end_frame: int | None = None  # set once the speech starts to be fed

    def periods(self):
        quiet = speech_periods(np.zeros((0, 2), np.float32), self.period, 0.0)
        sent = 0
        while not self.go.is_set():
            yield next(quiet)
            sent += 1
        self.end_frame = sent * self.period + int(LEAD_S * RATE) + len(self.audio)
        yield from speech_periods(self.audio, self.period, LEAD_S)


def _record(r: Running, speech: SpeechAfterPress) -> str:
    """One session from a press until the whole speech, and a second after it, was captured;
    returns its id once it is in the outbox."""
    r.wait_frames(int(1.2 * RATE))
    started = r.request(Start())
    assert started["ok"], started
    speech.go.set()
    wait_until(lambda: speech.end_frame is not None, 60, "the speech fed")
    assert speech.end_frame is not None
    r.wait_frames(speech.end_frame + RATE, timeout=120)
    assert r.request(Stop())["ok"]
    r.wait_outbox(started["session_id"], timeout=60)
    return started["session_id"]


def _folder(r: Running, session_id: str) -> Path:
    return r.rec.store.state_dir("outbox") / session_id


def test_a_two_voice_session_gets_its_transcript_after_the_stop(tmp_path, mic):
    cfg = make_config(tmp_path, audio={"segment_s": 5.0}, transcript={})
    audio, _ = conversation(SCRIPT, RATE, lead_s=0.5)
    speech = SpeechAfterPress(audio, cfg.audio.period_frames)
    feeder = Feeder(mic.infile, speech.periods(), FAST)
    with Running(cfg, feeder) as r:
        session_id = _record(r, speech)
        folder = _folder(r, session_id)
        wait_until(lambda: read_status(folder)["status"] in ("done", "failed"), 120, "transcript")
        status = r.rec.controller.status()
        assert status["state"] == "idle"
        # ctl status and the MQTT state say which engine and why (the default, auto)
        assert status["transcripts"]["engine"] == "whisper", status["transcripts"]
        assert status["transcripts"]["reason"].startswith("auto: whisper's model is in place")
        # the phone page's view of it, as the retained MQTT state carries it
        view = r.rec.views.recent()[-1]
        assert view["transcript"]["status"] == "done" and view["transcript"]["turns"] == 6
        checks = {c["name"]: c for c in view["credential"]["checks"]}
        assert checks["length"]["result"] == "fail" and "20" in checks["length"]["message"]
        assert checks["transcript"]["result"] == "pass"
        assert checks["consent"]["result"] == "fail"  # none recorded for this session
        assert (
            f"session-recorder consent {session_id} --allow share" in checks["consent"]["message"]
        )
        assert view["credential"]["ready"] is False
        [stored] = r.rec.store.sessions("outbox")
        assert r.rec.views.view(stored) is r.rec.views.view(stored)  # worked out once
    status = read_status(folder)
    assert status["status"] == "done", status
    [session] = SessionStore(cfg.storage.dir).sessions()
    record = session_json(session)["transcript"]
    assert record["status"] == "done" and record["engine"] == "whisper"  # the default: auto
    assert record["engine_reason"].startswith("auto: whisper's model is in place")
    assert sorted(Path(f).name for f in record["files"]) == [
        "transcript.docx",
        "transcript.txt",
        "transcript.vtt",
    ]
    assert record["turns"] == len(SCRIPT) and record["words"] > 20
    lines = status["doc"]["lines"]
    assert [line["speaker"] for line in lines] == [("Coach", "Client")[ch] for ch, _, _ in SCRIPT]
    assert all(b["start_s"] > a["start_s"] for a, b in itertools.pairwise(lines))
    text = (folder / "transcript.txt").read_text()
    assert "Coach:" in text and "Client:" in text
    # each line's words come from its speaker's own channel: the words recognised match that
    # line's script far better than the other speaker's lines (espeak-ng's voices give
    # pocketsphinx a word error rate near 0.7, so not every word is there)
    own = [_content(text) for _, text, _ in SCRIPT]
    heard = [_content(line["text"]) for line in lines]
    assert sum(bool(h & o) for h, o in zip(heard, own, strict=True)) >= 4
    for i, h in enumerate(heard):
        others = set().union(*(o for j, o in enumerate(own) if SCRIPT[j][0] != SCRIPT[i][0]))
        assert len(h & own[i]) >= len(h & (others - own[i])), (lines[i], SCRIPT[i])


STOPWORDS = {"a", "i", "the", "to", "you", "and", "of", "my", "me", "for", "do", "it", "is", "our"}


def _content(text: str) -> set[str]:
    return {w for w in text.lower().split() if w not in STOPWORDS}


def _long_script(times: int) -> list[tuple[int, str, float]]:
    return [
        (ch, text, pause if pause > 0 else 1.0) for _ in range(times) for ch, text, pause in SCRIPT
    ]


def test_a_new_session_freezes_the_transcript_worker_until_it_stops(tmp_path, mic):
    cfg = make_config(tmp_path, audio={"segment_s": 10.0}, transcript={})
    audio, _ = conversation(_long_script(4), RATE, lead_s=0.5)
    speech = SpeechAfterPress(audio, cfg.audio.period_frames)
    feeder = Feeder(mic.infile, speech.periods(), FAST)
    with Running(cfg, feeder) as r:
        first = _record(r, speech)
        runner = r.rec.transcripts.runner
        child = wait_until(lambda: runner._child, 30, "the transcript worker")
        second = r.request(Start())
        assert second["ok"], second
        wait_until(lambda: _proc_state(child.pid) == "T", 10, "the worker frozen")
        # frozen for a while, and the recorder answers meanwhile
        for _ in range(5):
            assert r.rec.controller.status()["state"] == "recording"
            time.sleep(0.2)
            assert _proc_state(child.pid) == "T"
        assert read_status(_folder(r, first))["status"] in ("none", "building")
        assert r.request(Stop())["ok"]
        wait_until(lambda: child.poll() is not None or _proc_state(child.pid) != "T", 10, "thaw")
        folder = _folder(r, first)
        wait_until(lambda: read_status(folder)["status"] == "done", 180, "the first transcript")


def _session(root: Path, preroll_s: float = 1.0) -> Path:
    """A finished two-channel session folder in root/outbox, written as the writer would."""
    audio, _ = conversation(SCRIPT[:2], RATE, lead_s=preroll_s + 0.2)
    folder, _ = finished_session(
        root, [to_int16(audio).tobytes()], RATE, channels=2,
        preroll_frames=int(preroll_s * RATE), stop_reason="requested",
    )  # fmt: skip
    return folder


def test_a_missing_whisper_model_fails_the_transcript_with_the_key_and_keeps_the_session(tmp_path):
    folder = _session(tmp_path)
    settings = Settings(engine="whisper", model_dir=str(tmp_path / "no-model"))
    step = TranscriptStep(settings)
    step.build(folder, _manifest(folder))
    status = read_status(folder)
    assert status["status"] == "failed"
    assert "model_dir" in status["error"] or "faster-whisper" in status["error"]
    assert step.files(folder) == []
    assert (folder / "seg-0000.wav").exists() and (folder / MANIFEST).exists()
    assert summary(folder)["status"] == "failed"
    step.build(folder, _manifest(folder))  # failed is kept: not tried again by itself
    assert read_status(folder)["error"] == status["error"]


def _manifest(folder: Path) -> Manifest:
    return Manifest.model_validate_json((folder / MANIFEST).read_text())


def test_a_wedged_worker_is_killed_and_reported(tmp_path):
    folder = _session(tmp_path)
    runner = TranscriptRunner(stall_s=2.0)
    seen: list[int] = []

    def wedge() -> None:  # a worker that stops answering: frozen from outside, not by a pause
        child = wait_until(lambda: runner._child, 30, "the worker")
        seen.append(child.pid)
        child.send_signal(signal.SIGSTOP)

    threading.Thread(target=wedge, daemon=True).start()
    with pytest.raises(TranscriptError, match="stopped answering"):
        runner.run(folder, Settings(), lambda fraction: None)
    assert seen and not Path(f"/proc/{seen[0]}").exists()  # killed and reaped
    assert runner._child is None


def test_discarding_a_session_kills_its_transcript_worker(tmp_path):
    folder = _session(tmp_path)
    runner = TranscriptRunner()
    errors: list[BaseException] = []

    def build() -> None:
        try:
            runner.run(folder, Settings(), lambda fraction: None)
        except TranscriptError as exc:
            errors.append(exc)

    worker = threading.Thread(target=build)
    worker.start()
    child = wait_until(lambda: runner._child, 30, "the worker")
    runner.cancel(tmp_path / "outbox" / "another")  # another session's discard: left alone
    time.sleep(0.3)
    assert child.poll() is None
    runner.cancel(folder)
    worker.join(10)
    assert not worker.is_alive()
    assert errors and "cancelled" in str(errors[0])


def _cli(*args: str, cfg_path: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "recorder", *args, "--config", str(cfg_path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "100"},
    )


def test_the_transcript_command_builds_then_exports_without_decoding_again(tmp_path):
    folder = _session(tmp_path / "sessions")
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text(f'[storage]\ndir = "{tmp_path / "sessions"}"\n[gpio]\nenabled = false\n')
    built = _cli("transcript", folder.name, cfg_path=cfg_path)
    assert built.returncode == 0, built.stderr
    assert "transcript of" in built.stderr
    assert sorted(Path(p).name for p in built.stdout.split()) == [
        "transcript.docx",
        "transcript.txt",
        "transcript.vtt",
    ]
    stamp = (folder / "transcript.json").stat().st_mtime_ns
    out = tmp_path / "captions.vtt"
    exported = _cli("transcript", folder.name, "--format", "vtt", "-o", str(out), cfg_path=cfg_path)
    assert exported.returncode == 0, exported.stderr
    assert out.read_text().startswith("WEBVTT")
    assert "<v Coach>" in out.read_text() and "<v Client>" in out.read_text()
    assert (folder / "transcript.json").stat().st_mtime_ns == stamp  # not decoded again
    listed = json.loads(_cli("sessions", "--json", cfg_path=cfg_path).stdout)
    assert listed[0]["transcript"]["status"] == "done"
    missing = _cli("transcript", "000009-20261129T093000Z", cfg_path=cfg_path)
    assert missing.returncode == 1 and "not found" in missing.stderr


def _cli_on_a_terminal(*args: str, cfg_path: Path, timeout: float = 180) -> tuple[int, str]:
    """The command with a pseudo-terminal for its output, as a coach runs it (rich draws its
    progress bar only on a terminal); its exit code and everything it wrote there."""
    master, slave = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "recorder", *args, "--config", str(cfg_path)],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(slave)
    out = b""
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal's last writer
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
    return child.wait(timeout), out.decode("utf-8", "replace")


def test_the_transcript_command_names_the_engine_it_chose_and_its_counts(tmp_path):
    folder = _session(tmp_path / "sessions")
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text(f'[storage]\ndir = "{tmp_path / "sessions"}"\n[gpio]\nenabled = false\n')
    code, shown = _cli_on_a_terminal("transcript", folder.name, cfg_path=cfg_path)
    assert code == 0, shown
    status = read_status(folder)
    engine = status["engine"]  # "auto" resolved: whisper with the bundled model
    assert engine in ("whisper", "pocketsphinx")
    assert f"transcript ({engine})" in shown  # the progress bar's label
    assert "(auto)" not in shown
    said = (
        f"{status['turns']} turns (changes of speaker) in {status['paragraphs']} paragraphs, "
        f"{status['words']} words ({engine})"
    )
    assert f"transcript of {folder.name}: {said}" in shown
    assert status["turns"] >= 2 and status["words"] > 0


def test_levels_of_the_speech_differ_by_channel():
    """The fixture itself: each voice is 20 dB louder on its own channel."""
    audio, said = conversation(SCRIPT[:2], RATE)
    first = audio[int(said[0].start_s * RATE) : int(said[0].end_s * RATE)]
    rms = np.sqrt((first.astype(np.float64) ** 2).mean(axis=0))
    assert 20 * np.log10(rms[0] / rms[1]) == pytest.approx(20, abs=0.5)


def test_doctor_names_a_missing_whisper_model_and_finds_pocketsphinx(tmp_path):
    cfg = make_config(tmp_path, transcript={"engine": "whisper", "model_dir": str(tmp_path)})
    [check] = [c for c in doctor.run_checks(cfg) if c.name == "transcripts"]

    installed = importlib.util.find_spec("faster_whisper") is not None
    assert not check.ok and not check.blocks
    assert ("model_dir" if installed else "faster-whisper is not installed") in check.detail
    cfg = make_config(tmp_path, transcript={})
    [check] = [c for c in doctor.run_checks(cfg) if c.name == "transcripts"]
    assert check.ok and "pocketsphinx" in check.detail
