"""The local control socket behind `session-recorder ctl`: one JSON request, one JSON answer.

Nothing a client does may cost the recorder more than a bounded share of itself, and no client
that has sent its request is ever turned away without its answer or a plain "busy":

- `ControlServer` (`server`): the socket (mode 0660), its supervised serving thread, and each
  request's answer (every line read by `recorder.core.requests.read_request` first);
- `Connections` (`connections`): reads every connection until its request line is complete, on
  the serving thread; at most `max_open` open at once, closed after `idle_timeout` without a
  full line, or after `idle_grace` without a byte when others need room;
- `AnswerSlots` (`slots`): a short-lived thread per answer, at most `max_connections` at once,
  of which at most `max_slow` for requests that may touch the storage (anything but status,
  start, stop, mark, upload and job); a request finding no slot for `busy_wait` is told the
  recorder is busy, and those refusals are logged in one line a minute at most;
- `Limits` (`limits`): those numbers and their defaults;
- `send`, `wait_for_job` (`client`): the command line's end;
- `wire`: one JSON line each way, `ControlSocketError`.
"""

from recorder.adapters.control_socket.client import send, wait_for_job
from recorder.adapters.control_socket.limits import (
    BUSY_WAIT_S,
    IDLE_GRACE_S,
    IDLE_TIMEOUT_S,
    MAX_CONNECTIONS,
    MAX_OPEN,
    MAX_REQUEST,
    MAX_SLOW,
    QUICK,
    SEND_TIMEOUT_S,
    Limits,
)
from recorder.adapters.control_socket.server import ControlServer
from recorder.adapters.control_socket.wire import ControlSocketError

__all__ = [
    "BUSY_WAIT_S",
    "IDLE_GRACE_S",
    "IDLE_TIMEOUT_S",
    "MAX_CONNECTIONS",
    "MAX_OPEN",
    "MAX_REQUEST",
    "MAX_SLOW",
    "QUICK",
    "SEND_TIMEOUT_S",
    "ControlServer",
    "ControlSocketError",
    "Limits",
    "send",
    "wait_for_job",
]
