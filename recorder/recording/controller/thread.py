"""The controller thread: the only place where the recorder's state changes.

Everything else sends it events (ctl requests with a reply slot, capture and writer reports).
It runs the pure `transition` and carries out the commands, and keeps a status snapshot that
any thread may read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

from recorder.config import Config
from recorder.core.manifest import AudioInfo, Manifest
from recorder.core.recording.gestures import GestureSettings
from recorder.core.recording.state import (
    BeginSession,
    Command,
    EndSession,
    Event,
    Levels,
    Log,
    NoteWarning,
    PlaceMarker,
    Reply,
    SessionBegun,
    SessionFinalized,
    SessionUploaded,
    SessionVerified,
    Settings,
    Shutdown,
    State,
    WriterFailed,
    transition,
)
from recorder.core.recording.warnings import WarningSettings
from recorder.ports.storage import DiskSpace
from recorder.recording.controller.disk import DiskCheck
from recorder.recording.controller.status import NO_READOUTS, Readouts, Status
from recorder.recording.inbox import Inbox
from recorder.recording.tap import CaptureTap, StartAck
from recorder.store.sessions import SessionStore

log = logging.getLogger(__package__)  # the controller's one logger, as before its split

TICK_S = 0.5  # how often free space is checked
START_ACK_S = 1.0  # how long a start waits for the writer to say the session's folder exists


class Controller(threading.Thread):
    """The `controller` thread: drains the inbox, runs `transition` and carries out its
    commands; tells listeners (the LED) the new state and notifiers (MQTT) what happened."""

    def __init__(
        self,
        cfg: Config,
        store: SessionStore,
        tap: CaptureTap,
        disk: DiskSpace,
        clock,
        inbox: Inbox,
        readouts: Readouts = NO_READOUTS,
    ) -> None:
        super().__init__(name="controller", daemon=True)
        self.cfg = cfg
        self.store = store
        self.tap = tap
        self.disk = disk
        self.clock = clock
        self.inbox = inbox
        self.readouts = readouts
        self.state = State(settings=settings_from(cfg))  # replaced only by this thread
        self._disk_check = DiskCheck(cfg, disk, readouts.queue_frames)
        self._status = Status(cfg, tap, self._disk_check, readouts)
        self.finished = threading.Event()
        self.heartbeat = time.monotonic()  # the loop is alive; written only by this thread
        self.last_levels: dict | None = None  # replaced whole by this thread
        self.tap_session_id: str | None = None  # the session the tap records; this thread
        self._listeners: list[Callable[[State], None]] = []  # fixed before the thread starts
        self._notifiers: list[Callable[[str, dict], None]] = []  # fixed before the thread starts

    @property
    def last_session(self) -> dict | None:
        """The session finalized last (id, path, frames, stop reason); from any thread."""
        return self._status.last_session

    def add_notifier(self, notifier: Callable[[str, dict], None]) -> None:
        """Told ("event", payload) for what happened and ("level", payload) for levels."""
        self._notifiers.append(notifier)

    def _tell(self, kind: str, payload: dict) -> None:
        for notifier in self._notifiers:
            try:
                notifier(kind, payload)
            except Exception:  # a broker problem must not stop the recorder
                log.exception("notifier failed")

    def add_listener(self, listener: Callable[[State], None]) -> None:
        """Called on the controller thread after every event (the LED follows the state)."""
        self._listeners.append(listener)

    # ---- inputs (any thread) ------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        self.inbox.emit(event)

    def request(self, event: Event, timeout: float = 10.0) -> dict:
        """Send an event and wait for what became of it."""
        return self.inbox.request(event, timeout)

    def status(self) -> dict:
        """A fresh snapshot; safe from any thread (it reads immutable state and counters)."""
        return self._status.snapshot(self.state, self.last_levels)

    def session_finalized(self, manifest: Manifest, path: Path) -> None:
        self._status.session_finalized(manifest, path)
        self.emit(SessionFinalized(manifest.id))

    # ---- the thread -----------------------------------------------------------------------------

    def run(self) -> None:
        self._check_disk()  # so that the very first state published carries real disk figures
        self._notify()
        next_check = time.monotonic() + TICK_S
        while not self.finished.is_set():
            self.heartbeat = time.monotonic()
            if time.monotonic() >= next_check:
                self._check_disk()
                next_check = time.monotonic() + TICK_S
            pending = self.inbox.next(next_check - time.monotonic())
            if pending is not None:
                self._handle(pending.event, pending.reply)

    def _handle(self, event: Event, reply: Future | None) -> None:
        if isinstance(event, Levels):
            r = event.report
            self.last_levels = {
                "peak_dbfs": list(r.peak_dbfs),
                "rms_dbfs": list(r.rms_dbfs),
                "clipped": r.clipped,
            }
            if self.state.mode == "recording":
                self._tell(
                    "level", {**self.last_levels, "elapsed_s": r.end_frame / self.cfg.audio.rate}
                )
        elif (news := _news(event)) is not None:
            self._tell("event", news)
        before = self.state
        self.state, commands = transition(self.state, event)
        result: dict = {"ok": True, "message": ""}
        for cmd in commands:
            self._execute(cmd, result)
        if self.state != before:
            self._notify()
        if isinstance(event, Shutdown):
            self.finished.set()
        if reply is not None and not reply.done():
            result["status"] = self.status()
            reply.set_result(result)

    def _execute(self, cmd: Command, result: dict) -> None:
        match cmd:
            case BeginSession(source):
                self._begin(source, result)
            case EndSession(reason):
                session_id = self.tap_session_id
                frames = self.tap.stop(reason, self.clock.now().isoformat(timespec="seconds"))
                result["frames"] = frames
                result["seconds"] = round(frames / self.cfg.audio.rate, 3)
                self._tell(
                    "event",
                    {
                        "event": "session_stopped",
                        "session_id": session_id,
                        "reason": reason,
                        "seconds": result["seconds"],
                    },
                )
            case PlaceMarker(label, source, at):
                frame = self.tap.mark(label, source, at)
                result.update(
                    frame=frame,
                    seconds=round(frame / self.cfg.audio.rate, 3),
                    label=label,
                    message=f"marker at {frame / self.cfg.audio.rate:.1f} s",
                )
                self._tell(
                    "event",
                    {
                        "event": "marker",
                        "session_id": self.tap_session_id,
                        "frame": frame,
                        "seconds": result["seconds"],
                        "label": label,
                        "source": source,
                    },
                )
            case Reply(ok, message):
                result.update(ok=ok, message=message)
            case NoteWarning(kind, message, raised):
                if raised:
                    log.warning("warning (%s): %s", kind, message)
                else:
                    log.info("warning cleared (%s)", kind)
                self.tap.note(kind, message, raised)
                name = "warning" if raised else "warning_cleared"
                self._tell("event", {"event": name, "kind": kind, "message": message})
            case Log(level, message):
                getattr(log, level)(message)
                if level == "error":
                    self._tell("event", {"event": "error", "message": message})

    def _begin(self, source: str, result: dict) -> None:
        a = self.cfg.audio
        wall = self.clock.now()
        synced = self.clock.synchronised()
        session_id, path = self.store.reserve(wall, synced)
        manifest = Manifest(
            id=session_id,
            device_id=self.cfg.device.id,
            audio=AudioInfo(device=a.device, rate=a.rate, channels=a.channels, format=a.format),
            started_at=wall.isoformat(timespec="seconds"),
            clock_synced=synced,
            start_pos=0,
            preroll_frames=0,
            start_source=source,
        )
        # The tap starts first, so the session holds the audio from the press on even when the
        # card stalls; the writer makes the folder and says so, and a refusal comes back here.
        ack = StartAck()
        info = self.tap.start(path, manifest, ack)
        answered, error = ack.wait(START_ACK_S)
        if error is not None:
            self.tap.stop("write_error", wall.isoformat(timespec="seconds"))
            self.state, commands = transition(replace(self.state, mode="idle"), WriterFailed(error))
            for cmd in commands:
                self._execute(cmd, result)
            result.update(ok=False, message=f"cannot start: {error}")
            return
        self.tap_session_id = session_id
        self.state, commands = transition(self.state, SessionBegun(session_id))
        for cmd in commands:
            self._execute(cmd, result)
        result.update(
            session_id=session_id,
            path=str(path),
            preroll_s=round(info.preroll_frames / a.rate, 3),
            message=f"recording session {session_id}"
            + ("" if answered else "; the storage is slow to answer, the audio waits in memory"),
        )
        self._tell(
            "event",
            {
                "event": "session_started",
                "session_id": session_id,
                "source": source,
                "preroll_s": result["preroll_s"],
            },
        )

    # ---- periodic ---------------------------------------------------------------------------

    def _check_disk(self) -> None:
        for event in self._disk_check.events(self.state):
            self._handle(event, None)

    def _notify(self) -> None:
        for listener in self._listeners:
            try:
                listener(self.state)
            except Exception:  # a broken LED must not stop the recorder
                log.exception("state listener failed")


def _news(event: Event) -> dict | None:
    """What the notifiers are told of a session's progress reported by the writer or outbox."""
    match event:
        case SessionFinalized(session_id=session_id):
            return {"event": "session_finalized", "session_id": session_id}
        case SessionUploaded(session_id=session_id, remote=remote):
            return {"event": "session_uploaded", "session_id": session_id, "remote": remote}
        case SessionVerified(session_id=session_id, remote=remote):
            return {"event": "session_verified", "session_id": session_id, "remote": remote}
    return None


def settings_from(cfg: Config) -> Settings:
    g, w = cfg.gpio, cfg.warnings
    return Settings(
        rate=cfg.audio.rate,
        gestures=GestureSettings(
            debounce_s=g.bounce_ms / 1000,
            short_press_max_s=g.short_press_max_s,
            stop_hold_s=g.stop_hold_s,
        ),
        idle_press=g.idle_press,
        recording_press=g.recording_press,
        recording_hold=g.recording_hold,
        warnings=WarningSettings(
            silence_dbfs=w.silence_dbfs,
            silence_s=w.silence_s,
            clip_repeat=w.clip_repeat,
            clip_window_s=w.clip_window_s,
            disk_minutes=w.disk_minutes,
            auto_stop_silence_s=w.auto_stop_silence_s,
            max_session_s=w.max_session_h * 3600,
        ),
    )
