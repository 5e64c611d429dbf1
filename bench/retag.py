"""What renaming a session costs: new tags on its FLAC and MP3, beside copying the two files.

A coach's rename or relabel is given to the files by `recorder.coaching.tags` (mutagen), which
tags a copy of each file beside it, syncs it and renames it over the file, so that a power cut
leaves the old file or the new one. The baseline is that copy alone (`shutil.copyfile` and an
fsync of both files, no tags): the ratio says what the tagging adds to the copying it cannot
avoid. Beside it, once, rebuilding both files from the segments, which is what a rename would
cost without mutagen. The session is an hour of the tests' speech-like signal, 48 kHz S16_LE
stereo in 300 s segments; the runs alternate (copy, retag, retag, copy, …); medians.

    .venv/bin/python -m bench.retag [--quick] [--runs N]
"""

from __future__ import annotations

import os
import shutil
import time
import tracemalloc
from pathlib import Path

from bench.common import Options, Section, median, standalone, table
from bench.deliverables import make_session
from recorder.core.manifest import Manifest
from recorder.media.deliverables import FLAC_NAME, MP3_NAME
from recorder.media.flac import build_flac
from recorder.media.mp3 import build_mp3
from recorder.media.tag_files import retag_flac, retag_mp3


def _copy_both(folder: Path) -> None:
    for name in (FLAC_NAME, MP3_NAME):
        tmp = folder / f".{name}.copy"
        shutil.copyfile(folder / name, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        tmp.unlink()


def _named(manifest: Manifest, n: int) -> Manifest:
    """The manifest with a new client name each run, so every retag really rewrites."""
    named = manifest.model_copy(deep=True)
    assert named.__pydantic_extra__ is not None
    named.__pydantic_extra__["details"] = {"client": f"Client {n}", "title": "Goals review",
                                           "number": n, "notes": ""}  # fmt: skip
    return named


def _retag_both(folder: Path, manifest: Manifest) -> None:
    assert retag_flac(folder / FLAC_NAME, manifest)
    assert retag_mp3(folder / MP3_NAME, manifest)


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def run(opts: Options) -> Section:
    minutes = 1.0 if opts.quick else 60.0
    folder = opts.workdir / "session"
    manifest = make_session(folder, minutes, 2)
    start = time.perf_counter()
    build_flac(folder, manifest, folder / FLAC_NAME)
    build_mp3(folder, manifest, folder / MP3_NAME)
    rebuild_s = time.perf_counter() - start
    mb = sum((folder / n).stat().st_size for n in (FLAC_NAME, MP3_NAME)) / 1e6

    copy_s, retag_s = [], []
    n = 0
    for i in range(opts.runs):
        for what in ("copy", "retag") if i % 2 == 0 else ("retag", "copy"):
            if what == "copy":
                copy_s.append(_timed(_copy_both, folder))
            else:
                n += 1
                retag_s.append(_timed(_retag_both, folder, _named(manifest, n)))
    tracemalloc.start()  # once, untimed: what a retag holds at most (mutagen reads headers)
    _retag_both(folder, _named(manifest, n + 1))
    peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()

    copy, retag = median(copy_s), median(retag_s)
    rows = [
        ["copy and fsync of both files (baseline)", copy, 1.0],
        ["`retag_flac` + `retag_mp3`", retag, retag / copy],
        ["rebuilding both from the segments (once)", rebuild_s, rebuild_s / copy],
    ]
    return Section(
        key="retag",
        title="Renaming a session: new tags on its files (`bench/retag.py`)",
        text=f"""
{minutes:g} minutes of speech-like 48 kHz S16_LE stereo; its session.flac and session.mp3 hold
{mb:.0f} MB together. Medians of {opts.runs} interleaved runs, each giving the files a new
client name; the files are in the page cache (a cold SD card adds the same read to both).
""",
        tables=[table(["", "s", "× baseline"], rows)],
        findings=[
            f"a rename costs {retag:.2f} s of file work for a {minutes:g}-minute session, "
            f"{retag / copy:.2f}× copying the two files, {rebuild_s / retag:.0f}× less than "
            f"rebuilding them; peak memory {peak_mb:.1f} MB for {mb:.0f} MB of files",
        ],
        data={
            "minutes": minutes,
            "mb": mb,
            "copy_s": copy_s,
            "retag_s": retag_s,
            "rebuild_s": rebuild_s,
            "retag_peak_mb": peak_mb,
        },
    )


if __name__ == "__main__":
    standalone(run)
