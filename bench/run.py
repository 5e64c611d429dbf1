"""Every benchmark, one command; the report goes to docs/benchmarks.md.

    scripts/dev bench                 # full: minutes; writes docs/benchmarks.md and .json
    scripts/dev bench --quick         # seconds: checks the code runs; numbers mean nothing
    .venv/bin/python -m bench.run [--quick] [--runs N] [--only a,b] [--output PATH]

With --only, the sections of the other benchmarks are kept from the report already there (its
JSON), each with the date of the run that made it, so one benchmark can be run again alone.

Each benchmark runs in a process of its own (alsa-lib reads its config once per process, and a
crash or a leak in one must not colour the next), one after another, never side by side with
another benchmark. Comparisons inside a benchmark are interleaved runs against a baseline on
the same machine, reported as medians and ratios: these machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import ROOT
from bench.common import Section, machine, table

# In report order: what costs while recording, what it survives, how fast it reacts, then
# what happens after the session.
BENCHMARKS = [
    "capture",
    "memory",
    "stall",
    "powercut",
    "button_led",
    "startup",
    "upload",
    "deliverables",
    "turns",
    "transcribe",
    "retag",
    "web",
]
DOC = ROOT / "docs" / "benchmarks.md"

INTRO = """\
# Benchmarks

What the recorder costs on the machine below, side by side with a baseline measured in the same
run (`arecord`, bare `rclone copy`, bare gpiozero, the bare interpreter), and how far it bends
before it loses a sample. Benchmarks, not tests: nothing in the test suite asserts a time. These
machines are noisy, so comparisons are interleaved runs reported as medians and ratios; a Pi
Zero 2 W will be several times slower in absolute terms, and the ratios are what carries over.

Written by `scripts/dev bench` (`.venv/bin/python -m bench.run`); the raw numbers are in
[`benchmarks.json`](benchmarks.json). CI runs `bench.run --quick` (seconds; numbers not judged)
through `tests/bench/test_bench.py`, to keep this code working. This run: {mode}.
"""


def run_one(name: str, quick: bool, runs: int | None, work: Path) -> dict:
    """One benchmark in its own process; its section as a dict, or why it did not run."""
    out = work / f"{name}.json"
    command = [sys.executable, "-m", f"bench.{name}", "--json", str(out)]
    if quick:
        command.append("--quick")
    if runs:
        command += ["--runs", str(runs)]
    start = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    took = time.monotonic() - start
    if done.returncode or not out.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        return {"key": name, "failed": "\n".join(tail), "seconds": took}
    result = json.loads(out.read_text())
    result.setdefault("key", name)
    result["seconds"] = took
    return result


def merge(results: list[dict], info: dict[str, str], quick: bool, previous: Path) -> list[dict]:
    """This run's results in place of the same benchmarks' in the `previous` report's JSON; the
    others kept as they were, in report order. Each result says which run (`run_machine`) made
    it. A previous report of the other mode (quick or full) is not mixed in."""
    for r in results:
        r["run_machine"] = info
    try:
        old = json.loads(previous.read_text())
    except (OSError, ValueError):
        return results
    if old.get("quick") != quick:
        kind = "full" if quick else "quick"
        print(f"    {previous.name} is from a {kind} run: replaced", file=sys.stderr)
        return results
    by_key = {r["key"]: {"run_machine": old.get("machine", {}), **r} for r in old["results"]}
    by_key.update({r["key"]: r for r in results})
    order = BENCHMARKS + [k for k in by_key if k not in BENCHMARKS]
    return [by_key[k] for k in order if k in by_key]


def report(results: list[dict], info: dict[str, str], quick: bool, runs: int | None) -> str:
    mode = "quick mode (seconds; these numbers are not meaningful)" if quick else "full mode"
    if runs:
        mode += f", {runs} runs each"
    earlier = [r for r in results if r.get("run_machine", info).get("date") != info["date"]]
    if earlier:
        ran = ", ".join(r["key"] for r in results if r not in earlier)
        kept = ", ".join(f"{r['key']} {r['run_machine'].get('date', '?')}" for r in earlier)
        mode += (
            f", of {ran}; the other sections are kept from earlier runs ({kept}; their machine"
            " and load in the JSON)"
        )
    parts = [INTRO.format(mode=mode), "## The machine", ""]
    parts.append(table(["", ""], [[k, v] for k, v in info.items()]))
    parts += ["", "## Summary", ""]
    for r in results:
        if "findings" in r:
            parts += [f"- {f}" for f in r["findings"]]
        elif "unavailable" in r:
            parts.append(f"- `{r['key']}`: not run here: {r['unavailable']}")
        else:
            parts.append(f"- `{r['key']}`: **failed** (below)")
    parts.append("")
    for r in results:
        if "failed" in r:
            parts += [f"## {r['key']}: failed", "", "```", r["failed"], "```", ""]
        elif "unavailable" in r:
            parts += [f"## {r['key']}: not run", "", r["unavailable"], ""]
        else:
            fields = {k: r[k] for k in ("key", "title", "text", "tables", "findings", "data")}
            parts.append(Section(**fields).markdown())
    took = ", ".join(f"{r['key']} {r['seconds']:.0f} s" for r in results)
    parts.append(f"_Time per benchmark: {took}._\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="seconds, not minutes")
    parser.add_argument("--runs", type=int, help="repetitions of each comparison")
    parser.add_argument("--only", help=f"comma-separated, from: {', '.join(BENCHMARKS)}")
    parser.add_argument(
        "--output", type=Path, help="the report (default docs/benchmarks.md; quick: none)"
    )
    args = parser.parse_args(argv)
    names = BENCHMARKS
    if args.only:
        names = [n.strip() for n in args.only.split(",")]
        unknown = sorted(set(names) - set(BENCHMARKS))
        if unknown:
            parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {BENCHMARKS}")
    output = args.output or (None if args.quick else DOC)

    info = machine()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        for name in names:
            print(f"--- {name}", file=sys.stderr, flush=True)
            results.append(run_one(name, args.quick, args.runs, Path(tmp)))
            r = results[-1]
            state = "failed" if "failed" in r else "not run" if "unavailable" in r else "done"
            print(f"    {state} in {r['seconds']:.1f} s", file=sys.stderr, flush=True)
    failed = any("failed" in r for r in results)
    if output is not None and args.only:
        results = merge(results, info, args.quick, output.with_suffix(".json"))
    text = report(results, info, args.quick, args.runs)
    print(text)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        output.with_suffix(".json").write_text(
            json.dumps({"machine": info, "quick": args.quick, "results": results}, indent=1) + "\n"
        )
        print(f"written: {output} and {output.with_suffix('.json').name}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
