"""The benchmarks: each one `python -m bench.NAME [--quick]` from the checkout, in a process of
its own; `scripts/dev bench` (`python -m bench.run`) runs them all and writes docs/benchmarks.md.
bench.common holds what they share (options, sections, tables, the daemon under test).

The benchmarks import `recorder` and some of the tests' helpers (`tests.factories`,
`tests.speech`, `tests.rclone_server`) from this checkout. Run from its root they see it first
on sys.path anyway; this package puts it there once for any importer, instead of each script
doing so before its imports.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
