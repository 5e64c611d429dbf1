"""The credential check of one session folder: its facts, the report a coach reads, its JSON.

The rules are in recorder.core.coaching.credential; this reads what they need from the manifest and
`transcript.json` (which may be missing, half-built or damaged: each is a plain answer, never a
crash), and writes the result for the command line and the phone page.
"""

from __future__ import annotations

from pathlib import Path

from recorder.core.coaching.consent import read_history
from recorder.core.coaching.credential import (
    Check,
    ConsentFacts,
    Gap,
    SessionFacts,
    SpeakerTime,
    TranscriptFacts,
    check_session,
    ready,
    verdict,
)
from recorder.core.manifest import Manifest
from recorder.core.transcript.doc import TranscriptDoc
from recorder.transcript.status import STATUS_FILE, TranscriptFileError, read_status, revision_of

__all__ = ["as_json", "check", "ready", "report", "session_facts", "verdict"]

MARKS = {"pass": "✓", "fail": "✗", "unknown": "?"}
CAVEAT = (
    "These are ICF's rules as this recorder knows them (a full, unedited session of 20-60 "
    "minutes; a verbatim transcript, coach and client on separate lines with a timestamp at "
    "every change of speaker, as .doc/.docx, not PDF; the client's written permission on file). "
    "Confirm the current rules with ICF before you submit."
)


def submission_commands(session_id: str) -> list[str]:
    """The commands that make the files to submit: the audio from the start press, the .docx."""
    return [
        f"session-recorder export {session_id} --format mp3 --from-start",
        f"session-recorder transcript {session_id} --format docx",
    ]


def _transcript_facts(session_dir: Path) -> TranscriptFacts:
    try:
        data = read_status(session_dir)
    except TranscriptFileError as exc:
        return TranscriptFacts(status="damaged", error=str(exc))
    status = data["status"]
    progress = data.get("progress")
    base = {
        "engine": data.get("engine"),
        "docx": (session_dir / "transcript.docx").is_file(),
        "progress": float(progress) if isinstance(progress, int | float) else None,
        "error": data.get("error") if isinstance(data.get("error"), str) else None,
    }
    if status != "done":
        return TranscriptFacts(status=status, **base)
    try:
        doc = TranscriptDoc.from_json(data["doc"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return TranscriptFacts(
            status="damaged",
            error=f"{session_dir / STATUS_FILE}: the finished transcript in it is damaged "
            f"({type(exc).__name__}: {exc})",
        )
    speakers = tuple(
        SpeakerTime(
            name,
            round(sum(ln.end_s - ln.start_s for ln in doc.lines if ln.speaker == name), 3),
            sum(1 for ln in doc.lines if ln.speaker == name),
        )
        for name in doc.speakers
    )
    base["engine"] = doc.engine or base["engine"]
    mark = data.get("proofread")
    return TranscriptFacts(
        status="done",
        mode=doc.mode,
        speakers=speakers,
        words=doc.words,
        lines=len(doc.lines),
        revision=revision_of(data),
        proofread_revision=_int(mark.get("revision")) if isinstance(mark, dict) else None,
        proofread_at=_text(mark.get("at")) if isinstance(mark, dict) else None,
        **base,
    )


def _text(value: object) -> str | None:
    return value[:40] if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _consent_facts(manifest: Manifest) -> ConsentFacts:
    entries, problems = read_history((manifest.model_extra or {}).get("consent"))
    return ConsentFacts(manifest.id, tuple(entries), tuple(problems))


def session_facts(session_dir: Path, manifest: Manifest) -> SessionFacts:
    """What the rules need, from the manifest (its consent history too) and the session
    folder's transcript.json."""
    rate = manifest.audio.rate
    preroll = manifest.preroll_frames
    return SessionFacts(
        length_s=max(0, manifest.frames - preroll) / rate,
        preroll_s=min(preroll, manifest.frames) / rate,
        gaps=tuple(Gap(g.kind, (g.at_frame - preroll) / rate, g.seconds) for g in manifest.gaps),
        stop_reason=manifest.stop_reason,
        transcript=_transcript_facts(session_dir),
        consent=_consent_facts(manifest),
    )


def check(session_dir: Path, manifest: Manifest) -> list[Check]:
    """Every point of the credential check for one session folder."""
    return check_session(session_facts(session_dir, manifest))


def report(checks: list[Check], session_id: str = "SESSION") -> str:
    """Plain text: the verdict, one line per point (✓ ✗ ?), the ICF caveat, what to run next."""
    width = max(len(c.label) for c in checks) if checks else 0
    lines = [f"Credential check for session {session_id}: {verdict(checks)}", ""]
    lines += [f"{MARKS[c.result]} {c.label + ':':<{width + 1}} {c.message}" for c in checks]
    lines += ["", CAVEAT, "", "To make the files to submit:"]
    lines += [f"  {cmd}" for cmd in submission_commands(session_id)]
    return "\n".join(lines)


def as_json(checks: list[Check], session_id: str = "SESSION") -> dict:
    """The same as `report`, for `credential-check --json` and the phone page."""
    out: dict = {
        "ready": ready(checks),
        "verdict": verdict(checks),
        "checks": [
            {"name": c.name, "label": c.label, "result": c.result, "message": c.message}
            for c in checks
        ],
        "caveat": CAVEAT,
        "commands": submission_commands(session_id),
    }
    return out
