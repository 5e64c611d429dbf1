"""When the storage is too full to start or to go on recording.

Recording stops while `stop_margin_s` of audio still fits above `min_free`, so the stop, the
last header update and the manifest always have room; a start needs `start_margin_s` more.
"""

from __future__ import annotations

from recorder.core.state import DiskLow, DiskOk, State

STOP_MARGIN_S = 10.0
START_MARGIN_S = 60.0


def disk_event(
    state: State,
    free_bytes: int,
    min_free_bytes: int,
    bytes_per_second: int,
    queued_bytes: int = 0,
) -> DiskLow | DiskOk | None:
    """The event the free space calls for, or None when nothing changes."""
    spare = free_bytes - min_free_bytes - queued_bytes
    seconds_left = spare / bytes_per_second
    mb = free_bytes / 1e6
    if not state.disk_full and seconds_left < (
        STOP_MARGIN_S if state.mode == "recording" else START_MARGIN_S
    ):
        return DiskLow(
            f"storage nearly full: {mb:.0f} MB free, {min_free_bytes / 1e6:.0f} MB must stay free"
        )
    if state.disk_full and seconds_left >= START_MARGIN_S:
        return DiskOk()
    return None


def hours_left(free_bytes: int, min_free_bytes: int, bytes_per_second: int) -> float:
    return round(max(0, free_bytes - min_free_bytes) / bytes_per_second / 3600, 2)
