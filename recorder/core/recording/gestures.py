"""One button, decided cleanly: short press, hold, or neither.

The button adapter reports raw press, hold-tick and release times; nothing acts on a press
until it is released, so bounce and hesitation never cause a wrong action. While recording a
press of at most `short_press_max_s` is a short press, one of at least `stop_hold_s` a hold,
and anything in between is ignored (a hold let go too early). While idle every press counts as
a press. Presses shorter than `debounce_s`, and edges within `debounce_s` after a release, are
contact bounce.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Phase = Literal["up", "down", "progress", "armed"]
Gesture = Literal["press", "hold"]


@dataclass(frozen=True)
class GestureSettings:
    debounce_s: float = 0.05
    short_press_max_s: float = 0.8
    stop_hold_s: float = 2.0


@dataclass(frozen=True)
class Button:
    """The button as the controller sees it. `phase` drives the LED's hold feedback."""

    phase: Phase = "up"
    down_at: float | None = None
    press_frame: int | None = None  # session frame at the press, for a marker placed on release
    last_release: float | None = None


def pressed(b: Button, t: float, frame: int | None, s: GestureSettings) -> Button:
    if b.phase != "up":
        return b
    if b.last_release is not None and t - b.last_release < s.debounce_s:
        return b  # bounce after a release
    return replace(b, phase="down", down_at=t, press_frame=frame)


def held(b: Button, t: float, s: GestureSettings, hold_matters: bool) -> Button:
    """A tick while the button is down; `hold_matters` when a hold would do something now."""
    if b.phase == "up" or b.down_at is None or not hold_matters:
        return b
    duration = t - b.down_at
    if duration >= s.stop_hold_s:
        return replace(b, phase="armed")
    if duration > s.short_press_max_s:
        return replace(b, phase="progress")
    return b


def released(
    b: Button, t: float, s: GestureSettings, recording: bool
) -> tuple[Button, Gesture | None]:
    """The button after a release, and the gesture it completed (None: nothing to do)."""
    if b.phase == "up" or b.down_at is None:
        return b, None
    duration = t - b.down_at
    up = Button(last_release=t)
    if duration < s.debounce_s:
        return replace(up, last_release=b.last_release), None  # a glitch, not a press
    if not recording:
        return up, "press"
    if b.phase == "armed" or duration >= s.stop_hold_s:
        return up, "hold"
    if duration <= s.short_press_max_s:
        return up, "press"
    return up, None
