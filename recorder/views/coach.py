"""What the phone page and `sessions --json` show of a session's coach record."""

from __future__ import annotations

from recorder.coaching.records import consent_of, name_of
from recorder.core.coaching.details import read_details
from recorder.core.coaching.shares import read_shares
from recorder.core.manifest import Manifest
from recorder.store.markers import marker_labels


def coach_view(manifest: Manifest, state: str, archive: str | None) -> dict:
    """Name, details, markers, consent, shares and where the session's copies are.

    `archive` is the session's folder on the upload remote when it was sent there.
    """
    extra = manifest.model_extra or {}
    details, details_problem = read_details(extra.get("details"))
    consent = consent_of(manifest)
    shares, share_problems = read_shares(extra.get("shares"))
    problems = [p for p in (details_problem, *consent.problems, *share_problems) if p]
    return {
        "name": name_of(manifest),
        "details": details.to_json(),
        "markers": [
            {
                "n": n,
                "frame": m.frame,  # sent back with a relabel: refused if a bookmark renumbered
                "seconds": m.seconds,
                "label": text,
                "source": m.source,
                # a bookmark carries edited_at only so that the archive gets it
                "edited": m.source != "review" and bool((m.model_extra or {}).get("edited_at")),
            }
            for n, (m, text) in enumerate(marker_labels(manifest.markers), 1)
        ],
        "consent": {
            **consent.standing.to_json(),
            "history": [e.to_json() for e in consent.entries],
            "problems": problems,
        },
        "shares": [s.to_json() for s in reversed(shares)],
        "where": {
            "local": f"{state}/" if state in ("recording", "outbox", "uploaded") else None,
            "remote": archive if manifest.upload.attempts > 0 else None,
            "active_shares": sum(s.active for s in shares),
        },
    }
