"""The wiring guide and the config defaults must agree, or a box gets wired to the wrong pins."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from recorder.config import GpioSection
from tests.support import ROOT

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


# --- the wiring diagram ------------------------------------------------------------------------

SVG = ROOT / "hardware" / "wiring.svg"
SVG_NS = "{http://www.w3.org/2000/svg}"
# Every GPIO on the 40-pin header: header pin -> BCM number (the same on every 40-pin Pi).
HEADER_GPIO = {
    3: 2, 5: 3, 7: 4, 8: 14, 10: 15, 11: 17, 12: 18, 13: 27, 15: 22, 16: 23, 18: 24, 19: 10,
    21: 9, 22: 25, 23: 11, 24: 8, 26: 7, 27: 0, 28: 1, 29: 5, 31: 6, 32: 12, 33: 13, 35: 19,
    36: 16, 37: 26, 38: 20, 40: 21,
}  # fmt: skip
HEADER_GND = {6, 9, 14, 20, 25, 30, 34, 39}


def _svg_text(root: ET.Element) -> str:
    return "\n".join("".join(el.itertext()) for el in root.iter(f"{SVG_NS}text"))


def test_wiring_svg_is_valid_xml_with_a_title_and_description():
    root = ET.parse(SVG).getroot()  # raises on anything that is not well-formed XML
    assert root.tag == f"{SVG_NS}svg"
    assert root.find(f"{SVG_NS}title").text.strip()
    assert root.find(f"{SVG_NS}desc").text.strip()
    assert root.get("viewBox")


def test_wiring_svg_draws_the_header_and_the_pin_table_with_the_same_numbers():
    root = ET.parse(SVG).getroot()
    pins = {int(el.get("data-pin")): el for el in root.iter() if el.get("data-pin")}
    assert sorted(pins) == list(range(1, 41))  # all 40, each once
    for pin, bcm in HEADER_GPIO.items():
        assert pins[pin].get("data-bcm") == str(bcm), f"pin {pin}"
    for pin in HEADER_GND:
        assert pins[pin].get("data-func") == "GND", f"pin {pin}"
    # Each row of the README's pin table is drawn and labelled with its BCM and header numbers.
    text = _svg_text(root)
    for key, (bcm, header) in _pin_table().items():
        assert pins[header].get("data-bcm") == str(bcm), key
        assert f"GPIO{bcm} · pin {header}" in text, key
    # ... and so are the grounds it names.
    readme = (ROOT / "hardware" / "README.md").read_text()
    grounds = set(re.findall(r"ground \(pin (\d+)\)", readme))
    assert grounds
    for pin in grounds:
        assert f"GND · pin {pin}" in text
        assert pins[int(pin)].get("data-func") == "GND"


def test_wiring_svg_resistor_matches_the_readme():
    readme = (ROOT / "hardware" / "README.md").read_text()
    led_row = next(ln for ln in readme.splitlines() if ln.startswith("| LED ") and "`led`" in ln)
    value = re.search(r"(\d+) Ω", led_row)[1]
    assert set(re.findall(r"(\d+) ?Ω", readme)) == {value}  # one value, used everywhere
    svg_values = re.findall(r"(\d+) ?Ω", _svg_text(ET.parse(SVG).getroot()))
    assert svg_values and set(svg_values) == {value}
