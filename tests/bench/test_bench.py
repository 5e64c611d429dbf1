"""The benchmark suite's short version: every benchmark runs end to end and lands in the report.

Numbers are not judged here (this machine is noisy and quick mode measures seconds, not hours);
what is checked is that the code behind docs/benchmarks.md keeps working: each benchmark either
reports a section with a table and a finding, or says plainly why this machine cannot run it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.run import BENCHMARKS
from tests.support import ROOT


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_quick_suite_runs_every_benchmark_and_writes_the_report(tmp_path):
    out = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=880,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["quick"] is True
    assert {"cpu", "memory", "os", "python", "arecord", "rclone"} <= set(report["machine"])
    assert [r["key"] for r in report["results"]] == BENCHMARKS
    text = out.read_text()
    assert "## The machine" in text and "## Summary" in text
    for result in report["results"]:
        assert "failed" not in result, result
        if "unavailable" in result:
            assert result["unavailable"].strip()  # a reason the reader can act on
            continue
        assert result["tables"] and all(t.startswith("| ") for t in result["tables"])
        assert result["findings"], result["key"]
        assert f"## {result['title']}" in text
        for finding in result["findings"]:
            assert finding in text
    # bench.memory measures an earlier revision beside this one, or says why it could not
    [memory] = [r for r in report["results"] if r["key"] == "memory"]
    if "unavailable" not in memory:
        before = memory["data"]["before"]
        assert before["lifecycle"] or before["unavailable"]
        assert memory["findings"][0].startswith("before and after")


def test_an_unknown_benchmark_is_refused_with_the_known_ones():
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--only", "capture,nonsense"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "unknown benchmark(s) nonsense" in done.stderr
    assert "capture" in done.stderr
