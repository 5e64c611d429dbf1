"""Warnings from levels and free space, and the automatic stops; time is session frames."""

from __future__ import annotations

from dataclasses import replace

import pytest

from recorder.core.recording.state import (
    DiskReport,
    EndSession,
    Levels,
    Log,
    NoteWarning,
    Reply,
    Settings,
    State,
    Stop,
    transition,
)
from recorder.core.recording.warnings import (
    LevelReport,
    Monitor,
    WarningSettings,
    assess_disk,
    assess_levels,
    auto_stop,
)

RATE = 100  # frames per second: one report of 10 frames is 0.1 s
W = WarningSettings(
    silence_dbfs=-60.0,
    silence_s=1.0,
    clip_repeat=3,
    clip_window_s=1.0,
    disk_minutes=30.0,
    auto_stop_silence_s=0.0,
    max_session_s=0.0,
)
SID = "000001-20260314T092653Z"
SETTINGS = Settings(rate=RATE, warnings=W)
READY = State(device="ok", starting=False, settings=SETTINGS)
RECORDING = replace(READY, mode="recording", session_id=SID)
QUIET, LOUD = -75.0, -20.0


def report(end: int, rms: float = LOUD, clipped: int = 0, frames: int = 10) -> LevelReport:
    return LevelReport(end, frames, (rms + 12, rms + 12), (rms, rms - 30), clipped)


def feed(m: Monitor, reports, s: WarningSettings = W) -> list[Monitor]:
    """The monitor after each report."""
    out = []
    for r in reports:
        m = assess_levels(m, r, s, RATE)
        out.append(m)
    return out


# ---- silence ----------------------------------------------------------------------------


def test_silence_is_raised_only_after_silence_s():
    after = feed(Monitor(), [report(10 * n, QUIET) for n in range(1, 13)])
    assert [m.silent_frames for m in after[:3]] == [10, 20, 30]
    assert all("silence" not in m.messages for m in after[:9])  # 0.9 s
    assert "silence" in after[9].messages  # 1.0 s = silence_s * rate frames
    message = after[9].messages["silence"]
    assert "-60 dBFS" in message
    assert "1 s" in message
    assert [m.messages["silence"] for m in after[9:]] == [message] * 3  # stable
    assert after[11].active == after[9].active


def test_silence_counts_frames_not_reports():
    m = assess_levels(Monitor(), report(99, QUIET, frames=99), W, RATE)
    assert "silence" not in m.messages
    m = assess_levels(m, report(100, QUIET, frames=1), W, RATE)
    assert "silence" in m.messages


def test_one_loud_report_clears_silence_and_restarts_the_count():
    silent = feed(Monitor(), [report(10 * n, QUIET) for n in range(1, 11)])[-1]
    assert "silence" in silent.messages
    loud = assess_levels(silent, report(110, LOUD), W, RATE)
    assert "silence" not in loud.messages
    assert loud.silent_frames == 0
    again = feed(loud, [report(110 + 10 * n, QUIET) for n in range(1, 10)])[-1]
    assert "silence" not in again.messages  # 0.9 s of new silence is not enough


def test_one_loud_channel_is_not_silence():
    r = LevelReport(100, 100, (-3.0, -100.0), (-12.0, -110.0), 0)
    assert assess_levels(Monitor(), r, W, RATE).silent_frames == 0


def test_a_loud_report_in_the_middle_restarts_the_silence_count():
    reports = [report(10 * n, QUIET) for n in range(1, 9)] + [report(90, LOUD)]
    reports += [report(90 + 10 * n, QUIET) for n in range(1, 9)]
    assert all("silence" not in m.messages for m in feed(Monitor(), reports))


# ---- clipping ---------------------------------------------------------------------------


def test_clipping_is_raised_after_clip_repeat_clipped_reports_in_the_window():
    after = feed(Monitor(), [report(10, clipped=5), report(20), report(30, clipped=1)])
    assert all("clipping" not in m.messages for m in after)
    m = assess_levels(after[-1], report(40, clipped=2), W, RATE)
    message = m.messages["clipping"]
    assert "3 times within 1 s" in message
    # more clipping keeps the same warning
    assert assess_levels(m, report(50, clipped=9), W, RATE).active == m.active


