"""The composition root: builds the threads, wires them together, runs until told to stop."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from recorder.adapters.alsa_process import AlsaProcessSource
from recorder.adapters.clock import SystemClock
from recorder.adapters.control_socket import ControlServer
from recorder.adapters.disk import StatvfsDisk
from recorder.adapters.gpio import (
    ButtonInput,
    LedPlayer,
    gpio_unavailable_reason,
    make_led,
    pin_factory_fallbacks,
)
from recorder.adapters.notify import Notifier
from recorder.app.assemble_coaching import build_coaching
from recorder.app.remotes import upload_remote
from recorder.coaching.archive_sync import ArchiveSync
from recorder.coaching.records import RecordError
from recorder.coaching.service import DaemonSide
from recorder.config import Config
from recorder.core.recording.ring import PrerollRing
from recorder.core.recording.state import Shutdown, ThreadRestarted, led_view
from recorder.core.requests import Query
from recorder.media.wav import SoundfileSegment
from recorder.outbox.discard import DiscardError
from recorder.outbox.worker import Hookup, OutboxWork, OutboxWorker
from recorder.ports.audio import AudioSource
from recorder.ports.outbox import RemoteStore
from recorder.ports.sharing import ShareTarget
from recorder.ports.storage import DiskSpace, SegmentFactory
from recorder.recording.blockqueue import FrameQueue
from recorder.recording.capture import CaptureThread
from recorder.recording.controller import Controller, Readouts
from recorder.recording.inbox import Inbox
from recorder.recording.tap import CaptureTap
from recorder.recording.writer import DiskGuard, WriterFrames, WriterHooks, WriterThread
from recorder.store.recovery import recover_sessions
from recorder.store.sessions import SessionStore
from recorder.threads.jobs import Job, JobBoard, JobWorker
from recorder.transcript.models import choose
from recorder.transcript.runner import TranscriptStep
from recorder.transcript.settings import Settings
from recorder.views.phone import SessionViews

if TYPE_CHECKING:
    from recorder.adapters.mqtt import MqttLink

log = logging.getLogger(__name__)

UMASK = 0o027  # what the daemon writes (manifests, consent.log, shares/) is no one else's


@dataclass
class Parts:
    """The outside world the recorder talks to; tests swap in doubles that follow the ports."""

    source: AudioSource | None = None
    open_segment: SegmentFactory = SoundfileSegment
    disk: DiskSpace = field(default_factory=StatvfsDisk)
    clock: object = field(default_factory=SystemClock)
    pin_factory: object | None = None  # None: gpiozero's own choice
    remote: RemoteStore | None = None  # None: rclone as configured in [upload]
    share_target: ShareTarget | None = None  # None: rclone as configured in [share]


class Recorder:
    """One running recorder: capture, writer and controller threads and the control socket.

    The composition root. Like Frigate's app, it makes what the parts share first (the
    controller's inbox, the recording flag, the outbox's wake event and session lock), then
    each part once, from parts already made, in order: storage, the audio path, the work after
    the stop, the writer, the button and LED, the controller, the ways in. Nothing is assigned
    to a part after it is made; parts that follow the state subscribe to the controller.

    Over 250 lines on purpose: besides building, it holds the box's answers that join several
    parts (status with the coach's next session and sharing, discards checked against the
    state and carried out by the outbox, jobs and the coach's changes told to the phone).
    Elsewhere, each would need those parts passed to it again.
    """

    def __init__(self, cfg: Config, parts: Parts | None = None) -> None:
        parts = parts or Parts()
        a = cfg.audio
        self.cfg = cfg
        self.clock = parts.clock
        self.inbox = Inbox()  # the controller's events and requests, from every thread
        self.recording_now = threading.Event()  # a session records; kept by the controller
        self.outbox_wake = threading.Event()  # set: the outbox runs a pass soon
        self.session_lock = threading.Lock()  # one session at a time in the outbox's hands
        self.jobs = JobBoard(tell=self._job_done)  # discards, shares, revocations, told as events
        # the storage, and the room on it (the ballast and the min_free_mb margin)
        self.store = SessionStore(cfg.storage.dir)
        self.guard = DiskGuard(self.store.root, parts.disk, cfg.storage.min_free_mb * 1_000_000)
        # the audio path: device, capture thread, tap (pre-roll ring or live), writer's queue
        self.queue = FrameQueue(int(a.buffer_s * a.rate))
        self.tap = CaptureTap(PrerollRing(int(a.preroll_s * a.rate)), self.queue)
        source = parts.source or AlsaProcessSource(
            a.device, a.rate, a.channels, a.format, a.period_frames
        )
        self.capture = CaptureThread(source, self.tap, self.inbox.emit, a.rate)
        # the work after the stop: the coach's side, then the outbox that runs its chores
        self.remote, self.upload_error = upload_remote(cfg.upload, parts.remote)
        self.transcripts = transcript_step(cfg)
        # the phone page's list of recent sessions, each one's view kept until it changes
        self.views = SessionViews(self.store, cfg.upload.remote if cfg.upload else None)
        self.job_worker = JobWorker("jobs", self.jobs, restarted=self.thread_restarted)
        self.coaching = self._build_coaching(parts.share_target)
        self.outbox = self._build_outbox(parts.disk)
        self.writer = WriterThread(
            self.queue,
            self.store,
            self.guard,
            parts.open_segment,
            WriterFrames(
                segment=int(a.segment_s * a.rate),
                sync=max(1, int(cfg.storage.sync_s * a.rate)),
                report=a.rate // 4,  # levels for warnings and meters, four times a second
            ),
            WriterHooks(
                emit=self.inbox.emit,
                on_finalized=self._finalized,
                on_marker_saved=self._marker_saved,
                on_recovered=lambda _path: self.outbox.wake(),
            ),
            now=lambda: parts.clock.now().isoformat(timespec="seconds"),
        )
        self.button, self.led, gpio = self._build_gpio(parts.pin_factory)
        capture = self.capture
        self.controller = Controller(
            cfg,
            self.store,
            self.tap,
            self.guard,
            parts.clock,
            self.inbox,
            Readouts(
                capture=lambda: {"overruns": capture.overruns},
                queue_frames=lambda: self.queue.frames,
                upload=self._upload_status,
                gpio=gpio,
                transcripts=_engine_choice(cfg),
            ),
        )
        self.controller.add_listener(self._recording_changed)
        if self.led is not None:
            led = self.led
            self.controller.add_listener(lambda state: led.show(led_view(state)))
        self.controller.add_notifier(self._started_for_next)
        # the ways in: the control socket, and MQTT when configured
        self.queries = {
            "status": self._status,
            "upload": self._upload_now,
            "discard": self._discard,
            "job": self._job,
            **self.coaching.queries(),
        }
        self.server = ControlServer(
            cfg.socket_path, self.inbox.request, self.queries, restarted=self.thread_restarted
        )
        self.mqtt = self._build_mqtt()

    def _build_coaching(self, target: ShareTarget | None):
        return build_coaching(
            self.cfg,
            self.store,
            discard=self._discard_for_consent,
            daemon=DaemonSide(
                recording=self.recording_now.is_set,
                emit=self._coach_event,
                wake=self.outbox_wake.set,  # the retagger has work: a pass soon, no back-off cut
                changed=self._coach_changed,
                jobs=self.job_worker,
                refuse_discard=self._discard_refusal,
            ),
            target=target,
        )

    def _build_outbox(self, disk: DiskSpace) -> OutboxWorker:
        cfg, coaching = self.cfg, self.coaching
        assert coaching.retagger is not None  # the daemon's coaching always has one
        chores = [coaching.sharer.sweep, coaching.retagger.run]
        if self.remote is not None:
            archive = ArchiveSync(
                self.store, self.remote, self.recording_now.is_set, self.session_lock
            )
            chores.append(archive.run)  # after the retag: it sends the retitled transcript
        return OutboxWorker(
            self.store,
            cfg.upload if self.remote is not None else None,
            self.remote,
            disk,
            Hookup(self.recording_now.is_set, self.inbox.emit, self.outbox_wake, self.session_lock),
            OutboxWork(
                # a share needs the MP3 and FLAC even when the archive takes neither
                deliverables=(cfg.upload.deliverables if cfg.upload else False) or bool(cfg.share),
                steps=[self.transcripts] if self.transcripts else [],
                chores=chores,
            ),
        )

    def _build_mqtt(self) -> MqttLink | None:
        if self.cfg.mqtt is None:
            return None
        # Imported here: paho-mqtt and ssl cost about 2.5 MB of RSS, for nothing when off.
        from recorder.adapters.mqtt import MqttLink

        mqtt = MqttLink(
            self.cfg.mqtt,
            self.cfg.device.id,
            self._mqtt_status,
            self.views.recent,
            self.dispatch,
            client_id_file=self.cfg.storage.dir / "mqtt-client-id",
            restarted=self.thread_restarted,
        )
        self.controller.add_notifier(self._to_mqtt)
        self.controller.add_listener(self._state_to_mqtt(mqtt))
        return mqtt

    def _recording_changed(self, state) -> None:
        """On the controller thread after every event: who needs to know a session records."""
        recording = state.mode == "recording"
        if recording:
            self.recording_now.set()
        else:
            self.recording_now.clear()
        self.outbox.set_recording(recording)
        if self.transcripts is not None:
            self.transcripts.set_recording(recording)

    def dispatch(self, request) -> dict:
        """One checked request (an Event or a Query), from any outside input but ctl's socket."""
        if isinstance(request, Query):
            handler = self.queries.get(request.name)
            if handler is None:
                return {"ok": False, "message": f"{request.name!r} is not available here"}
            return handler(request)
        return self.controller.request(request)

    def thread_restarted(self, name: str, why: str) -> None:
        """A thread that serves the coach died and was restarted: a warning in the state
        (`warnings`, over ctl and MQTT), logged once by the controller when it is raised."""
        self.controller.emit(ThreadRestarted(name, why))

    def _mqtt_status(self) -> dict:
        return {
            **self.controller.status(),
            "next_session": self.coaching.next.get(),
            "sharing": self.coaching.sharer.status(),
        }

    def _started_for_next(self, kind: str, payload: dict) -> None:
        if kind == "event" and payload.get("event") == "session_started":
            self.coaching.next.started(payload["session_id"])

    def _coach_changed(self) -> None:
        self.outbox.wake()  # a withdrawal's copies go at the next pass, which is now
        if self.mqtt is not None:
            self.mqtt.refresh_recent()

    def _coach_event(self, payload: dict) -> None:
        if self.mqtt is not None:
            self.mqtt.event(payload)
            self.mqtt.refresh_recent()

    def _discard_for_consent(self, session_id: str) -> dict:
        answer = self._discard_now(session_id)
        if not answer["ok"]:
            raise RecordError(answer["message"])
        return answer["discard"]

    def _job_done(self, job: Job) -> None:
        """A job's result, told as a `command` event (its `job` says which request it ends)."""
        result = job.result or {}
        told = {"event": "command", "cmd": job.cmd, "ok": bool(result.get("ok")),
                "message": result.get("message", ""), "job": job.id}  # fmt: skip
        if job.session_id:
            told["session_id"] = job.session_id
        log.info("job %s (%s): %s", job.id, job.what, told["message"])
        if self.mqtt is not None:
            self.mqtt.event(told)
            self.mqtt.refresh_recent()

    def _to_mqtt(self, kind: str, payload: dict) -> None:
        assert self.mqtt is not None
        if kind == "level":
            elapsed = payload.pop("elapsed_s")
            self.mqtt.level(payload, elapsed)
            return
        self.mqtt.event(payload)
        if payload["event"] in (
            "session_started",
            "marker",
            "session_finalized",
            "session_uploaded",
            "session_verified",
        ):
            self.mqtt.refresh_recent()

    @staticmethod
    def _state_to_mqtt(mqtt: MqttLink):
        """A listener that wakes the state publisher only when something a viewer sees changed."""
        last: list = [None]

        def listener(state) -> None:
            key = (
                state.mode, state.device, state.starting, state.disk_full, state.finalizing,
                state.uploading, state.session_id, state.last_error, state.monitor.active,
            )  # fmt: skip
            if key != last[0]:
                last[0] = key
                mqtt.state_changed()

        return listener

    def _marker_saved(self) -> None:
        # the phone page lists the markers so far from the manifest, which has this one now
        if self.mqtt is not None:
            self.mqtt.refresh_recent()

    def _finalized(self, manifest, path) -> None:
        self.controller.session_finalized(manifest, path)
        self.outbox.wake()

    def _upload_status(self) -> dict:
        status = self.outbox.status()
        if self.upload_error:
            status["last_error"] = self.upload_error
        return status

    def _status(self, _query) -> dict:
        return {"ok": True, "message": "", "status": self.controller.status()}

    def _upload_now(self, _query) -> dict:
        if self.remote is None:
            why = self.upload_error or "no [upload] section in the config"
            return {"ok": False, "message": f"uploads are off: {why}"}
        self.outbox.wake()
        queue = self.outbox.status()["queue"]
        return {"ok": True, "message": f"upload pass started ({queue} session(s) in the outbox)"}

    def _job(self, query) -> dict:
        return self.jobs.answer(query.args["job"])

    def _discard_refusal(self, session_id: str) -> str | None:
        """Why a discard is refused at once, before it is queued; None when it may go."""
        state = self.controller.state
        found = self.store.folder_of(session_id)
        # a session just started may have its folder before the state has its id
        starting = state.mode == "recording" and state.session_id is None
        starting = starting and found is not None and found[0] == "recording"
        if session_id == state.session_id or starting:
            return f"session {session_id} is being recorded: stop it first"
        if found is None and self.cfg.upload is None:
            return f"no session {session_id} on this box"
        return None

    def _discard(self, query) -> dict:
        """Queued: the outbox may hold the session for a whole upload, and the remote's copy
        is deleted over the network; the answer cannot wait for either."""
        session_id = query.session
        refusal = self._discard_refusal(session_id)
        if refusal:
            return {"ok": False, "session_id": session_id, "message": refusal}
        return self.job_worker.submit(
            "discard", session_id, f"discard of {session_id} here and on the remote",
            lambda: self._discard_now(session_id), ("discard", session_id),
        )  # fmt: skip

    def _discard_now(self, session_id: str) -> dict:
        try:
            record = self.outbox.discard(session_id, self.controller.state.session_id)
        except DiscardError as exc:
            return {"ok": False, "session_id": session_id, "message": str(exc)}
        if self.mqtt is not None:
            self.mqtt.event({"event": "session_discarded", "session_id": record["id"]})
            self.mqtt.refresh_recent()
        return {
            "ok": True,
            "session_id": session_id,
            "message": f"discarded {record['id']}: local {record['local']}, "
            f"remote {record['remote']}",
            "discard": record,
        }

    def _build_gpio(self, pin_factory) -> tuple[ButtonInput | None, LedPlayer | None, str]:
        """The button and LED, and what the status says of them; without GPIO (a laptop, a
        container) the recorder goes on."""
        g = self.cfg.gpio
        if not g.enabled:
            return None, None, "off"
        error: Exception | None = None
        led: LedPlayer | None = None
        with pin_factory_fallbacks() as tried:
            try:
                led = LedPlayer(
                    make_led(g.led_kind, g.led, g.led_rgb, g.led_active_high, pin_factory),
                    g.led_kind,
                )
                tap = self.tap
                button = ButtonInput(
                    g.button, g.bounce_ms / 1000, self.inbox.emit,
                    lambda: tap.session_frames, pin_factory,
                )  # fmt: skip
            except Exception as exc:  # gpiozero raises many kinds; none may stop recording
                error = exc
        if error is not None:
            if led is not None:
                led.device.close()
            reason = gpio_unavailable_reason(error, tried)
            log.warning(
                "no GPIO (%s): the button and LED are off; use `session-recorder ctl`", reason
            )
            return None, None, f"unavailable ({reason})"
        pins = f"GPIO{g.led_rgb}" if g.led_kind == "rgb" else f"GPIO{g.led}"
        return button, led, f"button GPIO{g.button}, {g.led_kind} LED {pins}"

    def start(self) -> list[str]:
        """Prepare storage, repair what a crash left, then start recording threads.

        A full storage does not keep the recorder down: it starts, answers ctl and MQTT, shows
        the error and refuses starts with the reason, and the writer finishes preparing and
        repairing as soon as there is room. Raises StorageError (the storage cannot be used:
        not a directory, no permission, read-only, another recorder holds it) or
        ControlSocketError when the recorder cannot run.
        """
        full = self.store.prepare()
        self.store.lock()
        self.guard.reserve()
        now = self.clock.now().isoformat(timespec="seconds")
        if full:
            log.warning("%s: the recorder runs, and records once space is freed", full)
        recovery = recover_sessions(self.store, now, self.guard.ballast)
        report = recovery.lines
        self.writer.wait_for_room(prepare=full is not None, recovery=bool(recovery.waiting))
        self.server.start()
        if self.led is not None:
            self.led.start()
        self.writer.start()
        self.outbox.start()
        self.job_worker.start()
        if self.coaching.worker is not None:
            self.coaching.worker.start()
        if self.mqtt is not None:
            self.mqtt.start()
        self.controller.start()
        self.capture.start()
        return report

    def shutdown(self) -> dict:
        """Stop a session cleanly (finalized, reason `shutdown`) and end every thread."""
        answer = self.controller.request(Shutdown(), timeout=30)
        self.server.stop()
        if self.button is not None:
            self.button.close()
        self.capture.stop()
        self.writer.stop()
        if self.transcripts is not None:
            self.outbox.stopping.set()  # first, so the killed transcript is not followed by an upload
            self.transcripts.stop()
        self.outbox.stop()  # first: an upload it stops no longer holds a discard in hand
        self.job_worker.stop()
        if self.coaching.worker is not None:
            self.coaching.worker.stop()
        if self.mqtt is not None:
            self.mqtt.stop()
        if self.led is not None:
            self.led.stop()
        return answer


def transcript_step(cfg: Config) -> TranscriptStep | None:
    """The outbox's transcript step, when [transcript] asks for one after each stop (the
    daemon's, and the command line's when it sends sessions without one)."""
    if cfg.transcript is None or not cfg.transcript.auto:
        return None
    return TranscriptStep(Settings.from_section(cfg.transcript))


def _engine_choice(cfg: Config) -> dict | None:
    """The engine a transcript will get on this box and why, for the status. The model's
    sha256 (75 MB read) is left to the worker and `doctor`: it would slow every start-up."""
    if cfg.transcript is None:
        return None
    choice = choose(cfg.transcript.engine, cfg.transcript.model_dir, sha256=None)
    return {"engine": choice.engine, "reason": choice.error or choice.reason}


LOOP_SLACK_S = 3.0  # a loop may wait this long in one timed call (an open that does not answer)


class Watchdog(threading.Thread):
    """Pings systemd's watchdog only while the daemon's own loops go round.

    The capture loop goes round even when the device is missing, busy or delivers nothing (its
    reads time out: the box is alive and says what is wrong, and a restart would not mend a
    device), and the controller's every half second. A loop stuck in a call that never returns
    stops the pings, and systemd restarts the service (the session is repaired at the start).
    """

    def __init__(self, notifier: Notifier, capture: CaptureThread, controller: Controller) -> None:
        super().__init__(name="watchdog", daemon=True)
        self.notifier = notifier
        self.loops = {"capture": capture, "controller": controller}
        self.stopping = threading.Event()
        assert notifier.watchdog_s is not None
        self.every = notifier.watchdog_s / 2

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            now = time.monotonic()
            stuck = {name: now - t.heartbeat for name, t in self.loops.items()}
            stuck = {name: s for name, s in stuck.items() if s >= max(self.every, LOOP_SLACK_S)}
            if not stuck:
                self.notifier.watchdog()
            else:
                for name, seconds in stuck.items():
                    log.error(
                        "the %s loop has not moved for %.0f s: no watchdog ping", name, seconds
                    )


def _status_line(status: dict) -> str:
    if status.get("state") == "recording":
        line = f"recording {status['session_id']} ({status['elapsed_s'] / 60:.0f} min)"
        if status.get("device") != "ok" and status.get("last_error"):
            line += f"; {status['last_error']}"
        return line
    if status.get("last_error"):
        return f"{status['state']}: {status['last_error']}"
    return f"{status.get('state')}; {status.get('hours_left', 0):.0f} h of recording space left"


M_ARENA_MAX = -8  # glibc's mallopt() parameter (malloc.h)


def use_one_malloc_arena() -> bool:
    """Make glibc serve every thread from the one main malloc arena; call before any thread.

    By default glibc gives each thread that allocates an arena of its own (up to 8 per core),
    and a freed block returns to the arena it came from. Here capture allocates each block of
    audio and the writer frees it, and the outbox thread runs the FLAC and MP3 encoders: the
    freed memory stayed resident in those threads' arenas (bench/memory.py: the second session
    recorded with 56.9 MB, with one arena 53.9 MB; with [mqtt] 61.0 → 57.8 MB). One arena costs
    no contention that matters: nearly every allocation is made holding the GIL anyway.

    An operator's own MALLOC_ARENA_MAX or glibc.malloc tunable wins. Returns whether it was set.
    """
    if "MALLOC_ARENA_MAX" in os.environ or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        return ctypes.CDLL(None).mallopt(M_ARENA_MAX, 1) == 1
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return False


def run(cfg: Config) -> int:
    """`session-recorder run`: the daemon in the foreground until SIGTERM or SIGINT."""
    use_one_malloc_arena()  # first: the recorder's threads are made below
    # systemd's UMask= covers the service only: run by hand from a shell with umask 022, the
    # manifests, consent.log and shares/ would be readable by every user of the box.
    os.umask(UMASK)
    rec = Recorder(cfg)
    notifier = Notifier()
    last_line: list[str] = [""]
    last_look: list[tuple] = [()]

    def tell_systemd(state) -> None:
        # Level reports change the state four times a second of audio; the line systemd shows
        # changes with these fields, or (elapsed minutes, hours left) slowly: look again only
        # when one of them changed or a second has passed, not at every report.
        look = (
            state.mode, state.session_id, state.device, state.disk_full, state.last_error,
            state.finalizing, state.uploading, int(time.monotonic()),
        )  # fmt: skip
        if look == last_look[0]:
            return
        last_look[0] = look
        line = _status_line(rec.controller.status())
        if line != last_line[0]:
            last_line[0] = line
            notifier.status(line)

    if notifier.enabled:
        rec.controller.add_listener(tell_systemd)
    report = rec.start()
    for line in report:
        log.info("%s", line)
    stop = threading.Event()

    def on_signal(signum, _frame) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info(
        "recording from '%s' (%d Hz, %d ch, %s) into %s; control socket %s",
        cfg.audio.device,
        cfg.audio.rate,
        cfg.audio.channels,
        cfg.audio.format,
        cfg.storage.dir,
        cfg.socket_path,
    )
    notifier.ready(_status_line(rec.controller.status()))
    watchdog = None
    if notifier.watchdog_s:
        watchdog = Watchdog(notifier, rec.capture, rec.controller)
        watchdog.start()
    while not stop.wait(1.0):
        pass
    notifier.stopping()
    rec.shutdown()
    if watchdog is not None:
        watchdog.stopping.set()
    log.info("stopped")
    return 0
