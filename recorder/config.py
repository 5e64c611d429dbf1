"""The config file: TOML, checked against a schema that reports every error at once.

Like Mopidy's schema, a bad file is answered with every problem, each naming the file, the key
and, for a misspelt key, the closest valid one; like Frigate's, unknown keys are errors.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from recorder.core.coaching.shares import ShareError, check_expire, overlaps, parse_expire
from recorder.core.formats import FORMATS
from recorder.core.inbound import echo

DEFAULT_CONFIG_PATH = Path("/etc/session-recorder/config.toml")
CONFIG_ENV = "SESSION_RECORDER_CONFIG"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_in_paths(cls, value: object) -> object:
        if isinstance(value, Path) and "\x00" in str(value):
            raise ValueError("a path cannot hold a NUL character")
        return value


class DeviceSection(_Section):
    id: str = Field(
        default="recorder",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="this box's name: letters, digits, '-' and '_'",
    )


class AudioSection(_Section):
    device: str = Field(default="default", min_length=1)
    rate: int = Field(default=48000, ge=8000, le=384000)
    channels: int = Field(default=2, ge=1, le=32)
    format: Literal["S16_LE", "S24_3LE", "S32_LE"] = "S16_LE"
    period_ms: int = Field(default=100, ge=5, le=1000)
    preroll_s: float = Field(default=10.0, ge=0, le=600)
    segment_s: float = Field(default=300.0, ge=1, le=3600)
    buffer_s: float = Field(default=60.0, ge=5, le=3600)

    @model_validator(mode="after")
    def _whole_frames(self) -> AudioSection:
        if (self.rate * self.period_ms) % 1000:
            raise ValueError(
                f"rate {self.rate} × period_ms {self.period_ms} is not a whole number of frames"
            )
        wav_limit = (4 << 30) - 1024
        seg_bytes = self.segment_s * self.rate * self.channels * FORMATS[self.format].width
        if seg_bytes > wav_limit:
            raise ValueError(f"segment_s {self.segment_s} makes segments larger than 4 GiB")
        return self

    @property
    def period_frames(self) -> int:
        return self.rate * self.period_ms // 1000

    @property
    def sample_format(self):
        return FORMATS[self.format]

    @property
    def bytes_per_second(self) -> int:
        return self.rate * self.channels * FORMATS[self.format].width


class StorageSection(_Section):
    dir: Path = Path("/var/lib/session-recorder")
    min_free_mb: int = Field(default=200, ge=1)
    sync_s: float = Field(default=0.5, gt=0, le=1.0)


Action = Literal["start", "stop", "mark", "none"]


class GpioSection(_Section):
    """The one button and the one LED, in BCM numbering (see hardware/)."""

    enabled: bool = True
    button: int = Field(default=17, ge=0, le=53)
    led: int = Field(default=27, ge=0, le=53)
    led_kind: Literal["plain", "pwm", "rgb"] = "plain"
    led_rgb: tuple[int, int, int] = (22, 23, 24)
    led_active_high: bool = True
    bounce_ms: int = Field(default=50, ge=0, le=500)
    short_press_max_s: float = Field(default=0.8, gt=0, le=5)
    stop_hold_s: float = Field(default=2.0, gt=0, le=30)
    idle_press: Action = "start"
    recording_press: Action = "mark"
    recording_hold: Action = "stop"

    @model_validator(mode="after")
    def _press_shorter_than_hold(self) -> GpioSection:
        if self.short_press_max_s >= self.stop_hold_s:
            raise ValueError(
                f"short_press_max_s ({self.short_press_max_s}) must be shorter than "
                f"stop_hold_s ({self.stop_hold_s})"
            )
        if self.bounce_ms / 1000 >= self.short_press_max_s:
            raise ValueError("bounce_ms must be shorter than short_press_max_s")
        return self


class WarningsSection(_Section):
    """When the recorder warns (LED, status, manifest) and when it stops by itself."""

    silence_dbfs: float = Field(default=-60.0, le=0)
    silence_s: float = Field(default=60.0, gt=0)
    clip_repeat: int = Field(default=3, ge=1)
    clip_window_s: float = Field(default=10.0, gt=0)
    disk_minutes: float = Field(default=30.0, ge=0)
    auto_stop_silence_s: float = Field(default=0.0, ge=0, description="0 = never")
    max_session_h: float = Field(default=4.0, ge=0, description="0 = no limit")


SAFE_RCLONE = r"^[A-Za-z0-9_./:@+=,%-]+$"  # rclone-python runs commands through a shell


class UploadSection(_Section):
    """Where finished sessions go (any rclone remote; a crypt remote keeps them encrypted)."""

    remote: str = Field(pattern=SAFE_RCLONE, description="rclone remote:path")
    rclone_config: Path = Path("/etc/session-recorder/rclone.conf")
    rclone_binary: Path | None = None
    config_password_file: Path | None = None
    pause_while_recording: bool = True
    delay_min: float = Field(default=0.0, ge=0)
    retry_min_s: float = Field(default=30.0, gt=0)
    retry_max_s: float = Field(default=3600.0, gt=0)
    deliverables: bool = True
    share_link: bool = False
    keep_days: float = Field(default=0.0, ge=0, description="0 = keep until space is needed")
    keep_free_mb: int = Field(default=2000, ge=0)
    bwlimit: str | None = Field(default=None, pattern=r"^[0-9.]+[BKMGbkmg]?$")

    @model_validator(mode="after")
    def _checks(self) -> UploadSection:
        if self.remote.startswith("-") or ":" not in self.remote:
            raise ValueError(f"remote {self.remote!r} must look like 'name:path'")
        for key in ("rclone_config", "rclone_binary", "config_password_file"):
            value = getattr(self, key)
            if value is not None and not re.match(SAFE_RCLONE, str(value)):
                raise ValueError(
                    f"{key} {str(value)!r} may only use letters, digits and _./:@+=,%-"
                )
        if self.retry_min_s > self.retry_max_s:
            raise ValueError("retry_min_s must not exceed retry_max_s")
        return self


class MqttSection(_Section):
    """Status and commands over MQTT (a local mosquitto, or a central broker for a fleet)."""

    host: str = Field(default="localhost", min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    prefix: str = Field(default="session-recorder", pattern=r"^[A-Za-z0-9_/-]+$")
    username: str | None = None
    password_file: Path | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    client_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{16,128}$",
        description=(
            "the recorder's MQTT client id; keep it secret: a client that connects with it "
            "disconnects the recorder. Absent: a random one kept in <storage dir>/mqtt-client-id"
        ),
    )
    level_hz: float = Field(default=4.0, gt=0, le=20)
    queue_max: int = Field(default=100, ge=1, le=100000)
    commands: list[
        Literal[
            "start", "stop", "mark", "upload", "discard",
            "label", "next", "label_marker", "consent", "share", "revoke",
            "bookmark", "transcript_edit", "proofread",
        ]
    ] = [
        "start", "stop", "mark", "upload", "discard",
        "label", "next", "label_marker", "consent", "share", "revoke",
        "bookmark", "transcript_edit", "proofread",
    ]  # fmt: skip
    ha_discovery: bool = True
    ha_prefix: str = Field(default="homeassistant", pattern=r"^[A-Za-z0-9_/-]+$")

    @model_validator(mode="after")
    def _tls_files(self) -> MqttSection:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (a client certificate)")
        if not self.tls and (self.ca_file or self.cert_file):
            raise ValueError("ca_file/cert_file/key_file need tls = true")
        return self


class TranscriptSection(_Section):
    """Transcripts after each stop: who spoke when (from the channels) and what they said.

    Built on the box by an offline engine; nothing leaves it but the encrypted upload.
    """

    auto: bool = Field(default=True, description="build one after each stop")
    engine: Literal["auto", "pocketsphinx", "whisper"] = Field(
        default="auto",
        description="auto: whisper where its model is sound and the box has the memory",
    )
    model_dir: Path | None = Field(
        default=None,
        description="whisper: a faster-whisper (CTranslate2) model folder on disk, instead of "
        "the bundled tiny.en",
    )
    language: str = Field(default="en", pattern=r"^[a-z]{2,3}$")
    speakers: list[
        Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[^\r\n\[\]:]+$")]
    ] = Field(
        default=["Coach", "Client"],
        min_length=1,
        max_length=8,
        description="channel 1, channel 2, …; one name: one microphone, voices not told apart",
    )
    threads: int = Field(default=1, ge=1, le=4, description="whisper: CPU threads")

    @model_validator(mode="after")
    def _model(self) -> TranscriptSection:
        if len(set(self.speakers)) != len(self.speakers):
            raise ValueError(f"speakers {self.speakers} repeats a name")
        return self


class ShareSection(_Section):
    """Plain copies for a mentor or a client, in a remote of the coach's choosing.

    Never the archive: `[upload] remote` holds the sessions encrypted, and a plain copy beside
    it would defeat that. A share needs the client's recorded consent.
    """

    remote: str = Field(pattern=SAFE_RCLONE, description="rclone remote:path for shared copies")
    rclone_config: Path | None = Field(default=None, description="default: [upload] rclone_config")
    rclone_binary: Path | None = None
    config_password_file: Path | None = None
    expire: str = Field(default="14d", description="default lifetime of a shared copy")
    max_expire: str = Field(default="90d", description="the longest a coach may choose")
    link: bool = Field(default=True, description="make a public link where the backend can")

    @model_validator(mode="after")
    def _expiries(self) -> ShareSection:
        try:
            longest = parse_expire(self.max_expire)
            check_expire(parse_expire(self.expire), longest)
        except ShareError as exc:
            raise ValueError(str(exc)) from None
        if ":" not in self.remote:
            raise ValueError(f"remote {self.remote!r} is not an rclone remote:path")
        return self


class ControlSection(_Section):
    socket: Path | None = Field(
        default=None,
        description="unix socket for `ctl`; default $RUNTIME_DIRECTORY/control.sock, "
        "else <storage dir>/control.sock",
    )


class WebSection(_Section):
    """The box's web server (`session-recorder web`): the phone page, its live status (the
    broker's websocket, proxied) and the sessions' media, from one origin behind one login."""

    host: str = Field(default="0.0.0.0", min_length=1, description="address to listen on")
    port: int = Field(default=80, ge=1, le=65535)
    password_file: Path = Field(
        default=Path("/etc/session-recorder/dashboard.pass"),
        description="the page password in plain text (first line); refused when others can read it",
    )
    tls_cert: Path | None = Field(default=None, description="PEM certificate chain: HTTPS")
    tls_key: Path | None = Field(default=None, description="its PEM private key")
    dashboard_dir: Path = Field(
        default=Path("/usr/share/session-recorder/dashboard"),
        description="the built page (dashboard/dist), as the installer puts it",
    )
    broker_ws_port: int = Field(
        default=9001,
        ge=1,
        le=65535,
        description="the box's mosquitto websocket listener on 127.0.0.1, proxied at /mqtt",
    )
    login_days: float = Field(
        default=30.0, gt=0, le=400, description="how long a login lasts (the cookie's expiry)"
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> WebSection:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together (or neither: plain HTTP)")
        return self


class Config(_Section):
    device: DeviceSection = DeviceSection()
    audio: AudioSection = AudioSection()
    storage: StorageSection = StorageSection()
    gpio: GpioSection = GpioSection()
    warnings: WarningsSection = WarningsSection()
    upload: UploadSection | None = None
    mqtt: MqttSection | None = None
    control: ControlSection = ControlSection()
    transcript: TranscriptSection | None = None
    share: ShareSection | None = None
    web: WebSection = WebSection()
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _share_apart(self) -> Config:
        if self.share is None:
            return self
        if self.upload is not None:
            if overlaps(self.share.remote, self.upload.remote):
                raise ValueError(
                    f"[share] remote {self.share.remote!r} is the [upload] archive or inside it: "
                    "plain copies would sit beside the encrypted sessions; use another remote"
                )
        elif self.share.rclone_config is None:
            raise ValueError("[share] needs rclone_config when there is no [upload] section")
        return self

    @property
    def share_rclone_config(self) -> Path | None:
        if self.share is None:
            return None
        if self.share.rclone_config is not None:
            return self.share.rclone_config
        return self.upload.rclone_config if self.upload else None

    @property
    def socket_path(self) -> Path:
        if self.control.socket is not None:
            return self.control.socket
        runtime = os.environ.get("RUNTIME_DIRECTORY")
        if runtime:
            return Path(runtime.split(":")[0]) / "control.sock"
        return self.storage.dir / "control.sock"


class ConfigError(ValueError):
    """Every problem found in a config file, one per line, each naming the file and key."""


def config_path(explicit: str | os.PathLike | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else DEFAULT_CONFIG_PATH


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Read and check the config; a ConfigError lists everything wrong with it."""
    path = config_path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError, int() limits, deep arrays
        raise ConfigError(f"{path}: not valid TOML: {echo(str(exc))}") from None
    return parse_config(data, path)