def test_clipping_spread_wider_than_the_window_is_not_a_warning():
    window = round(W.clip_window_s * RATE)
    reports = [report(window * n, clipped=3) for n in range(1, 20)]  # exactly a window apart
    assert all("clipping" not in m.messages for m in feed(Monitor(), reports))
    reports = [report(60 * n, clipped=1) for n in range(1, 20)]  # two in a window, never three
    assert all("clipping" not in m.messages for m in feed(Monitor(), reports))


def test_clipping_clears_once_the_window_holds_no_clipped_report():
    m = feed(Monitor(), [report(10 * n, clipped=1) for n in range(1, 4)])[-1]
    assert "clipping" in m.messages  # last clipped report ends at frame 30
    later = feed(m, [report(30 + 10 * n) for n in range(1, 11)])
    # frames 40 .. 120: a clipped report still inside the window (fewer than clip_repeat)
    assert all("clipping" in x.messages for x in later[:9])
    assert "clipping" not in later[9].messages  # frame 130: 30 is a whole window back
    assert later[9].clip_frames == ()


def test_clip_history_is_bounded():
    m = feed(Monitor(), [report(n, clipped=1) for n in range(1, 500)])[-1]
    assert len(m.clip_frames) <= W.clip_repeat


def test_silence_and_clipping_are_independent():
    m = feed(Monitor(), [report(10 * n, QUIET, clipped=1) for n in range(1, 11)])[-1]
    assert list(m.messages) == ["clipping", "silence"]  # in the order raised


# ---- disk and automatic stops -----------------------------------------------------------


def test_disk_low_below_disk_minutes_and_clears_above():
    low = assess_disk(Monitor(), 29 * 60, W)
    assert low.messages == {"disk_low": "storage nearly full: under 30 min of recording left"}
    assert assess_disk(low, 10, W) == low
    assert assess_disk(low, 30 * 60, W) == Monitor()
    assert assess_disk(Monitor(), 3600 * 10, W) == Monitor()


def test_auto_stop_at_max_session_length():
    s = replace(W, max_session_s=10.0)
    assert auto_stop(Monitor(), 999, s, RATE) is None
    assert auto_stop(Monitor(), 1000, s, RATE) == "max_length"
    assert auto_stop(Monitor(), 5000, s, RATE) == "max_length"


def test_auto_stop_on_silence():
    s = replace(W, auto_stop_silence_s=5.0)
    assert auto_stop(Monitor(silent_frames=499), 10_000, s, RATE) is None
    assert auto_stop(Monitor(silent_frames=500), 10_000, s, RATE) == "silence"


def test_no_auto_stop_when_both_are_off():
    off = replace(W, max_session_s=0.0, auto_stop_silence_s=0.0)
    assert auto_stop(Monitor(silent_frames=10**12), 10**12, off, RATE) is None


def test_default_settings_stop_after_four_hours_never_on_silence():
    d = WarningSettings()
    four_hours = 4 * 3600 * 48_000
    assert auto_stop(Monitor(silent_frames=four_hours), four_hours - 1, d, 48_000) is None
    assert auto_stop(Monitor(), four_hours, d, 48_000) == "max_length"


# ---- through the state machine ----------------------------------------------------------


def levels(state: State, reports) -> tuple[State, list[list]]:
    """The state after Levels events, and the commands of each."""
    out = []
    for r in reports:
        state, commands = transition(state, Levels(r))
        out.append(commands)
    return state, out


def test_silence_warning_is_noted_once_while_recording():
    state, per_report = levels(RECORDING, [report(10 * n, QUIET) for n in range(1, 31)])
    message = state.monitor.messages["silence"]
    assert per_report[9] == [NoteWarning("silence", message, True)]
    assert [c for i, c in enumerate(per_report) if i != 9] == [[]] * 29
    state, commands = transition(state, Levels(report(310, LOUD)))
    assert commands == [NoteWarning("silence", message, False)]
    assert state.mode == "recording"


