"""The manifest: everything known about one session, as the JSON file kept beside its audio.

Other parts (the uploader, the dashboard, `sessions --json`) read it, so its fields are stable;
new fields may be added, none renamed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MANIFEST_VERSION = 1

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
    model_config = ConfigDict(extra="allow", validate_assignment=False)


class AudioInfo(_Model):
    device: str
    rate: int = Field(gt=0)
    channels: int = Field(gt=0)
    format: str


class SegmentInfo(_Model):
    file: str
    index: int = Field(ge=0)
    first_frame: int = Field(ge=0, description="session frame of this segment's first frame")
    first_pos: int = Field(ge=0, description="capture position of this segment's first frame")
    frames: int = Field(ge=0)
    bytes: int | None = None
    sha256: str | None = None
    closed: bool = False
    repaired: bool = False


class Marker(_Model):
    frame: int = Field(ge=0)
    seconds: float = Field(ge=0)
    label: str = ""
    source: str = "ctl"


class GapInfo(_Model):
    kind: str
    at_frame: int = Field(ge=0, description="session frame where the audio jumps")
    pos: int = Field(ge=0, description="capture position of the first lost frame")
    frames: int = Field(ge=0)
    seconds: float = Field(ge=0)
    estimated: bool = False


class WarningInfo(_Model):
    kind: str
    message: str
    raised_frame: int = Field(ge=0)
    raised_seconds: float = Field(ge=0)
    cleared_frame: int | None = None
    cleared_seconds: float | None = None


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


class Manifest(_Model):
    manifest_version: int = MANIFEST_VERSION
    id: str
    device_id: str
    audio: AudioInfo
    started_at: str
    clock_synced: bool
    start_pos: int = Field(ge=0)
    preroll_frames: int = Field(ge=0)
    start_source: str = "ctl"
    frames: int = Field(ge=0, default=0)
    state: Literal["recording", "finalized"] = "recording"
    segments: list[SegmentInfo] = Field(default_factory=list)
    markers: list[Marker] = Field(default_factory=list)
    gaps: list[GapInfo] = Field(default_factory=list)
    overruns: int = 0
    warnings: list[WarningInfo] = Field(default_factory=list)
    stop_reason: StopReason | None = None
    ended_at: str | None = None
    recovery: dict | None = None
    levels: dict | None = None
    upload: UploadInfo = Field(default_factory=UploadInfo)

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
