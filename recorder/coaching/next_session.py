"""The next session's client and title, set on the phone before the button is pressed.

Kept in `<storage>/next-session.json`, so a restart between setting it and pressing the button
does not lose it; given to the next session that starts, whatever starts it, then cleared.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

from recorder.core.coaching.details import DetailsError, clean_name
from recorder.store.files import atomic_write
from recorder.store.sessions import MANIFEST, SessionStore

log = logging.getLogger(__name__)

FILE = "next-session.json"
MANIFEST_WAIT_S = 30.0  # the writer makes the manifest within a block or two of the start


class NextSession:
    def __init__(
        self,
        store: SessionStore,
        label: Callable[[str, dict], dict],
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.path = store.root / FILE
        self._label = label
        self._changed = changed  # the phone page shows the session's new name
        self._lock = threading.Lock()

    def get(self) -> dict | None:
        """The details waiting for the next session, or None."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            out = {k: clean_name(raw.get(k), k) for k in ("client", "title")}
        except FileNotFoundError:
            return None
        except (OSError, ValueError, DetailsError, AttributeError) as exc:
            log.error("%s is damaged (%s); the next session gets no details", self.path, exc)
            return None
        return out if any(out.values()) else None

    def set(self, client: str, title: str) -> dict:
        """Keep the details for the next start; refused now when they could not be stored then
        (the session would start without them, and only the log would say so)."""
        try:
            client, title = clean_name(client, "client"), clean_name(title, "title")
        except DetailsError as exc:
            return {"ok": False, "message": f"'next': {exc}"}
        with self._lock:
            if client or title:
                atomic_write(self.path, json.dumps({"client": client, "title": title}) + "\n")
                return {"ok": True, "message": f"the next session is for {client or title}"}
            self.path.unlink(missing_ok=True)
        return {"ok": True, "message": "the next session has no details set"}

    def started(self, session_id: str) -> None:
        """Give the waiting details to a session that just started (call from any thread)."""
        details = self.get()
        if details is None:
            return
        threading.Thread(
            target=self._apply, args=(session_id, details), name="next-session", daemon=True
        ).start()

    def _apply(self, session_id: str, details: dict) -> None:
        folder = self.store.state_dir("recording") / session_id
        deadline = time.monotonic() + MANIFEST_WAIT_S
        while not (folder / MANIFEST).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        changes = {k: v for k, v in details.items() if v}
        try:
            self._label(session_id, changes)
        except Exception as exc:  # the session records either way; say where the details went
            log.error("session %s did not get its details %s: %s", session_id, changes, exc)
            return
        with self._lock:  # cleared only once given, and only if not set anew meanwhile
            if self.get() == details:
                self.path.unlink(missing_ok=True)
        self._changed()
        log.info("session %s: %s", session_id, changes)