def test_clipping_warning_is_noted_once_and_cleared_by_stop():
    state, per_report = levels(RECORDING, [report(10 * n, clipped=1) for n in range(1, 11)])
    message = state.monitor.messages["clipping"]
    assert per_report[2] == [NoteWarning("clipping", message, True)]
    assert sum(map(len, per_report)) == 1
    state, commands = transition(state, Stop())
    assert commands == [
        EndSession("requested"),
        NoteWarning("clipping", message, False),
        Log("info", f"session {SID}: stopped by ctl"),
        Reply(True, f"stopped session {SID}"),
    ]
    assert state.monitor.active == ()


def test_silence_stops_the_session_automatically():
    state = replace(
        RECORDING, settings=replace(SETTINGS, warnings=replace(W, auto_stop_silence_s=2))
    )
    state, _ = levels(state, [report(10 * n, QUIET) for n in range(1, 20)])
    assert state.mode == "recording"
    message = state.monitor.messages["silence"]
    state, commands = transition(state, Levels(report(200, QUIET)))
    assert commands == [
        EndSession("silence"),
        NoteWarning("silence", message, False),
        Log("warning", f"session {SID}: automatic stop (silence)"),
        Reply(True, f"stopped session {SID}"),
    ]
    assert state.mode == "idle"
    assert state.session_id is None
    assert state.finalizing == 1
    # reports still in flight after the stop are ignored
    assert transition(state, Levels(report(210, QUIET))) == (state, [])


def test_silence_that_raises_and_stops_at_once():
    state = replace(
        RECORDING, settings=replace(SETTINGS, warnings=replace(W, auto_stop_silence_s=1))
    )
    state, per_report = levels(state, [report(10 * n, QUIET) for n in range(1, 11)])
    message = "no sound above -60 dBFS for 1 s: microphone unplugged or muted?"
    assert per_report[-1] == [
        NoteWarning("silence", message, True),
        EndSession("silence"),
        NoteWarning("silence", message, False),
        Log("warning", f"session {SID}: automatic stop (silence)"),
        Reply(True, f"stopped session {SID}"),
    ]


def test_max_length_stops_the_session_automatically():
    state = replace(RECORDING, settings=replace(SETTINGS, warnings=replace(W, max_session_s=60)))
    state, commands = transition(state, Levels(report(60 * RATE - 1)))
    assert commands == []
    state, commands = transition(state, Levels(report(60 * RATE)))
    assert commands == [
        EndSession("max_length"),
        Log("warning", f"session {SID}: automatic stop (max_length)"),
        Reply(True, f"stopped session {SID}"),
    ]
    assert state.mode == "idle"


@pytest.mark.parametrize("r", [report(10_000, QUIET), report(10, clipped=99), report(10**9)])
def test_levels_while_idle_do_nothing(r):
    strict = replace(READY, settings=replace(SETTINGS, warnings=replace(W, max_session_s=1)))
    state = strict
    for _ in range(20):
        state, commands = transition(state, Levels(r))
        assert commands == []
    assert state == strict


@pytest.mark.parametrize("base", [READY, RECORDING])
def test_disk_report_raises_and_clears_disk_low(base):
    message = "storage nearly full: under 30 min of recording left"
    state, commands = transition(base, DiskReport(20 * 60))
    assert commands == [NoteWarning("disk_low", message, True)]
    assert state.mode == base.mode  # a warning, not a stop
    assert transition(state, DiskReport(60)) == (state, [])
    state, commands = transition(state, DiskReport(31 * 60))
    assert commands == [NoteWarning("disk_low", message, False)]
    assert state == base


def test_disk_low_warning_outlives_the_session():
    state, _ = transition(RECORDING, DiskReport(60))
    state, commands = transition(state, Stop())
    assert not any(isinstance(c, NoteWarning) for c in commands)
    assert list(state.monitor.messages) == ["disk_low"]
