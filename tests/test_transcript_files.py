"""transcript.txt, .vtt and .docx, read back by independent readers: python-docx, LibreOffice
and webvtt-py."""

from __future__ import annotations

import shutil
import subprocess

import docx
import pytest
import webvtt

from recorder.core.transcript import ONE_MIC_NOTE, UNKNOWN_SPEAKER, Line, MarkerLine, TranscriptDoc
from recorder.core.transcript_text import entries, timestamp, to_txt, to_vtt, vtt_time
from recorder.transcript.docx_file import write_all


def _doc(**changes) -> TranscriptDoc:
    base = dict(
        session_id="000001-20261203T100000Z",
        title="Session 000001-20261203T100000Z",
        date="2026-12-03",
        length_s=1834.0,
        speakers=("Coach", "Client"),
        mode="channels",
        engine="pocketsphinx",
        lines=(
            Line(0.4, 4.2, "Coach", "what would a good outcome look like"),
            Line(5.0, 12.5, "Client", "I would like to talk about my promotion", overlap=False),
            Line(12.0, 14.0, "Coach", "tell me more", overlap=True),
            Line(754.9, 760.0, "Client", ""),
        ),
        markers=(MarkerLine(6.0, "goal agreed"), MarkerLine(3700.0, "end")),
        notes=("Times count from the start press.",),
    )
    base.update(changes)
    return TranscriptDoc(**base)


def test_timestamps_round_down_and_pass_the_hour():
    assert timestamp(0) == "00:00:00"
    assert timestamp(59.999) == "00:00:59"
    assert timestamp(3723.5) == "01:02:03"
    assert vtt_time(3723.5) == "01:02:03.500"


def test_a_marker_inside_a_turn_comes_after_it_and_others_at_their_time():
    order = [getattr(e, "speaker", None) or e.label for e in entries(_doc())]
    assert order == ["Coach", "Client", "goal agreed", "Coach", "Client", "end"]


def test_txt_has_one_paragraph_per_turn_with_a_timestamp_at_every_change():
    text = to_txt(_doc())
    paragraphs = text.strip().split("\n\n")
    assert paragraphs[0] == "Session 000001-20261203T100000Z"
    assert "Length: 30 min 34 s" in paragraphs
    body = [p for p in paragraphs if p.startswith("[")]
    assert body == [
        "[00:00:00] Coach: what would a good outcome look like",
        "[00:00:05] Client: I would like to talk about my promotion",
        "[00:00:06] — Marker: goal agreed",
        "[00:00:12] Coach (overlapping): tell me more",
        "[00:12:34] Client: (inaudible)",
        "[01:01:40] — Marker: end",
    ]


def test_one_microphone_mode_says_so_and_leaves_the_speaker_to_fill_in():
    doc = _doc(
        mode="one-mic",
        lines=(Line(1.0, 3.0, UNKNOWN_SPEAKER, "hello"),),
        notes=(ONE_MIC_NOTE,),
    )
    text = to_txt(doc)
    assert ONE_MIC_NOTE in text
    assert f"[00:00:01] {UNKNOWN_SPEAKER}: hello" in text


def test_vtt_is_read_by_webvtt_py_with_voices_and_escaping(tmp_path):
    long = " ".join(f"word{i}" for i in range(40))
    doc = _doc(
        lines=(
            Line(0.0, 20.0, "Coach", long),
            Line(21.0, 23.0, "Client", "a <b>bold</b> & plain claim"),
        ),
        markers=(MarkerLine(20.5, "goal"),),
    )
    path = tmp_path / "t.vtt"
    path.write_text(to_vtt(doc))
    cues = webvtt.read(str(path))
    starts = [c.start_in_seconds for c in cues]
    assert starts == sorted(starts)
    assert all(c.end_in_seconds > c.start_in_seconds for c in cues)
    coach = [c for c in cues if c.voice == "Coach"]
    assert len(coach) == 3  # 40 words over 20 s: captions of at most 7 s
    assert " ".join(c.text for c in coach) == long
    [client] = [c for c in cues if c.voice == "Client"]
    assert client.text == "a &lt;b&gt;bold&lt;/b&gt; &amp; plain claim"  # shown as typed
    assert any("Marker: goal" in c.text for c in cues)


def test_docx_read_back_by_python_docx(tmp_path):
    names = write_all(_doc(), tmp_path)
    assert names == ["transcript.docx", "transcript.txt", "transcript.vtt"]
    d = docx.Document(str(tmp_path / "transcript.docx"))
    assert d.core_properties.title == "Session 000001-20261203T100000Z"
    texts = [p.text for p in d.paragraphs]
    assert texts[0] == "Session 000001-20261203T100000Z"
    body = [t for t in texts if t.startswith("[")]
    assert body == [p for p in to_txt(_doc()).strip().split("\n\n") if p.startswith("[")]
    turn = next(p for p in d.paragraphs if p.text.startswith("[00:00:05]"))
    assert turn.runs[0].bold and turn.runs[0].text == "[00:00:05] Client:"
    marker = next(p for p in d.paragraphs if "Marker" in p.text)
    assert marker.runs[0].italic


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_opens_the_docx(tmp_path):
    write_all(_doc(), tmp_path)
    out = tmp_path / "out"
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{tmp_path / 'profile'}",
            "--headless",
            "--convert-to",
            "txt:Text",
            "--outdir",
            str(out),
            str(tmp_path / "transcript.docx"),
        ],
        check=True,
        capture_output=True,
        timeout=110,
    )
    text = (out / "transcript.txt").read_text(encoding="utf-8-sig")
    assert "[00:00:05] Client: I would like to talk about my promotion" in text
    assert "[00:00:12] Coach (overlapping): tell me more" in text
    assert "[00:00:06] — Marker: goal agreed" in text


def test_an_hour_of_lines_writes_and_opens(tmp_path):
    lines = tuple(
        Line(i * 6.0, i * 6.0 + 5.0, ("Coach", "Client")[i % 2], "some words " * 8)
        for i in range(600)
    )
    write_all(_doc(lines=lines, markers=()), tmp_path)
    d = docx.Document(str(tmp_path / "transcript.docx"))
    assert sum(p.text.startswith("[") for p in d.paragraphs) == 600
    assert len(webvtt.read(str(tmp_path / "transcript.vtt"))) >= 600
