"""How much the box takes in and sends out over MQTT, decided without a clock or a socket.

- `TokenBucket`: the commands acted on (and the bad ones answered one by one) are at most
  `burst` at once and `rate` a second on average; the caller passes the time in.
- `fit_state`: the retained state message kept under the size the broker accepts, by leaving
  the oldest of the recent sessions out first, and saying how many were left out.
"""

from __future__ import annotations

import json

# The fields a state too large even without its recent sessions still carries (a fault: the
# other fields are short; this keeps the box's status on the phone rather than nothing).
ESSENTIAL = ("state", "device_id", "session_id", "elapsed_s", "version", "ts")


class TokenBucket:
    """A token bucket: full at first, one token per `take`, refilled at `rate` a second."""

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._last: float | None = None

    def take(self, now: float) -> bool:
        """True when one more may pass at time `now` (seconds, monotonic), and count it."""
        if self._last is not None and now > self._last:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        if self._last is None or now > self._last:
            self._last = now
        if self._tokens >= 1.0 - 1e-9:  # sums of float intervals fall a hair short
            self._tokens = max(0.0, self._tokens - 1.0)
            return True
        return False


def fit_state(base: dict, recent: list[dict], limit: int) -> tuple[bytes, int]:
    """The state message as JSON of at most `limit` bytes, and how many sessions were left out.

    `recent` is oldest first (as the phone lists it newest first, the newest are kept). When
    sessions are left out the message says so in `recent_left_out`. A state too large even with
    no recent session keeps only the `ESSENTIAL` fields and says why in `last_error`.
    """
    keep = list(recent)
    left_out = 0
    while True:
        payload = {**base, "recent": keep}
        if left_out:
            payload["recent_left_out"] = left_out
        data = json.dumps(payload).encode("utf-8")
        if len(data) <= limit:
            return data, left_out
        if not keep:
            break
        # drop as many of the oldest as the excess needs at once, then check again
        excess, dropped = len(data) - limit, 0
        while keep and excess > 0:
            excess -= len(json.dumps(keep.pop(0))) + 2
            dropped += 1
        left_out += dropped
    small = {k: base.get(k) for k in ESSENTIAL}
    small["recent"] = []
    small["recent_left_out"] = len(recent)
    small["last_error"] = f"the state is larger than the {limit} bytes one message may carry"
    return json.dumps(small).encode("utf-8"), len(recent)
