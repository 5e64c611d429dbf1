"""Outside input is checked once at the door (`inbound.decode`) and again at every field.

The phone (MQTT), `ctl` (the control socket) and the command line all end in
`requests.parse_request`; MQTT and ctl pass `decode` first, the command line and manifests do
not, so every field cleaner refuses what `decode` would have (issue 20, points 1, 7 and 8).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from recorder.app.assemble_coaching import build_coaching
from recorder.coaching.records import RecordError, SessionRecords
from recorder.core.coaching.consent import Entry, may_share, read_history
from recorder.core.coaching.shares import Share, ShareError, is_expired, parse_expire, read_shares
from recorder.core.inbound import ECHO_CHARS, MAX_BYTES, MAX_DEPTH, RequestError, decode, echo
from recorder.core.requests import Query, parse_request, read_request
from recorder.store.sessions import SessionStore
from tests.factories import SESSION_ID, finished_session, tone, write_session
from tests.support import cli, make_config
from tests.support import write_config as write_cfg

SID = "000012-20261206T080613Z"
ARABIC = "١٢٣٤٥٦-20261206T080613Z"  # the id: Arabic-Indic digits, which `\d` takes
LONG = "1" * 300 + "-20261206T080613Z"  # a file name the kernel refuses (ENAMETOOLONG)
LONE = "\ud800"

# ---- the door: size, encoding, nesting, numbers ------------------------------------------


def test_decode_reads_a_request_and_a_plain_word():
    assert decode(b' {"cmd": "mark", "label": "insight"}\n') == {"cmd": "mark", "label": "insight"}
    assert decode(b"start", plain_words=True) == {"cmd": "start"}
    with pytest.raises(RequestError, match="not JSON"):
        decode(b"start")


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"", "the request is empty"),
        (b" \n", "the request is empty"),
        (b'{"cmd": "mark", "label": "' + b"x" * MAX_BYTES + b'"}', f"at most {MAX_BYTES}"),
        (b'{"cmd": "mark", "label": "caf\xe9"}', "not UTF-8 (byte 0xE9 at position 30)"),
        (b'{"cmd": "mark", "label": "x\\ud800"}', "unpaired surrogate (U+D800) at position 2"),
        (b'{"cmd": "mark", "\\udfff": 1}', "a field name holds an unpaired surrogate"),
        (
            b"[" * 30_000 + b"]" * 30_000,
            f"nested more than {MAX_DEPTH} deep",
        ),  # json.loads: RecursionError
        (b'{"cmd": "label_marker", "marker": NaN}', "NaN is not a number a request may hold"),
        (b'{"cmd": "label_marker", "marker": -Infinity}', "-Infinity is not a number"),
        (b'{"cmd": "label_marker", "marker": 1e999}', "'1e999' is not a number a request may"),
        (b'{"cmd": "mark"', "not JSON"),
    ],
)
def test_decode_refuses_with_a_message(raw, says):
    with pytest.raises(RequestError) as refused:
        decode(raw)
    assert says in str(refused.value)
    assert len(str(refused.value)) < 400
    str(refused.value).encode("utf-8")  # the message itself can be logged and sent back


def test_brackets_inside_strings_are_not_nesting():
    deep = "[" * 1000
    assert decode(json.dumps({"cmd": "mark", "label": deep}).encode())["label"] == deep


def test_echo_is_cut_and_safe_on_anything():
    assert echo("start") == "'start'"
    long = echo("x" * 100_000)
    assert long.startswith("'xxx") and long.endswith(f"(cut at {ECHO_CHARS} characters)")
    assert len(long) < ECHO_CHARS + 40
    assert echo("a\ud800b") == "'a\\ud800b'"  # escaped: a log line or JSON reply takes it
    assert echo(10**5000) == "<a int too large to show>"
    nested: list = []
    for _ in range(100_000):
        nested = [nested]
    assert echo(nested) == "<a list too large to show>"
    assert len(echo(list(range(100_000)))) < ECHO_CHARS + 40


# ---- every field cleaner refuses an unpaired surrogate -----------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"cmd": "mark", "label": f"x{LONE}"}, "label"),
        ({"cmd": "label", "session": SID, "client": f"Sam{LONE}"}, "client"),
        ({"cmd": "label", "session": SID, "title": LONE}, "title"),
        ({"cmd": "label", "session": SID, "notes": f"line\n{LONE}"}, "notes"),
        ({"cmd": "next", "client": f"Kim{LONE}"}, "client"),
        ({"cmd": "next", "title": f"{LONE}Goals"}, "title"),
        ({"cmd": "label_marker", "session": SID, "marker": 1, "label": LONE}, "label"),
        ({"cmd": "consent", "session": SID, "allow": "copy", "ref": f"signed{LONE}"}, "ref"),
        (
            {"cmd": "consent", "session": SID, "allow": "share", "ref": "r", "to": LONE},
            "to",
        ),
        ({"cmd": "share", "session": SID, "to": f"Alex{LONE}"}, "to"),
        ({"cmd": "share", "session": SID, "to": "Alex", "expire": f"14d{LONE}"}, "the expiry"),
    ],
)
def test_an_unpaired_surrogate_is_refused_at_every_field(payload, field):
    """The command line reaches the cleaners without `decode` (a byte that is not UTF-8 in an
    argument arrives as a surrogate), and so would any new way in."""
    with pytest.raises(RequestError) as refused:
        parse_request(payload, "cli")
    message = str(refused.value)
    assert f"{field} holds an unpaired surrogate (U+D800)" in message
    message.encode("utf-8")


def test_stored_consent_and_shares_holding_a_surrogate_are_damaged_not_used():
    entry = {"at": "2026-12-06", "action": "allow", "what": "share", "ref": LONE, "to": None}
    entries, problems = read_history([entry])
    assert entries == [] and problems == [
        "consent entry 1: ref holds an unpaired surrogate (U+D800) at position 1: not text; "
        "send it as UTF-8"
    ]
    share = {"id": "ab12cd34", "to": "Alex", "purpose": "share", "what": "mp3", "remote": "s:x",
             "created_at": "2026-12-06", "files": [f"session{LONE}.mp3"]}  # fmt: skip
    shares, problems = read_shares([share])
    assert shares == [] and "files holds an unpaired surrogate" in problems[0]


# ---- `next` with a surrogate (point 8) ---------------------------------------------------


def test_next_with_a_surrogate_is_refused_not_answered_ok_and_dropped(tmp_path):
    """It answered ok:true and stored the name; at the start, writing it into the manifest
    failed and only the log said so: the session had no name and the coach was never told."""
    cfg = make_config(tmp_path)
    store = SessionStore(cfg.storage.dir)
    store.prepare()
    coaching = build_coaching(cfg, store, discard=lambda sid: {})
    nxt = coaching.set_next  # what `next` runs, over ctl and MQTT alike
    answer = nxt(Query("next", None, {"client": f"Kim{LONE}", "title": "", "source": "mqtt"}))
    assert answer["ok"] is False
    assert "'next': client holds an unpaired surrogate (U+D800)" in answer["message"]
    assert not (store.root / "next-session.json").exists()
    assert nxt(Query("next", None, {"client": "Kim", "title": ""}))["ok"] is True
    assert json.loads((store.root / "next-session.json").read_text())["client"] == "Kim"


def test_the_command_line_refuses_an_argument_that_is_not_utf8(tmp_path):
    """`label next --client $'Kim\\xff'`: the byte arrives as U+DCFF (surrogateescape)."""
    path = write_cfg(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "recorder", "label", "next", "--client", b"Kim\xff",
         "--config", str(path)],
        capture_output=True, check=False, timeout=60,
    )  # fmt: skip
    stderr = done.stderr.decode("utf-8")
    assert done.returncode == 1, stderr
    assert "client holds an unpaired surrogate (U+DCFF) at position 4" in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "sessions" / "next-session.json").exists()


# ---- session ids are ASCII (point 7) -----------------------------------------------------

SESSION_COMMANDS = {
    "discard": {},
    "label": {"client": "Sam"},
    "label_marker": {"marker": 1, "label": "x"},
    "consent": {"allow": "copy", "ref": "signed"},
    "share": {"to": "Alex"},
    "revoke": {"share": "ab12cd34"},
    "consent_history": {},
}


@pytest.mark.parametrize("cmd", SESSION_COMMANDS)
@pytest.mark.parametrize("session", [ARABIC, LONG, "０００００１-20261206T080613Z"])
def test_every_command_that_takes_a_session_refuses_an_id_that_is_not_ascii(cmd, session):
    raw = json.dumps({"cmd": cmd, "session": session, **SESSION_COMMANDS[cmd]}).encode()
    for plain_words in (False, True):  # ctl, MQTT
        with pytest.raises(RequestError) as refused:
            read_request(raw, "mqtt", plain_words=plain_words)
        message = str(refused.value)
        assert f"'{cmd}' needs a session id, not {echo(session)}" in message
        assert len(message) < 400
    good = json.dumps({"cmd": cmd, "session": SID, **SESSION_COMMANDS[cmd]}).encode()
    assert read_request(good, "ctl").session == SID


@pytest.mark.parametrize("share", ["../../index", "ab12cd34\n", "١٢٣", "x" * 41, ""])
def test_revoke_takes_only_a_share_id_as_the_box_makes_them(share):
    with pytest.raises(RequestError, match="'revoke' needs share = a share id"):
        parse_request({"cmd": "revoke", "session": SID, "share": share}, "ctl")


def test_an_expiry_is_written_with_ascii_digits():
    assert parse_expire("14d") == 14 * 86400 and parse_expire(" 2 W ") == 2 * 7 * 86400
    with pytest.raises(ShareError, match="write a number of hours, days or weeks"):
        parse_expire("١٤d")


def test_the_command_line_finds_no_session_by_an_id_that_is_not_ascii(tmp_path):
    """A folder with the issue's name is not a session: not listed, not found, not labelled."""
    path = write_cfg(tmp_path)
    audio = [[tone(8000).tobytes()]]
    write_session(tmp_path / "sessions" / "outbox" / ARABIC, audio, 8000, 1, "S16_LE")
    write_session(tmp_path / "sessions" / "outbox" / SESSION_ID, audio, 8000, 1, "S16_LE")
    listed = json.loads(cli("sessions", "--json", "--config", str(path)).stdout)
    assert [s["id"] for s in listed] == [SESSION_ID]
    export = cli("export", ARABIC, "--config", str(path))
    assert export.returncode == 1 and f"session {ARABIC}: not found" in export.stderr
    label = cli("label", ARABIC, "--client", "Sam", "--config", str(path))
    assert label.returncode == 1 and "'label' needs a session id" in label.stderr


