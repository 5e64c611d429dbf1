"""The controller's state machine: `transition(state, event) -> (state, commands)`.

Every input (the ctl socket, the button, later MQTT, the capture and writer threads) becomes an
event; the controller thread is the only caller, and it carries out the commands that come back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from recorder.core.recording import gestures
from recorder.core.recording import warnings as warn
from recorder.core.recording.led import LedView, view_name

Mode = Literal["idle", "recording"]
DeviceState = Literal["opening", "ok", "lost", "absent", "stalled"]
Action = Literal["start", "stop", "mark", "none"]


@dataclass(frozen=True)
class Settings:
    """What the state machine needs from the config."""

    rate: int = 48000
    gestures: gestures.GestureSettings = field(default_factory=gestures.GestureSettings)
    idle_press: Action = "start"
    recording_press: Action = "mark"
    recording_hold: Action = "stop"
    warnings: warn.WarningSettings = field(default_factory=warn.WarningSettings)


@dataclass(frozen=True)
class State:
    mode: Mode = "idle"
    device: DeviceState = "opening"
    starting: bool = True  # until the device has been tried once
    disk_full: bool = False
    session_id: str | None = None
    device_error: str | None = None  # why the device is not "ok"
    disk_error: str | None = None  # why the disk is full
    last_error: str | None = None  # the latest problem of any kind, until its cause goes away
    shutting_down: bool = False
    finalizing: int = 0  # sessions stopped but not yet in the outbox
    uploading: bool = False  # the outbox worker is sending a session
    button: gestures.Button = field(default_factory=gestures.Button)
    monitor: warn.Monitor = field(default_factory=warn.Monitor)
    ack: int = 0  # markers placed: the LED acknowledges each
    restarted: tuple[tuple[str, str], ...] = ()  # threads restarted: (name, why it first failed)
    settings: Settings = field(default_factory=Settings)


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
    frame: int | None = None  # where it belongs; None = now


@dataclass(frozen=True)
class SessionBegun:
    session_id: str


@dataclass(frozen=True)
class SessionFinalized:
    session_id: str


@dataclass(frozen=True)
class UploadActivity:
    active: bool


@dataclass(frozen=True)
class SessionUploaded:
    session_id: str
    path: str
    remote: str


@dataclass(frozen=True)
class SessionVerified:
    """rclone checked the session's files on the remote: only now may the local copy go."""

    session_id: str
    remote: str


@dataclass(frozen=True)
class DeviceOpened:
    pass


@dataclass(frozen=True)
class DeviceLost:
    error: str


@dataclass(frozen=True)
class DeviceAbsent:
    """The device could not be opened; `error` says why in plain words (busy, absent, mute)."""

    error: str


@dataclass(frozen=True)
class DeviceStalled:
    """The device is open but has delivered nothing for a while (wedged, not unplugged)."""

    error: str


@dataclass(frozen=True)
class DeviceResumed:
    """A stalled device delivers sound again."""


@dataclass(frozen=True)
class DiskLow:
    """Free space is about to reach min_free_mb, or a write found the storage full.

    `message` says how much is left, in words the coach reads.
    """

    message: str


@dataclass(frozen=True)
class DiskOk:
    pass


@dataclass(frozen=True)
class DiskReport:
    """Seconds of recording the free space still holds, from the periodic check."""

    seconds_left: float


@dataclass(frozen=True)
class Levels:
    report: warn.LevelReport


@dataclass(frozen=True)
class WriterFailed:
    """A write failed. With `session_id`: that ended session could not be finalized.

    A session that ended is always counted down once, whether it reached the outbox
    (SessionFinalized) or not (this, with its id), so the LED never shows finalizing for ever.
    """

    error: str
    session_id: str | None = None


@dataclass(frozen=True)
class ButtonPressed:
    t: float  # monotonic seconds, read by the adapter
    frame: int | None  # session frame at the press when recording


@dataclass(frozen=True)
class ButtonHeld:
    t: float


@dataclass(frozen=True)
class ButtonReleased:
    t: float


@dataclass(frozen=True)
class Shutdown:
    pass


@dataclass(frozen=True)
class ThreadRestarted:
    """A thread that serves the coach (ctl, MQTT, jobs) died and was restarted."""

    name: str
    why: str


