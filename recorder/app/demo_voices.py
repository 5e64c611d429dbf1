"""Speech made with espeak-ng for the demo, the transcript tests and the benchmarks: known
sentences in two voices, laid on the channels of a session as a script says, with each voice
leaking into the other's microphone.

Where each line is spoken is known to the sample (the clip's voiced part, without espeak-ng's
own leading and trailing silence), so what the turn detector finds can be checked against it.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np
import soundfile
import soxr

ESPEAK = shutil.which("espeak-ng")
VOICES = ("en-us+m3", "en-us+f3")  # coach (channel 0), client (channel 1)
WORDS_PER_MINUTE = 140
VOICED = 10 ** (-40 / 20)  # a sample above -40 dBFS is speech, for finding a clip's extent


@dataclass(frozen=True)
class Said:
    """One scripted line: who said it (channel), the words, and where its voice really is."""

    channel: int
    text: str
    start_s: float
    end_s: float


def say(text: str, voice: str, rate: int) -> np.ndarray:
    """`text` spoken by espeak-ng's `voice`, float32 mono at `rate`, trimmed to its voice."""
    if ESPEAK is None:
        raise RuntimeError("espeak-ng is not installed (Debian package espeak-ng)")
    wav = subprocess.run(
        [ESPEAK, "-v", voice, "-s", str(WORDS_PER_MINUTE), "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    clip, clip_rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    if clip_rate != rate:
        clip = soxr.resample(clip, clip_rate, rate).astype(np.float32)
    loud = np.flatnonzero(np.abs(clip) > VOICED)
    return clip[loud[0] : loud[-1] + 1] if loud.size else clip[:0]


def conversation(
    script: list[tuple[int, str, float]],
    rate: int,
    leak_db: float = -20.0,
    lead_s: float = 1.0,
    tail_s: float = 1.0,
    gain_db: float = -6.0,
) -> tuple[np.ndarray, list[Said]]:
    """Two channels of speech as `script` says: (channel, text, pause before it in seconds).

    A negative pause starts the line that long before the previous one ends (an overlap).
    Each channel also hears the other voice `leak_db` lower, as a coach's microphone hears
    the client across a table. Returns float32 (frames, 2) and where each line really is.
    """
    clips = [(ch, text, say(text, VOICES[ch], rate)) for ch, text, _ in script]
    said: list[Said] = []
    t = lead_s
    for (ch, text, clip), (_, _, pause) in zip(clips, script, strict=True):
        start = t + pause if said else t
        said.append(Said(ch, text, start, start + len(clip) / rate))
        t = said[-1].end_s
    total = int((max(s.end_s for s in said) + tail_s) * rate) + 1
    voice = np.zeros((total, 2), dtype=np.float32)
    gain = 10 ** (gain_db / 20)
    for s, (_, _, clip) in zip(said, clips, strict=True):
        at = round(s.start_s * rate)
        voice[at : at + len(clip), s.channel] += clip * gain
    leak = 10 ** (leak_db / 20)
    mixed = voice + leak * voice[:, ::-1]
    return np.clip(mixed, -1.0, 1.0), said


def to_int16(audio: np.ndarray) -> np.ndarray:
    return np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)


# A coaching conversation with words pocketsphinx tells apart in these voices, overlapping once.
SCRIPT: list[tuple[int, str, float]] = [
    (0, "what would a good outcome of our conversation look like for you today", 0.0),
    (1, "I would like to talk about my career and the promotion I did not get", 1.2),
    (0, "tell me more about the promotion", 1.0),
    (1, "my manager never gives me feedback and I feel stuck", 0.9),
    (0, "what does feeling stuck mean to you", -0.8),
    (1, "it means I stopped learning", 1.5),
]
