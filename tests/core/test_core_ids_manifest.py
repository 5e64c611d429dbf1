"""Session ids and the manifest model."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from recorder.core.manifest import (
    AudioInfo,
    GapInfo,
    Manifest,
    ManifestError,
    Marker,
    SegmentInfo,
    dump_manifest,
    parse_manifest,
)
from recorder.core.session_id import is_valid_id, make_id, next_sequence, sequence_of

WHEN = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)
SAFE = re.compile(r"[0-9A-Za-z-]+")


# ---- session ids ------------------------------------------------------------------------


def test_make_id_format():
    assert make_id(1, WHEN, clock_synced=True) == "000001-20260314T092653Z"
    assert make_id(42, WHEN, clock_synced=False) == "000042-20260314T092653Z-u"


def test_make_id_converts_to_utc():
    wall = datetime(2026, 1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    assert make_id(7, wall, True) == "000007-20251231T230000Z"


def test_make_id_grows_past_six_digits():
    sid = make_id(1234567, WHEN, True)
    assert sid.startswith("1234567-")
    assert sequence_of(sid) == 1234567


@pytest.mark.parametrize("seq", [0, 1, 999999, 1000000])
@pytest.mark.parametrize("synced", [True, False])
@pytest.mark.parametrize(
    "wall", [WHEN, datetime(1970, 1, 1, tzinfo=UTC), datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)]
)
def test_ids_are_shell_and_file_name_safe(seq, synced, wall):
    sid = make_id(seq, wall, synced)
    assert SAFE.fullmatch(sid)
    assert is_valid_id(sid)
    assert sequence_of(sid) == seq
    assert sid.endswith("-u") != synced


def test_ids_sort_by_sequence_when_the_clock_goes_backwards():
    ids = [
        make_id(1, datetime(2026, 5, 1, 12, 0, tzinfo=UTC), True),
        make_id(2, datetime(1970, 1, 1, tzinfo=UTC), False),  # rebooted without a clock
        make_id(3, datetime(2001, 1, 1, tzinfo=UTC), False),
        make_id(4, datetime(2026, 5, 1, 11, 0, tzinfo=UTC), True),
    ]
    assert sorted(ids) == ids
    assert sorted(reversed(ids)) == ids


def test_next_sequence_starts_at_one():
    assert next_sequence(None, []) == 1


def test_next_sequence_uses_the_larger_of_counter_and_existing_ids():
    a = make_id(7, WHEN, True)
    b = make_id(2, WHEN, False)
    assert next_sequence(5, []) == 6
    assert next_sequence(None, [a, b]) == 8
    assert next_sequence(3, [a, b]) == 8  # the counter file was lost or rolled back
    assert next_sequence(9, [a, b]) == 10  # the newest folder was deleted


def test_next_sequence_ignores_foreign_names():
    foreign = [
        "notes.txt",
        "lost+found",
        "12-20260101T000000Z",  # too few digits
        "000050-garbage",
        "000060-20260101T000000Z.tmp",
        ".000070-20260101T000000Z",
        "000080-20260101T000000Z-x",
        "",
    ]
    assert next_sequence(4, foreign) == 5
    assert all(sequence_of(name) is None for name in foreign)
    assert not any(is_valid_id(name) for name in foreign)


def test_a_trailing_newline_is_not_a_valid_id():
    name = "000099-20260101T000000Z\n"
    assert not is_valid_id(name)
    assert next_sequence(4, [name]) == 5


# ---- manifest ---------------------------------------------------------------------------


def make_manifest() -> Manifest:
    return Manifest(
        id="000003-20260314T092653Z-u",
        device_id="box-1",
        audio=AudioInfo(device="hw:1", rate=48000, channels=2, format="S24_3LE"),
        started_at="2026-03-14T09:26:53Z",
        clock_synced=False,
        start_pos=1234,
        preroll_frames=48000,
        start_source="button",
        frames=96000,
        state="finalized",
        segments=[
            SegmentInfo(
                file="seg-000000.wav",
                index=0,
                first_frame=0,
                first_pos=1234,
                frames=96000,
                bytes=576044,
                sha256="ab" * 32,
                closed=True,
            )
        ],
        markers=[Marker(frame=480, seconds=0.01, label="intro", source="ctl")],
        gaps=[
            GapInfo(
                kind="overrun", at_frame=100, pos=1334, frames=64, seconds=0.001, estimated=True
            )
        ],
        overruns=1,
        stop_reason="requested",
        ended_at="2026-03-14T09:26:55Z",
        recovery={"repaired_segments": []},
        levels={"frames": 96000, "peak": [1, 2]},
        future_field={"kept": True},  # extra fields survive a round trip
    )


def test_manifest_round_trip():
    m = make_manifest()
    text = dump_manifest(m)
    assert text.endswith("\n")
    assert parse_manifest(text, "x") == m
    assert parse_manifest(text.encode(), "x") == m
    assert json.loads(text)["future_field"] == {"kept": True}


def test_minimal_manifest_round_trip():
    m = Manifest(
        id="000001-20260314T092653Z",
        device_id="box",
        audio=AudioInfo(device="d", rate=8000, channels=1, format="S16_LE"),
        started_at="t",
        clock_synced=True,
        start_pos=0,
        preroll_frames=0,
    )
    assert parse_manifest(dump_manifest(m), "x") == m


def manifest_dict() -> dict:
    return json.loads(dump_manifest(make_manifest()))


WHERE = "/var/lib/session-recorder/recording/000003/manifest.json"


@pytest.mark.parametrize("text", ["{not json", "", "null", "[]", "42", b"\xff\xfe", '{"id": '])
def test_garbage_is_a_manifest_error(text):
    with pytest.raises(ManifestError) as exc:
        parse_manifest(text, WHERE)
    assert WHERE in str(exc.value)
    assert "corrupt manifest" in str(exc.value)


def test_wrong_type_names_the_field():
    data = manifest_dict()
    data["frames"] = "x"
    with pytest.raises(ManifestError) as exc:
        parse_manifest(json.dumps(data), WHERE)
    assert WHERE in str(exc.value)
    assert "frames" in str(exc.value)


@pytest.mark.parametrize(
    ("path", "name"),
    [(("device_id",), "device_id"), (("audio", "rate"), "audio.rate"), (("id",), "id")],
)
def test_missing_field_names_the_field(path, name):
    data = manifest_dict()
    target = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    with pytest.raises(ManifestError) as exc:
        parse_manifest(json.dumps(data), WHERE)
    assert WHERE in str(exc.value)
    assert name in str(exc.value)


def test_every_bad_field_is_named_at_once():
    data = manifest_dict()
    data["frames"] = -1
    del data["started_at"]
    data["segments"][0]["index"] = "first"
    with pytest.raises(ManifestError) as exc:
        parse_manifest(json.dumps(data), WHERE)
    message = str(exc.value)
    assert "frames" in message
    assert "started_at" in message
    assert "segments.0.index" in message


def test_manifest_error_is_a_value_error():
    assert issubclass(ManifestError, ValueError)
