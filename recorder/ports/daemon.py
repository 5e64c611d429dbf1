"""The running daemon, as the web server asks it: one JSON request, one JSON answer.

The web server never writes a session itself: every change is a command to the daemon, which
owns the session folders. The control socket is the real end (wired in recorder/app/).
"""

from __future__ import annotations

from typing import Protocol


class DaemonUnreachable(Exception):
    """No daemon answered (none running, its socket missing, or no answer in time)."""


class DaemonLink(Protocol):
    def request(self, payload: dict, timeout: float) -> dict:
        """Send `payload` (a control socket request) and return the daemon's answer.

        Blocking: an async caller runs it in a thread. Raises DaemonUnreachable.
        """
        ...
