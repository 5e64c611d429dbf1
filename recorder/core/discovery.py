"""Home Assistant MQTT discovery: the box appears as a device with sensors and buttons.

One retained config message per entity under `<ha_prefix>/<component>/<node>/<key>/config`,
each with a unique id, the device, availability and origin. Disabling discovery publishes empty
retained payloads to the same topics, which is how Home Assistant removes entities.
"""

from __future__ import annotations

import json

# key -> (component, name, extra config); values are read from the retained state topic
ENTITIES: dict[str, tuple[str, str, dict]] = {
    "state": (
        "sensor",
        "State",
        {"value_template": "{{ value_json.state }}", "icon": "mdi:microphone"},
    ),
    "elapsed": (
        "sensor",
        "Elapsed",
        {
            "value_template": "{{ value_json.elapsed_s }}",
            "unit_of_measurement": "s",
            "device_class": "duration",
        },
    ),
    "level": (
        "sensor",
        "Level",
        {
            "value_template": (
                "{{ (value_json.levels.peak_dbfs | max) if value_json.levels else -120 }}"
            ),
            "unit_of_measurement": "dBFS",
            "icon": "mdi:waveform",
        },
    ),
    "disk_free": (
        "sensor",
        "Disk free",
        {
            "value_template": "{{ value_json.disk_free_mb }}",
            "unit_of_measurement": "MB",
            "device_class": "data_size",
        },
    ),
    "hours_left": (
        "sensor",
        "Recording time left",
        {"value_template": "{{ value_json.hours_left }}", "unit_of_measurement": "h"},
    ),
    "upload_queue": (
        "sensor",
        "Upload queue",
        {
            "value_template": "{{ value_json.upload.queue if value_json.upload else 0 }}",
            "icon": "mdi:cloud-upload",
        },
    ),
    "recording": (
        "binary_sensor",
        "Recording",
        {
            "value_template": "{{ 'ON' if value_json.state == 'recording' else 'OFF' }}",
            "payload_on": "ON",
            "payload_off": "OFF",
            "device_class": "running",
        },
    ),
    "start": ("button", "Start", {"payload_press": "start", "icon": "mdi:record"}),
    "marker": ("button", "Marker", {"payload_press": "mark", "icon": "mdi:bookmark"}),
    "stop": ("button", "Stop", {"payload_press": "stop", "icon": "mdi:stop"}),
}


def node_id(device_id: str) -> str:
    return f"session_recorder_{device_id.replace('-', '_')}"


def discovery_messages(
    ha_prefix: str, prefix: str, device_id: str, version: str, enabled: bool = True
) -> list[tuple[str, str]]:
    """(topic, retained payload) for every entity; empty payloads remove them."""
    node = node_id(device_id)
    base = f"{prefix}/{device_id}"
    device = {
        "identifiers": [node],
        "name": f"Session Recorder {device_id}",
        "manufacturer": "Session Recorder",
        "model": "Session Recorder",
        "sw_version": version,
    }
    out = []
    for key, (component, name, extra) in ENTITIES.items():
        topic = f"{ha_prefix}/{component}/{node}/{key}/config"
        if not enabled:
            out.append((topic, ""))
            continue
        config = {
            "name": name,
            "unique_id": f"{node}_{key}",
            "object_id": f"{node}_{key}",
            "device": device,
            "origin": {"name": "session-recorder", "sw_version": version},
            "availability_topic": f"{base}/availability",
            "payload_available": "online",
            "payload_not_available": "offline",
            **extra,
        }
        if component == "button":
            config["command_topic"] = f"{base}/cmd"
        else:
            config["state_topic"] = f"{base}/state"
        out.append((topic, json.dumps(config)))
    return out
