"""The link's log lines, held to one per kind every few seconds: a flood of bad messages on the
cmd topic must not become a flood in the journal."""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__package__)  # the link's one logger, as before it was split

LOG_EVERY_S = 10.0


class Quiet:
    """One log line per kind every `every_s`; the lines held back are counted into the next."""

    def __init__(self, every_s: float = LOG_EVERY_S) -> None:
        self.every_s = every_s
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}  # guarded by _lock
        self._held: dict[str, int] = {}  # guarded by _lock

    def log(self, level: int, kind: str, msg: str, *args: object, exc_info: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.every_s:
                self._held[kind] = self._held.get(kind, 0) + 1
                return
            self._last[kind] = now
            held = self._held.pop(kind, 0)
        if held:
            msg += " (and %d more like it in the last %g s)"
            args = (*args, held, self.every_s)
        log.log(level, msg, *args, exc_info=exc_info)

    def flush(self) -> None:
        """Say how many were held back, once their time is up."""
        now = time.monotonic()
        with self._lock:
            due = {
                k: n for k, n in self._held.items() if now - self._last.get(k, 0.0) >= self.every_s
            }
            for k in due:
                del self._held[k]
                self._last[k] = now
        for kind, n in due.items():
            log.warning("MQTT: %d more %s in the last %g s", n, kind, self.every_s)
