"""Session details and consent from the command line (no daemon), and the store keeping the
coach's edits when an older copy of the manifest is written over them."""

from __future__ import annotations

import json

from recorder.store.sessions import SessionStore
from tests.factories import SESSION_ID, finished_session, tone
from tests.support import cli
from tests.support import write_config as write_cfg

RATE = 8000


def _session(tmp_path, markers=()) -> tuple:
    """A finished session in outbox/, as the writer leaves it, and the config that finds it."""
    path = write_cfg(tmp_path)
    audio = [tone(RATE * 2).tobytes()]
    folder, _ = finished_session(tmp_path / "sessions", audio, RATE, markers=markers)
    return path, folder


def _manifest(folder) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def test_label_shows_in_sessions_and_the_manifest(tmp_path):
    path, folder = _session(tmp_path)
    done = cli("label", SESSION_ID, "--client", "Sam", "--title", "Goals review",
               "--number", "3", "--notes", "line one\nline two", "--config", str(path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Sam · Goals review" in done.stdout
    details = _manifest(folder)["details"]
    assert details["client"] == "Sam" and details["number"] == 3
    assert details["notes"] == "line one\nline two"
    [record] = json.loads(cli("sessions", "--json", "--config", str(path)).stdout)
    assert record["name"] == "Sam · Goals review"
    assert record["details"]["title"] == "Goals review"
    table = cli("sessions", "--config", str(path)).stdout
    assert "Sam · Goals review" in table
    # a second label changes only what it names
    cli("label", SESSION_ID, "--title", "Values", "--config", str(path))
    assert _manifest(folder)["details"]["client"] == "Sam"
    assert _manifest(folder)["details"]["title"] == "Values"


def test_bad_details_are_refused_and_change_nothing(tmp_path):
    path, folder = _session(tmp_path)
    before = (folder / "manifest.json").read_bytes()
    bad = cli("label", SESSION_ID, "--client", "Sam\x1b[31m", "--config", str(path))
    assert bad.returncode == 1 and "control character U+001B" in bad.stderr
    long = cli("label", SESSION_ID, "--notes", "x" * 10_000, "--config", str(path))
    assert long.returncode == 1 and "notes are 10000 characters; at most 4000" in long.stderr
    none = cli("label", SESSION_ID, "--config", str(path))
    assert none.returncode == 1 and "at least one of client" in none.stderr
    unknown = cli("label", "000099-20260101T000000Z", "--client", "Kim", "--config", str(path))
    assert unknown.returncode == 1 and "no session 000099-20260101T000000Z" in unknown.stderr
    assert (folder / "manifest.json").read_bytes() == before


def test_relabelling_a_marker_rewrites_the_label_track(tmp_path):
    path, folder = _session(tmp_path, markers=[(800, ""), (4000, "breakthrough")])
    done = cli("label", SESSION_ID, "--marker", "1", "--label", "goal set", "--config", str(path))
    assert done.returncode == 0, done.stderr
    assert "marker 1 at 0.1 s is now “goal set”" in done.stdout
    lines = (folder / "labels.txt").read_text().splitlines()
    assert lines == ["0.100000\t0.100000\tgoal set", "0.500000\t0.500000\tbreakthrough"]
    marker = _manifest(folder)["markers"][0]
    assert marker["label"] == "goal set" and marker["edited_at"]
    missing = cli("label", SESSION_ID, "--marker", "3", "--label", "x", "--config", str(path))
    assert missing.returncode == 1 and "has 2 marker(s); there is no marker 3" in missing.stderr


def test_three_consent_changes_leave_three_entries(tmp_path):
    path, folder = _session(tmp_path)
    steps = [
        ("--allow", "share", "--to", "Alex", "--ref", "signed release 2026-12-01"),
        ("--allow", "copy", "--ref", "asked by email 2026-12-02"),
        ("--withdraw", "share", "--ref", "phone call 2026-12-03"),
    ]
    for step in steps:
        done = cli("consent", SESSION_ID, *step, "--config", str(path))
        assert done.returncode == 0, done.stderr
    history = _manifest(folder)["consent"]
    assert [(e["action"], e["what"], e["to"]) for e in history] == [
        ("allow", "share", "Alex"),
        ("allow", "copy", None),
        ("withdraw", "share", None),
    ]
    assert [e["ref"] for e in history] == [s[-1] for s in steps]
    assert all(e["source"] == "cli" and e["at"] for e in history)
    shown = cli("consent", SESSION_ID, "--config", str(path))
    assert shown.returncode == 0
    assert "now: record yes, share no, client copy yes" in shown.stdout
    assert shown.stdout.count("signed release 2026-12-01") == 1
    log = (tmp_path / "sessions" / "consent.log").read_text().splitlines()
    assert len(log) == 3 and json.loads(log[0])["session"] == SESSION_ID


def test_consent_needs_a_reference(tmp_path):
    path, folder = _session(tmp_path)
    done = cli("consent", SESSION_ID, "--allow", "share", "--config", str(path))
    assert done.returncode == 1 and "say how consent was obtained" in done.stderr
    assert "consent" not in _manifest(folder)


def test_a_damaged_consent_entry_is_reported_not_dropped(tmp_path):
    path, folder = _session(tmp_path)
    cli("consent", SESSION_ID, "--allow", "share", "--ref", "signed", "--config", str(path))
    data = _manifest(folder)
    data["consent"].append({"at": "2026-12-03", "action": "withdraw", "what": 7, "ref": "x"})
    (folder / "manifest.json").write_text(json.dumps(data))
    shown = cli("consent", SESSION_ID, "--config", str(path))
    assert "DAMAGED: consent entry 2: what missing or not text" in shown.stdout
    [record] = json.loads(cli("sessions", "--json", "--config", str(path)).stdout)
    assert record["state"] == "outbox"  # the session itself is fine
    assert record["consent"]["problems"] == ["consent entry 2: what missing or not text"]
    # another change is still appended after it, the damaged entry kept as it was
    cli("consent", SESSION_ID, "--allow", "copy", "--ref", "email", "--config", str(path))
    assert len(_manifest(folder)["consent"]) == 3
    assert _manifest(folder)["consent"][1]["what"] == 7


def test_withdrawing_record_without_yes_asks_and_keeps_the_session(tmp_path):
    path, folder = _session(tmp_path)
    done = cli("consent", SESSION_ID, "--withdraw", "record", "--ref", "email",
               "--config", str(path))  # fmt: skip
    assert done.returncode == 1 and "Add --yes" in done.stderr
    assert folder.is_dir()
    done = cli("consent", SESSION_ID, "--withdraw", "record", "--ref", "client asked by email",
               "--yes", "--config", str(path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "discarded" in done.stdout and not folder.exists()
    log = [json.loads(x) for x in (tmp_path / "sessions" / "consent.log").read_text().splitlines()]
    assert log[0]["what"] == "record" and log[0]["ref"] == "client asked by email"
    assert log[1]["discard"]["local"] == "deleted from outbox/"


def test_an_older_copy_written_later_keeps_the_coach_edits(tmp_path):
    """The outbox reads a manifest, uploads for minutes, then writes its copy: an edit made
    meanwhile must survive."""
    path, folder = _session(tmp_path, markers=[(800, "")])
    store = SessionStore(tmp_path / "sessions")
    stale = store.read_manifest(folder)
    cli("label", SESSION_ID, "--client", "Sam", "--config", str(path))
    cli("consent", SESSION_ID, "--allow", "copy", "--ref", "signed", "--config", str(path))
    cli("label", SESSION_ID, "--marker", "1", "--label", "insight", "--config", str(path))
    stale.upload.status = "uploaded"
    store.write_manifest(folder, stale)
    data = _manifest(folder)
    assert data["upload"]["status"] == "uploaded"
    assert data["details"]["client"] == "Sam"
    assert data["consent"][0]["what"] == "copy"
    assert data["markers"][0]["label"] == "insight"
    assert stale.markers[0].label == "insight"  # the writer's copy is brought up to date too


def test_the_next_session_is_kept_and_cleared(tmp_path):
    path, _ = _session(tmp_path)
    done = cli("label", "next", "--client", "Kim", "--config", str(path))
    assert done.returncode == 0 and "the next session is for Kim" in done.stdout
    saved = json.loads((tmp_path / "sessions" / "next-session.json").read_text())
    assert saved == {"client": "Kim", "title": ""}
    cli("label", "next", "--client", "", "--title", "", "--config", str(path))
    assert not (tmp_path / "sessions" / "next-session.json").exists()
