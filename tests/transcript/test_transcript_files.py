"""transcript.txt, .vtt and .docx: the layout a coach submits, read back by independent readers
(webvtt-py, python-docx, LibreOffice headless, and Chromium's own caption parser)."""

from __future__ import annotations

import functools
import html
import http.server
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import docx
import pytest
import webvtt

from recorder.core.transcript.doc import (
    ONE_MIC_NOTE,
    UNKNOWN_SPEAKER,
    Line,
    MarkerLine,
    TranscriptDoc,
    Word,
    join_words,
)
from recorder.core.transcript.text import (
    CUE_GAP_S,
    CUE_LINE_CHARS,
    CUE_MAX_S,
    NO_WORDS,
    START_PRESS_NOTE,
    entries,
    timestamp,
    to_txt,
    to_vtt,
    vtt_time,
)
from recorder.transcript.docx_file import write_docx
from recorder.transcript.files import write_all

TITLE = "Session 000001-20261203T100000Z"
FILES = ["transcript.docx", "transcript.txt", "transcript.vtt"]
# a turn's paragraph: the timestamp at the change of speaker, then who
TURN = re.compile(r"^\[(\d\d):(\d\d):(\d\d)\] (Coach|Client)( \(overlapping\))?: ")


def _doc(**changes) -> TranscriptDoc:
    base = dict(
        session_id="000001-20261203T100000Z",
        title=TITLE,
        date="2026-12-03",
        length_s=1834.6,
        speakers=("Coach", "Client"),
        mode="channels",
        engine="pocketsphinx",
        lines=(
            Line(0.4, 4.2, "Coach", "what would a good outcome look like"),
            Line(5.0, 12.5, "Client", "I would like to talk about my promotion"),
            Line(12.0, 14.0, "Coach", "tell me more", overlap=True),
            Line(754.9, 760.0, "Client", ""),
        ),
        markers=(MarkerLine(6.0, "goal agreed"), MarkerLine(3700.0, "end")),
        notes=(),
    )
    base.update(changes)
    return TranscriptDoc(**base)


BODY = [
    "[00:00:00] Coach: what would a good outcome look like",
    "[00:00:05] Client: I would like to talk about my promotion",
    "[00:00:06] — Marker: goal agreed",
    "[00:00:12] Coach (overlapping): tell me more",
    f"[00:12:34] Client: {NO_WORDS}",
    "[01:01:40] — Marker: end",
]


# ---- pure: times, order, the text layout ----------------------------------------------------


def test_timestamps_round_down_to_the_second_and_pass_the_hour():
    assert timestamp(0) == "00:00:00"
    assert timestamp(59.999) == "00:00:59"  # not yet second 60: a player shows 0:59 too
    assert timestamp(60) == "00:01:00"
    assert timestamp(3600) == "01:00:00"
    assert timestamp(3723.5) == "01:02:03"
    assert timestamp(36000 + 59 * 60 + 59.99) == "10:59:59"
    assert timestamp(-0.2) == "00:00:00"
    assert vtt_time(3723.5) == "01:02:03.500"
    assert vtt_time(59.9994) == "00:00:59.999"
    with pytest.raises(ValueError, match="nan"):
        timestamp(float("nan"))


def test_markers_sit_between_the_lines_at_their_time():
    doc = _doc(
        lines=(
            Line(10.0, 30.0, "Coach", "a long turn"),
            Line(5.0, 9.0, "Client", "first"),  # given out of order: sorted by start
            Line(40.0, 45.0, "Client", "later"),
        ),
        markers=(
            MarkerLine(50.0, "after everything"),
            MarkerLine(20.0, "while the coach talks"),
            MarkerLine(40.0, "at the client's start"),
            MarkerLine(1.0, "before anyone"),
        ),
    )
    order = [e.label if isinstance(e, MarkerLine) else e.text for e in entries(doc)]
    assert order == [
        "before anyone",
        "first",
        "a long turn",
        "while the coach talks",  # inside a turn: after its paragraph, not cutting it
        "at the client's start",  # at a turn's start: before it
        "later",
        "after everything",
    ]


