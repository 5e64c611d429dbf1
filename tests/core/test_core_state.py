"""The controller's state machine, event by event, without threads or I/O."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import replace

import pytest

from recorder.core.recording.disk import (
    BALLAST_FLOOR,
    BLOCK,
    ballast_bytes,
    disk_event,
    final_write_bytes,
    full_message,
)
from recorder.core.recording.gestures import Button
from recorder.core.recording.state import (
    BeginSession,
    ButtonHeld,
    ButtonPressed,
    ButtonReleased,
    DeviceAbsent,
    DeviceLost,
    DeviceOpened,
    DeviceResumed,
    DeviceStalled,
    DiskLow,
    DiskOk,
    DiskReport,
    EndSession,
    Levels,
    Log,
    Mark,
    NoteWarning,
    PlaceMarker,
    Reply,
    SessionBegun,
    SessionFinalized,
    Shutdown,
    Start,
    State,
    Stop,
    WriterFailed,
    led_view,
    transition,
)
from recorder.core.recording.warnings import LevelReport, Monitor

SID = "000001-20260314T092653Z"
READY = State(device="ok", starting=False)  # idle, device open, room on the disk
RECORDING = State(mode="recording", device="ok", starting=False, session_id=SID)
SILENCE = ("silence", "no sound: microphone muted?")
CLIPPING = ("clipping", "input clipping: turn the gain down")
DISK = ("disk_low", "storage nearly full")
DEVICE = ("device", "audio device lost: EPIPE")


def run(state: State, *events) -> State:
    """The state after a series of events (commands ignored)."""
    for event in events:
        state, _ = transition(state, event)
    return state


def ended(reason: str, level: str, why: str, cleared: tuple = ()) -> list:
    """The commands that end session SID; `cleared` are the session warnings it drops."""
    return [
        EndSession(reason),
        *(NoteWarning(kind, message, False) for kind, message in cleared),
        Log(level, f"session {SID}: {why}"),
        Reply(True, f"stopped session {SID}"),
    ]


def warned(state: State, *active: tuple[str, str]) -> State:
    return replace(state, monitor=Monitor(active=active))


# ---- start ------------------------------------------------------------------------------


def test_start_when_idle_begins_a_session():
    state, commands = transition(READY, Start("button"))
    assert state == replace(READY, mode="recording")
    assert commands == [BeginSession("button")]


def test_session_begun_records_the_id_and_logs():
    state, commands = transition(replace(READY, mode="recording"), SessionBegun(SID))
    assert state == RECORDING
    assert commands == [Log("info", f"session {SID} started")]


def test_start_when_recording_is_refused():
    state, commands = transition(RECORDING, Start())
    assert state == RECORDING
    assert commands == [Reply(False, f"already recording session {SID}")]


def test_start_when_device_lost_is_refused_with_the_reason():
    lost = run(READY, DeviceLost("unplugged"))
    state, commands = transition(lost, Start())
    assert state == lost
    assert commands == [Reply(False, "cannot start: audio device lost: unplugged")]


def test_start_when_device_absent_is_refused_with_the_reason():
    absent = run(State(), DeviceAbsent("no audio device 'x': no such card"))
    state, commands = transition(absent, Start())
    assert state == absent
    assert commands == [Reply(False, "cannot start: no audio device 'x': no such card")]


def test_start_before_the_device_opened_is_refused():
    state, commands = transition(State(), Start())
    assert state == State()
    assert commands == [Reply(False, "cannot start: audio device is opening")]


def test_start_when_disk_full_is_refused_with_the_reason():
    full = run(READY, DiskLow("storage nearly full: 3 MB free"))
    state, commands = transition(full, Start())
    assert state == full
    assert commands == [Reply(False, "cannot start: storage nearly full: 3 MB free")]


def test_start_when_shutting_down_is_refused():
    down = run(READY, Shutdown())
    state, commands = transition(down, Start())
    assert state == down
    assert state.mode == "idle"
    assert commands == [Reply(False, "cannot start: the recorder is shutting down")]


# ---- stop and mark ----------------------------------------------------------------------


def test_stop_when_idle_is_refused():
    assert transition(READY, Stop()) == (READY, [Reply(False, "not recording")])


def test_mark_when_idle_is_refused():
    assert transition(READY, Mark("x")) == (
        READY,
        [Reply(False, "not recording: a marker needs a session")],
    )


def test_stop_when_recording_ends_the_session():
    state, commands = transition(RECORDING, Stop("mqtt"))
    assert state == replace(READY, finalizing=1)  # until SessionFinalized
    assert commands == ended("requested", "info", "stopped by mqtt")


def test_mark_when_recording_places_a_marker():
    state, commands = transition(RECORDING, Mark("intro", "button"))
    assert state == replace(RECORDING, ack=1)  # the LED acknowledges it
    assert commands == [PlaceMarker("intro", "button", frame=None)]


def test_mark_keeps_its_frame_and_every_mark_bumps_ack():
    state, commands = transition(RECORDING, Mark("q", "ctl", frame=48_000))
    assert commands == [PlaceMarker("q", "ctl", frame=48_000)]
    state, commands = transition(state, Mark())
    assert commands == [PlaceMarker("", "ctl", frame=None)]
    assert state == replace(RECORDING, ack=2)


def test_stop_resets_the_button_and_drops_session_warnings():
    held = replace(
        warned(RECORDING, SILENCE, DISK, CLIPPING, DEVICE),
        button=Button(phase="armed", down_at=5.0, press_frame=9),
    )
    state, commands = transition(held, Stop())
    assert state.button == Button()
    assert state.monitor.active == (DISK, DEVICE)  # they outlive the session
    assert state.finalizing == 1
    assert commands == ended("requested", "info", "stopped by ctl", cleared=(SILENCE, CLIPPING))


def test_every_end_counts_one_more_session_finalizing():
    state = RECORDING
    for n, event in enumerate([Stop(), WriterFailed("EIO"), Shutdown()], start=1):
        state = run(replace(state, mode="recording", session_id=SID), event)
        assert state.mode == "idle"
        assert state.finalizing == n


def test_session_finalized_counts_down_and_never_below_zero():
    state, commands = transition(replace(READY, finalizing=2), SessionFinalized(SID))
    assert state == replace(READY, finalizing=1)
    assert commands == [Log("info", f"session {SID} is in the outbox")]
    state = run(state, SessionFinalized(SID), SessionFinalized(SID))
    assert state == READY


def test_start_drops_leftover_session_warnings_and_level_history():
    stale = replace(
        READY,
        monitor=Monitor(silent_frames=500, clip_frames=(10, 20), active=(CLIPPING, DISK, SILENCE)),
    )
    state, commands = transition(stale, Start())
    assert state.mode == "recording"
    assert state.monitor == Monitor(active=(DISK,))
    assert commands == [
        NoteWarning(*CLIPPING, False),
        NoteWarning(*SILENCE, False),
        BeginSession("ctl"),
    ]


# ---- the device -------------------------------------------------------------------------


def test_device_lost_while_recording_keeps_recording():
    state, commands = transition(RECORDING, DeviceLost("EPIPE"))
    assert state.mode == "recording"
    assert state.session_id == SID
    assert state.device == "lost"
    assert state.device_error == state.last_error == "audio device lost: EPIPE"
    assert state.monitor.active == (DEVICE,)
    assert commands == [
        Log("error", "audio device lost: EPIPE (the session continues when it comes back)"),
        NoteWarning(*DEVICE, True),
    ]


def test_device_lost_while_idle_logs_without_the_session_note():
    state, commands = transition(READY, DeviceLost("EPIPE"))
    assert state.mode == "idle"
    assert state.device == "lost"
    assert commands == [Log("error", "audio device lost: EPIPE"), NoteWarning(*DEVICE, True)]


def test_device_absent_is_logged_once_per_message():
    first, commands = transition(State(), DeviceAbsent("no card"))
    assert first.device == "absent"
    assert first.device_error == first.last_error == "no card"
    assert commands == [Log("error", "no card; trying again")]

    assert transition(first, DeviceAbsent("no card")) == (first, [])

    other, commands = transition(first, DeviceAbsent("the audio interface 'x' is busy"))
    assert other.device_error == "the audio interface 'x' is busy"
    assert commands == [Log("error", "the audio interface 'x' is busy; trying again")]


def test_device_absent_after_lost_keeps_lost():
    lost = run(RECORDING, DeviceLost("EPIPE"))
    assert transition(lost, DeviceAbsent("no card")) == (lost, [])


def test_device_absent_ends_starting_even_when_nothing_else_changes():
    lost = State(device="lost", device_error="audio device lost: EPIPE")
    assert transition(lost, DeviceAbsent("no card")) == (replace(lost, starting=False), [])
    absent, _ = transition(State(), DeviceAbsent("no card"))
    assert not absent.starting
    again = replace(absent, starting=True)
    assert transition(again, DeviceAbsent("no card")) == (absent, [])


def test_device_opened_ends_starting():
    state, commands = transition(State(), DeviceOpened())
    assert state == READY
    assert commands == [Log("info", "audio device open")]  # no device warning to clear


def test_device_opened_clears_device_errors():
    state, commands = transition(run(READY, DeviceLost("EPIPE")), DeviceOpened())
    assert state == READY
    assert commands == [Log("info", "audio device open"), NoteWarning(*DEVICE, False)]


def test_device_opened_while_recording_resumes_the_session():
    state = run(RECORDING, DeviceLost("EPIPE"), DeviceOpened())
    assert state == RECORDING


def test_device_opened_keeps_a_disk_error_in_last_error():
    state = run(State(), DeviceLost("EPIPE"), DiskLow("disk low"), DeviceOpened())
    assert state.device == "ok"
    assert state.device_error is None
    assert state.disk_full
    assert state.last_error == "disk low"


def test_device_opened_after_a_later_device_error_falls_back_to_the_disk_error():
    state = run(READY, DiskLow("disk low"), DeviceLost("EPIPE"), DeviceOpened())
    assert state.disk_full
    assert state.last_error == "disk low"


def test_disk_ok_after_a_later_disk_error_falls_back_to_the_device_error():
    state = run(READY, DeviceLost("EPIPE"), DiskLow("disk low"), DiskOk())
    assert state.device == "lost"
    assert state.last_error == "audio device lost: EPIPE"


# ---- the disk ---------------------------------------------------------------------------


def test_disk_low_while_idle_marks_the_disk_full():
    state, commands = transition(READY, DiskLow("disk low"))
    assert state == replace(READY, disk_full=True, disk_error="disk low", last_error="disk low")
    assert commands == [Log("warning", "disk low")]


def test_disk_low_while_recording_ends_the_session():
    state, commands = transition(RECORDING, DiskLow("disk low"))
    assert state == replace(
        READY, disk_full=True, disk_error="disk low", last_error="disk low", finalizing=1
    )
    assert commands == ended("disk_full", "error", "disk low")


def test_disk_ok_clears_the_disk_error():
    state, commands = transition(run(READY, DiskLow("disk low")), DiskOk())
    assert state == READY
    assert commands == [Log("info", "storage has room again")]
    assert transition(state, Start())[1] == [BeginSession("ctl")]


def test_disk_ok_keeps_a_device_error_in_last_error():
    state = run(READY, DiskLow("disk low"), DeviceLost("EPIPE"), DiskOk())
    assert not state.disk_full
    assert state.disk_error is None
    assert state.last_error == "audio device lost: EPIPE"


# ---- writer failure and shutdown --------------------------------------------------------


def test_writer_failed_while_recording_ends_the_session():
    state, commands = transition(RECORDING, WriterFailed("EIO"))
    assert state == replace(READY, last_error="storage write failed: EIO", finalizing=1)
    assert commands == ended("write_error", "error", "storage write failed: EIO")


def test_writer_failed_while_idle_logs():
    state, commands = transition(READY, WriterFailed("EIO"))
    assert state == replace(READY, last_error="storage write failed: EIO")
    assert commands == [Log("error", "storage write failed: EIO")]


def test_shutdown_while_recording_ends_the_session():
    state, commands = transition(RECORDING, Shutdown())
    assert state == replace(READY, shutting_down=True, finalizing=1)
    assert commands == ended("shutdown", "info", "shutting down")


def test_shutdown_while_idle_replies():
    state, commands = transition(READY, Shutdown())
    assert state == replace(READY, shutting_down=True)
    assert commands == [Reply(True, "shutting down")]


def test_unknown_event_is_a_type_error():
    with pytest.raises(TypeError, match="unknown event"):
        transition(READY, "start")  # type: ignore[arg-type]


# ---- purity -----------------------------------------------------------------------------

STATES = [
    State(),
    READY,
    RECORDING,
    run(READY, DeviceLost("EPIPE")),
    run(RECORDING, DeviceLost("EPIPE")),
    run(State(), DeviceAbsent("no card")),
    run(READY, DiskLow("disk low")),
    run(READY, Shutdown()),
    replace(warned(RECORDING, SILENCE, DISK), button=Button("down", 1.0, 480)),
    replace(READY, finalizing=1, button=Button(last_release=1.0)),
]
EVENTS = [
    Start(),
    Stop(),
    Mark("m"),
    SessionBegun(SID),
    SessionFinalized(SID),
    DiskReport(60.0),
    DiskReport(1e6),
    Levels(LevelReport(4800, 4800, (-3.0,), (-90.0,), 2)),
    ButtonPressed(1.02, 960),
    ButtonHeld(3.5),
    ButtonReleased(3.6),
    DeviceOpened(),
    DeviceLost("EPIPE"),
    DeviceAbsent("no card"),
    DiskLow("disk low"),
    DiskOk(),
    WriterFailed("EIO"),
    Shutdown(),
]


@pytest.mark.parametrize("state", STATES)
def test_transition_is_pure(state):
    before = copy.deepcopy(state)
    for event in EVENTS:
        first = transition(state, event)
        second = transition(state, event)
        assert first == second
        assert state == before


def test_state_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        READY.mode = "recording"  # type: ignore[misc]


STALLED = "the audio interface 'x' is open but delivers no sound"


def test_a_stalled_device_while_recording_warns_refuses_nothing_and_keeps_the_session():
    state, commands = transition(RECORDING, DeviceStalled(STALLED))
    assert state.mode == "recording" and state.session_id == RECORDING.session_id
    assert state.device == "stalled"
    assert state.device_error == state.last_error == STALLED
    assert commands == [
        Log("error", f"{STALLED} (the session continues when it does)"),
        NoteWarning("device", STALLED, True),
    ]
    assert led_view(state).name == "warning"


def test_a_start_while_the_device_is_stalled_is_refused_with_the_reason():
    stalled = run(READY, DeviceStalled(STALLED))
    assert transition(stalled, Start()) == (stalled, [Reply(False, f"cannot start: {STALLED}")])
    assert led_view(stalled).name == "error"


def test_a_device_that_delivers_again_clears_the_stall():
    state, commands = transition(run(RECORDING, DeviceStalled(STALLED)), DeviceResumed())
    assert state.device == "ok" and state.device_error is None and state.last_error is None
    assert commands == [
        Log("info", "the audio device delivers sound again"),
        NoteWarning("device", STALLED, False),
    ]


def test_a_warning_whose_message_changes_is_cleared_and_raised_again():
    lost = run(RECORDING, DeviceLost("EPIPE"))
    state, commands = transition(lost, DeviceStalled(STALLED))
    assert state.monitor.messages["device"] == STALLED
    assert [c for c in commands if isinstance(c, NoteWarning)] == [
        NoteWarning("device", "audio device lost: EPIPE", False),
        NoteWarning("device", STALLED, True),
    ]


# ---- a disk that fills suddenly -------------------------------------------------------------

FULL_MSG = "the storage is full: 0 MB free; free space or the box cannot record"


def test_a_session_ended_by_a_full_disk_is_counted_down_and_leaves_the_error_showing():
    """The writer's DiskLow ends the session; once it is in the outbox the LED shows the error."""
    state = run(RECORDING, DiskLow(FULL_MSG))
    assert state.mode == "idle" and state.finalizing == 1
    assert led_view(state).name == "finalizing"
    state = run(state, SessionFinalized(SID))
    assert state.finalizing == 0 and state.disk_full and state.last_error == FULL_MSG
    assert led_view(state).name == "error"
    assert transition(state, Start())[1] == [Reply(False, f"cannot start: {FULL_MSG}")]
    assert transition(state, Stop())[1] == [Reply(False, "not recording")]
    assert led_view(run(state, DiskOk())).name == "ready"


