"""The credential check (is a session ready for an ICF submission?) and the export that leaves
out the pre-roll so the submitted file is the session itself.

The rules are tested pure, point by point and at their boundaries; then on sessions recorded
through the real capture path (the virtual microphone fed as fast as the recorder reads: an
hour of 8 kHz mono is 58 MB and takes seconds), with a transcript.json written as the
transcript builder writes it; the trimmed files are read back by sox, ffprobe and libsndfile.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import soundfile

from recorder.app.virtualmic import Feeder, random_periods
from recorder.coaching.records import SessionRecords
from recorder.core.coaching.consent import new_entry
from recorder.core.coaching.credential import (
    Check,
    ConsentFacts,
    Gap,
    SessionFacts,
    SpeakerTime,
    TranscriptFacts,
    check_consent,
    check_ending,
    check_gaps,
    check_length,
    check_proofread,
    check_session,
    check_speakers,
    check_transcript,
    duration,
    ready,
    verdict,
)
from recorder.core.formats import FORMATS
from recorder.core.manifest import GapInfo, Manifest, Marker
from recorder.core.recording.state import Start, Stop
from recorder.core.transcript.doc import Line, TranscriptDoc
from recorder.media.deliverables import DeliverableError, export
from recorder.store.sessions import SessionStore
from recorder.transcript.revisions import mark_proofread
from recorder.views.credential import as_json, check, report, session_facts
from tests.factories import SESSION_ID, make_manifest, random_session
from tests.support import Running, ffprobe, make_config, sox_raw, sox_samples

MIN = 60.0


# ---------------------------------------------------------------- the rules, pure


@pytest.mark.parametrize(
    ("seconds", "result", "message"),
    [
        (20 * MIN, "pass", "20 min 0 s from the start press, within 20 to 60 minutes"),
        (60 * MIN, "pass", "60 min 0 s from the start press, within 20 to 60 minutes"),
        (19 * MIN + 59, "fail", "19 min 59 s: 1 s short of the 20-minute minimum"),
        (60 * MIN + 1, "fail", "60 min 1 s: 1 s over the 60-minute limit"),
        (61 * MIN, "fail", "61 min 0 s: 1 min 0 s over the 60-minute limit"),
        (12 * MIN + 30, "fail", "12 min 30 s: 7 min 30 s short of the 20-minute minimum"),
        (0.0, "fail", "0 s: 20 min 0 s short of the 20-minute minimum"),
        # a fraction past a limit never reads as on it
        (60 * MIN + 0.001, "fail", "60 min 0.1 s: 0.1 s over the 60-minute limit"),
        (20 * MIN - 0.001, "fail", "19 min 59.9 s: 0.1 s short of the 20-minute minimum"),
    ],
)
def test_length_must_be_20_to_60_minutes_inclusive(seconds, result, message):
    assert check_length(seconds) == Check("length", result, message)


def test_length_counts_from_the_start_press_not_the_preroll():
    got = check_length(59 * MIN + 55, preroll_s=10.0)
    assert got.result == "pass"
    assert got.message == (
        "59 min 55 s from the start press, within 20 to 60 minutes; "
        "the 10 s pre-roll before it is not counted"
    )


def test_a_session_of_59_55_after_a_10_s_preroll_passes_though_the_file_is_60_05():
    manifest = _manifest(frames=(60 * 60 + 5) * 8000, preroll_frames=10 * 8000)
    facts = session_facts(Path("/nonexistent"), manifest)
    assert (facts.length_s, facts.preroll_s) == (3595.0, 10.0)
    assert check_session(facts)[0].result == "pass"


def test_duration_reads_as_a_coach_says_it():
    assert [duration(s) for s in (0, 45, 60, 61.25, 3599.96, 7200)] == [
        "0 s",
        "45 s",
        "1 min 0 s",
        "1 min 1.2 s",
        "60 min 0 s",
        "120 min 0 s",
    ]


def _done(speakers: tuple[SpeakerTime, ...], mode: str = "channels", **kw) -> TranscriptFacts:
    base = {"words": 4200, "lines": sum(s.lines for s in speakers), "engine": "pocketsphinx",
            "proofread_revision": 0, "proofread_at": "2026-12-06T10:00:00+00:00"}  # fmt: skip
    return TranscriptFacts(status="done", mode=mode, speakers=speakers, **{**base, **kw})


BOTH = (SpeakerTime("Coach", 14 * MIN + 2, 52), SpeakerTime("Client", 12 * MIN + 40, 49))


def test_both_speakers_present_names_each_with_their_time():
    got = check_speakers(_done(BOTH))
    assert got == Check(
        "speakers", "pass", "Coach 14 min 2 s in 52 lines, Client 12 min 40 s in 49 lines"
    )


@pytest.mark.parametrize(
    "client",
    [SpeakerTime("Client", 4.0, 5), SpeakerTime("Client", 40.0, 2), SpeakerTime("Client", 0, 0)],
)
def test_a_speaker_hardly_heard_fails_naming_them_and_their_channel(client):
    got = check_speakers(_done((BOTH[0], client)))
    assert got.result == "fail"
    assert "Client (channel 2) is hardly heard: was that microphone connected" in got.message
    assert "Coach (channel" not in got.message
    assert "at least 10 s in 3 lines" in got.message


def test_one_microphone_cannot_tell_the_speakers_apart():
    got = check_speakers(_done((SpeakerTime("Coach/Client", 30 * MIN, 80),), mode="one-mic"))
    assert got.result == "unknown"
    assert got.message.startswith(
        "one microphone, the voices cannot be told apart; check the transcript names"
    )


def test_speakers_are_unknown_without_a_finished_transcript():
    for t in (TranscriptFacts(), TranscriptFacts(status="building", progress=0.4)):
        got = check_speakers(t)
        assert got.result == "unknown" and "transcript is finished" in got.message


def test_no_gaps_passes_and_a_gap_in_the_preroll_does_not_count():
    assert check_gaps(()) == Check("gaps", "pass", "no audio is missing from the session")
    got = check_gaps((Gap("overrun", -3.0, 0.2),))
    assert got == Check(
        "gaps",
        "pass",
        "no audio is missing from the session (1 in the pre-roll, which is not part of it)",
    )


def test_gaps_in_the_session_fail_listed_with_their_times():
    got = check_gaps(
        (
            Gap("device_lost", 40 * MIN, 12.0),
            Gap("overrun", -1.0, 0.1),  # pre-roll: not listed
            Gap("overrun", 12 * MIN + 3, 0.05),
            Gap("something_new", 0.0, 1.0),
        )
    )
    assert got.result == "fail"
    assert got.message == (
        "3 gaps where audio is missing, so it is not one unedited recording: "
        "at 0 s: 1 s lost (something_new); "
        "at 12 min 3 s: 0.1 s lost (the recorder fell behind); "
        "at 40 min 0 s: 12 s lost (the audio interface was unplugged)"
    )


@pytest.mark.parametrize(
    ("reason", "why"),
    [
        ("interrupted", "lost power or crashed"),
        ("disk_full", "the storage card was full"),
        ("write_error", "the storage card failed"),
    ],
)
def test_a_recording_cut_short_fails_with_why(reason, why):
    got = check_ending(reason)
    assert got.result == "fail"
    assert got.message.startswith("the recording may be cut short: ") and why in got.message


@pytest.mark.parametrize("reason", ["requested", "shutdown", "silence", "max_length"])
def test_a_stop_that_did_not_cut_audio_passes(reason):
    assert check_ending(reason).result == "pass"


def test_no_recorded_stop_is_unknown():
    got = check_ending(None)
    assert got.result == "unknown" and "still recording" in got.message


@pytest.mark.parametrize(
    ("facts", "says"),
    [
        (TranscriptFacts(), "none yet: build it with the transcript command below"),
        (TranscriptFacts(status="building", progress=0.42), "still being built (42% done)"),
        (TranscriptFacts(status="failed", error="no model"), "building it failed: no model"),
        (TranscriptFacts(status="damaged", error="x.json: bad"), "cannot be used (x.json: bad)"),
        (_done(BOTH, words=0), "finished but no words were recognised"),
    ],
)
def test_a_transcript_missing_unfinished_or_empty_fails(facts, says):
    got = check_transcript(facts)
    assert got.result == "fail" and says in got.message


def test_a_finished_transcript_passes_and_says_how_to_get_the_docx():
    got = check_transcript(_done(BOTH))
    assert got.result == "pass"
    assert got.message.startswith("finished: 4200 words in 101 lines, by pocketsphinx; make ")
    assert "(ICF takes .doc/.docx, not PDF)" in got.message
    assert "transcript.docx is ready" in check_transcript(_done(BOTH, docx=True)).message


def test_a_transcript_not_proofread_fails_saying_how_to_proofread_it():
    not_yet = check_proofread(_done(BOTH, proofread_revision=None), SESSION_ID)
    assert not_yet.result == "fail"
    assert not_yet.message.startswith("not proofread yet: read it against the recording")
    assert f"`session-recorder proofread {SESSION_ID}`" in not_yet.message
    stale = check_proofread(_done(BOTH, revision=3, proofread_revision=2))
    assert stale.result == "fail"
    assert stale.message.startswith("corrected since it was marked proofread (revision 2, now 3)")
    fixed = check_proofread(_done(BOTH, revision=3, proofread_revision=3))
    assert (fixed.result, fixed.message) == ("pass", "marked proofread on 2026-12-06 (revision 3)")
    assert check_proofread(TranscriptFacts(status="building")).result == "unknown"
    assert check_proofread(_done(BOTH, words=0)).result == "unknown"


def _entry(action: str, what: str, to: str | None = None, at: str = "2026-12-01T10:00:00+00:00"):
    return new_entry(action, what, "signed release 2026-12-01", to, at, "cli")


SHARED = ConsentFacts(SESSION_ID, (_entry("allow", "share"),))


def test_consent_is_read_from_the_history():
    assert check_consent(None).result == "unknown"
    got = check_consent(SHARED)
    assert got.result == "pass"
    assert got.message == (
        "the client's written consent to share is on file (signed release 2026-12-01, 2026-12-01)"
    )
    none = check_consent(ConsentFacts(SESSION_ID))
    assert none.result == "fail"
    assert f'(session-recorder consent {SESSION_ID} --allow share --ref "…")' in none.message
    # a copy for the client is not consent to hand the recording to an assessor
    assert check_consent(ConsentFacts(SESSION_ID, (_entry("allow", "copy"),))).result == "fail"
    named = check_consent(ConsentFacts(SESSION_ID, (_entry("allow", "share", "Alex"),)))
    assert named.result == "unknown"
    assert named.message.startswith("the client allowed sharing with Alex only")
    later = ConsentFacts(SESSION_ID, (_entry("allow", "share"), _entry("withdraw", "share")))
    assert check_consent(later).result == "fail"
    gone = ConsentFacts(SESSION_ID, (_entry("allow", "share"), _entry("withdraw", "record")))
    assert check_consent(gone).message.startswith("the client withdrew consent")
    damaged = check_consent(ConsentFacts(SESSION_ID, (), ("consent entry 2: no action",)))
    assert damaged.result == "unknown"
    assert "damaged (consent entry 2: no action)" in damaged.message


def _facts(**kw) -> SessionFacts:
    base = {"length_s": 30 * MIN, "stop_reason": "requested", "transcript": _done(BOTH)}
    return SessionFacts(**{**base, **kw})


def test_ready_only_when_every_point_passes():
    checks = check_session(_facts(consent=SHARED))
    assert [c.name for c in checks] == [
        "length",
        "speakers",
        "gaps",
        "ending",
        "transcript",
        "proofread",
        "consent",
    ]
    assert all(c.result == "pass" for c in checks)
    assert ready(checks) and verdict(checks) == "ready"


def test_an_unknown_point_blocks_ready_and_is_named():
    checks = check_session(_facts())
    assert not ready(checks)
    assert verdict(checks) == "not ready: consent unknown"
    checks = check_session(_facts(length_s=61 * MIN, transcript=TranscriptFacts()))
    assert verdict(checks) == (
        "not ready: length failed, speakers unknown, transcript failed, proofread unknown, "
        "consent unknown"
    )
    assert not ready([])


# ---------------------------------------------------------------- facts from a session folder


def _manifest(frames: int, preroll_frames: int, rate: int = 8000, **kw) -> Manifest:
    return make_manifest(
        rate=rate, channels=1, frames=frames, preroll_frames=preroll_frames,
        stop_reason="requested", **kw,
    )  # fmt: skip


def _conversation(length_s: float, turn_s: float = 60.0) -> list[Line]:
    """Coach and client taking turns of `turn_s` (50 s of speech each) for the whole session."""
    return [
        Line(start, start + 50.0, ("Coach", "Client")[n % 2], "so what would you like today")
        for n, start in enumerate(np.arange(0.0, length_s - 50.0, turn_s).tolist())
    ]


def write_transcript(
    folder: Path, length_s: float, lines: list[Line], mode: str = "channels"
) -> TranscriptDoc:
    """transcript.json as the transcript builder leaves it when it is done."""
    doc = TranscriptDoc(
        session_id=folder.name,
        title=f"Session {folder.name}",
        date="2026-11-29",
        length_s=length_s,
        speakers=("Coach", "Client"),
        mode=mode,
        engine="pocketsphinx",
        lines=tuple(lines),
    )
    status = {
        "status": "done",
        "engine": "pocketsphinx",
        "files": ["transcript.docx", "transcript.txt", "transcript.vtt"],
        "words": doc.words,
        "turns": len(doc.lines),
        "doc": doc.to_json(),
    }
    (folder / "transcript.json").write_text(json.dumps(status))
    return doc


def test_facts_read_the_speakers_time_from_transcript_json(tmp_path):
    lines = [
        Line(0.0, 40.0, "Coach", "hello there how are you"),
        Line(40.5, 100.0, "Client", "fine thanks"),
        Line(101.0, 110.0, "Coach", "good"),
    ]
    write_transcript(tmp_path, 25 * MIN, lines)
    facts = session_facts(tmp_path, _manifest(frames=25 * 60 * 8000, preroll_frames=0))
    t = facts.transcript
    assert (t.status, t.mode, t.words, t.lines, t.engine, t.docx) == (
        "done",
        "channels",
        8,
        3,
        "pocketsphinx",
        False,
    )
    assert t.speakers == (SpeakerTime("Coach", 49.0, 2), SpeakerTime("Client", 59.5, 1))
    (tmp_path / "transcript.docx").write_bytes(b"PK")
    assert session_facts(tmp_path, _manifest(8000, 0)).transcript.docx


def test_gaps_are_timed_from_the_start_press(tmp_path):
    rate = 8000
    gaps = [
        GapInfo(kind="overrun", at_frame=rate, pos=rate, frames=800, seconds=0.1),  # pre-roll
        GapInfo(kind="overrun", at_frame=70 * rate, pos=70 * rate, frames=800, seconds=0.1),
    ]
    facts = session_facts(tmp_path, _manifest(30 * 60 * rate, 10 * rate, gaps=gaps))
    assert facts.gaps == (Gap("overrun", -9.0, 0.1), Gap("overrun", 60.0, 0.1))
    assert check_gaps(facts.gaps).message.endswith(
        "at 1 min 0 s: 0.1 s lost (the recorder fell behind)"
    )


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"status": "done", "doc": {"lines": "nonsense"}}',
        '{"status": "done", "doc": {"session_id": "x"}}',
        '["a list"]',
        b"\xff\xfe\x00",
    ],
)
def test_a_damaged_transcript_json_is_a_plain_answer_not_a_crash(tmp_path, content):
    path = tmp_path / "transcript.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    checks = check(tmp_path, _manifest(30 * 60 * 8000, 0))
    by_name = {c.name: c for c in checks}
    assert by_name["transcript"].result == "fail"
    assert str(path) in by_name["transcript"].message
    assert by_name["transcript"].message.endswith("build it again (--rebuild)")
    assert by_name["speakers"].result == "unknown"


def test_report_has_a_line_per_point_the_icf_caveat_and_the_commands():
    checks = check_session(_facts(length_s=61 * MIN))
    text = report(checks, SESSION_ID)
    lines = text.splitlines()
    assert lines[0] == (
        f"Credential check for session {SESSION_ID}: not ready: length failed, consent unknown"
    )
    assert lines[2] == "✗ Length:        61 min 0 s: 1 min 0 s over the 60-minute limit"
    assert lines[3].startswith("✓ Both speakers: Coach 14 min 2 s in 52 lines")
    assert (
        lines[7]
        == "✓ Proofread:     marked proofread on 2026-12-06 (the engine's words, unchanged)"
    )
    assert lines[8].startswith("? Consent:       the consent record was not read")
    assert "Confirm the current rules with ICF" in text
    assert f"  session-recorder export {SESSION_ID} --format mp3 --from-start" in lines
    assert f"  session-recorder transcript {SESSION_ID} --format docx" in lines


def test_as_json_is_the_same_for_the_phone_page():
    checks = check_session(_facts(consent=SHARED))
    data = as_json(checks, SESSION_ID)
    json.dumps(data)  # serialisable as it is
    assert data["ready"] is True and data["verdict"] == "ready"
    assert [c["result"] for c in data["checks"]] == ["pass"] * 7
    assert data["checks"][0]["label"] == "Length"
    assert "Confirm the current rules with ICF" in data["caveat"]
    assert data["commands"][0].endswith("--format mp3 --from-start")


# ---------------------------------------------------------------- the trimmed export


def _preroll_session(session: Path, fmt: str, preroll: int = 6000):
    """Three segments (4800, 12001, 777 frames); the pre-roll ends inside the second."""
    manifest, raw = random_session(session, fmt)
    manifest.preroll_frames = preroll
    manifest.markers = [
        Marker(frame=3000, seconds=0.0625, label=""),  # in the pre-roll: "marker 1"
        Marker(frame=preroll, seconds=preroll / 48000, label="start"),
        Marker(frame=preroll + 4000, seconds=(preroll + 4000) / 48000, label=""),  # "marker 3"
    ]
    return manifest, raw


@pytest.mark.parametrize("fmt", ["S16_LE", "S24_3LE"])
def test_flac_from_the_start_press_is_the_session_after_the_preroll(tmp_path, fmt):
    session = tmp_path / SESSION_ID
    manifest, raw = _preroll_session(session, fmt)
    fb = FORMATS[fmt].frame_bytes(2)
    total = 4800 + 12001 + 777
    out = export(session, manifest, "flac", tmp_path / "a.flac", from_start=True)
    assert sox_samples(out, fmt) == raw[6000 * fb :]
    assert soundfile.info(str(out)).frames == total - 6000
    # the markers move with it; the one in the pre-roll is left out, the others keep their names
    assert ffprobe(out)["format"]["tags"]["comment"] == "0:00:00.000 start\n0:00:00.083 marker 3"
    whole = export(session, manifest, "flac", tmp_path / "b.flac")  # the default is unchanged
    assert sox_samples(whole, fmt) == raw
    assert soundfile.info(str(whole)).frames == total


@pytest.mark.parametrize("preroll", [6000, 4800, 1])  # inside a segment, at its end, one frame
def test_wav_from_the_start_press_has_its_cue_points_moved(tmp_path, preroll):
    session = tmp_path / SESSION_ID
    manifest, raw = _preroll_session(session, "S16_LE", preroll)
    out = export(session, manifest, "wav", tmp_path / "a.wav", from_start=True)
    assert sox_samples(out, "S16_LE") == raw[preroll * 4 :]
    with soundfile.SoundFile(out) as f:
        assert f.frames == 4800 + 12001 + 777 - preroll
        first = f.read(5, dtype="int16")
    want = np.frombuffer(raw, "<i2").reshape(-1, 2)[preroll : preroll + 5]
    assert np.array_equal(first, want)
    chapters = ffprobe(out, "-show_chapters")["chapters"]
    names = [(c["start"], c["tags"]["title"]) for c in chapters]
    if preroll < 3000:  # the unnamed marker at 3000 is after the press: kept, second of three
        assert names == [(0, "start"), (3000 - preroll, "marker 2"), (4000, "marker 3")]
    else:  # in the pre-roll: left out, and the others keep the names they have in the session
        assert names == [(0, "start"), (4000, "marker 3")]


def test_mp3_from_the_start_press_is_shorter_by_the_preroll(tmp_path):
    session = tmp_path / SESSION_ID
    manifest, _ = random_session(session, "S16_LE", lengths=(48000, 48000, 48000))
    manifest.preroll_frames = 60000
    trimmed = export(session, manifest, "mp3", tmp_path / "a.mp3", from_start=True)
    whole = export(session, manifest, "mp3", tmp_path / "b.mp3")
    assert soundfile.info(str(trimmed)).frames == pytest.approx(144000 - 60000, abs=1152)
    assert soundfile.info(str(whole)).frames == pytest.approx(144000, abs=1152)
    assert float(ffprobe(trimmed)["format"]["duration"]) == pytest.approx(1.75, abs=0.05)


def test_a_session_with_nothing_after_the_press_has_no_trimmed_export(tmp_path):
    session = tmp_path / SESSION_ID
    manifest, _ = random_session(session, "S16_LE")
    manifest.preroll_frames = 4800 + 12001 + 777
    with pytest.raises(DeliverableError, match="no audio after the start press"):
        export(session, manifest, "flac", tmp_path / "a.flac", from_start=True)
    assert not (tmp_path / "a.flac").exists()


# ---------------------------------------------------------------- through the real recorder

RATE = 8000
PERIOD = RATE  # period_ms 1000: one write of 16 kB per second of audio
PREROLL_S = 2


class Metered:
    """Periods of random audio for the feeder, let through a counted number at a time.

    While held the feeder waits, so the recorder has read every period fed when the test
    presses start or stop: the session is then exactly as long as the periods let through.
    `taken()` (frames the writer has taken) keeps the feed at most `most_ahead` frames ahead of
    the writer, so "as fast as possible" never overflows the recorder's buffer.
    """

    def __init__(self, most_ahead: int) -> None:
        self.most_ahead = most_ahead
        self.taken: Callable[[], int] = lambda: 0
        self._cond = threading.Condition()
        self._credit: int | None = None  # guarded by _cond: periods still allowed; None: any
        self._closed = False  # guarded by _cond
        self.sent = 0  # guarded by _cond: periods handed to the feeder

    def __iter__(self) -> Iterator[bytes]:
        for chunk in random_periods(FORMATS["S16_LE"], 1, PERIOD, None, seed=13):
            with self._cond:
                while not self._closed and (
                    self._credit == 0 or self.sent * PERIOD - self.taken() > self.most_ahead
                ):
                    self._cond.wait(0.002)
                if self._closed:
                    return
                if self._credit is not None:
                    self._credit -= 1
                self.sent += 1
            yield chunk

    def hold(self) -> int:
        """Stop after the period in hand; returns how many periods were handed out in all."""
        with self._cond:
            self._credit = 0
            return self.sent

    def release(self, periods: int) -> None:
        with self._cond:
            self._credit = periods
            self._cond.notify_all()

    def run_free(self) -> None:
        with self._cond:
            self._credit = None
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _record_exactly(r: Running, source: Metered, minutes: int) -> tuple[Manifest, Path]:
    """One session of exactly `minutes` after the press (plus the pre-roll), fed fast."""
    r.wait_frames((r.rec.tap.position // PERIOD + PREROLL_S + 1) * PERIOD, timeout=60)
    sent = source.hold()
    r.wait_frames(sent * PERIOD, timeout=60)
    started = r.request(Start())
    assert started["ok"], started
    source.release(minutes * 60)
    r.wait_session_frames((PREROLL_S + minutes * 60) * RATE, timeout=300)
    stopped = r.request(Stop())
    assert stopped["ok"], stopped
    source.run_free()  # the box keeps listening between sessions
    session = r.wait_outbox(started["session_id"], timeout=120)
    return session.manifest, session.path


@pytest.mark.slow
def test_a_61_minute_session_fails_on_length_and_a_30_minute_one_passes(tmp_path, mic):
    cfg = make_config(
        tmp_path,
        audio={
            "rate": RATE,
            "channels": 1,
            "period_ms": 1000,
            "preroll_s": PREROLL_S,
            "segment_s": 600.0,
        },
        warnings={"disk_minutes": 0},
    )
    source = Metered(most_ahead=10 * RATE)  # the recorder buffers 30 s (buffer_s)
    feeder = Feeder(mic.infile, iter(source), None, record=True)
    running = Running(cfg, feeder)
    source.taken = lambda: running.rec.tap.position - running.rec.queue.frames
    try:
        with running as r:
            short, short_dir = _record_exactly(r, source, 30)
            long, long_dir = _record_exactly(r, source, 61)
            source.run_free()
    finally:
        source.close()

    for m, minutes in ((short, 30), (long, 61)):
        assert m.preroll_frames == PREROLL_S * RATE
        assert m.frames == (PREROLL_S + minutes * 60) * RATE
        assert m.gaps == [] and m.stop_reason == "requested"
    write_transcript(short_dir, 30 * MIN, _conversation(30 * MIN))
    write_transcript(long_dir, 61 * MIN, _conversation(61 * MIN))

    checks = {c.name: c for c in check(long_dir, long)}
    assert [n for n, c in checks.items() if c.result != "pass"] == [
        "length", "proofread", "consent",
    ]  # fmt: skip
    assert checks["length"].result == "fail"
    assert checks["length"].message == "61 min 0 s: 1 min 0 s over the 60-minute limit"
    assert checks["consent"].result == "fail"  # nothing recorded yet

    checks = check(short_dir, short)
    assert {c.name: c.result for c in checks} == {
        "length": "pass",
        "speakers": "pass",
        "gaps": "pass",
        "ending": "pass",
        "transcript": "pass",
        "proofread": "fail",
        "consent": "fail",
    }
    assert checks[0].message == (
        "30 min 0 s from the start press, within 20 to 60 minutes; "
        "the 2 s pre-roll before it is not counted"
    )
    assert verdict(checks) == "not ready: proofread failed, consent failed"
    store = SessionStore(cfg.storage.dir)
    records = SessionRecords(store, lambda: datetime(2026, 12, 1, 10, tzinfo=UTC))
    records.record_consent(short.id, _entry("allow", "share", at=""), "cli")
    short = store.read_manifest(short_dir)
    checks = check(short_dir, short)
    assert verdict(checks) == "not ready: proofread failed"
    mark_proofread(short_dir, True, 0, "2026-12-01T10:05:00+00:00", "cli")
    checks = check(short_dir, short)
    assert verdict(checks) == "ready"
    print(report(checks, short.id))  # shown with -s: what a coach reads

    # the file to submit begins at the press: the fed audio after the pre-roll, sample-exact
    out = export(short_dir, short, "flac", tmp_path / "submit.flac", from_start=True)
    assert soundfile.info(str(out)).frames == short.frames - short.preroll_frames
    fb = FORMATS["S16_LE"].frame_bytes(1)
    press = short.start_pos + short.preroll_frames
    fed = bytes(feeder.recorded[press * fb : (short.start_pos + short.frames) * fb])
    assert sox_raw([str(out)]) == fed