# ---- refusals stay short -----------------------------------------------------------------


def test_a_refusal_names_a_few_damaged_consent_entries_not_all():
    problems = [f"consent entry {n}: what missing or not text" for n in range(1, 501)]
    _, why = may_share([], problems, "Alex", "Sam")
    assert why is not None and "entry 1:" in why and "and 497 more" in why and len(why) < 400


def test_an_expiry_without_a_time_zone_counts_as_passed_not_a_crash():
    """Written by hand; the sweep compared it with an aware time and raised TypeError."""
    share = Share("ab12cd34", "Alex", "share", "mp3", ("session.mp3",), "s:x", "2026-12-01",
                  expires_at="2026-12-31T00:00:00")  # fmt: skip
    assert is_expired(share, datetime(2026, 12, 6, tzinfo=UTC)) is True


def test_consent_entries_from_the_command_line_keep_their_source():
    entries, problems = read_history([Entry("2026-12-06", "allow", "copy", "signed").to_json()])
    assert problems == [] and entries[0].source == "cli"


def test_a_record_change_that_cannot_be_written_is_refused_and_changes_nothing(tmp_path):
    """Behind the cleaners: a value no manifest can hold is a RecordError (an answer to the
    coach), not a serialisation error out of the thread that serves the coach."""

    folder, _ = finished_session(tmp_path / "sessions", [tone(16000).tobytes()], 8000)
    before = (folder / "manifest.json").read_bytes()
    records = SessionRecords(SessionStore(tmp_path / "sessions"), lambda: datetime.now(UTC))
    with pytest.raises(RecordError, match=r"cannot be stored .*nothing was changed"):
        records.label(SESSION_ID, {"client": f"Kim{LONE}"})
    assert (folder / "manifest.json").read_bytes() == before
