"""Is a session ready to submit for an ICF credential? Each rule as a plain-language check.

ICF's performance evaluations (as the project understands them; coaches confirm the current
rules with ICF) want a full, unedited session of 20 to 60 minutes, a verbatim transcript with
coach and client on separate lines, and the client's written permission on file. This module
holds only the rules: the facts come from the session folder (recorder.views.credential), so every
rule is tested without audio or files.

Lengths count from the start press: the pre-roll before it is not part of the session a coach
submits (`session-recorder export --from-start` leaves it out of the file).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from recorder.core.coaching.consent import Entry, standing

Result = Literal["pass", "fail", "unknown"]

MIN_LENGTH_S = 20 * 60
MAX_LENGTH_S = 60 * 60
# A speaker with less than this in the transcript did not take part (or their mic was off).
MIN_SPEAKER_S = 10.0
MIN_SPEAKER_LINES = 3
CUT_SHORT = {
    "interrupted": "the recorder lost power or crashed during the session (repaired afterwards)",
    "disk_full": "the storage card was full",
    "write_error": "the storage card failed while recording",
}
STOPPED = {
    "requested": "stopped by the button, the phone or the command line",
    "shutdown": "stopped when the recorder was shut down; make sure that was the session's end",
    "silence": "stopped by itself after a long silence; make sure that was the session's end",
    "max_length": "stopped by itself at the longest session allowed ([warnings] max_session_h)",
}
GAP_KINDS = {
    "overrun": "the recorder fell behind",
    "device_lost": "the audio interface was unplugged",
    "device_stalled": "the audio interface stopped sending sound",
}
LABELS = {
    "length": "Length",
    "speakers": "Both speakers",
    "gaps": "No gaps",
    "ending": "Not cut short",
    "transcript": "Transcript",
    "proofread": "Proofread",
    "consent": "Consent",
}


@dataclass(frozen=True)
class Check:
    """One point of the check; `message` is written for the coach, not for a developer."""

    name: str  # a key of LABELS
    result: Result
    message: str

    @property
    def label(self) -> str:
        return LABELS.get(self.name, self.name)


@dataclass(frozen=True)
class Gap:
    kind: str
    at_s: float  # from the start press; negative: in the pre-roll, not part of the session
    seconds: float  # audio lost


@dataclass(frozen=True)
class SpeakerTime:
    """How much one named speaker (one channel) says in the transcript."""

    name: str
    seconds: float
    lines: int


@dataclass(frozen=True)
class TranscriptFacts:
    # none (never built), building, done, failed, damaged (transcript.json unreadable)
    status: str = "none"
    mode: str | None = None  # "channels" or "one-mic"
    speakers: tuple[SpeakerTime, ...] = ()  # in channel order
    words: int = 0
    lines: int = 0
    engine: str | None = None
    docx: bool = False  # transcript.docx exists in the session folder
    progress: float | None = None  # 0..1 while building
    error: str | None = None
    # the coach's corrections (recorder.transcript.revisions): 0 is the engine's revision
    revision: int = 0
    proofread_revision: int | None = None  # the revision the coach marked proofread
    proofread_at: str | None = None


@dataclass(frozen=True)
class ConsentFacts:
    """The session's consent history as its manifest holds it (`recorder.core.coaching.consent`)."""

    session_id: str = "SESSION"
    entries: tuple[Entry, ...] = ()
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class SessionFacts:
    length_s: float  # from the start press to the stop
    preroll_s: float = 0.0
    gaps: tuple[Gap, ...] = ()
    stop_reason: str | None = None
    transcript: TranscriptFacts = field(default_factory=TranscriptFacts)
    consent: ConsentFacts | None = None  # None: not read (the check then says unknown)


def duration(seconds: float) -> str:
    """`61 min 0 s`, `45 s`, `19 min 59.5 s`: tenths only where they are not zero."""
    tenths = round(seconds * 10)
    minutes, rest = divmod(tenths, 600)
    secs = f"{rest // 10} s" if rest % 10 == 0 else f"{rest / 10:.1f} s"
    return f"{minutes} min {secs}" if minutes else secs


def _up(seconds: float) -> float:
    """Rounded up to a tenth, so a length just over a limit never reads as on it."""
    return math.ceil(round(seconds * 10, 6)) / 10


def _down(seconds: float) -> float:
    return math.floor(round(seconds * 10, 6)) / 10