def parse_config(data: dict, path: Path) -> Config:
    data = dict(data)
    data.pop("source", None)
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe(err, path) for err in exc.errors())) from None
    if not cfg.storage.dir.is_absolute():
        cfg = cfg.model_copy(
            update={
                "storage": cfg.storage.model_copy(
                    update={"dir": (path.parent / cfg.storage.dir).resolve()}
                )
            }
        )
    return cfg.model_copy(update={"source": path})


def _describe(err: dict, path: Path) -> str:
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        parent = _model_at(loc[:-1])
        valid = list(parent.model_fields) if parent else []
        valid = [v for v in valid if v != "source"]
        close = difflib.get_close_matches(loc[-1], valid, n=1, cutoff=0.5)
        where = f"[{'.'.join(loc[:-1])}]" if loc[:-1] else "the top level"
        hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(valid)}"
        return f"{path}: unknown key '{key}' in {where}{hint}"
    got = err.get("input")
    shown = "" if isinstance(got, dict) else f" (got {echo(got)})"
    return f"{path}: {key}: {err['msg']}{shown}"


def _model_at(loc: list[str]) -> type[BaseModel] | None:
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(part)
        if field is None or not isinstance(field.annotation, type):
            return None
        if not issubclass(field.annotation, BaseModel):
            return None
        model = field.annotation
    return model