Event = (
    Start
    | Stop
    | Mark
    | SessionBegun
    | SessionFinalized
    | UploadActivity
    | SessionUploaded
    | SessionVerified
    | DeviceOpened
    | DeviceLost
    | DeviceAbsent
    | DeviceStalled
    | DeviceResumed
    | DiskLow
    | DiskOk
    | DiskReport
    | Levels
    | WriterFailed
    | ButtonPressed
    | ButtonHeld
    | ButtonReleased
    | Shutdown
    | ThreadRestarted
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
    frame: int | None = None  # None: the current session frame


@dataclass(frozen=True)
class NoteWarning:
    """A warning was raised (or cleared): log it and record it in the session."""

    kind: str
    message: str
    raised: bool


@dataclass(frozen=True)
class Reply:
    """The answer to the request that caused this event (ignored for internal events)."""

    ok: bool
    message: str


@dataclass(frozen=True)
class Log:
    level: Literal["info", "warning", "error"]
    message: str


Command = BeginSession | EndSession | PlaceMarker | NoteWarning | Reply | Log


def transition(state: State, event: Event) -> tuple[State, list[Command]]:  # noqa: C901, PLR0915
    """The next state and what to do, for one event. Pure: same inputs, same outputs.

    One `match` over every event on purpose: read top to bottom it is the state table, which
    split into functions would be hidden (the complexity lints are silenced here for that).
    """
    s = state.settings
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
            fresh = replace(state.monitor, silent_frames=0, clip_frames=())
            new, cmds = _monitor(replace(state, mode="recording"), _session_clear(fresh))
            return new, [*cmds, BeginSession(source)]
        case SessionBegun(session_id):
            return replace(state, session_id=session_id), [
                Log("info", f"session {session_id} started")
            ]
        case SessionFinalized(session_id):
            return replace(state, finalizing=max(0, state.finalizing - 1)), [
                Log("info", f"session {session_id} is in the outbox")
            ]
        case UploadActivity(active):
            return replace(state, uploading=active), []
        case SessionUploaded(session_id, _, remote):
            return state, [Log("info", f"session {session_id} is on the remote: {remote}")]
        case SessionVerified(session_id, remote):
            return state, [Log("info", f"session {session_id} is verified on the remote: {remote}")]
        case Stop(source, reason):
            if state.mode != "recording":
                return state, [Reply(False, "not recording")]
            return _end(state, reason, f"stopped by {source}")
        case Mark(label, source, frame):
            if state.mode != "recording":
                return state, [Reply(False, "not recording: a marker needs a session")]
            return replace(state, ack=state.ack + 1), [PlaceMarker(label, source, frame)]
        case DeviceOpened():
            last = state.disk_error if state.last_error == state.device_error else state.last_error
            new = replace(state, device="ok", starting=False, device_error=None, last_error=last)
            new, cmds = _monitor(new, warn.assess_device(new.monitor, None))
            return new, [Log("info", "audio device open"), *cmds]
        case DeviceLost(error):
            why = f"audio device lost: {error}"
            new = replace(state, device="lost", device_error=why, last_error=why)
            note = (
                " (the session continues when it comes back)" if state.mode == "recording" else ""
            )
            new, cmds = _monitor(new, warn.assess_device(new.monitor, why))
            return new, [Log("error", f"{why}{note}"), *cmds]
        case DeviceAbsent(error):
            if state.device == "lost" or (state.device == "absent" and state.device_error == error):
                return replace(state, starting=False), []
            new = replace(
                state, device="absent", starting=False, device_error=error, last_error=error
            )
            return new, [Log("error", f"{error}; trying again")]
        case DeviceStalled(error):
            why = (
                f"{error} (the session continues when it does)"
                if state.mode == "recording"
                else error
            )
            new = replace(
                state, device="stalled", starting=False, device_error=error, last_error=error
            )
            new, cmds = _monitor(new, warn.assess_device(new.monitor, error))
            return new, [Log("error", why), *cmds]
        case DeviceResumed():
            last = state.disk_error if state.last_error == state.device_error else state.last_error
            new = replace(state, device="ok", device_error=None, last_error=last)
            new, cmds = _monitor(new, warn.assess_device(new.monitor, None))
            return new, [Log("info", "the audio device delivers sound again"), *cmds]
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
        case DiskReport(seconds_left):
            return _monitor(state, warn.assess_disk(state.monitor, seconds_left, s.warnings))
        case Levels(report):
            if state.mode != "recording":
                return state, []
            new, cmds = _monitor(
                state, warn.assess_levels(state.monitor, report, s.warnings, s.rate)
            )
            reason = warn.auto_stop(new.monitor, report.end_frame, s.warnings, s.rate)
            if reason is not None:
                ended, more = _end(new, reason, f"automatic stop ({reason})")
                return ended, [*cmds, *more]
            return new, cmds
        case WriterFailed(error, ended):
            new = replace(state, last_error=f"storage write failed: {error}")
            if ended is not None:  # that session is over: the one recording now goes on
                # On a full disk the plain "storage is full" stays what the coach reads.
                last = state.last_error if state.disk_full else new.last_error
                new = replace(new, finalizing=max(0, state.finalizing - 1), last_error=last)
                return new, [Log("error", f"storage write failed: {error}")]
            if state.mode == "recording":
                return _end(new, "write_error", f"storage write failed: {error}")
            return new, [Log("error", f"storage write failed: {error}")]
        case ButtonPressed(t, frame):
            return replace(state, button=gestures.pressed(state.button, t, frame, s.gestures)), []
        case ButtonHeld(t):
            matters = state.mode == "recording" and s.recording_hold != "none"
            return replace(state, button=gestures.held(state.button, t, s.gestures, matters)), []
        case ButtonReleased(t):
            frame = state.button.press_frame
            recording = state.mode == "recording"
            button, gesture = gestures.released(state.button, t, s.gestures, recording)
            new = replace(state, button=button)
            if gesture is None:
                return new, []
            if not recording:
                action = s.idle_press
            else:
                action = s.recording_press if gesture == "press" else s.recording_hold
            return _button_action(new, action, frame)
        case ThreadRestarted(name, why):
            if any(n == name for n, _ in state.restarted):
                return state, []  # said once: the warning stands until the daemon restarts
            restarted = (*state.restarted, (name, why))
            new = replace(state, restarted=restarted)
            return _monitor(new, warn.threads_restarted(new.monitor, restarted))
        case Shutdown():
            new = replace(state, shutting_down=True)
            if state.mode == "recording":
                return _end(new, "shutdown", "shutting down")
            return new, [Reply(True, "shutting down")]
    raise TypeError(f"unknown event {event!r}")


def _button_action(state: State, action: Action, frame: int | None) -> tuple[State, list[Command]]:
    match action:
        case "start":
            return transition(state, Start("button"))
        case "stop":
            return transition(state, Stop("button"))
        case "mark":
            return transition(state, Mark("", "button", frame))
    return state, []


def _session_clear(m: warn.Monitor) -> warn.Monitor:
    """Silence and clipping belong to one session; disk, device and thread warnings outlive it."""
    kept = ("disk_low", "device", "thread")
    return replace(m, active=tuple((k, v) for k, v in m.active if k in kept))


def _monitor(state: State, monitor: warn.Monitor) -> tuple[State, list[Command]]:
    before, after = state.monitor.messages, monitor.messages
    # A warning whose message changed (a device lost, then stalled) is cleared and raised again,
    # so the session records what it said at each moment.
    changed = [k for k in after if k in before and after[k] != before[k]]
    cmds: list[Command] = [NoteWarning(k, before[k], False) for k in before if k not in after]
    cmds += [NoteWarning(k, before[k], False) for k in changed]
    cmds += [NoteWarning(k, after[k], True) for k in after if k not in before or k in changed]
    return replace(state, monitor=monitor), cmds


_END_LOG_LEVEL: dict[str, Literal["info", "warning", "error"]] = {
    "requested": "info",
    "shutdown": "info",
    "silence": "warning",
    "max_length": "warning",
}


def _end(state: State, reason: str, why: str) -> tuple[State, list[Command]]:
    sid = state.session_id
    new = replace(
        state,
        mode="idle",
        session_id=None,
        finalizing=state.finalizing + 1,
        button=gestures.Button(last_release=state.button.last_release),
    )
    new, cleared = _monitor(new, _session_clear(new.monitor))
    return new, [
        EndSession(reason),
        *cleared,
        Log(_END_LOG_LEVEL.get(reason, "error"), f"session {sid}: {why}"),
        Reply(True, f"stopped session {sid}"),
    ]


def led_view(state: State) -> LedView:
    error = state.device != "ok" or state.disk_full
    name = view_name(
        starting=state.starting,
        recording=state.mode == "recording",
        button_phase=state.button.phase,
        # a restarted thread is for the box's maintainer: nothing the coach can mend mid-session
        warnings=any(kind != "thread" for kind, _ in state.monitor.active),
        finalizing=state.finalizing > 0 or state.uploading,
        error=error and not state.starting,
    )
    return LedView(name, state.ack)
