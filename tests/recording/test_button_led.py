"""The button and the LED through gpiozero's mock pins, with the real recorder and real ALSA."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from recorder.adapters.gpio import LedPlayer, make_led
from recorder.app.daemon import Parts
from recorder.app.virtualmic import Feeder, random_periods
from recorder.core.formats import FORMATS
from recorder.core.recording.led import LedView
from recorder.core.recording.state import Start, Stop
from tests.support import Running, make_config, sox_raw, wait_until

S16 = FORMATS["S16_LE"]
FB = S16.frame_bytes(2)
BUTTON, LED = 17, 27


def _press(pin, seconds: float) -> None:
    pin.drive_low()
    time.sleep(seconds)
    pin.drive_high()


def _gpio_cfg(tmp_path, **gpio):
    return make_config(tmp_path, gpio={"enabled": True, **gpio})


def _chapters(path) -> list[tuple[int, str]]:
    """Cue points as ffprobe (an independent reader) sees them: (sample, title)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_chapters", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        (int(c["start"]), c.get("tags", {}).get("title", "")) for c in json.loads(out)["chapters"]
    ]


def test_a_whole_session_driven_by_the_button_alone(tmp_path, mic, factory):
    # Random test audio clips all the time: without this the clipping warning may take the LED
    # as soon as the pre-roll is metered, and this test watches the recording pattern.
    cfg = make_config(tmp_path, gpio={"enabled": True}, warnings={"clip_repeat": 1_000_000})
    feeder = Feeder(mic.infile, random_periods(S16, 2, 4800, None, seed=11), 0.02, record=True)
    with Running(cfg, feeder, Parts(pin_factory=factory)) as r:
        button, led = factory.pin(BUTTON), factory.pin(LED)
        status = r.rec.controller.status
        wait_until(lambda: status()["led"] == "ready", what="ready")
        r.wait_frames(48000)
        _press(button, 0.15)
        wait_until(lambda: status()["state"] == "recording", what="started by the button")
        assert status()["led"] == "recording"
        wait_until(lambda: led.state == 1, what="LED steady on")
        r.wait_session_frames(96000)

        marks = []
        for _ in range(2):
            before = r.rec.tap.session_frames
            button.drive_low()
            after = r.rec.tap.session_frames
            time.sleep(0.15)
            led.clear_states()
            button.drive_high()
            marks.append((before, after))
            # the acknowledgement: the steady LED goes dark twice, then steady again
            wait_until(lambda: len(led.states) >= 5, what="marker acknowledged")
            led.assert_states([1, 0, 1, 0, 1])
            r.wait_session_frames(r.rec.tap.session_frames + 24000)

        button.drive_low()
        wait_until(lambda: status()["button"] == "progress", what="hold in progress")
        assert status()["led"] == "hold" and status()["state"] == "recording"
        wait_until(lambda: status()["button"] == "armed", what="hold complete")
        assert status()["led"] == "armed"
        wait_until(lambda: led.state == 0, what="LED dark: let go to stop")
        time.sleep(0.3)
        assert status()["state"] == "recording"  # nothing stops until the button is let go
        sid = status()["session_id"]
        button.drive_high()
        session = r.wait_outbox(sid)
        wait_until(lambda: status()["led"] == "ready", what="ready again")

    m = session.manifest
    assert m.start_source == "button" and m.stop_reason == "requested"
    assert [k.source for k in m.markers] == ["button", "button"]
    for marker, (before, after) in zip(m.markers, marks, strict=True):
        assert before <= marker.frame <= after + 4800  # within one capture period of the press
    # the label track
    lines = (session.path / "labels.txt").read_text().splitlines()
    assert lines == [
        f"{k.frame / 48000:.6f}\t{k.frame / 48000:.6f}\tmarker {i}"
        for i, k in enumerate(m.markers, 1)
    ]
    # the cue chunks, read back by ffprobe, at the right sample of the right segment
    found = []
    for seg in m.segments:
        found += [
            (seg.first_frame + pos, title) for pos, title in _chapters(session.path / seg.file)
        ]
    assert found == [(k.frame, f"marker {i}") for i, k in enumerate(m.markers, 1)]
    # and the audio is still exactly what was fed, read by sox
    audio = sox_raw([str(session.path / s.file) for s in m.segments])
    assert audio == bytes(feeder.recorded[m.start_pos * FB : (m.start_pos + m.frames) * FB])


def test_bounce_glitches_and_early_releases_never_do_the_wrong_thing(tmp_path, mic, factory):
    cfg = _gpio_cfg(tmp_path)
    feeder = Feeder(mic.infile, random_periods(S16, 2, 4800, None), 0.05)
    with Running(cfg, feeder, Parts(pin_factory=factory)) as r:
        button = factory.pin(BUTTON)
        status = r.rec.controller.status
        r.wait_frames(48000)
        button.drive_low()
        button.drive_high()  # a glitch far shorter than the debounce: nothing
        time.sleep(0.3)
        assert status()["state"] == "idle"
        started = r.request(Start())
        assert started["ok"]

        button.drive_low()
        button.drive_high()  # glitch while recording: no marker
        _press(button, 0.3)  # one real short press ...
        button.drive_low()  # ... with contact bounce on release
        button.drive_high()
        button.drive_low()
        button.drive_high()
        time.sleep(0.3)
        _press(button, 1.3)  # a hold let go too early: neither marker nor stop
        time.sleep(0.3)
        # random test audio clips, so the LED may show the clipping warning: never the hold
        assert status()["state"] == "recording" and status()["led"] in ("recording", "warning")
        assert status()["button"] == "up"
        for _ in range(5):
            _press(button, 0.1)  # quick taps never stop a recording
            time.sleep(0.1)
        time.sleep(0.3)
        assert status()["state"] == "recording"
        r.request(Stop())
        session = r.wait_outbox(started["session_id"])
    assert len(session.manifest.markers) == 1 + 5


