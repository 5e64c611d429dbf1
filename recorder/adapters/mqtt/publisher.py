"""The retained state, published by the `mqtt-state` thread: every second while recording
(elapsed time moves), every `IDLE_EVERY_S` otherwise, and at once when woken (a new state, a
changed recent list, a (re)connect). The thread is also the link's beat: it runs the link's
supervision at every wake and the command gate's summaries once a second.

The state leaves the oldest recent sessions out to fit under `MAX_PAYLOAD`, and says how many
in `recent_left_out`. The recent list is read here, never on the caller's thread.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

from recorder.adapters.mqtt.outlet import MAX_PAYLOAD, Outlet, now_iso
from recorder.adapters.mqtt.quiet import Quiet
from recorder.core.limits import fit_state

log = logging.getLogger(__package__)  # the link's one logger, as before it was split

STATE_EVERY_S = 1.0  # while recording: elapsed time moves
IDLE_EVERY_S = 30.0
TICK_S = 1.0  # the thread's beat: supervision, summaries, a cleared retained command

# The fields of the daemon's status the state carries (with `recent` and `ts`).
STATE_KEYS = (
    "state", "device_id", "session_id", "elapsed_s", "warnings", "levels",
    "disk_free_mb", "hours_left", "upload", "last_error", "version", "next_session",
    "sharing",
)  # fmt: skip


class StatePublisher:
    """The `state` topic, kept up to date by its own thread."""

    def __init__(
        self,
        outlet: Outlet,
        quiet: Quiet,
        status: Callable[[], dict],
        recent: Callable[[], list[dict]],
        stopping: threading.Event,
        beat: Callable[[], None],
        each_second: Callable[[], None],
    ) -> None:
        self._outlet = outlet
        self._quiet = quiet
        self._status = status
        self._recent_of = recent
        self._stopping = stopping
        self._beat = beat
        self._each_second = each_second
        self._lock = threading.Lock()
        self._recent: list[dict] = []  # guarded by _lock
        self._recent_stale = True  # guarded by _lock: rebuilt before the next state message
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mqtt-state", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """The state changed (or the thread should see `stopping`): published now."""
        self._wake.set()

    def refresh_recent(self) -> None:
        """The recent list changed: rebuilt and published by this thread, so a caller (the
        writer, a command) never waits for the manifests to be read."""
        with self._lock:
            self._recent_stale = True
        self._wake.set()

    def publish(self) -> None:
        """The state now, with the recent list read again if it changed."""
        self._refreshed_recent()
        self._outlet.send(f"{self._outlet.base}/state", self.state_bytes(), retain=True)

    def state_bytes(self) -> bytes:
        s = self._status()
        with self._lock:
            recent = list(self._recent)
        base = {k: s.get(k) for k in STATE_KEYS}
        base["ts"] = now_iso()
        data, left_out = fit_state(base, recent, MAX_PAYLOAD)
        if left_out:
            self._quiet.log(
                logging.WARNING, "states cut", "MQTT: the state leaves out the %d oldest of %d "
                "recent sessions to stay under %d bytes", left_out, len(recent), MAX_PAYLOAD,
            )  # fmt: skip
        return data

    def state_payload(self) -> dict:
        return json.loads(self.state_bytes())

    def _loop(self) -> None:
        next_state = next_summary = 0.0
        while not self._stopping.is_set():
            self._wake.wait(TICK_S)
            woken = self._wake.is_set()
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                self._beat()
                now = time.monotonic()
                if now >= next_summary:  # woken more often while recording: once a second
                    next_summary = now + TICK_S
                    self._each_second()
                if woken or now >= next_state:
                    next_state = now + (STATE_EVERY_S if self._recording() else IDLE_EVERY_S)
                    if self._outlet.connected:
                        self.publish()
            except Exception:
                self._quiet.log(logging.ERROR, "bug", "MQTT: the publisher failed", exc_info=True)

    def _refreshed_recent(self) -> None:
        with self._lock:
            stale, self._recent_stale = self._recent_stale, False
        if not stale:
            return
        try:
            recent = self._recent_of()
        except Exception:  # the state goes out with the last list rather than not at all
            log.exception("MQTT: the recent sessions could not be read")
            return
        with self._lock:
            self._recent = recent

    def _recording(self) -> bool:
        try:
            return self._status().get("state") == "recording"
        except Exception:
            return False
