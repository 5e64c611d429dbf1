"""The controller: the only place where the recorder's state changes, and the parts it drives.

- `Controller` (`thread`): the `controller` thread. Drains the inbox (ctl and MQTT requests with
  a reply slot, capture, writer and outbox reports), runs the pure `transition` and carries out
  its commands (start, stop, marker, warning, log); tells listeners the new state and notifiers
  what happened.
- `Status`, `Readouts` (`status`): the status snapshot any thread may ask for, and what it reads
  of the other parts (capture counters, the block queue, the outbox, the button and LED).
- `DiskCheck` (`disk`): the free space, read every `TICK_S` on the controller thread and turned
  into events (disk low, full, room again); its last figure is what the status shows.
"""

from recorder.recording.controller.disk import DiskCheck
from recorder.recording.controller.status import Readouts, Status
from recorder.recording.controller.thread import START_ACK_S, TICK_S, Controller, settings_from

__all__ = [
    "START_ACK_S",
    "TICK_S",
    "Controller",
    "DiskCheck",
    "Readouts",
    "Status",
    "settings_from",
]
