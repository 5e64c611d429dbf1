"""The button and the LED through gpiozero.

The button only reports what happened and when (press, a hold tick every 0.1 s, release); the
core decides what it meant. The LED plays the pattern for the controller's state on a thread of
its own, like gpiozero's own blink thread, and switches to a new pattern the moment it is told.
The pin factory is gpiozero's choice (lgpio on a Pi 5) or $GPIOZERO_PIN_FACTORY; tests pass a
MockFactory.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterator

from recorder.core.recording.led import LedKind, LedView, Pattern, pattern
from recorder.core.recording.state import ButtonHeld, ButtonPressed, ButtonReleased, Event

log = logging.getLogger(__name__)

HOLD_TICK_S = 0.1


class ButtonInput:
    """A momentary switch to ground on `pin`, with the internal pull-up."""

    def __init__(
        self,
        pin: int,
        bounce_s: float,
        emit: Callable[[Event], None],
        frame_now: Callable[[], int | None],
        pin_factory=None,
    ) -> None:
        # gpiozero is imported here and below: 29 modules (0.9 MB) a box with [gpio] off never uses
        from gpiozero import Button

        self.emit = emit
        self.frame_now = frame_now
        self.device = Button(
            pin,
            pull_up=True,
            bounce_time=bounce_s or None,
            hold_time=HOLD_TICK_S,
            hold_repeat=True,
            pin_factory=pin_factory,
        )
        self.device.when_pressed = self._pressed
        self.device.when_held = self._held
        self.device.when_released = self._released

    def _pressed(self) -> None:
        self.emit(ButtonPressed(time.monotonic(), self.frame_now()))

    def _held(self) -> None:
        self.emit(ButtonHeld(time.monotonic()))

    def _released(self) -> None:
        self.emit(ButtonReleased(time.monotonic()))

    def close(self) -> None:
        self.device.close()


class LedPlayer(threading.Thread):
    """Plays `core.led` patterns on a gpiozero LED, PWMLED or RGBLED."""

    def __init__(self, device, kind: LedKind) -> None:
        super().__init__(name="led", daemon=True)
        self.device = device
        self.kind = kind
        self._cond = threading.Condition()
        self._pattern: Pattern | None = None  # guarded by _cond
        self._generation = 0  # guarded by _cond: bumped on every new pattern
        self._view: LedView | None = None  # guarded by _cond
        self._stopping = False  # guarded by _cond

    def show(self, view: LedView) -> None:
        """Follow the controller: a new state restarts the pattern, a new marker adds the ack."""
        with self._cond:
            old = self._view
            if old == view:
                return
            self._view = view
            ack = old is not None and view.ack != old.ack
            if old is not None and old.name == view.name and not ack:
                return
            self._pattern = pattern(view, self.kind, acknowledge=ack)
            self._generation += 1
            self._cond.notify()

    @property
    def current(self) -> Pattern | None:
        with self._cond:
            return self._pattern

    def run(self) -> None:
        generation = -1
        steps: list = []
        index = 0
        while True:
            with self._cond:
                if self._stopping:
                    break
                if self._generation != generation:
                    generation = self._generation
                    p = self._pattern
                    steps = [] if p is None else [*p.intro, *p.loop]
                    loop_start = 0 if p is None else len(p.intro)
                    index = 0
                if not steps:
                    self._cond.wait()
                    continue
                step = steps[index]
            self.device.value = step.value
            steady = index >= loop_start and len(steps) - loop_start == 1
            index = index + 1 if index + 1 < len(steps) else loop_start
            with self._cond:
                self._cond.wait_for(
                    lambda g=generation: self._generation != g or self._stopping,
                    timeout=None if steady else step.seconds,
                )

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self.join(2)
        self.device.off()
        self.device.close()


def make_led(kind: LedKind, pin: int, rgb: tuple[int, int, int], active_high: bool, pin_factory):
    from gpiozero import LED, PWMLED, RGBLED

    if kind == "rgb":
        return RGBLED(*rgb, active_high=active_high, pin_factory=pin_factory)
    if kind == "pwm":
        return PWMLED(pin, active_high=active_high, pin_factory=pin_factory)
    return LED(pin, active_high=active_high, pin_factory=pin_factory)


def gpio_unavailable_reason(exc: BaseException, tried: list[str] | None = None) -> str:
    name = type(exc).__name__
    reason = f"{name}: {exc}" if str(exc) else name
    return reason + (f" (tried {'; '.join(tried)})" if tried else "")


@contextlib.contextmanager
def pin_factory_fallbacks() -> Iterator[list[str]]:
    """gpiozero warns once for each pin factory it cannot load (four on a laptop); the caller
    says it in one line, so these are collected (as "lgpio: why", ...) instead of printed."""
    from gpiozero.exc import PinFactoryFallback

    tried: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield tried
    for w in caught:
        if issubclass(w.category, PinFactoryFallback):
            tried.append(str(w.message).removeprefix("Falling back from "))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
