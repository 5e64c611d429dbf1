"""What the one LED shows: a pattern for every state, chosen from the controller's state.

The LED follows the state and never drives it. Patterns for a plain on/off LED differ in rhythm,
not brightness, so they can be told apart at a glance in a lit room; a PWM LED adds fades and an
RGB LED colours on the same rhythms.

| state | plain LED |
| --- | --- |
| starting | double blip every second |
| ready | one short blip every 3 s |
| recording | steady on |
| marker acknowledged | two dark gaps, then back to the current pattern |
| stop-hold in progress | fast flicker (10 Hz) |
| stop-hold complete: let go to stop | dark |
| finalizing / uploading | even 1 Hz blink |
| warning (still recording) | long on, short off (1.5 s / 0.5 s) |
| error (cannot record) | triple blip, pause |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LedKind = Literal["plain", "pwm", "rgb"]
Value = float | tuple[float, float, float]
Name = Literal["starting", "ready", "recording", "hold", "armed", "finalizing", "warning", "error"]


@dataclass(frozen=True)
class Step:
    value: Value
    seconds: float


@dataclass(frozen=True)
class Pattern:
    """`intro` plays once, then `loop` repeats; a loop of one step is a steady value."""

    name: str
    loop: tuple[Step, ...]
    intro: tuple[Step, ...] = ()


@dataclass(frozen=True)
class LedView:
    """The part of the controller's state the LED shows."""

    name: Name
    ack: int = 0  # bumped for each marker; a change plays the acknowledgement


def view_name(
    starting: bool,
    recording: bool,
    button_phase: str,
    warnings: bool,
    finalizing: bool,
    error: bool,
) -> Name:
    """Which pattern wins when several apply: what the coach is doing now comes first."""
    if recording and button_phase == "armed":
        return "armed"
    if recording and button_phase == "progress":
        return "hold"
    if recording:
        return "warning" if warnings else "recording"
    if starting:
        return "starting"
    if finalizing:
        return "finalizing"
    if error:
        return "error"
    if warnings:
        return "warning"
    return "ready"


OFF, RED, GREEN, BLUE, AMBER, WHITE = (
    (0.0, 0.0, 0.0),
    (1.0, 0.0, 0.0),
    (0.0, 1.0, 0.0),
    (0.0, 0.0, 1.0),
    (1.0, 0.45, 0.0),
    (1.0, 1.0, 1.0),
)

# Rhythms as (on?, seconds); every LED kind uses these, so the rhythm always tells the state.
RHYTHMS: dict[str, tuple[tuple[bool, float], ...]] = {
    "starting": ((True, 0.1), (False, 0.1), (True, 0.1), (False, 0.7)),
    "ready": ((True, 0.1), (False, 2.9)),
    "recording": ((True, 1.0),),
    "hold": ((True, 0.05), (False, 0.05)),
    "armed": ((False, 1.0),),
    "finalizing": ((True, 0.5), (False, 0.5)),
    "warning": ((True, 1.5), (False, 0.5)),
    "error": ((True, 0.1), (False, 0.1)) * 3 + ((False, 1.0),),
}
ACK = ((False, 0.25), (True, 0.25), (False, 0.25))
COLOURS: dict[str, tuple[float, float, float]] = {
    "starting": WHITE,
    "ready": GREEN,
    "recording": RED,
    "hold": RED,
    "armed": OFF,
    "finalizing": BLUE,
    "warning": AMBER,
    "error": RED,
}


def _steps(rhythm, kind: LedKind, colour) -> tuple[Step, ...]:
    on: Value = colour if kind == "rgb" else 1.0
    off: Value = OFF if kind == "rgb" else 0.0
    return tuple(Step(on if lit else off, secs) for lit, secs in rhythm)


def _fade(a: float, b: float, seconds: float, kind: LedKind, colour, n: int = 10):
    """A ramp from brightness a to b in n steps (PWM and RGB LEDs only)."""
    steps = []
    for i in range(n):
        level = a + (b - a) * (i + 1) / n
        value: Value = tuple(c * level for c in colour) if kind == "rgb" else level
        steps.append(Step(value, seconds / n))
    return tuple(steps)


def pattern(view: LedView, kind: LedKind = "plain", acknowledge: bool = False) -> Pattern:
    """The pattern for a view; `acknowledge` prefixes the marker acknowledgement."""
    colour = COLOURS[view.name]
    loop = _steps(RHYTHMS[view.name], kind, colour)
    if kind != "plain" and view.name == "ready":
        # A slow breath instead of a blip: same 3 s rhythm, easier on the eye.
        loop = _fade(0.0, 0.4, 0.6, kind, colour) + _fade(0.4, 0.0, 0.6, kind, colour)
        loop = (*loop, Step(OFF if kind == "rgb" else 0.0, 1.8))
    if kind != "plain" and view.name == "warning":
        loop = _fade(0.3, 1.0, 1.0, kind, colour) + _fade(1.0, 0.3, 1.0, kind, colour)
    intro = _steps(ACK, kind, WHITE if kind == "rgb" else colour) if acknowledge else ()
    return Pattern(view.name, loop, intro)
