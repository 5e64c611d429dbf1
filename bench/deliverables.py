"""Deliverable sizes and encode speeds for 10 minutes of speech-like audio, stereo beside mono.

The session (48 kHz S16_LE, 300 s segments as the recorder writes them by default) is the same
seeded speech-like signal the tests use. Each deliverable is built the way the box builds it:
FLAC includes the decode-and-compare verification, MP3 the mono downmix; the joined WAV
(`export wav`, also verified) is the baseline: the cost of reading and writing the samples with
no codec. Speeds are × real time on this machine; nothing here asserts a number.

    .venv/bin/python -m bench.deliverables [--quick] [--runs N]
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from bench.common import Options, Section, median, standalone, table
from recorder.app.virtualmic import speech_like
from recorder.core.manifest import Manifest
from recorder.media.flac import build_flac
from recorder.media.mp3 import build_mp3, mp3_bitrate_kbps
from recorder.media.wav_export import build_wav
from tests.factories import write_session

RATE = 48000
SEGMENT_S = 300


def make_session(folder: Path, minutes: float, channels: int) -> Manifest:
    frames = round(minutes * 60 * RATE)
    per_segment = SEGMENT_S * RATE
    chunks: list[list[bytes]] = [[] for _ in range(-(-frames // per_segment))]
    done = 0
    for block in speech_like(frames, RATE, channels, block=RATE * 10):
        chunks[done // per_segment].append(block.tobytes())  # 10 s blocks divide 300 s
        done += len(block)
    return write_session(folder, chunks, RATE, channels, "S16_LE")


def timed(build, *args) -> tuple[Path, float]:
    start = time.perf_counter()
    out = build(*args)
    return out, time.perf_counter() - start


def measure(minutes: float, workdir: Path) -> list[dict]:
    rows = []
    for channels in (2, 1):
        folder = workdir / f"ch{channels}"
        manifest = make_session(folder, minutes, channels)
        seconds = manifest.frames / RATE
        wav, t_wav = timed(build_wav, folder, manifest, folder / "joined.wav")
        flac, t_flac = timed(build_flac, folder, manifest, folder / "session.flac")
        mp3, t_mp3 = timed(build_mp3, folder, manifest, folder / "session.mp3")
        sizes = {k: p.stat().st_size for k, p in (("wav", wav), ("flac", flac), ("mp3", mp3))}
        rows.append(
            {
                "channels": channels,
                "seconds": seconds,
                **sizes,
                "x_wav": seconds / t_wav,
                "x_flac": seconds / t_flac,
                "x_mp3": seconds / t_mp3,
            }
        )
        shutil.rmtree(folder)
    return rows


def run(opts: Options) -> Section:
    minutes = 0.5 if opts.quick else 10.0
    runs = [measure(minutes, opts.workdir) for _ in range(opts.runs)]
    rows = []
    for i, name in enumerate(("stereo", "mono")):
        r = {k: median([one[i][k] for one in runs]) for k in runs[0][i]}
        per_hour = 3600 / r["seconds"] / 1e6
        rows.append(
            [
                name,
                f"{r['wav'] / 1e6:.1f}",
                f"{r['flac'] / 1e6:.1f} ({r['flac'] / r['wav']:.2f})",
                f"{r['mp3'] / 1e6:.2f}",
                f"{r['x_wav']:.0f}",
                f"{r['x_flac']:.0f} ({r['x_flac'] / r['x_wav']:.2f})",
                f"{r['x_mp3']:.0f} ({r['x_mp3'] / r['x_wav']:.2f})",
                f"{r['wav'] * per_hour:.0f}",
                f"{r['flac'] * per_hour:.0f}",
                f"{r['mp3'] * per_hour:.1f}",
            ]
        )
    return Section(
        key="deliverables",
        title="Deliverables, stereo beside mono (`bench/deliverables.py`)",
        text=f"""
{minutes:g} minutes of speech-like audio (`recorder.app.virtualmic.speech_like`: a seeded voiced
buzz and noise bursts under a syllable-rate envelope with pauses, over a quiet noise floor),
48 kHz S16_LE in 300-s segments as the recorder writes them, stereo and mono, medians of
{opts.runs} runs. Each deliverable is built the way the box builds it: the FLAC includes its
decode-and-compare verification, the MP3 ({mp3_bitrate_kbps()} kbps CBR) the mono downmix. The
baseline is the joined WAV (`export wav`, also verified): the cost of reading and writing the
samples with no codec; the speeds in brackets are relative to it. × RT is times real time.
The uploader sends the FLAC instead of the WAV segments because it is about half the bytes (and
upload time) at no loss, checked sample by sample before it is sent; MP3 encoding is the slow
step, which is why deliverables are built after the stop, at low priority, and paused while
recording.
""",
        tables=[
            table(
                [
                    "",
                    "WAV MB",
                    "FLAC MB (ratio)",
                    "MP3 MB",
                    "WAV join × RT",
                    "FLAC × RT",
                    "MP3 × RT",
                    "WAV MB/h",
                    "FLAC MB/h",
                    "MP3 MB/h",
                ],
                rows,
            )
        ],
        findings=[f"FLAC is {rows[0][2].split('(')[1].rstrip(')')} of the WAV bytes (stereo)"],
        data={"minutes": minutes, "runs": runs},
    )


if __name__ == "__main__":
    standalone(run)