def check_length(length_s: float, preroll_s: float = 0.0) -> Check:
    lo, hi = MIN_LENGTH_S // 60, MAX_LENGTH_S // 60
    if length_s > MAX_LENGTH_S:
        over = _up(length_s - MAX_LENGTH_S)
        shown = max(_up(length_s), MAX_LENGTH_S + over)
        return Check(
            "length",
            "fail",
            f"{duration(shown)}: {duration(over)} over the {hi}-minute limit",
        )
    if length_s < MIN_LENGTH_S:
        short = _up(MIN_LENGTH_S - length_s)
        shown = min(_down(length_s), MIN_LENGTH_S - short)
        return Check(
            "length",
            "fail",
            f"{duration(max(shown, 0.0))}: {duration(short)} short of the {lo}-minute minimum",
        )
    note = f"; the {duration(preroll_s)} pre-roll before it is not counted" if preroll_s else ""
    return Check(
        "length",
        "pass",
        f"{duration(length_s)} from the start press, within {lo} to {hi} minutes{note}",
    )


def check_speakers(transcript: TranscriptFacts) -> Check:
    if transcript.status != "done":
        return Check(
            "speakers",
            "unknown",
            "not known until the transcript is finished: it measures who spoke when",
        )
    if transcript.mode != "channels":
        return Check(
            "speakers",
            "unknown",
            "one microphone, the voices cannot be told apart; check the transcript names "
            "and that both of you can be heard",
        )
    if len(transcript.speakers) < 2:
        return Check(
            "speakers",
            "fail",
            "the transcript names fewer than two speakers: set [transcript] speakers to the "
            "coach's and the client's channels and build it again",
        )
    said = ", ".join(
        f"{s.name} {duration(s.seconds)} in {s.lines} line{'s' if s.lines != 1 else ''}"
        for s in transcript.speakers
    )
    silent = [
        (channel, s)
        for channel, s in enumerate(transcript.speakers, 1)
        if s.seconds < MIN_SPEAKER_S or s.lines < MIN_SPEAKER_LINES
    ]
    if silent:
        who = "; ".join(
            f"{s.name} (channel {channel}) is hardly heard: was that microphone connected "
            "and turned up?"
            for channel, s in silent
        )
        return Check(
            "speakers",
            "fail",
            f"{said}. {who} (at least {duration(MIN_SPEAKER_S)} in {MIN_SPEAKER_LINES} lines "
            "each is expected)",
        )
    return Check("speakers", "pass", said)


def check_gaps(gaps: tuple[Gap, ...] | list[Gap]) -> Check:
    inside = sorted((g for g in gaps if g.at_s >= 0), key=lambda g: g.at_s)
    if not inside:
        ignored = len(gaps)
        note = f" ({ignored} in the pre-roll, which is not part of it)" if ignored else ""
        return Check("gaps", "pass", f"no audio is missing from the session{note}")
    listed = "; ".join(
        f"at {duration(g.at_s)}: {_up(g.seconds):g} s lost ({GAP_KINDS.get(g.kind, g.kind)})"
        for g in inside
    )
    count = f"{len(inside)} gap{'s' if len(inside) != 1 else ''}"
    return Check(
        "gaps",
        "fail",
        f"{count} where audio is missing, so it is not one unedited recording: {listed}",
    )


def check_ending(stop_reason: str | None) -> Check:
    if stop_reason in CUT_SHORT:
        return Check(
            "ending",
            "fail",
            f"the recording may be cut short: {CUT_SHORT[stop_reason]}; listen to its end",
        )
    if stop_reason is None:
        return Check(
            "ending",
            "unknown",
            "the session has no recorded stop: it is still recording, or has not been repaired yet",
        )
    return Check("ending", "pass", STOPPED.get(stop_reason, f"stopped ({stop_reason})"))