def test_a_session_that_could_not_be_finalized_is_counted_down_too():
    state, commands = transition(replace(READY, finalizing=1), WriterFailed("ENOSPC", SID))
    assert state == replace(READY, last_error="storage write failed: ENOSPC")
    assert commands == [Log("error", "storage write failed: ENOSPC")]
    assert led_view(state).name == "ready"


def test_a_finalize_failure_on_a_full_disk_keeps_the_plain_message():
    state = run(RECORDING, DiskLow(FULL_MSG), WriterFailed("finalizing: ENOSPC", SID))
    assert state.finalizing == 0 and state.last_error == FULL_MSG
    assert led_view(state).name == "error"


def test_a_finalize_failure_of_an_ended_session_does_not_end_the_next_one():
    state, commands = transition(replace(RECORDING, finalizing=1), WriterFailed("EIO", "older"))
    assert state.mode == "recording" and state.session_id == SID and state.finalizing == 0
    assert not any(isinstance(c, EndSession) for c in commands)


def test_a_disk_low_while_already_full_and_idle_only_updates_the_message():
    state = run(READY, DiskLow("storage nearly full: 3 MB free, 1 MB must stay free"))
    state, commands = transition(state, DiskLow(FULL_MSG))
    assert state.disk_full and state.disk_error == FULL_MSG and state.finalizing == 0
    assert commands == [Log("warning", FULL_MSG)]


# ---- pure rules: the messages and the room kept aside ------------------------------------------


def test_free_space_below_the_minimum_reads_as_full_in_plain_words():
    idle = State(device="ok")
    assert disk_event(idle, 400_000, 1_000_000, 32_000) == DiskLow(full_message(400_000))
    assert full_message(-5) == (
        "the storage is full: 0 MB free; free space or the box cannot record"
    )
    low = disk_event(idle, 2_500_000, 1_000_000, 32_000)
    assert low == DiskLow("storage nearly full: 2 MB free, 1 MB must stay free")


def test_the_room_kept_aside_covers_manifest_cues_and_labels():
    plain = final_write_bytes(20_000, [], 10)
    assert plain >= 20_000 and plain % BLOCK == 0
    many = final_write_bytes(20_000, [200] * 5000, 10)
    # every marker: a cue point and a name in a segment, and a line in labels.txt (twice: tmp)
    assert many - plain >= 5000 * (24 + 200) + 2 * 5000 * (32 + 200)
    assert ballast_bytes(plain) == BALLAST_FLOOR
    assert ballast_bytes(many) > BALLAST_FLOOR and ballast_bytes(many) % (1 << 20) == 0
    assert ballast_bytes(many) >= many
