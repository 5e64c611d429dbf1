"""The controller's state machine: `transition(state, event) -> (state, commands)`.

Every input (ctl socket, later the button and MQTT, the capture and writer threads) becomes an
event; the controller thread is the only caller, and it carries out the commands that come back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Mode = Literal["idle", "recording"]
DeviceState = Literal["opening", "ok", "lost", "absent"]


@dataclass(frozen=True)
class State:
    mode: Mode = "idle"
    device: DeviceState = "opening"
    disk_full: bool = False
    session_id: str | None = None
    device_error: str | None = None  # why the device is not "ok"
    disk_error: str | None = None  # why the disk is full
    last_error: str | None = None  # the latest problem of any kind, until its cause goes away
    shutting_down: bool = False


# ---- events -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    source: str = "ctl"


@dataclass(frozen=True)
class Stop:
    source: str = "ctl"
    reason: str = "requested"


@dataclass(frozen=True)
class Mark:
    label: str = ""
    source: str = "ctl"


@dataclass(frozen=True)
class SessionBegun:
    session_id: str


@dataclass(frozen=True)
class DeviceOpened:
    pass


@dataclass(frozen=True)
class DeviceLost:
    error: str


@dataclass(frozen=True)
class DeviceAbsent:
    error: str


@dataclass(frozen=True)
class DiskLow:
    """Free space is about to reach min_free_mb (`message` says how much is left)."""

    message: str


@dataclass(frozen=True)
class DiskOk:
    pass


@dataclass(frozen=True)
class WriterFailed:
    error: str


@dataclass(frozen=True)
class Shutdown:
    pass


Event = (
    Start
    | Stop
    | Mark
    | SessionBegun
    | DeviceOpened
    | DeviceLost
    | DeviceAbsent
    | DiskLow
    | DiskOk
    | WriterFailed
    | Shutdown
)


# ---- commands -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BeginSession:
    source: str


@dataclass(frozen=True)
class EndSession:
    reason: str


@dataclass(frozen=True)
class PlaceMarker:
    label: str
    source: str


@dataclass(frozen=True)
class Reply:
    """The answer to the request that caused this event (ignored for internal events)."""

    ok: bool
    message: str


@dataclass(frozen=True)
class Log:
    level: Literal["info", "warning", "error"]
    message: str


Command = BeginSession | EndSession | PlaceMarker | Reply | Log


def transition(state: State, event: Event) -> tuple[State, list[Command]]:
    """The next state and what to do, for one event. Pure: same inputs, same outputs."""
    match event:
        case Start(source):
            if state.shutting_down:
                return state, [Reply(False, "cannot start: the recorder is shutting down")]
            if state.mode == "recording":
                return state, [Reply(False, f"already recording session {state.session_id}")]
            if state.device != "ok":
                why = state.device_error or f"audio device is {state.device}"
                return state, [Reply(False, f"cannot start: {why}")]
            if state.disk_full:
                return state, [Reply(False, f"cannot start: {state.disk_error}")]
            return replace(state, mode="recording"), [BeginSession(source)]
        case SessionBegun(session_id):
            return replace(state, session_id=session_id), [
                Log("info", f"session {session_id} started")
            ]
        case Stop(source, reason):
            if state.mode != "recording":
                return state, [Reply(False, "not recording")]
            return _end(state, reason, f"stopped by {source}")
        case Mark(label, source):
            if state.mode != "recording":
                return state, [Reply(False, "not recording: a marker needs a session")]
            return state, [PlaceMarker(label, source)]
        case DeviceOpened():
            last = state.disk_error if state.last_error == state.device_error else state.last_error
            return replace(state, device="ok", device_error=None, last_error=last), [
                Log("info", "audio device open")
            ]
        case DeviceLost(error):
            why = f"audio device lost: {error}"
            new = replace(state, device="lost", device_error=why, last_error=why)
            note = (
                " (the session continues when it comes back)" if state.mode == "recording" else ""
            )
            return new, [Log("error", f"audio device lost: {error}{note}")]
        case DeviceAbsent(error):
            why = f"no audio device: {error}"
            if state.device == "lost" or (state.device == "absent" and state.device_error == why):
                return state, []
            new = replace(state, device="absent", device_error=why, last_error=why)
            return new, [Log("error", f"{why}; retrying")]
        case DiskLow(message):
            new = replace(state, disk_full=True, disk_error=message, last_error=message)
            if state.mode == "recording":
                return _end(new, "disk_full", message)
            return new, [Log("warning", message)]
        case DiskOk():
            last = state.device_error if state.last_error == state.disk_error else state.last_error
            return replace(state, disk_full=False, disk_error=None, last_error=last), [
                Log("info", "storage has room again")
            ]
        case WriterFailed(error):
            new = replace(state, last_error=f"storage write failed: {error}")
            if state.mode == "recording":
                return _end(new, "write_error", f"storage write failed: {error}")
            return new, [Log("error", f"storage write failed: {error}")]
        case Shutdown():
            new = replace(state, shutting_down=True)
            if state.mode == "recording":
                return _end(new, "shutdown", "shutting down")
            return new, [Reply(True, "shutting down")]
    raise TypeError(f"unknown event {event!r}")


def _end(state: State, reason: str, why: str) -> tuple[State, list[Command]]:
    sid = state.session_id
    return replace(state, mode="idle", session_id=None), [
        EndSession(reason),
        Log("info" if reason in ("requested", "shutdown") else "error", f"session {sid}: {why}"),
        Reply(True, f"stopped session {sid}"),
    ]