def check_transcript(t: TranscriptFacts) -> Check:
    if t.status == "none":
        return Check("transcript", "fail", "none yet: build it with the transcript command below")
    if t.status == "building":
        done = f" ({t.progress:.0%} done)" if t.progress is not None else ""
        return Check("transcript", "fail", f"still being built{done}; check again when it is done")
    if t.status == "failed":
        why = f": {t.error}" if t.error else ""
        return Check("transcript", "fail", f"building it failed{why}; try again (--rebuild)")
    if t.status != "done":
        why = t.error or f"its status is {t.status!r}"
        return Check("transcript", "fail", f"cannot be used ({why}); build it again (--rebuild)")
    if t.words == 0:
        return Check(
            "transcript", "fail", "finished but no words were recognised; it is not verbatim"
        )
    engine = f", by {t.engine}" if t.engine else ""
    file = (
        "transcript.docx is ready"
        if t.docx
        else "make transcript.docx with the command below (ICF takes .doc/.docx, not PDF)"
    )
    return Check(
        "transcript",
        "pass",
        f"finished: {t.words} words in {t.lines} lines{engine}; {file}. Read it through: "
        "ICF wants it verbatim",
    )


PROOFREAD_HOW = (
    "read it against the recording, correct what the engine misheard on the box's review "
    "page, then mark it proofread there (or `session-recorder proofread {sid}`)"
)


def check_proofread(t: TranscriptFacts, session_id: str = "SESSION") -> Check:
    """ICF expects an accurate transcript: only the coach can say it is, after reading it."""
    how = PROOFREAD_HOW.format(sid=session_id)
    if t.status != "done" or t.words == 0:
        return Check("proofread", "unknown", "not until there is a finished transcript to read")
    if t.proofread_revision is None:
        return Check("proofread", "fail", f"not proofread yet: {how}")
    if t.proofread_revision != t.revision:
        return Check(
            "proofread", "fail",
            f"corrected since it was marked proofread (revision {t.proofread_revision}, now "
            f"{t.revision}): read it through again and mark it proofread",
        )  # fmt: skip
    edits = f"revision {t.revision}" if t.revision else "the engine's words, unchanged"
    when = f" on {t.proofread_at[:10]}" if t.proofread_at else ""
    return Check("proofread", "pass", f"marked proofread{when} ({edits})")


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def check_consent(c: ConsentFacts | None) -> Check:
    """A submission goes to an assessor: it needs the client's consent to share this session.

    A copy for the client (`copy`) is not enough, and consent that names only a mentor may not
    cover an assessor, so that is unknown rather than a pass.
    """
    if c is None:
        return Check(
            "consent",
            "unknown",
            "the consent record was not read: make sure the client's written permission is "
            "on file (ICF requires it)",
        )
    ask = f'session-recorder consent {c.session_id} --allow share --ref "…"'
    if c.problems:
        return Check(
            "consent",
            "unknown",
            f"the consent record is damaged ({'; '.join(c.problems)}): it may hold a "
            "withdrawal; mend it before you submit",
        )
    now = standing(list(c.entries))
    if not now.record:
        return Check(
            "consent", "fail", "the client withdrew consent to this recording: do not submit it"
        )
    if not now.share:
        return Check(
            "consent",
            "fail",
            "the client's written consent to share this recording is not on file: ask for it, "
            f"then record it ({ask})",
        )
    if now.share_to is not None:
        return Check(
            "consent",
            "unknown",
            f"the client allowed sharing with {_names(now.share_to)} only: make sure that "
            f"covers the assessor, or record consent for them ({ask} --to …)",
        )
    allowed = [e for e in c.entries if (e.action, e.what, e.to) == ("allow", "share", None)][-1]
    return Check(
        "consent",
        "pass",
        f"the client's written consent to share is on file ({allowed.ref}, {allowed.at[:10]})",
    )


def check_session(facts: SessionFacts) -> list[Check]:
    """Every point, in the order a coach reads them."""
    return [
        check_length(facts.length_s, facts.preroll_s),
        check_speakers(facts.transcript),
        check_gaps(facts.gaps),
        check_ending(facts.stop_reason),
        check_transcript(facts.transcript),
        check_proofread(facts.transcript, facts.consent.session_id if facts.consent else "SESSION"),
        check_consent(facts.consent),
    ]


def ready(checks: list[Check]) -> bool:
    """Ready only when every point passes: an unknown point is not a pass."""
    return bool(checks) and all(c.result == "pass" for c in checks)


def verdict(checks: list[Check]) -> str:
    """`ready`, or `not ready: length failed, consent unknown` naming what stands in the way."""
    if ready(checks):
        return "ready"
    blocking = [
        f"{c.name} {'failed' if c.result == 'fail' else 'unknown'}"
        for c in checks
        if c.result != "pass"
    ]
    return "not ready: " + (", ".join(blocking) or "nothing was checked")
