"""transcript.json of a long session: every word's timing kept, in a file of a sensible size that
independent JSON readers (jq, Node's JSON.parse) read back exactly."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from recorder.core.transcript.doc import Line, MarkerLine, TranscriptDoc, Word, join_words
from recorder.transcript.status import STATUS_FILE, document, summary, write_status

SAID = (
    "so what would you like to take away from our conversation today I think the promotion "
    "and my family because it has been on mind for weeks day-to-day o'clock"
)
VOCAB = SAID.split()


def _hour() -> TranscriptDoc:
    """About what a one-hour session gives: 600 paragraphs of 15 words, 9,000 words, times to
    the millisecond and probabilities to 0.0001 as the engines give them."""
    lines, t = [], 1.0
    for i in range(600):
        words = []
        for k in range(15):
            text = VOCAB[(i * 15 + k) % len(VOCAB)]
            length = 0.15 + (i * 7 + k * 13) % 35 / 100
            probability = round(0.3 + (i * 31 + k * 17) % 7000 / 10000, 4)
            words.append(Word(text, round(t, 3), round(t + length, 3), probability, f" {text}"))
            t += length + 0.05
        speaker = ("Coach", "Client")[i % 2]
        lines.append(
            Line(words[0].start_s, words[-1].end_s, speaker, join_words(words), False, tuple(words))
        )
        t += 0.8
    return TranscriptDoc(
        session_id="000001-20261206T100000Z",
        title="Session 000001-20261206T100000Z",
        date="2026-12-06",
        length_s=round(t, 3),
        speakers=("Coach", "Client"),
        mode="channels",
        engine="whisper",
        lines=tuple(lines),
        markers=(MarkerLine(60.0, "goal agreed"),),
    )


def _write(folder: Path, doc: TranscriptDoc) -> dict:
    data = {
        "status": "done",
        "engine": doc.engine,
        "files": [],
        "words": doc.words,
        "turns": doc.turns,
        "paragraphs": doc.paragraphs,
        "doc": doc.to_json(),
    }
    write_status(folder, data)
    return data


def test_an_hour_of_word_timings_is_a_compact_file_any_reader_reads(tmp_path):
    doc = _hour()
    data = _write(tmp_path, doc)
    path = tmp_path / STATUS_FILE
    size = path.stat().st_size
    # indented key by key (indent=1 throughout) it was 1,398,247 bytes in 68,429 lines
    assert doc.words == 9000 and size < 1_100_000
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 15_000  # a word a line
    assert '     {"text": "day-to-day", "start_s": ' in text
    assert document(tmp_path) == doc  # nothing rounded away
    assert summary(tmp_path)["paragraphs"] == 600
    expected = json.loads(json.dumps(data))
    jq = shutil.which("jq")
    if jq is None:
        pytest.skip("jq is not installed")
    read = subprocess.run([jq, "-c", ".", str(path)], capture_output=True, text=True, check=True)
    assert json.loads(read.stdout) == expected


def test_node_reads_the_file_as_written(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    doc = _hour()
    data = _write(tmp_path, doc)
    script = "const fs=require('fs');process.stdout.write(JSON.stringify(JSON.parse(fs.readFileSync(process.argv[1],'utf8'))))"
    read = subprocess.run(
        [node, "-e", script, str(tmp_path / STATUS_FILE)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(read.stdout) == json.loads(json.dumps(data))


def test_text_that_looks_like_the_layout_is_written_as_itself(tmp_path):
    """Words, speakers and marker labels are text from anywhere: none of it is mistaken for the
    layout's own stand-ins, and lines without words (older transcripts) keep their shape."""
    tricky = '"words": "\\u0000 0\\u0000" \x00 \n {"text": 1}'
    words = (Word(tricky, 1.0, 1.5, 0.5, f" {tricky}"), Word("x", 1.6, 1.8, None, None))
    doc = TranscriptDoc(
        session_id="s",
        title=tricky,
        date="2026-12-06",
        length_s=10.0,
        speakers=(tricky, "Client"),
        mode="channels",
        engine="whisper",
        lines=(
            Line(1.0, 1.8, tricky, "x", False, words),
            Line(2.0, 3.0, "Client", "", False, ()),
        ),
        markers=(MarkerLine(2.5, tricky),),
    )
    data = _write(tmp_path, doc)
    raw = json.loads((tmp_path / STATUS_FILE).read_text(encoding="utf-8"))
    assert raw == json.loads(json.dumps(data))
    assert document(tmp_path) == doc
    older = {**data, "doc": {**data["doc"], "lines": [dict(data["doc"]["lines"][1])]}}
    del older["doc"]["lines"][0]["words"]
    write_status(tmp_path, older)
    assert json.loads((tmp_path / STATUS_FILE).read_text()) == json.loads(json.dumps(older))
