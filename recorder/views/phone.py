"""What the phone page shows of the recent sessions: each one's facts, coach record,
transcript and credential check.

The daemon sends the last few sessions in every retained state message (once a second while
recording), so each session's view is worked out once per change of its manifest or its
transcript.json and kept, not read and parsed again each time.
"""

from __future__ import annotations

import threading
from pathlib import Path

from recorder.outbox.discard import remote_dir_for
from recorder.store.sessions import MANIFEST, SessionStore, StoredSession
from recorder.transcript.status import STATUS_FILE, summary
from recorder.views import credential
from recorder.views.coach import coach_view

KEPT = 32  # views kept; the state message carries 5


class SessionViews:
    def __init__(self, store: SessionStore, archive: str | None) -> None:
        self.store = store
        self.archive = archive  # the upload remote, where a session's copy is (None: no upload)
        self._lock = threading.Lock()
        self._views: dict[Path, tuple[tuple, dict]] = {}  # guarded by _lock

    def recent(self, count: int = 10) -> list[dict]:
        """The last `count` sessions as the phone page lists them (the retained state's `recent`)."""
        out = []
        for s in self.store.sessions()[-count:]:
            m = s.manifest
            entry = {
                "id": s.id,
                "state": s.state,
                "seconds": round(m.frames / m.audio.rate, 1) if m else 0,
                "started_at": m.started_at if m else None,
                "upload_status": m.upload.status if m else "unknown",
                # the transcript follows the audio to the archive on its own
                "transcript_upload": m.upload.transcript.status if m else "unknown",
                **self.view(s),
            }
            if m is not None:
                archive = self.archive
                remote = m.upload.remote or (remote_dir_for(archive, s.id) if archive else None)
                entry.update(coach_view(m, s.state, remote))
            out.append(entry)
        return out

    def view(self, s: StoredSession) -> dict:
        """{"transcript": {...}, "credential": {...}} for a finished session, else {}."""
        if s.manifest is None or s.state == "recording":
            return {}
        key = (_stamp(s.path / MANIFEST), _stamp(s.path / STATUS_FILE))
        with self._lock:
            kept = self._views.get(s.path)
        if kept is not None and kept[0] == key:
            return kept[1]

        t = summary(s.path)
        transcript = {
            k: t[k]
            for k in (
                "status",
                "engine",
                "words",
                "turns",
                "paragraphs",
                "progress",
                "error",
                "revision",  # the page marks the revision it shows proofread
                "proofread",
            )
            if k in t
        }
        checks = credential.check(s.path, s.manifest)
        full = credential.as_json(checks, s.id)
        view = {
            "transcript": transcript,
            "credential": {
                "ready": full["ready"],
                "verdict": full["verdict"],
                "checks": [
                    {"name": c["name"], "result": c["result"], "message": c["message"]}
                    for c in full["checks"]
                ],
            },
        }
        with self._lock:
            self._views[s.path] = (key, view)
            while len(self._views) > KEPT:
                self._views.pop(next(iter(self._views)))
        return view


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
