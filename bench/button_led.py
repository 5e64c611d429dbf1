"""Button-to-LED and button-to-state latency while recording, beside a bare gpiozero baseline.

The recorder's path: gpiozero callback -> event queue -> controller thread (pure transition)
-> LED thread -> pin. The baseline is gpiozero alone: a Button whose release callback switches
an LED directly, measured the same way on the same mock pin factory. Reported as p50/p99 and
the ratio; nothing here asserts a time.

    .venv/bin/python bench/button_led.py [--quick]
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from gpiozero import LED, Button
from gpiozero.pins.mock import MockFactory, MockPWMPin

from bench.common import Options, Section, median, percentile, standalone, table, verdict
from recorder.app.daemon import Parts, Recorder
from recorder.app.virtualmic import Feeder, VirtualMic, demo_periods
from recorder.config import parse_config
from recorder.core.recording.state import Start, Stop


def _wait(predicate, timeout: float = 5.0) -> float:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("no change")
        time.sleep(0.0002)
    return time.monotonic()


def measure_recorder(presses: int, root: Path) -> tuple[list[float], list[float]]:
    mic = VirtualMic(root / "alsa", name="benchmic").install()
    os.environ["HOME"] = str(mic.home)  # before the first ALSA call in this process
    cfg = parse_config(
        {
            "audio": {"device": mic.name, "preroll_s": 1.0},
            "storage": {"dir": str(root / "sessions"), "min_free_mb": 1},
            "gpio": {"enabled": True},
            "warnings": {"disk_minutes": 0},
            "control": {"socket": str(root / "control.sock")},
        },
        root / "config.toml",
    )
    factory = MockFactory(pin_class=MockPWMPin)
    feeder = Feeder(mic.infile, demo_periods("S16_LE", 48000, 2, 4800), 0.1)
    feeder.start()
    rec = Recorder(cfg, Parts(pin_factory=factory))
    rec.start()
    button, led = factory.pin(cfg.gpio.button), factory.pin(cfg.gpio.led)
    to_led, to_state = [], []
    try:
        _wait(lambda: rec.controller.status()["device"] == "ok", 20)
        assert rec.controller.request(Start())["ok"]
        _wait(lambda: led.state == 1)
        for _ in range(presses):
            ack = rec.controller.state.ack
            button.drive_low()
            time.sleep(0.1)
            t0 = time.monotonic()
            button.drive_high()  # a short press: a marker, and the LED acknowledges it
            t_state = _wait(lambda a=ack: rec.controller.state.ack > a)
            t_led = _wait(lambda: led.state == 0)
            to_state.append(t_state - t0)
            to_led.append(t_led - t0)
            _wait(lambda: led.state == 1)
            time.sleep(0.8)  # let the acknowledgement finish
        rec.controller.request(Stop())
    finally:
        rec.shutdown()
        feeder.stop()
        factory.reset()
    return to_led, to_state


def measure_baseline(presses: int) -> list[float]:
    factory = MockFactory(pin_class=MockPWMPin)
    button = Button(5, pin_factory=factory)
    led = LED(6, pin_factory=factory)
    button.when_released = led.toggle
    pin, led_pin = factory.pin(5), factory.pin(6)
    out = []
    for _ in range(presses):
        before = led_pin.state
        pin.drive_low()
        time.sleep(0.01)
        t0 = time.monotonic()
        pin.drive_high()
        out.append(_wait(lambda b=before: led_pin.state != b) - t0)
    factory.reset()
    return out


def run(opts: Options) -> Section:
    presses = 8 if opts.quick else 200
    to_led, to_state = measure_recorder(presses, opts.workdir)
    base = measure_baseline(presses)
    ms = 1000
    rows = [
        ("button → state (recorder)", to_state),
        ("button → LED (recorder)", to_led),
        ("button → LED (bare gpiozero)", base),
    ]
    p99 = percentile(to_led, 99)
    return Section(
        key="button_led",
        title="Button to LED (`bench/button_led.py`)",
        text=f"""
A short press on gpiozero's mock pin while recording (real ALSA capture from the virtual
microphone running at real time), {presses} times: the release becomes a marker, and the LED
acknowledges it (the steady LED goes dark). Measured from the release to the controller's state
change and to the LED pin changing, against the floor of gpiozero alone (a Button whose release
callback switches an LED directly, on the same mock pin factory). The recorder's path is
gpiozero callback → event queue → controller thread (pure transition) → LED thread → pin.
""",
        tables=[
            table(
                ["path", "p50 ms", "p99 ms", "max ms"],
                [
                    [
                        name,
                        f"{median(v) * ms:.2f}",
                        f"{percentile(v, 99) * ms:.2f}",
                        f"{max(v) * ms:.2f}",
                    ]
                    for name, v in rows
                ],
            )
        ],
        findings=[
            f"button → LED p99 {p99 * ms:.2f} ms against the 50 ms target: "
            f"{verdict(p99 < 0.050)}; the recorder's path is "
            f"{median(to_led) / median(base):.1f}× the bare gpiozero callback at the median",
        ],
        data={"presses": presses, "to_led_s": to_led, "to_state_s": to_state, "bare_s": base},
    )


if __name__ == "__main__":
    standalone(run)
