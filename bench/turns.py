"""Speaker turns of a one-hour session: the level pass and the detector, beside a bare read.

The session is the tests' espeak-ng two-voice conversation (tests/speech.py: known sentences,
alternating and overlapping once, each voice leaking at -20 dB into the other microphone),
padded to 25 s and tiled to an hour of 48 kHz S16_LE stereo in 300 s WAV segments written by
the recorder's own segment writer. Timed: `session_levels` (one streaming pass over the
segments) and `find_turns` / `find_paragraphs` on its levels. The baseline is the I/O floor, a
plain soundfile read of the same files in the same blocks with no computation. Runs alternate
(read, levels, levels, read, ...); medians. The files are in the page cache (just written); a
cold SD card adds the same read time to both sides.

    .venv/bin/python -m bench.turns [--quick] [--runs N]
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import numpy as np
import soundfile

from bench.common import Options, Section, Unavailable, median, standalone, table, verdict
from recorder.core.manifest import Manifest
from recorder.core.transcript.turns import TurnParams, find_paragraphs, find_turns
from recorder.media.blocks import BLOCK_FRAMES
from recorder.transcript.activity import session_levels, window_frames
from tests.factories import write_session
from tests.speech import ESPEAK, SCRIPT, conversation, to_int16

RATE, CHANNELS, FMT = 48000, 2, "S16_LE"
SEGMENT_S = 300  # the recorder's default segment length
TILE_S = 25  # the conversation (23.4 s) padded to divide a segment
TARGET_S = 1.0  # the issue: turn detection under 1 s per audio hour on this machine


def make_session(folder: Path, seconds: int) -> tuple[Manifest, int]:
    """The conversation tiled to `seconds` as a finalized session; also how many lines it
    scripts (the turns the detector should find)."""
    audio, said = conversation(SCRIPT, RATE)
    tile = np.zeros((TILE_S * RATE, CHANNELS), dtype=np.int16)
    tile[: len(audio)] = to_int16(audio)
    raw = tile.tobytes()
    lengths = [min(SEGMENT_S, seconds - start) for start in range(0, seconds, SEGMENT_S)]
    chunks = [[raw] * (length // TILE_S) for length in lengths]  # one entry per segment
    manifest = write_session(folder, chunks, RATE, CHANNELS, FMT)
    return manifest, seconds // TILE_S * len(said)


def bare_read(folder: Path, manifest: Manifest, block_frames: int) -> int:
    """Every frame of every segment read into one reused int32 buffer, nothing computed."""
    buf = np.empty((block_frames, CHANNELS), dtype=np.int32)
    frames = 0
    for seg in manifest.segments:
        with soundfile.SoundFile(folder / seg.file) as f:
            while n := len(f.read(block_frames, dtype="int32", out=buf)):
                frames += n
    return frames


def timed(fn, *args) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def run(opts: Options) -> Section:
    if ESPEAK is None:
        raise Unavailable("espeak-ng is missing (Debian package espeak-ng): no speech to tile")
    seconds = 2 * SEGMENT_S if opts.quick else 3600
    params = TurnParams()
    folder = opts.workdir / "session"
    manifest, scripted = make_session(folder, seconds)
    hours = manifest.frames / RATE / 3600
    window = window_frames(RATE, params.window_s)
    block_frames = window * max(1, BLOCK_FRAMES // window)  # as session_levels reads

    find_turns(session_levels(folder, manifest, params.window_s)[:1000], params)  # warm-up
    read_s, levels_s, turns_s, paragraphs_s = [], [], [], []
    levels = turns = paragraphs = None
    for i in range(opts.runs):
        order = ("read", "levels") if i % 2 == 0 else ("levels", "read")
        for what in order:
            if what == "read":
                frames, t = timed(bare_read, folder, manifest, block_frames)
                assert frames == manifest.frames
                read_s.append(t)
            else:
                levels, t = timed(session_levels, folder, manifest, params.window_s)
                levels_s.append(t)
        turns, t = timed(find_turns, levels, params)
        turns_s.append(t)
        paragraphs, t = timed(find_paragraphs, levels, params)
        paragraphs_s.append(t)
    assert levels is not None and turns is not None and paragraphs is not None

    tracemalloc.start()  # once, untimed: what the level pass holds at most
    session_levels(folder, manifest, params.window_s)
    peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    audio_mb = sum((folder / s.file).stat().st_size for s in manifest.segments) / 1e6

    per_hour = {
        k: median(v) / hours
        for k, v in (
            ("read", read_s),
            ("levels", levels_s),
            ("turns", turns_s),
            ("paragraphs", paragraphs_s),
        )
    }
    total = per_hour["levels"] + per_hour["turns"]
    base = per_hour["read"]
    rows = [
        [name, secs, secs / base, round(3600 / secs)]
        for name, secs in (
            ("soundfile read of the segments (baseline)", base),
            ("`session_levels` (read + RMS per window)", per_hour["levels"]),
            ("`find_turns` (two channels)", per_hour["turns"]),
            ("`find_paragraphs` (one-microphone mode)", per_hour["paragraphs"]),
            ("`session_levels` + `find_turns`", total),
        )
    ]
    found = len(turns)
    return Section(
        key="turns",
        title="Speaker turns from the channels (`bench/turns.py`)",
        text=f"""
{hours * 60:g} minutes of the tests' espeak-ng two-voice conversation (other voice leaking at
-20 dB into each microphone), tiled from a 25 s clip, 48 kHz S16_LE stereo in 300-s WAV
segments written by the recorder's own segment writer ({audio_mb:.0f} MB), medians of
{opts.runs} interleaved runs. `session_levels` streams the segments in blocks of
{block_frames} frames and gives an RMS level per {params.window_s * 1000:g} ms window and
channel ({len(levels)} windows); `find_turns` and `find_paragraphs` work on those levels alone.
The baseline is the I/O floor: a plain soundfile read of the same files into one int32
buffer, the same blocks, nothing computed; the ratio says what the level arithmetic adds to
it. Seconds are per audio hour; × RT is times real time. The files are in the page cache
(just written): a cold SD card adds the same read time to both sides.
""",
        tables=[table(["", "s per audio hour", "× baseline", "× RT"], rows)],
        findings=[
            f"turn detection: {per_hour['turns']:.3f} s per audio hour (target < {TARGET_S:g} "
            f"s): {verdict(per_hour['turns'] < TARGET_S)}; {found} turns found for the "
            f"{scripted} scripted lines",
            f"the level pass over an hour of stereo: {per_hour['levels']:.2f} s, "
            f"{per_hour['levels'] / base:.2f}× a plain read of the files; peak memory "
            f"{peak_mb:.1f} MB for {audio_mb:.0f} MB of audio",
        ],
        data={
            "seconds": manifest.frames / RATE,
            "windows": len(levels),
            "read_s": read_s,
            "levels_s": levels_s,
            "turns_s": turns_s,
            "paragraphs_s": paragraphs_s,
            "per_audio_hour_s": per_hour,
            "turns_found": found,
            "paragraphs_found": len(paragraphs),
            "lines_scripted": scripted,
            "levels_peak_mb": peak_mb,
            "audio_mb": audio_mb,
        },
    )


if __name__ == "__main__":
    standalone(run)
