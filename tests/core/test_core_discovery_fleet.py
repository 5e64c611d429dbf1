"""Home Assistant discovery payloads and the fleet table, without a broker."""

from __future__ import annotations

import json

from recorder.core.discovery import ENTITIES, discovery_messages
from recorder.core.fleet import format_fleet

REQUIRED = {"name", "unique_id", "device", "origin", "availability_topic"}


def test_every_entity_is_well_formed_and_unique():
    msgs = discovery_messages("homeassistant", "session-recorder", "room-4", "1.2.3")
    assert len(msgs) == len(ENTITIES)
    ids = set()
    for topic, payload in msgs:
        config = json.loads(payload)
        component = topic.split("/")[1]
        assert topic.startswith(f"homeassistant/{component}/session_recorder_room_4/")
        assert topic.endswith("/config")
        assert set(config) >= REQUIRED, topic
        assert config["availability_topic"] == "session-recorder/room-4/availability"
        assert config["device"]["identifiers"] == ["session_recorder_room_4"]
        assert config["device"]["sw_version"] == "1.2.3"
        assert config["origin"]["name"] == "session-recorder"
        if component == "button":
            assert config["command_topic"] == "session-recorder/room-4/cmd"
            assert config["payload_press"] in ("start", "stop", "mark")
        else:
            assert config["state_topic"] == "session-recorder/room-4/state"
            assert "value_json" in config["value_template"]
        ids.add(config["unique_id"])
    assert len(ids) == len(msgs)
    components = {t.split("/")[1] for t, _ in msgs}
    assert components == {"sensor", "binary_sensor", "button"}


def test_disabling_discovery_clears_every_entity():
    on = discovery_messages("ha", "p", "b", "1")
    off = discovery_messages("ha", "p", "b", "1", enabled=False)
    assert [t for t, _ in off] == [t for t, _ in on]
    assert all(payload == "" for _, payload in off)


def test_fleet_table():
    boxes = {
        "room-2": {"availability": "offline", "state": {"state": "recording"}},
        "room-1": {
            "availability": "online",
            "state": {
                "state": "recording",
                "elapsed_s": 754.2,
                "upload": {"queue": 2},
                "warnings": [{"kind": "silence", "message": "no sound"}],
            },
        },
    }
    lines = format_fleet(boxes, "session-recorder").splitlines()
    assert lines[1].split()[:5] == ["room-1", "yes", "recording", "12:34", "2"]
    assert lines[1].endswith("no sound")
    assert lines[2].split()[:3] == ["room-2", "no", "offline"]
    assert "no boxes" in format_fleet({}, "p")
