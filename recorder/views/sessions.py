"""The `sessions --json` record of a stored session (fields other parts rely on are in DESIGN.md).

It gathers what the store, the coach's record and the transcript say of a session; it sits above
them all, so none of them has to import it back.
"""

from __future__ import annotations

import re
from pathlib import Path

import soundfile

from recorder.core.manifest import SEGMENT_FILE
from recorder.media.wav import WavError, frames_on_disk
from recorder.store.sessions import StoredSession
from recorder.transcript.status import summary
from recorder.views.coach import coach_view


def session_json(s: StoredSession) -> dict:
    """One session as `sessions --json` lists it.

    A damaged session has no manifest to trust, so its record describes the WAV segments
    actually in its folder: whoever reads the list can still see, and rescue, the audio.
    """
    m = s.manifest
    record: dict = {"id": s.id, "state": s.state, "path": str(s.path)}
    if m is None:
        record.update(_audio_on_disk(s.path))
        record.update(format=None, markers=[], gaps=[])
        record["upload"] = {"status": "unknown", "remote": None}
        record["error"] = s.error
        record["transcript"] = summary(s.path)
        return record
    record.update(
        segments=[str(s.path / seg.file) for seg in m.segments],
        frames=m.frames,
        seconds=round(m.frames / m.audio.rate, 3),
        rate=m.audio.rate,
        channels=m.audio.channels,
        format=m.audio.format,
        started_at=m.started_at,
        clock_synced=m.clock_synced,
        stop_reason=m.stop_reason,
        markers=[
            {"frame": k.frame, "seconds": k.seconds, "label": k.label, "source": k.source}
            for k in m.markers
        ],
        gaps=[g.model_dump() for g in m.gaps],
        upload=m.upload.model_dump(),
    )
    record["transcript"] = summary(s.path)
    coach = coach_view(m, s.state, m.upload.remote)
    record.update(
        name=coach["name"],
        details=coach["details"],
        consent=coach["consent"],
        shares=coach["shares"],
    )
    return record


def _audio_on_disk(folder: Path) -> dict:
    """Segments, frames, rate and channels of a folder's seg-NNNN.wav files, read from the files.

    Frames count the whole frames each file holds (a header a power cut left stale does not
    hide audio); files whose WAV header cannot be read are listed in `unreadable_segments`
    and not counted. Nothing is written.
    """
    pattern = re.compile(SEGMENT_FILE)
    try:
        names = sorted(
            (p.name for p in folder.iterdir() if pattern.match(p.name)),
            key=lambda name: int(name[4:-4]),
        )
    except OSError:
        names = []
    frames = 0
    rates: set[tuple[int, int]] = set()
    unreadable: list[str] = []
    for name in names:
        path = folder / name
        try:
            held = frames_on_disk(path)
            info = soundfile.info(str(path))
        except (OSError, WavError, RuntimeError):  # soundfile's errors are RuntimeErrors
            unreadable.append(str(path))
            continue
        frames += held
        rates.add((info.samplerate, info.channels))
    rate, channels = next(iter(rates)) if len(rates) == 1 else (None, None)
    record: dict = {
        "segments": [str(folder / name) for name in names],
        "frames": frames,
        "rate": rate,
        "channels": channels,
        "unreadable_segments": unreadable,
    }
    if rate:
        record["seconds"] = round(frames / rate, 3)
    return record
