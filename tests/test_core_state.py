"""The controller's state machine, event by event, without threads or I/O."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import replace

import pytest

from recorder.core.state import (
    BeginSession,
    DeviceAbsent,
    DeviceLost,
    DeviceOpened,
    DiskLow,
    DiskOk,
    EndSession,
    Log,
    Mark,
    PlaceMarker,
    Reply,
    SessionBegun,
    Shutdown,
    Start,
    State,
    Stop,
    WriterFailed,
    transition,
)

SID = "000001-20260314T092653Z"
READY = State(device="ok")  # idle, device open, room on the disk
RECORDING = State(mode="recording", device="ok", session_id=SID)


def run(state: State, *events) -> State:
    """The state after a series of events (commands ignored)."""
    for event in events:
        state, _ = transition(state, event)
    return state


def ended(reason: str, level: str, why: str) -> list:
    return [
        EndSession(reason),
        Log(level, f"session {SID}: {why}"),
        Reply(True, f"stopped session {SID}"),
    ]


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
    absent = run(State(), DeviceAbsent("no such card"))
    state, commands = transition(absent, Start())
    assert state == absent
    assert commands == [Reply(False, "cannot start: no audio device: no such card")]


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
    assert state == READY
    assert commands == ended("requested", "info", "stopped by mqtt")


def test_mark_when_recording_places_a_marker():
    state, commands = transition(RECORDING, Mark("intro", "button"))
    assert state == RECORDING
    assert commands == [PlaceMarker("intro", "button")]


# ---- the device -------------------------------------------------------------------------


def test_device_lost_while_recording_keeps_recording():
    state, commands = transition(RECORDING, DeviceLost("EPIPE"))
    assert state.mode == "recording"
    assert state.session_id == SID
    assert state.device == "lost"
    assert state.device_error == state.last_error == "audio device lost: EPIPE"
    assert commands == [
        Log("error", "audio device lost: EPIPE (the session continues when it comes back)")
    ]


def test_device_lost_while_idle_logs_without_the_session_note():
    state, commands = transition(READY, DeviceLost("EPIPE"))
    assert state.mode == "idle"
    assert state.device == "lost"
    assert commands == [Log("error", "audio device lost: EPIPE")]


def test_device_absent_is_logged_once_per_message():
    first, commands = transition(State(), DeviceAbsent("no card"))
    assert first.device == "absent"
    assert first.device_error == first.last_error == "no audio device: no card"
    assert commands == [Log("error", "no audio device: no card; retrying")]

    assert transition(first, DeviceAbsent("no card")) == (first, [])

    other, commands = transition(first, DeviceAbsent("busy"))
    assert other.device_error == "no audio device: busy"
    assert commands == [Log("error", "no audio device: busy; retrying")]


def test_device_absent_after_lost_keeps_lost():
    lost = run(RECORDING, DeviceLost("EPIPE"))
    assert transition(lost, DeviceAbsent("no card")) == (lost, [])


def test_device_opened_clears_device_errors():
    state, commands = transition(run(READY, DeviceLost("EPIPE")), DeviceOpened())
    assert state == READY
    assert commands == [Log("info", "audio device open")]


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
    assert state == replace(READY, disk_full=True, disk_error="disk low", last_error="disk low")
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
    assert state == replace(READY, last_error="storage write failed: EIO")
    assert commands == ended("write_error", "error", "storage write failed: EIO")


def test_writer_failed_while_idle_logs():
    state, commands = transition(READY, WriterFailed("EIO"))
    assert state == replace(READY, last_error="storage write failed: EIO")
    assert commands == [Log("error", "storage write failed: EIO")]


def test_shutdown_while_recording_ends_the_session():
    state, commands = transition(RECORDING, Shutdown())
    assert state == replace(READY, shutting_down=True)
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
]
EVENTS = [
    Start(),
    Stop(),
    Mark("m"),
    SessionBegun(SID),
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
