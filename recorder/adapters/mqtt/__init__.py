"""Status, levels, events and commands over MQTT (paho-mqtt 2), and Home Assistant discovery.

What comes in on the cmd topic is outside input, never trusted beyond what `ctl` would take; what
goes out is bounded (size, and what waits while the broker is away). One thing per module:

- `link`: `MqttLink`, the front the daemon holds (start, stop, state_changed, refresh_recent,
  event, level, connected): the paho client, its connection and callbacks, paho's network
  thread and its supervision.
- `commands`: `CommandGate`, the cmd topic: retained commands refused and cleared, the token
  bucket and the "dropped" answers, requests read as `ctl` reads them, carried out one at a time
  on the `mqtt-commands` thread and answered; `COMMANDS_PER_S`, `DROPPED`, `RETAINED`.
- `publisher`: `StatePublisher`, the retained state kept up to date by the `mqtt-state` thread
  (the link's beat too), cut to `MAX_PAYLOAD` with `recent_left_out`.
- `outlet`: `Outlet`, the one way out: the size cap, the `queue_max` while offline, events and
  levels; `MAX_PAYLOAD`.
- `client_id`: the secret client id, made once and kept in the storage dir; `CLIENT_ID_FILE`.
- `quiet`: `Quiet`, log lines held to one per kind every few seconds.
"""

from recorder.adapters.mqtt.client_id import CLIENT_ID_FILE, client_id
from recorder.adapters.mqtt.commands import COMMAND_BURST, COMMANDS_PER_S, DROPPED, RETAINED
from recorder.adapters.mqtt.link import MqttLink
from recorder.adapters.mqtt.outlet import MAX_PAYLOAD

__all__ = [
    "CLIENT_ID_FILE",
    "COMMANDS_PER_S",
    "COMMAND_BURST",
    "DROPPED",
    "MAX_PAYLOAD",
    "RETAINED",
    "MqttLink",
    "client_id",
]