def test_txt_layout():
    assert (
        to_txt(_doc())
        == "\n\n".join(
            [
                "\n".join(
                    [
                        TITLE,
                        "Date: 2026-12-03",
                        "Length: 30 min 34 s",
                        "Speakers: Coach, Client",
                        "Words: recognised by pocketsphinx on the recorder, offline; check them "
                        "against the recording before you submit this transcript.",
                        START_PRESS_NOTE,
                    ]
                ),
                *BODY,
            ]
        )
        + "\n"
    )


def test_a_note_on_the_start_press_is_said_once():
    note = "Times count from the start press; the pre-roll is not part of this transcript."
    text = to_txt(_doc(notes=(note,)))
    assert note in text and START_PRESS_NOTE not in text


def test_one_microphone_mode_says_so_and_leaves_the_speaker_to_fill_in():
    lines = (Line(1.0, 3.0, UNKNOWN_SPEAKER, "hello"), Line(4.0, 6.0, UNKNOWN_SPEAKER, "hi"))
    for notes in ((), (ONE_MIC_NOTE,)):  # whether or not the builder put the note in
        text = to_txt(_doc(mode="one-mic", lines=lines, markers=(), notes=notes))
        assert text.count(ONE_MIC_NOTE) == 1
        assert text.endswith(
            f"[00:00:01] {UNKNOWN_SPEAKER}: hello\n\n[00:00:04] {UNKNOWN_SPEAKER}: hi\n"
        )


def test_text_is_one_clean_paragraph_whatever_the_engine_or_label_gave():
    doc = _doc(
        lines=(Line(1.0, 2.0, "Coach", "two\n\nparagraphs\tand\x00 a nul"), Line(3, 4, "", "x")),
        markers=(MarkerLine(2.5, "  \x07"),),
    )
    assert to_txt(doc).rstrip("\n").split("\n\n")[1:] == [
        "[00:00:01] Coach: two paragraphs and a nul",
        "[00:00:02] — Marker: marker",
        f"[00:00:03] {UNKNOWN_SPEAKER}: x",
    ]


def test_a_line_that_ends_before_it_starts_is_named():
    doc = _doc(lines=(Line(1.0, 2.0, "Coach", "fine"), Line(9.0, 8.0, "Client", "bad")))
    with pytest.raises(ValueError, match=r"line 2 \('Client'\) ends at 8.0 s, before it starts"):
        to_txt(doc)


# ---- transcript.vtt, read by webvtt-py --------------------------------------------------------


def _start(cue: webvtt.Caption) -> int:
    return cue.start_time.in_milliseconds()


def _end(cue: webvtt.Caption) -> int:
    return cue.end_time.in_milliseconds()


def test_vtt_cues_voices_times_and_escaping(tmp_path):
    long = " ".join(f"word{i}" for i in range(40))
    doc = _doc(
        title="Ana & Ben --> <goals>",
        lines=(
            Line(0.0, 20.0, "Coach", long),
            Line(21.0, 23.0, "Client", "a <b>bold</b> & plain --> claim"),
            Line(22.5, 23.5, "Coach", "", overlap=True),
        ),
        markers=(MarkerLine(20.5, "goal <1>"),),
    )
    path = tmp_path / "t.vtt"
    path.write_text(to_vtt(doc), encoding="utf-8")
    vtt = webvtt.read(str(path))
    assert any("Ana & Ben" in c for c in vtt.header_comments)

    cues = list(vtt)
    # the long turn's 269 characters as 4 captions of at most 84, the marker, the client's
    # line, the empty turn
    assert len(cues) == 7
    assert [_start(c) for c in cues] == sorted(_start(c) for c in cues)
    assert all(_end(c) > _start(c) for c in cues)

    coach = [c for c in cues if c.voice == "Coach"][:4]
    assert " ".join(c.text for c in coach) == long
    assert coach[0].start == "00:00:00.000" and coach[-1].end == "00:00:20.000"
    assert all(_end(c) - _start(c) <= CUE_MAX_S * 1000 for c in coach)
    assert [c.end for c in coach[:-1]] == [c.start for c in coach[1:]]  # no gap, no overlap

    [marker] = [c for c in cues if c.voice is None]
    assert marker.start == "00:00:20.500" and html.unescape(marker.text) == "— Marker: goal <1>"
    [client] = [c for c in cues if c.voice == "Client"]
    assert "&lt;b&gt;" in client.raw_text and "-->" not in client.raw_text
    assert html.unescape(client.text) == "a <b>bold</b> & plain --> claim"
    assert (client.start, client.end) == ("00:00:21.000", "00:00:23.000")
    assert cues[-1].voice == "Coach" and cues[-1].text == NO_WORDS