def test_without_gpio_the_recorder_still_records(tmp_path, mic, caplog, recwarn):
    cfg = _gpio_cfg(tmp_path)
    feeder = Feeder(mic.infile, random_periods(S16, 2, 4800, None), 0.05)
    with Running(cfg, feeder) as r:  # no pin factory: gpiozero finds no GPIO here
        status = r.rec.controller.status()
        assert status["gpio"].startswith("unavailable (")
        # One line says it all: gpiozero's warning per pin factory tried is folded into it.
        assert "(tried lgpio: " in status["gpio"]
        assert not [w for w in recwarn if "PinFactoryFallback" in w.category.__name__]
        r.wait_frames(24000)
        started = r.request(Start())
        assert started["ok"]
        r.wait_session_frames(24000)
        r.request(Stop())
        r.wait_outbox(started["session_id"])
    assert any("no GPIO" in rec.message and "ctl" in rec.message for rec in caplog.records)


# ---- LED timelines --------------------------------------------------------------------------

PLAIN = {
    # the documented rhythms (recorder/core/recording/led.py), as (seconds since the last change, level)
    "starting": [(0, 1), (0.1, 0), (0.1, 1), (0.1, 0), (0.7, 1), (0.1, 0), (0.1, 1)],
    "ready": [(0, 1), (0.1, 0), (2.9, 1), (0.1, 0)],
    "recording": [(0, 1)],
    "hold": [(0, 1), (0.05, 0), (0.05, 1), (0.05, 0), (0.05, 1), (0.05, 0)],
    "finalizing": [(0, 1), (0.5, 0), (0.5, 1), (0.5, 0), (0.5, 1)],
    "warning": [(0, 1), (1.5, 0), (0.5, 1), (1.5, 0)],
    "error": [(0, 1), (0.1, 0), (0.1, 1), (0.1, 0), (0.1, 1), (0.1, 0), (1.1, 1), (0.1, 0)],
}


def test_every_plain_led_pattern_has_its_documented_timeline(factory):
    players, pins = {}, {}
    for i, name in enumerate(PLAIN):
        pins[name] = factory.pin(5 + i)
        players[name] = LedPlayer(make_led("plain", 5 + i, (0, 0, 0), True, factory), "plain")
        players[name].start()
    for name, player in players.items():
        pins[name].clear_states()
        player.show(LedView(name))
    time.sleep(3.7)
    for name, expected in PLAIN.items():
        states = [(round(s.timestamp, 3), s.state) for s in pins[name].states[1:]]
        assert len(states) >= len(expected), (name, states)
        if name == "recording":
            assert len(states) == 1, states  # steady: no change after switching on
        pins[name].states = pins[name].states[1:]
        pins[name].assert_states_and_times(expected)
    for player in players.values():
        player.stop()


def test_armed_is_dark_and_a_marker_acknowledgement_returns_to_steady(factory):
    pin = factory.pin(6)
    player = LedPlayer(make_led("plain", 6, (0, 0, 0), True, factory), "plain")
    player.start()
    player.show(LedView("recording"))
    wait_until(lambda: pin.state == 1, what="on")
    pin.clear_states()
    player.show(LedView("recording", ack=1))
    time.sleep(1.0)
    pin.assert_states_and_times([(0, 1), (0, 0), (0.25, 1), (0.25, 0), (0.25, 1)])
    assert len(pin.states) == 5
    pin.clear_states()
    player.show(LedView("armed", ack=1))
    time.sleep(0.3)
    pin.assert_states_and_times([(0, 1), (0, 0)])
    assert len(pin.states) == 2
    player.stop()


def test_pwm_and_rgb_leds_fade_and_colour(factory):
    pwm_pin = factory.pin(12)
    pwm = LedPlayer(make_led("pwm", 12, (0, 0, 0), True, factory), "pwm")
    rgb_pins = [factory.pin(p) for p in (22, 23, 24)]
    rgb = LedPlayer(make_led("rgb", 0, (22, 23, 24), True, factory), "rgb")
    pwm.start()
    rgb.start()
    pwm.show(LedView("ready"))
    rgb.show(LedView("recording"))
    time.sleep(1.0)
    levels = {round(s.state, 2) for s in pwm_pin.states}
    assert len(levels) > 5 and max(levels) == pytest.approx(0.4)  # a fade, not a blink
    assert [p.state for p in rgb_pins] == [1, 0, 0]  # recording is red
    rgb.show(LedView("warning"))
    time.sleep(0.5)
    red, green, blue = (p.state for p in rgb_pins)
    assert red > 0 and green > 0 and blue == 0 and green < red  # amber
    pwm.stop()
    rgb.stop()
