"""What the LED shows: which state wins (`led_view`) and the pattern for each (`pattern`)."""

from __future__ import annotations

import itertools
import math
import re
import typing
from dataclasses import replace

import pytest

from recorder.core.recording import led
from recorder.core.recording.gestures import Button
from recorder.core.recording.led import COLOURS, RHYTHMS, LedView, Pattern, pattern
from recorder.core.recording.state import (
    DeviceAbsent,
    DeviceLost,
    DiskLow,
    DiskReport,
    Mark,
    State,
    led_view,
    transition,
)
from recorder.core.recording.warnings import Monitor

SID = "000001-20260314T092653Z"
READY = State(device="ok", starting=False)
RECORDING = replace(READY, mode="recording", session_id=SID)
KINDS = ("plain", "pwm", "rgb")
NAMES = tuple(RHYTHMS)
SILENCE = Monitor(active=(("silence", "no sound"),))
DISK = Monitor(active=(("disk_low", "storage nearly full"),))


def name(state: State) -> str:
    return led_view(state).name


# ---- led_view ---------------------------------------------------------------------------


def test_every_condition_at_once_then_one_less_each_step():
    # armed > hold > recording-with-warning > recording > starting > finalizing > error
    # > warning > ready: take away the winning condition and the next one shows
    state = State(
        mode="recording",
        device="lost",
        starting=True,
        disk_full=True,
        session_id=SID,
        finalizing=2,
        button=Button("armed", down_at=0.0),
        monitor=SILENCE,
    )
    steps = [
        ("armed", {}),
        ("hold", {"button": Button("progress", down_at=0.0)}),
        ("warning", {"button": Button("down", down_at=0.0)}),
        ("recording", {"monitor": Monitor()}),
        ("starting", {"mode": "idle", "session_id": None, "button": Button()}),
        ("finalizing", {"starting": False}),
        ("error", {"finalizing": 0}),
        ("warning", {"device": "ok", "disk_full": False, "monitor": DISK}),
        ("ready", {"monitor": Monitor()}),
    ]
    seen = []
    for expected, change in steps:
        state = replace(state, **change)
        seen.append(name(state))
        assert seen[-1] == expected, (expected, change)
    assert state == READY


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (State(), "starting"),
        (READY, "ready"),
        (RECORDING, "recording"),
        (replace(RECORDING, button=Button("down", 1.0)), "recording"),
        (replace(RECORDING, button=Button("progress", 1.0)), "hold"),
        (replace(RECORDING, button=Button("armed", 1.0)), "armed"),
        (replace(RECORDING, button=Button("armed", 1.0), monitor=SILENCE), "armed"),
        (replace(RECORDING, monitor=SILENCE), "warning"),
        (replace(RECORDING, starting=True), "recording"),
        (replace(RECORDING, finalizing=1), "recording"),
        (replace(READY, finalizing=1), "finalizing"),
        (replace(READY, finalizing=1, device="lost", monitor=DISK), "finalizing"),
        (replace(READY, device="lost"), "error"),
        (replace(READY, disk_full=True, monitor=DISK), "error"),
        (replace(READY, monitor=DISK), "warning"),
        (replace(READY, button=Button("armed", 1.0)), "ready"),  # phases matter only recording
        (replace(READY, button=Button("progress", 1.0)), "ready"),
        (replace(State(), device="absent"), "starting"),  # no error before the first try
    ],
)
def test_led_view_for_concrete_states(state, expected):
    assert name(state) == expected


def test_led_view_through_events():
    assert name(transition(State(), DeviceAbsent("no card"))[0]) == "error"
    lost = transition(RECORDING, DeviceLost("EPIPE"))[0]
    assert name(lost) == "warning"  # still recording, device warning raised
    assert name(transition(READY, DeviceLost("EPIPE"))[0]) == "error"
    assert name(transition(READY, DiskLow("full"))[0]) == "error"
    assert name(transition(READY, DiskReport(60))[0]) == "warning"
    assert name(transition(RECORDING, DiskReport(60))[0]) == "warning"


def test_led_view_carries_the_marker_count():
    assert led_view(RECORDING) == LedView("recording", 0)
    state = RECORDING
    for n in range(1, 4):
        state, _ = transition(state, Mark())
        assert led_view(state) == LedView("recording", n)


# ---- patterns ---------------------------------------------------------------------------


def all_patterns(acknowledge: bool = False):
    for kind, n in itertools.product(KINDS, NAMES):
        yield kind, n, pattern(LedView(n), kind, acknowledge)


def lit(value) -> bool:
    return any(value) if isinstance(value, tuple) else value > 0


def period(p: Pattern) -> float:
    return sum(step.seconds for step in p.loop)


def test_names_colours_and_rhythms_agree():
    assert set(typing.get_args(led.Name)) == set(RHYTHMS) == set(COLOURS)


@pytest.mark.parametrize("acknowledge", [False, True])
def test_every_pattern_is_well_formed(acknowledge):
    for kind, n, p in all_patterns(acknowledge):
        assert p.name == n
        assert p.loop, (kind, n)
        assert bool(p.intro) == acknowledge
        for step in (*p.intro, *p.loop):
            assert step.seconds > 0, (kind, n, step)
            if kind == "plain":
                assert step.value in (0.0, 1.0), (n, step)
            elif kind == "pwm":
                assert isinstance(step.value, float)
                assert 0.0 <= step.value <= 1.0, (n, step)
            else:
                assert isinstance(step.value, tuple)
                assert len(step.value) == 3, (n, step)
                assert all(0.0 <= c <= 1.0 for c in step.value), (n, step)