def test_a_long_turn_of_few_words_is_not_a_caption_for_ever(tmp_path):
    path = tmp_path / "t.vtt"
    path.write_text(to_vtt(_doc(lines=(Line(0.0, 40.0, "Client", "yes well"),), markers=())))
    [cue] = webvtt.read(str(path))
    assert cue.text == "yes well" and _end(cue) == CUE_MAX_S * 1000


# ---- transcript.vtt from word times ------------------------------------------------------------

COACH_SAYS = (
    "So what would you like to take away from our conversation today? I think we could start "
    "with the promotion, and what it means for your family, because you said it has been on "
    "your mind for weeks now and you keep going round in circles about the day-to-day work."
)


def _timed(text: str, start: float, pause_after: dict[str, float] | None = None) -> list[Word]:
    """Words 0.3 s long, 0.05 s apart, as whisper gives them (" day", "-to", "-day"), with a
    longer silence after the words named in `pause_after`."""
    out, t = [], start
    for word in text.split():
        for i, piece in enumerate(word.split("-")):
            display = f" {piece}" if i == 0 else f"-{piece}"
            out.append(Word(piece.strip(".,?"), round(t, 3), round(t + 0.3, 3), 0.9, display))
            t += 0.35
        t += (pause_after or {}).get(word, 0.0)
    return out


def _timed_line(speaker: str, words: list[Word]) -> Line:
    return Line(words[0].start_s, words[-1].end_s, speaker, join_words(words), words=tuple(words))


def _cue_lines(path: Path) -> list[webvtt.Caption]:
    return [c for c in webvtt.read(str(path)) if c.voice]


def _flat(cue: webvtt.Caption) -> str:
    return cue.text.replace("\n", " ")


def test_vtt_cues_of_a_paragraph_are_timed_by_its_words(tmp_path):
    coach = _timed(COACH_SAYS, 1.0, {"family,": 0.5})
    right = _timed("Right.", 40.0)
    doc = _doc(lines=(_timed_line("Coach", coach), _timed_line("Client", right)), markers=())
    path = tmp_path / "t.vtt"
    path.write_text(to_vtt(doc), encoding="utf-8")
    cues = _cue_lines(path)

    said = [c for c in cues if c.voice == "Coach"]
    assert len(said) > 1
    assert " ".join(_flat(c) for c in said) == COACH_SAYS  # nothing lost
    # each caption starts at its first word's start and ends at its last word's end
    i = 0
    for cue in said:
        j = next(j for j in range(i + 1, len(coach) + 1) if join_words(coach[i:j]) == _flat(cue))
        mine = coach[i:j]
        assert (cue.start, cue.end) == (vtt_time(mine[0].start_s), vtt_time(mine[-1].end_s))
        assert _end(cue) - _start(cue) <= CUE_MAX_S * 1000
        lines = cue.text.split("\n")
        assert len(lines) <= 2 and all(len(line) <= CUE_LINE_CHARS for line in lines)
        i = j
    assert i == len(coach)
    # cut where a reader pauses: after the question, at the pause after "family,"
    assert _flat(said[0]).endswith("conversation today?")
    assert any(c.text.endswith("family,") for c in said)
    assert "day-to-day" in _flat(said[-1])  # a word is never cut in two
    # a 0.3 s "Right." is a caption of its own, with its voice
    [client] = [c for c in cues if c.voice == "Client"]
    assert (client.text, client.start, client.end) == ("Right.", "00:00:40.000", "00:00:40.300")


