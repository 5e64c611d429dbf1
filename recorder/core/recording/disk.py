"""When the storage is too full to start or to go on recording, and the room a stop needs.

Recording stops while `stop_margin_s` of audio still fits above `min_free`, so the stop, the
last header update and the manifest always have room; a start needs `start_margin_s` more.
Another program can still take the last bytes between two checks, so the room the last writes
of a session need (manifest, cue chunks, labels.txt) is also kept aside in a ballast file whose
size `ballast_bytes` gives.
"""

from __future__ import annotations

from collections.abc import Sequence

from recorder.core.recording.state import DiskLow, DiskOk, State

STOP_MARGIN_S = 10.0
START_MARGIN_S = 60.0

BALLAST_FLOOR = 1 << 20  # a 4-hour session with a hundred markers needs well under 100 kB
BALLAST_STEP = 1 << 20
BLOCK = 4096  # the filesystem block the estimate rounds each file up to
CUE_POINT = 24  # one point in the `cue ` chunk
LABL_OVERHEAD = 14  # a `labl` chunk's header, cue id, NUL and pad byte
CUE_CHUNKS = 32  # the `cue ` and `LIST/adtl` chunk headers of one segment
LABEL_LINE = 32  # two times with six decimals, two tabs and a newline
DIR_BLOCKS = 4  # a temporary file's entry, the outbox's entry: directories may need a block


def full_message(free_bytes: int) -> str:
    """What the coach reads when nothing more can be recorded."""
    return (
        f"the storage is full: {max(0, free_bytes) / 1e6:.0f} MB free; "
        "free space or the box cannot record"
    )


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
        if free_bytes < min_free_bytes:
            return DiskLow(full_message(free_bytes))
        return DiskLow(
            f"storage nearly full: {mb:.0f} MB free, {min_free_bytes / 1e6:.0f} MB must stay free"
        )
    if state.disk_full and seconds_left >= START_MARGIN_S:
        return DiskOk()
    return None


def hours_left(free_bytes: int, min_free_bytes: int, bytes_per_second: int) -> float:
    return round(max(0, free_bytes - min_free_bytes) / bytes_per_second / 3600, 2)


def _blocks(nbytes: int, block: int) -> int:
    return -(-nbytes // block) * block


def final_write_bytes(
    manifest_bytes: int, label_bytes: Sequence[int], segments: int, block: int = BLOCK
) -> int:
    """An upper bound on what finalizing a session writes: room that must exist on a full disk.

    The new manifest is written beside the old one before the rename; every marker adds a cue
    point and a name to the segment holding it (each segment with cues may need one more block)
    and a line to labels.txt, also written beside its old copy. `label_bytes` are the encoded
    lengths of the marker texts, `segments` how many segments may take cues.
    """
    cue_segments = min(segments, len(label_bytes))
    cues = sum(CUE_POINT + LABL_OVERHEAD + n for n in label_bytes) + CUE_CHUNKS * cue_segments
    labels = sum(LABEL_LINE + n for n in label_bytes)
    return (
        _blocks(manifest_bytes, block)
        + _blocks(cues, block)
        + cue_segments * block
        + 2 * _blocks(labels, block)
        + DIR_BLOCKS * block
    )


def ballast_bytes(need: int, floor: int = BALLAST_FLOOR) -> int:
    """The ballast for a need: whole steps of a MiB, so it grows seldom, and never below floor."""
    return max(floor, _blocks(need, BALLAST_STEP))
