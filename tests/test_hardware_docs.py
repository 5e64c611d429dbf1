"""The wiring guide and the config defaults must agree, or a box gets wired to the wrong pins."""

from __future__ import annotations

import re
from pathlib import Path

from recorder.config import GpioSection

ROOT = Path(__file__).resolve().parent.parent
# BCM -> physical header pin on every 40-pin Raspberry Pi
HEADER = {17: 11, 27: 13, 22: 15, 23: 16, 24: 18}


def _pin_table() -> dict[str, tuple[int, int]]:
    text = (ROOT / "hardware" / "README.md").read_text()
    rows = re.findall(r"^\| [^|]+ \| `([^`]+)` \| (\d+) \| (\d+) \|", text, re.MULTILINE)
    return {key: (int(bcm), int(header)) for key, bcm, header in rows}


def test_pin_table_matches_the_config_defaults():
    g = GpioSection()
    table = _pin_table()
    expected = {
        "button": g.button,
        "led": g.led,
        "led_rgb[0]": g.led_rgb[0],
        "led_rgb[1]": g.led_rgb[1],
        "led_rgb[2]": g.led_rgb[2],
    }
    assert {k: bcm for k, (bcm, _) in table.items()} == expected
    for bcm, header in table.values():
        assert HEADER[bcm] == header


def test_gesture_timings_in_the_guide_match_the_defaults():
    g = GpioSection()
    text = (ROOT / "hardware" / "README.md").read_text()
    assert f"up to {g.short_press_max_s} s" in text
    assert f"hold {g.stop_hold_s:g} s" in text