def test_a_silence_inside_a_paragraph_ends_its_caption(tmp_path):
    words = _timed("Yes. Mm. I see", 3.0, {"Yes.": CUE_GAP_S, "Mm.": CUE_GAP_S - 0.2})
    path = tmp_path / "t.vtt"
    path.write_text(to_vtt(_doc(lines=(_timed_line("Client", words),), markers=())))
    cues = _cue_lines(path)
    assert [(c.voice, c.text) for c in cues] == [("Client", "Yes."), ("Client", "Mm. I see")]
    assert (cues[0].start, cues[0].end) == ("00:00:03.000", "00:00:03.300")
    assert cues[1].start == vtt_time(words[1].start_s) and cues[1].end == vtt_time(words[-1].end_s)


# ---- transcript.docx, read by python-docx and LibreOffice ------------------------------------


def _check_turns(paragraphs: list[str]) -> None:
    """Every turn of _doc() in order, a timestamp and a name at each; markers between them."""
    body = [p for p in paragraphs if p.startswith("[")]
    assert body == BODY
    speakers = [m.group(4) for p in body if (m := TURN.match(p))]
    assert speakers == ["Coach", "Client", "Coach", "Client"]


def test_write_all_puts_three_files_in_the_session_folder(tmp_path):
    (tmp_path / "transcript.txt").write_text("an older transcript")
    assert write_all(_doc(), tmp_path) == FILES
    assert sorted(p.name for p in tmp_path.iterdir()) == FILES  # replaced, no temp file left
    assert (tmp_path / "transcript.txt").read_text(encoding="utf-8") == to_txt(_doc())
    assert (tmp_path / "transcript.vtt").read_text(encoding="utf-8") == to_vtt(_doc())


def test_a_document_no_format_can_take_leaves_the_old_files(tmp_path):
    write_all(_doc(), tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ValueError, match="line 1"):
        write_all(_doc(lines=(Line(5.0, float("inf"), "Coach", "x"),)), tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_docx_read_back_by_python_docx(tmp_path):
    write_docx(_doc(), tmp_path / "transcript.docx")
    d = docx.Document(str(tmp_path / "transcript.docx"))
    assert d.core_properties.title == TITLE
    created = d.core_properties.created.replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=5)
    heading, *rest = d.paragraphs
    assert heading.text == TITLE and heading.style.name == "Heading 1"
    texts = [p.text for p in rest]
    assert "Length: 30 min 34 s" in texts and START_PRESS_NOTE in texts
    _check_turns(texts)
    turn = next(p for p in rest if p.text.startswith("[00:00:05]"))
    assert [(r.text, bool(r.bold)) for r in turn.runs] == [
        ("[00:00:05] Client:", True),
        (" I would like to talk about my promotion", False),
    ]
    marker = next(p for p in rest if "Marker" in p.text)
    assert [bool(r.italic) for r in marker.runs] == [True]


def test_one_microphone_docx_says_so(tmp_path):
    doc = _doc(mode="one-mic", lines=(Line(1.0, 3.0, UNKNOWN_SPEAKER, "hello"),), markers=())
    write_docx(doc, tmp_path / "t.docx")
    texts = [p.text for p in docx.Document(str(tmp_path / "t.docx")).paragraphs]
    assert ONE_MIC_NOTE in texts and f"[00:00:01] {UNKNOWN_SPEAKER}: hello" in texts


