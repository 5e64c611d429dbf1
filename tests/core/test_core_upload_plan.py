"""Retry timing, upload delay and retention: the decisions, without I/O."""

from __future__ import annotations

import pytest

from recorder.core.upload_plan import Stored, is_due, retry_delay_s, send_again_after, to_delete


def test_backoff_doubles_with_jitter_up_to_the_cap():
    lows = [retry_delay_s("network", a, 30, 3600, 0.0) for a in range(1, 10)]
    highs = [retry_delay_s("network", a, 30, 3600, 0.999999) for a in range(1, 10)]
    assert lows[:4] == [15, 30, 60, 120]  # half the ceiling at the least
    assert [round(h) for h in highs[:4]] == [30, 60, 120, 240]
    assert max(highs) == pytest.approx(3600) and max(lows) == 1800


@pytest.mark.parametrize("kind", ["auth", "config"])
def test_auth_and_config_errors_never_retry_in_a_tight_loop(kind):
    assert all(retry_delay_s(kind, a, 30, 3600, 0.0) == 3600 for a in range(1, 5))


def test_upload_delay():
    assert is_due(None, 1000, 600)
    assert is_due(500, 1000, 0)
    assert not is_due(500, 1000, 600)
    assert is_due(400, 1000, 600)
    assert is_due(5000, 1000, 600)  # the clock went backwards: do not hold it for ever


@pytest.mark.parametrize(
    ("kind", "again"),
    [("verify", True), ("not_found", True), ("network", False), ("auth", False),
     ("config", False), ("quota", False), ("other", False)],
)  # fmt: skip
def test_only_a_wrong_or_missing_remote_copy_is_sent_again_after_verification(kind, again):
    assert send_again_after(kind) is again


def _s(i, verified, mb=100, age_days=1.0, now=100 * 86400):
    return Stored(f"{i:06d}-x", verified, mb * 1_000_000, now - age_days * 86400)


def test_retention_never_picks_an_unverified_session():
    sessions = [_s(1, False), _s(2, False, age_days=400)]
    assert (
        to_delete(sessions, free_bytes=0, keep_free_bytes=10**12, now_s=100 * 86400, keep_days=1)
        == []
    )


def test_retention_frees_space_oldest_first_and_stops_when_enough():
    sessions = [_s(1, True), _s(2, False), _s(3, True), _s(4, True)]
    chosen = to_delete(
        sessions, free_bytes=50_000_000, keep_free_bytes=200_000_000, now_s=100 * 86400, keep_days=0
    )
    assert chosen == ["000001-x", "000003-x"]  # 50 + 100 + 100 MB reaches 200 MB; 2 is skipped


def test_retention_by_age():
    sessions = [_s(1, True, age_days=40), _s(2, True, age_days=10), _s(3, True, age_days=31)]
    chosen = to_delete(
        sessions, free_bytes=10**12, keep_free_bytes=0, now_s=100 * 86400, keep_days=30
    )
    assert chosen == ["000001-x", "000003-x"]


def _pending(i, mb=100, age_days=1.0, now=100 * 86400):
    """Verified audio whose transcript is still to be built or sent."""
    return Stored(f"{i:06d}-x", True, mb * 1_000_000, now - age_days * 86400, settled=False)


def test_retention_by_age_waits_for_the_transcript():
    sessions = [_pending(1, age_days=40), _s(2, True, age_days=40)]
    chosen = to_delete(
        sessions, free_bytes=10**12, keep_free_bytes=0, now_s=100 * 86400, keep_days=30
    )
    assert chosen == ["000002-x"]


def test_short_of_space_a_waiting_transcript_gives_way_only_after_every_settled_session():
    sessions = [_pending(1), _s(2, True), _pending(3), _s(4, False), _pending(5)]
    chosen = to_delete(
        sessions, free_bytes=50_000_000, keep_free_bytes=300_000_000, now_s=100 * 86400, keep_days=0
    )
    # 50 MB + the settled one (100) + the oldest waiting ones until 300 MB; never the unverified
    assert chosen == ["000002-x", "000001-x", "000003-x"]


def test_with_space_enough_a_waiting_transcript_keeps_its_session():
    sessions = [_pending(1, age_days=400)]
    assert to_delete(sessions, 10**12, 10**9, now_s=500 * 86400, keep_days=30) == []
