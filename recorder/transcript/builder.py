"""Building a session's transcript: turns from the channel levels, words per turn from the
speaker's own channel, each turn decoded whole (up to MAX_PIECE_S) with the text before it as
the engine's context, then the document.

This runs in the worker process (recorder.transcript.worker), not in the daemon. The client's
words are decoded from the client's channel only, so they never land on the coach's line even
where the coach's microphone hears them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import soxr

from recorder.core.manifest import Manifest
from recorder.core.transcript.doc import ONE_MIC_NOTE, TranscriptDoc, Word
from recorder.core.transcript.plan import (
    PAD_S,
    context,
    fit_to_voice,
    from_the_press,
    lines,
    placed,
    plan_pieces,
    press_turns,
)
from recorder.core.transcript.turns import TurnParams, find_paragraphs, find_turns
from recorder.ports.speech import SpeechEngine
from recorder.transcript.activity import session_levels
from recorder.transcript.audio import SessionAudio
from recorder.transcript.settings import Settings
from recorder.transcript.titles import transcript_markers, transcript_title

LEVELS_SHARE = 0.05  # of the progress bar: the level pass is quick beside the decoding

Progress = Callable[[float], None]


def mode_of(manifest: Manifest, speakers: tuple[str, ...]) -> str:
    """Channels tell the speakers apart only with a name and a channel for each of two or more."""
    return "channels" if len(speakers) >= 2 and manifest.audio.channels >= 2 else "one-mic"


def build_transcript(
    folder: Path,
    manifest: Manifest,
    settings: Settings,
    engine: SpeechEngine,
    progress: Progress = lambda fraction: None,
) -> TranscriptDoc:
    rate = manifest.audio.rate
    params = TurnParams()
    levels = session_levels(folder, manifest, params.window_s)
    progress(LEVELS_SHARE)
    mode = mode_of(manifest, settings.speakers)
    preroll_s = manifest.preroll_frames / rate
    length_s = max(0.0, (manifest.frames - manifest.preroll_frames) / rate)
    if mode == "channels":
        used = min(manifest.audio.channels, len(settings.speakers))
        found = find_turns(levels[:, :used], params)
    else:
        found = find_paragraphs(levels, params)
    pairs = press_turns(found, preroll_s, length_s)
    turns = [line for line, _ in pairs]
    audio = SessionAudio(folder, manifest)
    words: list[list[Word]] = [[] for _ in turns]
    mix = levels.max(axis=1) if levels.size else levels.reshape(-1)
    pieces = [
        piece
        for i, (_, heard) in enumerate(pairs)
        for piece in plan_pieces(
            heard,
            i,
            mix if heard.channel is None else levels[:, heard.channel],
            params.window_s,
            preroll_s,
        )
    ]
    pieces.sort(key=lambda p: p.start_s)
    total = sum(p.end_s - p.start_s for p in pieces) or 1.0
    done = 0.0
    decoded: list[list[Word]] = []  # each piece's words in the order decoded, for the context
    for p in pieces:
        start = round((p.start_s - PAD_S) * rate)
        samples = audio.read(start, round((p.end_s + PAD_S) * rate), p.channel)
        if rate != engine.rate:
            samples = soxr.resample(samples, rate, engine.rate).astype(np.float32)
        said = engine.words(samples, context(decoded) or None)
        decoded.append(placed(said, max(0, start) / rate - preroll_s))
        words[p.turn] += decoded[-1]
        done += p.end_s - p.start_s
        progress(LEVELS_SHARE + (1 - LEVELS_SHARE) * done / total)
    notes = [
        "Times count from the start press; the pre-roll before it is not part of this transcript."
    ]
    if mode == "one-mic":
        notes.insert(0, ONE_MIC_NOTE)
    return TranscriptDoc(
        session_id=manifest.id,
        title=transcript_title(manifest),
        date=manifest.started_at[:10],
        length_s=round(length_s, 3),
        speakers=settings.speakers if len(settings.speakers) >= 2 else ("Coach", "Client"),
        mode=mode,  # type: ignore[arg-type]
        engine=engine.name,
        lines=lines(
            turns,
            [fit_to_voice(from_the_press(ws), t) for ws, t in zip(words, turns, strict=True)],
            settings.speakers,
        ),
        markers=transcript_markers(manifest),
        notes=tuple(notes),
    )
