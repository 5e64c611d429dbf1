"""Power cuts while recording: the card as a cut leaves it, and the recorder booted on it.

The real daemon records onto a loop-mounted ext4 card fed by the virtual microphone; at random
instants the card's block image is copied atomically (the outer disk holding the image file is
frozen meanwhile, so the copy is what the card held at one instant; the card itself is never
frozen or synced), and each copy is booted: journal replay, mount, the real daemon started on it
(recovery runs at start), `sessions --json`, sox. bench/powercut.py does the work and writes the
figures into docs/benchmarks.md; this asserts what a user depends on after a power cut.

In the suite: three cuts (while recording, during the finalize at a stop, after a stop), and
one as a start with a full 10-s pre-roll is answered (which lost all of the pre-roll until the
writer synced it before the answer). The benchmark's 30 rounds are opt-in:

    SESSION_RECORDER_POWER_CUT=1 .venv/bin/python -m pytest -q tests/recording/test_power_cut.py

Needs root and loop devices (skipped with the reason otherwise).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.common import FreezableDisk, Unavailable
from bench.powercut import LOSS_LIMIT_S, ROUNDS, torture
from tests.support import opt_in

OPT_IN = "SESSION_RECORDER_POWER_CUT"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(
        FreezableDisk.unavailable() is not None, reason=str(FreezableDisk.unavailable())
    ),
]


class LostBeforeTheCut(AssertionError):
    """More than LOSS_LIMIT_S of what came before a cut is missing from its session."""


def _torture(workdir: Path, plan: int | list[str]) -> list[dict]:
    try:
        return torture(workdir, plan)["rounds"]
    except Unavailable as exc:
        pytest.skip(f"no loop-mounted disk here: {exc}")


def _assert_survived(rounds: list[dict]) -> None:
    """Everything a power cut must leave, the loss last (its own exception)."""
    lost = []
    for r in rounds:
        where = f"cut {r['round']} ({r['planned']['aim']}, {r['cut_at_s']:.2f} s into its session)"
        # every session whose start had been answered is there, and nothing else
        assert not r["missing"], f"{where}: sessions gone: {r['missing']}"
        assert not r["unexpected"], f"{where}: sessions nobody started: {r['unexpected']}"
        assert r["boot_exit"] == 0, (
            f"{where}: the recorder booted on the copy exited {r['boot_exit']}"
        )
        for s in r["sessions"]:
            what = f"{where}, session {s['id']}"
            assert s["finalized"], f"{what}: left {s['state']}/{s['manifest_state']}"
            assert s["playable"], f"{what}: a segment does not read as its manifest says"
            c = s["check"]
            assert c["mismatched"] == 0 and c["frames"] == s["frames"], (
                f"{what}: audio differs from what was fed (first at {c['first_mismatch_s']} s)"
            )
            if s["finalized_before_cut"]:
                assert s["stop_reason"] == "requested", f"{what}: {s['stop_reason']}"
            elif s["stop_asked_before_cut"]:  # the stop may have reached the card, or not
                assert s["stop_reason"] in ("requested", "interrupted"), what
            else:
                assert s["stop_reason"] == "interrupted", f"{what}: {s['stop_reason']}"
            if s["stop_reason"] == "interrupted":
                assert "power cut" in s["recovery"]["reason"], f"{what}: no recovery note"
            if s["finalized_before_cut"]:
                assert s["lost_s"] == 0, f"{what}: a finished session lost {s['lost_s']:.2f} s"
            # nothing on the copy was captured after the power went (bounded with slack for
            # the freeze's own start, which is not known to the frame)
            assert s["beyond_cut_s"] < 0.2, f"{what}: audio from after the cut"
            if s["lost_s"] > LOSS_LIMIT_S:
                lost.append(f"{what}: {s['lost_s']:.2f} s lost before the cut")
    # the copies really were cut mid-write: recovery had work to do on at least one
    assert any(r["recovered"] for r in rounds), "no copy needed recovery: the cut is not a cut"
    if lost:
        raise LostBeforeTheCut("; ".join(lost))


@pytest.mark.timeout(300)
def test_power_cuts_leave_every_session_finalized_in_order_and_short_by_at_most_a_second(
    tmp_path,
):
    plan = ["recording", "at the stop", "after the stop"]
    rounds = _torture(tmp_path, plan)
    assert [r["planned"]["aim"] for r in rounds] == plan
    _assert_survived(rounds)


@pytest.mark.timeout(300)
def test_a_power_cut_as_a_start_is_answered_keeps_the_pre_roll(tmp_path):
    rounds = _torture(tmp_path, ["as a start with a full pre-roll is answered"])
    _assert_survived(rounds)


@pytest.mark.timeout(1800)
@opt_in(OPT_IN, f"{ROUNDS} power cuts take minutes", "tests/recording/test_power_cut.py")
def test_thirty_power_cuts(tmp_path):
    rounds = _torture(tmp_path, ROUNDS)
    assert len(rounds) == ROUNDS
    _assert_survived(rounds)
