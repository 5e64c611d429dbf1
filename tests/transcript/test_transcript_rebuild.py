"""`transcript --rebuild` never throws away the coach's corrections unasked: it refuses a
corrected transcript, and with --discard-corrections keeps the corrected one beside the new.

Real parts: a two-voice session written by the recorder's segment writer, the real command
line, the real transcript worker (whisper, the default) and the real correction command.
"""

from __future__ import annotations

import json

from recorder.store.sessions import SessionStore
from tests.factories import write_session
from tests.speech import SCRIPT, conversation, to_int16
from tests.support import cli, write_config

RATE = 48000
SID = "000007-20261206T090000Z"


def test_a_rebuild_refuses_to_replace_the_coachs_corrections(tmp_path):
    config = write_config(tmp_path, transcript={})
    store = SessionStore(tmp_path / "sessions")
    store.prepare()
    audio, _ = conversation(SCRIPT[:2], RATE)
    folder = store.state_dir("outbox") / SID
    m = write_session(folder, [[to_int16(audio).tobytes()]], RATE, 2, "S16_LE", id=SID)
    store.write_manifest(folder, m)

    built = cli("transcript", SID, "--config", str(config), timeout=300)
    assert built.returncode == 0, built.stderr
    fix = [{"op": "text", "line": 0, "text": "Words the coach put right."}]
    edited = cli("transcript-edit", SID, "--base", "0", json.dumps(fix), "--config", str(config))
    assert edited.returncode == 0, edited.stdout + edited.stderr
    corrected = (folder / "transcript.json").read_bytes()

    refused = cli("transcript", SID, "--rebuild", "--config", str(config), timeout=300)
    assert refused.returncode == 1
    assert "1 save of corrections" in refused.stderr and "--discard-corrections" in refused.stderr
    assert (folder / "transcript.json").read_bytes() == corrected  # nothing touched
    assert "Words the coach put right." in (folder / "transcript.txt").read_text()

    again = cli("transcript", SID, "--rebuild", "--discard-corrections", "--config", str(config),
                timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "kept in transcript.corrected.json" in again.stderr
    assert (folder / "transcript.corrected.json").read_bytes() == corrected
    fresh = json.loads((folder / "transcript.json").read_text())
    assert fresh["status"] == "done" and fresh.get("revision", 0) == 0
    assert "Words the coach put right." not in (folder / "transcript.txt").read_text()
