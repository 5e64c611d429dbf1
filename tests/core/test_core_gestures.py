"""The button's gestures, from synthetic press/hold/release times: no sleeps, no threads."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from recorder.core.recording.gestures import Button, GestureSettings, held, pressed, released
from recorder.core.recording.state import (
    BeginSession,
    ButtonHeld,
    ButtonPressed,
    ButtonReleased,
    EndSession,
    Log,
    PlaceMarker,
    Reply,
    SessionBegun,
    Settings,
    State,
    transition,
)

S = GestureSettings()  # debounce 0.05 s, short press up to 0.8 s, hold from 2 s
SID = "000001-20260314T092653Z"
READY = State(device="ok", starting=False)
RECORDING = State(mode="recording", device="ok", starting=False, session_id=SID)


def gesture(duration: float, recording: bool = True, ticks: float | None = None):
    """The gesture of one press at t=0 released after `duration` (held ticks every `ticks` s)."""
    b = pressed(Button(), 0.0, None, S)
    if ticks:
        t = ticks
        while t < duration:
            b = held(b, t, S, hold_matters=recording)
            t += ticks
    return released(b, duration, S, recording)[1]


def run(state: State, *events) -> tuple[State, list]:
    """The state after a series of events and all the commands they produced."""
    commands: list = []
    for event in events:
        state, more = transition(state, event)
        commands += more
    return state, commands


def hold_events(t0: float, duration: float, frame: int | None = None, tick: float = 0.1):
    """Press at t0, a held tick every `tick` s while down, release after `duration`."""
    events: list = [ButtonPressed(t0, frame)]
    n = 1
    while n * tick < duration:
        events.append(ButtonHeld(t0 + n * tick))
        n += 1
    return [*events, ButtonReleased(t0 + duration)]


# ---- gestures.py ------------------------------------------------------------------------


@pytest.mark.parametrize("duration", [S.debounce_s, 0.1, 0.5, S.short_press_max_s])
def test_short_press_while_recording_is_a_press(duration):
    assert gesture(duration) == "press"
    assert gesture(duration, ticks=0.1) == "press"


@pytest.mark.parametrize("duration", [S.stop_hold_s, 2.5, 30.0])
def test_hold_while_recording_is_a_hold(duration):
    assert gesture(duration, ticks=0.1) == "hold"  # armed by a held tick
    assert gesture(duration) == "hold"  # no tick came: the release time decides


def test_hold_armed_by_a_tick_is_a_hold_even_if_released_the_same_instant():
    b = held(pressed(Button(), 0.0, None, S), S.stop_hold_s, S, True)
    assert b.phase == "armed"
    assert released(b, S.stop_hold_s, S, True)[1] == "hold"


@pytest.mark.parametrize("duration", [S.short_press_max_s + 0.01, 1.0, 1.5, S.stop_hold_s - 0.01])
def test_release_between_press_and_hold_is_ignored(duration):
    assert gesture(duration) is None
    assert gesture(duration, ticks=0.1) is None
    b, g = released(pressed(Button(), 0.0, 7, S), duration, S, True)
    assert g is None
    assert b == Button(last_release=duration)  # but it was a real release


@pytest.mark.parametrize("recording", [True, False])
def test_press_shorter_than_debounce_is_a_glitch_not_a_release(recording):
    up = released(pressed(Button(), 0.0, None, S), 0.5, S, recording)[0]
    assert up.last_release == 0.5
    down = pressed(up, 1.0, None, S)
    b, g = released(down, 1.0 + S.debounce_s / 2, S, recording)
    assert g is None
    assert b == Button(last_release=0.5)  # the glitch's "release" does not count
    # so an edge right after the glitch is a fresh press, not bounce after a release
    again = pressed(b, 1.0 + S.debounce_s * 0.75, 3, S)
    assert again.phase == "down"
    assert again.press_frame == 3


def test_edges_right_after_a_release_are_bounce():
    up, g = released(pressed(Button(), 0.0, None, S), 0.3, S, True)
    assert g == "press"
    for dt in (0.0, 0.01, S.debounce_s * 0.99):
        assert pressed(up, 0.3 + dt, 5, S) == up  # ignored
        assert released(up, 0.3 + dt + 0.001, S, True) == (up, None)
    late = pressed(up, 0.3 + S.debounce_s * 1.01, 5, S)
    assert late == replace(up, phase="down", down_at=0.3 + S.debounce_s * 1.01, press_frame=5)


def test_a_second_press_while_down_is_ignored():
    down = pressed(Button(), 0.0, 10, S)
    assert pressed(down, 0.3, 99, S) == down
    armed = held(down, S.stop_hold_s, S, True)
    assert pressed(armed, 2.5, 99, S) == armed
    b, g = released(down, 0.5, S, True)
    assert g == "press"
    assert b == Button(last_release=0.5)


@pytest.mark.parametrize("duration", [S.debounce_s, 0.5, 1.0, S.stop_hold_s, 10.0])
def test_while_idle_every_press_is_a_press(duration):
    assert gesture(duration, recording=False) == "press"
    assert gesture(duration, recording=False, ticks=0.1) == "press"


def test_release_while_up_does_nothing():
    for b in (Button(), Button(last_release=1.0)):
        assert released(b, 5.0, S, True) == (b, None)
        assert released(b, 5.0, S, False) == (b, None)


def test_held_phases():
    down = pressed(Button(), 0.0, None, S)
    assert down.phase == "down"
    phases = {t: held(down, t, S, True).phase for t in (0.1, 0.5, S.short_press_max_s)}
    assert set(phases.values()) == {"down"}
    for t in (S.short_press_max_s + 0.01, 1.5, S.stop_hold_s - 0.01):
        assert held(down, t, S, True).phase == "progress"
    for t in (S.stop_hold_s, 5.0):
        assert held(down, t, S, True).phase == "armed"
    # ticks move it forward one after the other; armed stays armed
    b = down
    seen = []
    for n in range(1, 31):
        b = held(b, n * 0.1, S, True)
        seen.append(b.phase)
    assert seen == ["down"] * 8 + ["progress"] * 11 + ["armed"] * 11
    assert b.down_at == 0.0


def test_held_changes_nothing_when_a_hold_would_not_matter():
    down = pressed(Button(), 0.0, 4, S)
    b = down
    for n in range(1, 100):
        b = held(b, n * 0.1, S, hold_matters=False)
        assert b == down


def test_held_while_up_changes_nothing():
    for b in (Button(), Button(last_release=1.0)):
        assert held(b, 3.0, S, True) == b


# ---- through the state machine ----------------------------------------------------------


def test_idle_short_press_begins_a_session():
    state, commands = run(READY, *hold_events(10.0, 0.2))
    assert commands == [BeginSession("button")]
    assert state.mode == "recording"
    assert state.button == Button(last_release=10.2)


def test_idle_long_press_begins_a_session_too_without_hold_feedback():
    events = hold_events(10.0, 3.0)
    state = READY
    for event in events[:-1]:
        state, commands = transition(state, event)
        assert commands == []
        assert state.button.phase == "down"
    state, commands = transition(state, events[-1])
    assert commands == [BeginSession("button")]


def test_recording_short_press_places_a_marker_at_the_press_frame():
    state, commands = run(RECORDING, *hold_events(10.0, 0.5, frame=480_000))
    assert commands == [PlaceMarker("", "button", frame=480_000)]
    assert state.ack == 1
    assert state.mode == "recording"


def test_recording_hold_stops_the_session():
    events = hold_events(10.0, 2.3, frame=4_800, tick=0.25)  # exact binary times
    phases = []
    state = RECORDING
    for event in events[:-1]:
        state, commands = transition(state, event)
        assert commands == []
        phases.append(state.button.phase)
    assert phases == ["down"] * 4 + ["progress"] * 4 + ["armed"] * 2
    state, commands = transition(state, events[-1])
    assert commands == [
        EndSession("requested"),
        Log("info", f"session {SID}: stopped by button"),
        Reply(True, f"stopped session {SID}"),
    ]
    assert state.mode == "idle"
    assert state.finalizing == 1
    assert state.button.phase == "up"


def test_recording_release_between_press_and_hold_does_nothing():
    state, commands = run(RECORDING, *hold_events(10.0, 1.5, frame=4_800))
    assert commands == []
    assert state == replace(RECORDING, button=Button(last_release=11.5))


def test_recording_hold_set_to_none_ignores_holding():
    settings = Settings(recording_hold="none")
    state = replace(RECORDING, settings=settings)
    events = hold_events(10.0, 5.0, frame=4_800)
    for event in events[:-1]:
        state, commands = transition(state, event)
        assert commands == []
        assert state.button.phase == "down"  # no hold feedback on the LED
    state, commands = transition(state, events[-1])
    assert commands == []
    assert state.mode == "recording"
    # a short press still marks
    assert run(state, *hold_events(20.0, 0.3, frame=9))[1] == [PlaceMarker("", "button", 9)]


def test_idle_press_set_to_none_does_nothing():
    idle = replace(READY, settings=Settings(idle_press="none"))
    for duration in (0.2, 3.0):
        state, commands = run(idle, *hold_events(10.0, duration))
        assert commands == []
        assert state.mode == "idle"


def test_recording_press_set_to_stop_stops_on_a_short_press():
    state = replace(RECORDING, settings=Settings(recording_press="stop", recording_hold="none"))
    state, commands = run(state, *hold_events(10.0, 0.3))
    assert commands[0] == EndSession("requested")
    assert state.mode == "idle"


def test_bounce_in_a_press_makes_one_marker():
    # down at 10.0, chatter, final release at 10.3; the chatter edges are < debounce apart
    events = [
        ButtonPressed(10.0, 100),
        ButtonReleased(10.01),  # a glitch: 10 ms down
        ButtonPressed(10.02, 101),
        ButtonReleased(10.3),
        ButtonPressed(10.31, 102),  # bounce on release
        ButtonReleased(10.32),
    ]
    state, commands = run(RECORDING, *events)
    assert commands == [PlaceMarker("", "button", frame=101)]
    assert state.ack == 1


def test_bounce_after_a_stopping_hold_is_ignored():
    state, _ = run(RECORDING, *hold_events(10.0, 2.1))
    assert state.mode == "idle"
    release = 12.1
    state, commands = run(
        state,
        ButtonPressed(release + S.debounce_s / 5, None),  # within debounce_s of the release
        ButtonReleased(release + S.debounce_s * 2),
    )
    assert commands == []
    assert state.mode == "idle"


def test_random_presses_never_stop_on_a_short_press():
    rng = random.Random(20260314)
    state = RECORDING
    t, frame = 100.0, 0
    counts = {"stop": 0, "mark": 0, "start": 0, "nothing": 0}
    for n in range(400):
        gap = rng.choice([rng.uniform(0.0, 2 * S.debounce_s), rng.uniform(0.1, 3.0)])
        duration = rng.choice(
            [
                rng.uniform(0.0, 0.1),
                rng.uniform(0.0, 1.0),
                rng.uniform(0.6, 2.2),
                rng.uniform(1.9, 4),
            ]
        )
        t += gap
        frame += round(gap * 48_000)
        at_press = frame if state.mode == "recording" else None
        state, commands = run(state, *hold_events(t, duration, frame=at_press))
        real = (t + duration) - t  # what the state machine measures
        t += duration
        frame += round(duration * 48_000)
        stops = [c for c in commands if isinstance(c, EndSession)]
        marks = [c for c in commands if isinstance(c, PlaceMarker)]
        if stops:
            assert real >= S.stop_hold_s, (n, real, commands)
            counts["stop"] += 1
        if marks:
            assert real <= S.short_press_max_s, (n, real, commands)
            assert marks == [PlaceMarker("", "button", frame=at_press)]
            counts["mark"] += 1
        if BeginSession("button") in commands:
            state, _ = transition(state, SessionBegun(f"{n:06d}-20260314T092653Z"))
            frame = 0
            counts["start"] += 1
        if not commands:
            counts["nothing"] += 1
    assert all(counts.values()), counts  # the sequence exercised every outcome
