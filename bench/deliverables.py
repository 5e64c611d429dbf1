"""Deliverable sizes and encode speeds for 10 minutes of speech-like audio, stereo beside mono.

The session (48 kHz S16_LE, 300 s segments as the recorder writes them by default) is the same
seeded speech-like signal the tests use. Each deliverable is built the way the box builds it:
FLAC includes the decode-and-compare verification, MP3 the mono downmix; the joined WAV
(`export wav`, also verified) is the baseline: the cost of reading and writing the samples with
no codec. Speeds are × real time on this machine; nothing here asserts a number.

    .venv/bin/python bench/deliverables.py [--minutes 10]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_deliverables import write_session

from recorder.core.manifest import Manifest
from recorder.deliverables import build_flac, build_mp3, build_wav, mp3_bitrate_kbps
from recorder.virtualmic import speech_like

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


def run(minutes: float) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-deliverables-") as tmp:
        for channels in (2, 1):
            folder = Path(tmp) / f"ch{channels}"
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
    return rows


def report(rows: list[dict], minutes: float) -> None:
    print(
        f"{minutes:g} min speech-like, {RATE} Hz S16_LE, MP3 {mp3_bitrate_kbps()} kbps mono CBR; "
        f"{platform.machine()}, Python {platform.python_version()}"
    )
    print()
    print("| | WAV MB | FLAC MB (ratio) | MP3 MB | WAV join ×RT | FLAC ×RT | MP3 ×RT "
          "| WAV MB/h | FLAC MB/h | MP3 MB/h |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        per_hour = 3600 / r["seconds"] / 1e6
        print(
            f"| {'stereo' if r['channels'] == 2 else 'mono'} "
            f"| {r['wav'] / 1e6:.1f} | {r['flac'] / 1e6:.1f} ({r['flac'] / r['wav']:.2f}) "
            f"| {r['mp3'] / 1e6:.2f} | {r['x_wav']:.0f} | {r['x_flac']:.0f} | {r['x_mp3']:.0f} "
            f"| {r['wav'] * per_hour:.0f} | {r['flac'] * per_hour:.0f} "
            f"| {r['mp3'] * per_hour:.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    report(run(args.minutes), args.minutes)


if __name__ == "__main__":
    main()
