"""Threads that serve the coach are restarted when their loop dies, and the failure is shown.

Each such loop catches what one request or one job can raise and answers it; this is the net
under that: anything that still escapes (a `SystemExit` from a library, a bug in the loop
itself) restarts the loop in the same thread after a short pause, and `restarted(name, why)`
is told, so the daemon logs it once and shows a warning in its state instead of going deaf.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from recorder.core.inbound import ECHO_CHARS

log = logging.getLogger(__name__)

PAUSE_S = 0.1  # the first pause before a restart; doubled at each failure in a row
PAUSE_MAX_S = 5.0

Restarted = Callable[[str, str], None]


def logged(name: str, why: str) -> None:
    """The default `restarted`: one line in the log."""
    log.error("the %s thread failed (%s) and was restarted", name, why)


def keep_running(
    name: str, loop: Callable[[], None], stopping: threading.Event, restarted: Restarted
) -> None:
    """Run `loop` until it returns or `stopping` is set; when it raises, restart it."""
    failures = 0
    while not stopping.is_set():
        try:
            loop()
            return
        except BaseException as exc:  # the point: nothing may end this thread
            if stopping.is_set():
                return
            failures += 1
            why = f"{type(exc).__name__}: {exc}"[:ECHO_CHARS]
            log.debug("the %s thread failed", name, exc_info=exc)
            try:
                restarted(name, why)
            except Exception:
                log.exception("telling that the %s thread was restarted failed", name)
            stopping.wait(min(PAUSE_MAX_S, PAUSE_S * 2 ** min(failures - 1, 6)))
