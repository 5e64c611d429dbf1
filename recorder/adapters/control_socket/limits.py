"""The control socket's limits and their defaults, and which requests never touch the storage."""

from __future__ import annotations

from dataclasses import dataclass

from recorder.core.inbound import MAX_BYTES

MAX_REQUEST = MAX_BYTES  # a label with 4000 characters of notes, in any script, fits
MAX_CONNECTIONS = 32  # requests answered at once
MAX_SLOW = 8  # of which requests that may touch the storage
MAX_OPEN = 256  # connections open at once
IDLE_TIMEOUT_S = 30.0
IDLE_GRACE_S = 2.0
BUSY_WAIT_S = 2.0
SEND_TIMEOUT_S = 10.0  # a client that does not read its (small) answer for this long is dropped
QUICK = frozenset({"status", "start", "stop", "mark", "upload", "job"})  # never touch storage


@dataclass(frozen=True)
class Limits:
    """How much the socket takes at once, so that no client or crowd of clients can hold it."""

    max_connections: int = MAX_CONNECTIONS  # answers being made at once
    max_slow: int = MAX_SLOW  # of which answers that may touch the storage
    max_open: int = MAX_OPEN  # connections open at once
    idle_timeout: float = IDLE_TIMEOUT_S  # a request line not complete by then is dropped
    idle_grace: float = IDLE_GRACE_S
    busy_wait: float = BUSY_WAIT_S  # how long a request waits for a free answer slot


DEFAULT_LIMITS = Limits()