def test_every_kind_keeps_the_rhythms_period():
    for n in NAMES:
        periods = {kind: period(pattern(LedView(n), kind)) for kind in KINDS}
        assert periods["pwm"] == pytest.approx(periods["plain"]), n
        assert periods["rgb"] == pytest.approx(periods["plain"]), n


def test_plain_pattern_is_the_rhythm():
    for n in NAMES:
        loop = pattern(LedView(n)).loop
        assert [(step.value == 1.0, step.seconds) for step in loop] == list(RHYTHMS[n])


def canonical(p: Pattern) -> tuple:
    """The rhythm as the eye sees it: runs of on/off merged, as a loop with no start."""
    runs: list[tuple[bool, float]] = []
    for step in p.loop:
        on = lit(step.value)
        if runs and runs[-1][0] == on:
            runs[-1] = (on, runs[-1][1] + step.seconds)
        else:
            runs.append((on, step.seconds))
    if len(runs) > 1 and runs[0][0] == runs[-1][0]:  # the loop wraps into its first run
        runs[0] = (runs[0][0], runs[0][1] + runs.pop()[1])
    if len(runs) == 1:
        return ("steady", runs[0][0])  # its length is meaningless
    runs = [(on, round(seconds, 6)) for on, seconds in runs]
    return min(tuple(runs[i:] + runs[:i]) for i in range(len(runs)))


def test_canonical_sees_through_rotation_and_split_runs():
    def loop(*steps):
        return Pattern("x", tuple(led.Step(v, s) for v, s in steps))

    a = loop((1.0, 0.1), (0.0, 0.9))
    assert canonical(a) == canonical(loop((0.0, 0.9), (1.0, 0.1)))
    assert canonical(a) == canonical(loop((0.0, 0.4), (1.0, 0.1), (0.0, 0.5)))
    assert canonical(loop((1.0, 1.0))) == canonical(loop((1.0, 0.2), (1.0, 0.3)))
    assert canonical(loop((1.0, 1.0))) != canonical(loop((0.0, 1.0)))


def test_plain_rhythms_are_pairwise_distinguishable():
    shapes = {n: canonical(pattern(LedView(n), "plain")) for n in NAMES}
    for a, b in itertools.combinations(NAMES, 2):
        assert shapes[a] != shapes[b], (a, b, shapes[a])
    steady = {n for n, shape in shapes.items() if shape[0] == "steady"}
    assert steady == {"recording", "armed"}


def test_recording_is_steady_on_and_armed_steady_off_on_a_plain_led():
    assert [s.value for s in pattern(LedView("recording")).loop] == [1.0]
    assert [s.value for s in pattern(LedView("armed")).loop] == [0.0]
    assert [s.value for s in pattern(LedView("armed"), "rgb").loop] == [(0.0, 0.0, 0.0)]


def test_plain_rhythms_say_what_the_table_says():
    def blips(n):
        runs = canonical(pattern(LedView(n)))
        return sum(1 for on, _ in runs if on)

    assert period(pattern(LedView("starting"))) == pytest.approx(1.0)
    assert blips("starting") == 2
    assert period(pattern(LedView("ready"))) == pytest.approx(3.0)
    assert blips("ready") == 1
    assert 1 / period(pattern(LedView("hold"))) == pytest.approx(10.0)
    assert RHYTHMS["finalizing"] == ((True, 0.5), (False, 0.5))
    assert RHYTHMS["warning"] == ((True, 1.5), (False, 0.5))
    assert blips("error") == 3
    pause = max(seconds for on, seconds in canonical(pattern(LedView("error"))) if not on)
    assert pause > 3 * 0.1


def test_acknowledgement_starts_dark_then_plays_the_unchanged_loop():
    for kind, n, p in all_patterns(acknowledge=True):
        plain = pattern(LedView(n), kind)
        assert p.loop == plain.loop, (kind, n)
        assert not lit(p.intro[0].value), (kind, n)
        assert any(lit(step.value) for step in p.intro), (kind, n)
        if lit(plain.loop[0].value):
            # two dark gaps against the lit base: dark, lit, dark, then the loop
            shape = [lit(step.value) for step in (*p.intro, plain.loop[0])]
            dark_gaps = sum(1 for a, b in itertools.pairwise([True, *shape]) if a and not b)
            assert dark_gaps == 2, (kind, n, shape)


def test_acknowledgement_ignores_the_marker_count():
    assert pattern(LedView("recording", 5), "plain", True) == pattern(
        LedView("recording", 0), "plain", True
    )


def test_fades_are_monotonic_ramps():
    for kind in ("pwm", "rgb"):
        loop = pattern(LedView("ready"), kind).loop
        levels = [max(s.value) if isinstance(s.value, tuple) else s.value for s in loop]
        top = levels.index(max(levels))
        assert levels[: top + 1] == sorted(levels[: top + 1])
        assert levels[top:] == sorted(levels[top:], reverse=True)
        assert not math.isclose(levels[top], 0.0)


# ---- the docstring table ----------------------------------------------------------------

# table rows whose label is a description rather than the state's name
ALIASES = {
    "marker acknowledged": "ack",
    "stop-hold in progress": "hold",
    "stop-hold complete: let go to stop": "armed",
}


def table_labels() -> list[str]:
    rows = [line for line in (led.__doc__ or "").splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    assert cells[0] == ["state", "plain LED"]
    assert all(set(c) <= set("- ") for c in cells[1])  # the separator
    return [c[0] for c in cells[2:]]


def test_docstring_table_names_every_state():
    named = []
    for label in table_labels():
        if label in ALIASES:
            named.append(ALIASES[label])
        else:
            # "finalizing / uploading" and "warning (still recording)" name their state first
            named.append(re.split(r" / | \(", label)[0])
    assert len(named) == len(set(named)), named
    assert set(named) == {*RHYTHMS, "ack"}
