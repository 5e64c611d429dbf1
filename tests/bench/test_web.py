"""bench/web.py's work lists: the ranges it asks for cover what it says, and curl, run on its
config against a real static server, gets exactly what check_transfers expects — and a
short answer is caught."""

from __future__ import annotations

import itertools
import os
import subprocess

import pytest

from bench.web import Baseline, check_transfers, curl_config, range_plan, sequential_plan

SIZE = 1_000_003


def test_range_plan_stays_in_the_file_and_is_seeded():
    plan = range_plan(SIZE, 4096, 200, seed=1)
    assert plan == range_plan(SIZE, 4096, 200, seed=1) != range_plan(SIZE, 4096, 200, seed=2)
    assert all(0 <= first <= last < SIZE for first, last in plan)
    assert all(last - first + 1 == min(4096, SIZE - first) for first, last in plan)


def test_sequential_plan_covers_the_file_once_in_order():
    plan = sequential_plan(SIZE, 4096)
    assert plan[0][0] == 0 and plan[-1][1] == SIZE - 1
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(plan))


@pytest.mark.skipif(not any(os.access(f"{d}/curl", os.X_OK) for d in ("/usr/bin", "/bin")),
                    reason="curl is not installed")  # fmt: skip
def test_curl_runs_the_plan_and_short_answers_are_caught(tmp_path):
    (tmp_path / "session.mp3").write_bytes(os.urandom(SIZE))
    server = Baseline(tmp_path)
    try:
        ranges = [None, *range_plan(SIZE, 65536, 5, seed=3), (SIZE - 10, SIZE - 1)]
        config = tmp_path / "c.curl"
        config.write_text(curl_config(server.url + "session.mp3", {"X-Test": "1"}, ranges))
        out = subprocess.run(
            ["curl", "--silent", "--config", str(config)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        server.close()
    assert check_transfers(out, ranges, SIZE) == []
    assert check_transfers(out, ranges, SIZE + 1) == [
        f"None: ['200', '{SIZE}'] (wanted ('200', {SIZE + 1}))"
    ]
    assert (
        check_transfers(out, [*ranges, None], SIZE)[0]
        == f"{len(ranges)} answers to {len(ranges) + 1} requests"
    )