@pytest.mark.skipif(
    shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed"
)
def test_libreoffice_reads_the_docx(tmp_path):
    write_all(_doc(), tmp_path)
    out = tmp_path / "converted"
    done = subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            "txt:Text (encoded):UTF8",
            "--outdir",
            str(out),
            str(tmp_path / "transcript.docx"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = (out / "transcript.txt").read_text(encoding="utf-8-sig")
    paragraphs = [p.strip() for p in text.splitlines() if p.strip()]
    assert paragraphs[0] == TITLE
    _check_turns(paragraphs)


def test_an_hour_of_turns_writes_and_opens(tmp_path):
    lines = tuple(
        Line(i * 6.0, i * 6.0 + 5.5, ("Coach", "Client")[i % 2], f"turn {i} " + "some words " * 12)
        for i in range(600)
    )
    markers = tuple(MarkerLine(i * 300.0 + 1.0, f"m{i}") for i in range(12))
    doc = _doc(length_s=3600.0, lines=lines, markers=markers)
    write_all(doc, tmp_path)
    paragraphs = [p.text for p in docx.Document(str(tmp_path / "transcript.docx")).paragraphs]
    turns = [p for p in paragraphs if TURN.match(p)]
    assert len(turns) == 600 and turns[-1].startswith("[00:59:54] Client: turn 599 ")
    assert sum("— Marker: m" in p for p in paragraphs) == 12
    cues = webvtt.read(str(tmp_path / "transcript.vtt"))
    assert len([c for c in cues if c.voice]) == 1200  # 26 words each: two captions a turn


# ---- a real player: Chromium parses transcript.vtt as a caption track ------------------------

PAGE = """<!doctype html><meta charset="utf-8">
<video id="v" controls muted width="320" height="180">
  <track id="t" kind="captions" srclang="en" label="Transcript" src="transcript.vtt" default>
</video>"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The folder on a loopback HTTP server (a caption track is not loaded from file://)."""
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        pass


def _chromium_cues(base: str) -> dict:
    """The caption track of `base`/index.html as Chromium parsed it: its readyState and cues."""
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("Debian's chromium is not installed")
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=args, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{base}/index.html")
            # readyState 2 = loaded, 3 = failed to load or parse
            page.wait_for_function("[2, 3].includes(document.getElementById('t').readyState)")
            return page.evaluate(
                """() => {
                    const t = document.getElementById('t');
                    return {state: t.readyState, cues: Array.from(t.track.cues, c => ({
                        start: c.startTime, end: c.endTime, text: c.text,
                        voice: c.getCueAsHTML().firstChild.title ?? null,
                        shown: c.getCueAsHTML().textContent}))};
                }"""
            )
        finally:
            browser.close()


def test_chromium_shows_the_vtt_as_captions(served):
    base, folder = served
    write_all(_doc(), folder)
    (folder / "index.html").write_text(PAGE, encoding="utf-8")
    cues = _chromium_cues(base)
    assert cues["state"] == 2
    expected = [c for c in webvtt.read(str(folder / "transcript.vtt"))]
    assert len(cues["cues"]) == len(expected) == 7
    first = cues["cues"][0]
    assert first["text"] == "<v Coach>what would a good outcome look like"
    assert first["voice"] == "Coach" and (first["start"], first["end"]) == pytest.approx((0.4, 4.2))
    assert [round(c["start"] * 1000) for c in cues["cues"]] == [_start(c) for c in expected]


def test_chromium_shows_a_two_line_caption_with_its_speaker(served):
    """A caption cut from word times is two lines under one voice tag: a player keeps the voice
    over both lines and the times of its words."""
    base, folder = served
    coach = _timed(COACH_SAYS, 1.0, {"family,": 0.5})
    write_all(_doc(lines=(_timed_line("Coach", coach),), markers=()), folder)
    (folder / "index.html").write_text(PAGE, encoding="utf-8")
    cues = _chromium_cues(base)
    assert cues["state"] == 2
    expected = _cue_lines(folder / "transcript.vtt")
    assert len(cues["cues"]) == len(expected) > 1
    two = [(c, e) for c, e in zip(cues["cues"], expected, strict=True) if "\n" in e.text]
    assert two
    for shown, read in two:
        assert shown["voice"] == "Coach" and shown["shown"] == read.text
        assert round(shown["start"] * 1000) == _start(read)
        assert round(shown["end"] * 1000) == _end(read)
