"""The MQTT rate limit and the state's size bound (recorder.core.limits), without a clock."""

from __future__ import annotations

import json

import pytest

from recorder.core.limits import TokenBucket, fit_state


def test_a_bucket_lets_a_burst_through_then_its_rate():
    bucket = TokenBucket(rate=10.0, burst=20)
    assert [bucket.take(100.0) for _ in range(21)] == [True] * 20 + [False]
    assert bucket.take(100.05) is False  # half a token
    assert bucket.take(100.1) is True  # one more after a tenth of a second
    # a quiet minute refills it to the burst, not beyond
    assert sum(bucket.take(160.0) for _ in range(100)) == 20


def test_a_bucket_is_not_refilled_by_a_clock_that_goes_back():
    bucket = TokenBucket(rate=1.0, burst=1)
    assert bucket.take(50.0)
    assert not bucket.take(10.0)
    assert not bucket.take(50.5)
    assert bucket.take(51.0)


def test_a_bucket_needs_a_rate_and_room():
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=5)
    with pytest.raises(ValueError):
        TokenBucket(rate=1, burst=0)


def _session(n: int, notes: int) -> dict:
    return {"id": f"{n:06d}-20260101T000000Z", "details": {"notes": "é" * notes}}


def test_a_state_that_fits_is_sent_whole():
    base = {"state": "idle", "ts": "t"}
    recent = [_session(n, 10) for n in range(1, 4)]
    data, left_out = fit_state(base, recent, 10_000)
    assert left_out == 0
    assert json.loads(data) == {"state": "idle", "ts": "t", "recent": recent}


def test_the_oldest_sessions_are_left_out_first_and_counted():
    base = {"state": "recording", "session_id": "000011-20260101T000000Z"}
    recent = [_session(n, 1000) for n in range(1, 11)]  # about 6 KB each as JSON
    data, left_out = fit_state(base, recent, 20_000)
    state = json.loads(data)
    assert len(data) <= 20_000
    assert left_out == 10 - len(state["recent"]) and 1 <= len(state["recent"]) <= 3
    assert state["recent"] == recent[left_out:]
    assert state["recent_left_out"] == left_out
    assert state["session_id"] == base["session_id"]


def test_a_state_too_large_without_sessions_keeps_what_the_phone_needs_most():
    base = {"state": "recording", "device_id": "box-1", "session_id": "s", "elapsed_s": 3.0,
            "version": "1", "ts": "t", "warnings": ["w" * 5000]}  # fmt: skip
    data, left_out = fit_state(base, [_session(1, 10)], 1000)
    state = json.loads(data)
    assert len(data) <= 1000 and left_out == 1
    assert state["state"] == "recording" and state["session_id"] == "s"
    assert "warnings" not in state and "larger than the 1000 bytes" in state["last_error"]
