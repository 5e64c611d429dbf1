"""What a transcript says of its session that the coach can change afterwards: its title (the
session's name) and its markers' labels. The builder uses them for a new transcript and the
retagger (`recorder.coaching.tags`) for a finished one; kept apart from the builder so that the
daemon, which only retitles, never imports the builder's resampler and level pass."""

from __future__ import annotations

from recorder.core.manifest import Manifest
from recorder.core.transcript.doc import MarkerLine
from recorder.media.tags import coach_name


def transcript_title(manifest: Manifest) -> str:
    """The coach's name for the session ("Sam · Goals review") once given, else its id."""
    return coach_name(manifest) or f"Session {manifest.id}"


def transcript_markers(manifest: Manifest) -> tuple[MarkerLine, ...]:
    """The markers after the start press, timed from it, with their labels as they stand."""
    rate = manifest.audio.rate
    preroll_s = manifest.preroll_frames / rate
    return tuple(
        MarkerLine(round(m.frame / rate - preroll_s, 3), m.label or f"marker {n}")
        for n, m in enumerate(manifest.markers, 1)  # unnamed ones as labels.txt names them
        if m.frame >= manifest.preroll_frames
    )
