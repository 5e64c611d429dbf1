"""The manifest: everything known about one session, as the JSON file kept beside its audio.

Other parts (the uploader, the dashboard, `sessions --json`) read it, so its fields are stable;
new fields may be added, none renamed.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from recorder.core.formats import FORMATS
from recorder.core.inbound import echo
from recorder.core.session_id import is_valid_id

MANIFEST_VERSION = 1

# Limits every reader gets: a manifest outside them was not written by a recorder (a bad disk,
# a hand edit) and is reported as damaged rather than acted on.
MAX_RATE = 768_000  # above any ALSA interface's rate (the config allows up to 384 kHz)
MAX_CHANNELS = 64
MAX_FRAME = 2**63 - 1  # a frame count or position must fit libsndfile's and numpy's int64
MAX_SESSION_DAYS = 366
SEGMENT_FILE = r"^seg-[0-9]{4,}\.wav$"  # a plain name in the session folder, as the writer makes it

Frame = Annotated[int, Field(ge=0, le=MAX_FRAME)]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]

StopReason = Literal[
    "requested",  # ctl / button / MQTT stop
    "shutdown",  # SIGTERM: the service or the box was stopped
    "disk_full",  # free space reached [storage] min_free_mb
    "write_error",  # the storage failed under the writer
    "interrupted",  # power cut or crash: repaired and finalized at the next start
    "silence",  # [warnings] auto_stop_silence_s of silence
    "max_length",  # [warnings] max_session_h reached
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", validate_assignment=False, allow_inf_nan=False)


class AudioInfo(_Model):
    device: str
    rate: int = Field(gt=0, le=MAX_RATE)
    channels: int = Field(ge=1, le=MAX_CHANNELS)
    format: str

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in FORMATS:
            raise ValueError(f"{echo(value)} is not one of {', '.join(FORMATS)}")
        return value


class SegmentInfo(_Model):
    file: str = Field(pattern=SEGMENT_FILE, description="seg-NNNN.wav in the session folder")
    index: int = Field(ge=0)
    first_frame: Frame = Field(description="session frame of this segment's first frame")
    first_pos: Frame = Field(description="capture position of this segment's first frame")
    frames: Frame
    bytes: int | None = Field(default=None, ge=0)
    sha256: str | None = None
    closed: bool = False
    repaired: bool = False


class Marker(_Model):
    frame: Frame
    seconds: Seconds
    label: str = ""
    source: str = "ctl"


class GapInfo(_Model):
    kind: str
    at_frame: Frame = Field(description="session frame where the audio jumps")
    pos: Frame = Field(description="capture position of the first lost frame")
    frames: Frame
    seconds: Seconds
    estimated: bool = False


class WarningInfo(_Model):
    kind: str
    message: str
    raised_frame: Frame
    raised_seconds: Seconds
    cleared_frame: Frame | None = None
    cleared_seconds: Seconds | None = None


class TranscriptUpload(_Model):
    """The transcript's own trip to the archive, after the audio's.

    The audio leaves the box as soon as it is built; the transcript is built once the audio is
    verified (an hour on a Pi) and is sent and verified on its own.
    """

    # waiting (the audio first, then the transcript to be built), failed (retrying), verified,
    # none (nothing to send: transcripts are off, or this one could not be built)
    status: str = "waiting"
    files: dict[str, int] = Field(default_factory=dict)  # name -> bytes sent
    attempts: int = 0
    last_error: str | None = None
    verified_at: str | None = None


class UploadInfo(_Model):
    # pending, uploading, failed (retrying), uploaded (on the remote, in uploaded/, not verified
    # yet: never deleted here), verified (only now may retention delete the local copy)
    status: str = "pending"
    remote: str | None = None  # the session's folder on the remote
    attempts: int = 0  # uploads tried
    last_error: str | None = None
    error_kind: str | None = None
    files: dict[str, int] = Field(default_factory=dict)  # name -> bytes sent
    uploaded_at: str | None = None
    verify_attempts: int = 0  # verifications tried since the last upload (their backoff)
    verified_at: str | None = None
    link: str | None = None
    force: bool = False  # the last verification failed: send everything again
    transcript: TranscriptUpload = Field(default_factory=TranscriptUpload)


class Manifest(_Model):
    manifest_version: int = MANIFEST_VERSION
    id: str
    device_id: str
    audio: AudioInfo
    started_at: str
    clock_synced: bool
    start_pos: Frame
    preroll_frames: Frame
    start_source: str = "ctl"
    frames: Frame = 0
    state: Literal["recording", "finalized"] = "recording"
    segments: list[SegmentInfo] = Field(default_factory=list)
    markers: list[Marker] = Field(default_factory=list)
    gaps: list[GapInfo] = Field(default_factory=list)
    overruns: int = Field(default=0, ge=0)
    warnings: list[WarningInfo] = Field(default_factory=list)
    stop_reason: StopReason | None = None
    ended_at: str | None = None
    recovery: dict | None = None
    levels: dict | None = None
    upload: UploadInfo = Field(default_factory=UploadInfo)

    @field_validator("id")
    @classmethod
    def _session_id(cls, value: str) -> str:
        if not is_valid_id(value):
            raise ValueError(f"{echo(value)} is not a session id")
        return value

    @field_validator("frames")
    @classmethod
    def _session_length(cls, value: int, info: ValidationInfo) -> int:
        audio = info.data.get("audio")  # absent when audio itself is invalid: reported there
        if audio is not None and value > audio.rate * MAX_SESSION_DAYS * 86400:
            days = value / audio.rate / 86400
            raise ValueError(
                f"{value} frames at {audio.rate} Hz would be {days:.3g} days; "
                f"no session is longer than {MAX_SESSION_DAYS} days"
            )
        return value

    def seconds(self, frame: int) -> float:
        return round(frame / self.audio.rate, 3)


class ManifestError(ValueError):
    """A manifest that cannot be read; the message names the file and every bad field."""


def parse_manifest(text: str | bytes, where: str) -> Manifest:
    try:
        return Manifest.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ManifestError(f"{where}: corrupt manifest: {problems}") from None


def dump_manifest(manifest: Manifest) -> str:
    return manifest.model_dump_json(indent=2) + "\n"


COACH_FIELDS = ("details", "consent", "shares")  # written only by recorder.coaching
REVIEW = "review"  # the source of a marker the coach added while listening back (a bookmark)


def keep_coach_edits(on_disk: object, manifest: Manifest) -> None:
    """Carry the coach's edits from the stored manifest into one about to replace it.

    Other writers (the writer thread, the outbox) hold copies read before an edit; the fields
    the coach owns and the labels of markers edited afterwards (`edited_at`) come from disk.
    """
    if not isinstance(on_disk, dict):
        return
    extra = manifest.__pydantic_extra__
    assert extra is not None  # extra="allow"
    for key in COACH_FIELDS:
        if key in on_disk:
            extra[key] = on_disk[key]
    stored = on_disk.get("markers")
    if not isinstance(stored, list):
        return
    edits = {
        (m.get("frame"), m.get("source")): m
        for m in stored
        if isinstance(m, dict) and isinstance(m.get("edited_at"), str)
    }
    for marker in manifest.markers:
        edit = edits.pop((marker.frame, marker.source), None)
        if edit is not None and isinstance(edit.get("label"), str):
            marker.label = edit["label"]
            marker.__pydantic_extra__["edited_at"] = edit["edited_at"]  # type: ignore[index]
    # bookmarks added after the copy was read: put back in time order
    added = [e for (_, source), e in edits.items() if source == REVIEW]
    for entry in added:
        with contextlib.suppress(ValidationError):
            manifest.markers.append(Marker.model_validate(entry))
    if added:
        manifest.markers.sort(key=lambda m: m.frame)


def _stamps(value: object, keys: tuple[str, ...]) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [i[k] for i in items if isinstance(i, dict) for k in keys if isinstance(i.get(k), str)]


def latest_coach_edit(manifest: Manifest) -> datetime | None:
    """When the coach last changed the session (details, consent, shares, a marker label), or
    None when never; stamps that cannot be read are left out."""
    extra = manifest.model_extra or {}
    found = [
        *_stamps(extra.get("details"), ("updated_at",)),
        *_stamps(extra.get("consent"), ("at",)),
        *_stamps(extra.get("shares"), ("created_at", "removed_at")),
        *_stamps([m.model_extra or {} for m in manifest.markers], ("edited_at",)),
    ]
    times = []
    for stamp in found:
        try:
            t = datetime.fromisoformat(stamp)
        except ValueError:
            continue
        times.append(t if t.tzinfo else t.replace(tzinfo=UTC))
    return max(times, default=None)
