"""A session's record as the coach keeps it: details, marker labels and consent history.

Every change is one `SessionStore.update_manifest` call, so it is written whole (fsync and
rename) and no other writer's older copy undoes it. Consent entries are appended, never changed.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from pydantic_core import PydanticSerializationError

from recorder.core.coaching.consent import Entry, Standing, read_history, standing
from recorder.core.coaching.details import apply_changes, display_name, read_details
from recorder.core.inbound import echo
from recorder.core.manifest import REVIEW, Manifest, Marker
from recorder.store.markers import marker_labels, write_labels
from recorder.store.sessions import SessionStore

log = logging.getLogger(__name__)


class RecordError(ValueError):
    """A change that cannot be made; the message says why (shown to the coach as is)."""


@dataclass(frozen=True)
class ConsentNow:
    entries: list[Entry]
    problems: list[str]
    standing: Standing


def consent_of(manifest: Manifest) -> ConsentNow:
    entries, problems = read_history((manifest.model_extra or {}).get("consent"))
    return ConsentNow(entries, problems, standing(entries))


def name_of(manifest: Manifest) -> str:
    details, _ = read_details((manifest.model_extra or {}).get("details"))
    return display_name(details, manifest.started_at)


class SessionRecords:
    """Details, marker labels and consent of stored sessions.

    `after_change(folder, manifest)` hooks run after a finished session's details or labels
    changed (its deliverables get the new tags); a hook that fails is logged, never raised: the
    change itself is on disk.
    """

    def __init__(self, store: SessionStore, now: Callable[[], datetime]) -> None:
        self.store = store
        self.now = now
        self.after_change: list[Callable[[Path, Manifest], None]] = []

    def _stamp(self) -> str:
        return self.now().isoformat(timespec="seconds")

    def stamp(self) -> str:
        """Now, as the coach's changes are stamped."""
        return self._stamp()

    def transcript_changed(self, session_id: str) -> None:
        """The transcript was corrected: it goes to the archive again, and is verified there
        again (the outbox's follow-up phase takes a session whose transcript is `waiting`)."""

        def change(m: Manifest, _state: str) -> None:
            t = m.upload.transcript
            t.status, t.attempts, t.last_error, t.verified_at = "waiting", 0, None, None

        self._update(session_id, change)

    def _update(self, session_id: str, change):
        try:
            return self.store.update_manifest(session_id, change)
        except KeyError as exc:
            raise RecordError(str(exc.args[0])) from None
        except PydanticSerializationError as exc:  # raised before the write: nothing changed
            raise RecordError(
                f"session {session_id}: the change cannot be stored ({echo(str(exc))}); "
                "nothing was changed"
            ) from None

    def _changed(self, folder: Path, manifest: Manifest, state: str) -> None:
        if state == "recording":
            return  # the writer makes the files at the stop, with what is on disk then
        for hook in self.after_change:
            try:
                hook(folder, manifest)
            except Exception:
                log.exception("session %s: updating its files after a change failed", manifest.id)

    def label(self, session_id: str, changes: dict) -> dict:
        """Set some of client, title, number and notes (already checked)."""
        stamp = self._stamp()

        def change(m: Manifest, _state: str) -> dict:
            extra = m.__pydantic_extra__
            assert extra is not None
            extra["details"] = apply_changes(extra.get("details"), changes, stamp)
            return extra["details"]

        s, details = self._update(session_id, change)
        assert s.manifest is not None
        self._changed(s.path, s.manifest, s.state)
        return {"ok": True, "message": f"{session_id} is now “{name_of(s.manifest)}”",
                "details": details}  # fmt: skip

    def label_marker(self, session_id: str, n: int, label: str, frame: int | None = None) -> dict:
        """Relabel the n-th marker (from 1, in time order), while recording or after.

        A bookmark added meanwhile renumbers the markers after it, so a page that names the
        marker's `frame` too (as it saw it) is refused rather than relabelling another one.
        """
        stamp = self._stamp()

        def change(m: Manifest, _state: str) -> float:
            ordered = marker_labels(m.markers)
            if not 1 <= n <= len(ordered):
                raise RecordError(
                    f"session {session_id} has {len(ordered)} marker(s); there is no marker {n}"
                )
            marker = ordered[n - 1][0]
            if frame is not None and marker.frame != frame:
                raise RecordError(
                    f"session {session_id}: the markers changed (one was added): marker {n} is "
                    f"now the one at {marker.seconds:.1f} s; reload and try again"
                )
            marker.label = label
            extra = marker.__pydantic_extra__
            assert extra is not None
            extra["edited_at"] = stamp
            return marker.seconds

        s, seconds = self._update(session_id, change)
        assert s.manifest is not None
        if s.state != "recording":
            write_labels(s.path, s.manifest.markers, s.manifest.audio.rate)
        self._changed(s.path, s.manifest, s.state)
        shown = label or f"marker {n}"
        return {"ok": True, "message": f"marker {n} at {seconds:.1f} s is now “{shown}”"}

    def bookmark(self, session_id: str, seconds: float, label: str) -> dict:
        """Add a marker (source `review`) to a finished session, where the coach listening back
        asked; the markers stay in time order, so the later ones' numbers go up by one."""
        stamp = self._stamp()

        def change(m: Manifest, state: str) -> tuple[int, Marker]:
            if state == "recording" or m.state == "recording":
                raise RecordError(
                    f"session {session_id} is still recording: mark the moment with the button "
                    "or `ctl mark`; bookmarks are for listening back"
                )
            frame = round(seconds * m.audio.rate)
            if frame > m.frames:
                raise RecordError(
                    f"session {session_id} is {m.frames / m.audio.rate:.1f} s long; "
                    f"{seconds:.1f} s is past its end"
                )
            if any(mk.frame == frame and mk.source == REVIEW for mk in m.markers):
                raise RecordError(f"session {session_id} has a bookmark at {seconds:.3f} s already")
            marker = Marker(frame=frame, seconds=m.seconds(frame), label=label, source=REVIEW,
                            edited_at=stamp)  # fmt: skip
            at = bisect.bisect_right([mk.frame for mk in m.markers], frame)
            m.markers.insert(at, marker)
            n = next(k for k, (mk, _) in enumerate(marker_labels(m.markers), 1) if mk is marker)
            return n, marker

        s, (n, marker) = self._update(session_id, change)
        assert s.manifest is not None
        write_labels(s.path, s.manifest.markers, s.manifest.audio.rate)
        self._changed(s.path, s.manifest, s.state)
        shown = label or f"marker {n}"
        return {
            "ok": True,
            "message": f"marker {n} at {marker.seconds:.1f} s: “{shown}”",
            "marker": {"n": n, "frame": marker.frame, "seconds": marker.seconds,
                       "label": marker.label, "source": REVIEW},
        }  # fmt: skip

    def record_consent(self, session_id: str, entry: Entry, source: str) -> ConsentNow:
        """Append one consent change (time and source filled in here) and return what stands."""
        entry = replace(entry, at=self._stamp(), source=source)

        def change(m: Manifest, _state: str) -> ConsentNow:
            extra = m.__pydantic_extra__
            assert extra is not None
            history = extra.get("consent")
            if history is None:
                history = extra["consent"] = []
            if not isinstance(history, list):
                raise RecordError(
                    f"session {session_id}: its consent record is not a list and cannot be "
                    "added to; mend manifest.json by hand (nothing was changed)"
                )
            history.append(entry.to_json())
            return consent_of(m)

        _, now = self._update(session_id, change)
        log.warning(
            "consent for %s: %s %s%s (%s, via %s)",
            session_id, entry.action, entry.what, f" to {entry.to}" if entry.to else "",
            entry.ref, source,
        )  # fmt: skip
        return now

    def consent(self, session_id: str) -> tuple[Manifest, str, ConsentNow]:
        for s in self.store.sessions():
            if s.id == session_id:
                if s.manifest is None:
                    raise RecordError(f"session {session_id}: {s.error}")
                return s.manifest, s.state, consent_of(s.manifest)
        raise RecordError(f"no session {session_id} on this box")
