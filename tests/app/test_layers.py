"""The layer rule (pyproject.toml's [tool.importlinter]), checked by `lint-imports` as CI runs it.

The tree keeps every contract; and each contract refuses what it is there to refuse: on a copy
of the package with one import (or one module) added, `lint-imports` fails, names the broken
contract and the offending import, and keeps the others. The checkout is never written to.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS = {
    c["id"]: c["name"]
    for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
}


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` on the `recorder` package and pyproject.toml found in `root`."""
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "300"}  # rich wraps at 80 otherwise
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        check=False,
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def verdicts(output: str) -> dict[str, str]:
    """Each contract's id and the word lint-imports gave it: KEPT or BROKEN."""
    return {
        cid: m.group(1)
        for cid, name in CONTRACTS.items()
        if (m := re.search(rf"^{re.escape(name)} (KEPT|BROKEN)\b", output, re.MULTILINE))
    }


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert verdicts(result.stdout) == dict.fromkeys(CONTRACTS, "KEPT")


@pytest.mark.parametrize(
    ("module", "added", "broken", "reported"),
    [
        pytest.param(
            "core/recording/ring.py",
            "import recorder.app.daemon\n",
            # core-no-io and adapters-behind-ports: through the daemon, which imports both
            {"core-alone", "core-no-io", "layers", "adapters-behind-ports"},
            "recorder.core.recording.ring -> recorder.app.daemon",
            id="core-imports-the-daemon",
        ),
        pytest.param(
            "core/recording/ring.py",
            "import socket\n",
            {"core-no-io"},
            "recorder.core.recording.ring -> socket",
            id="core-opens-a-socket",
        ),
        pytest.param(
            "store/markers.py",
            "from recorder.app import cli\n",
            {"layers", "adapters-behind-ports"},  # the command line imports adapters
            "recorder.store.markers -> recorder.app.cli",
            id="store-imports-the-command-line",
        ),
        pytest.param(
            "adapters/disk.py",
            "def _late():\n    import recorder.recording.writer\n",
            {"layers"},
            "recorder.adapters.disk -> recorder.recording.writer",
            id="adapter-imports-the-writer-inside-a-function",
        ),
        pytest.param(
            "adapters/disk.py",
            "import recorder.adapters.mqtt\n",
            {"adapters-apart"},
            "recorder.adapters.disk -> recorder.adapters.mqtt",
            id="adapter-imports-another-adapter",
        ),
        pytest.param(
            "store/sessions.py",
            "from recorder.adapters.rclone.client import Rclone\n",
            {"adapters-behind-ports"},
            "recorder.store.sessions -> recorder.adapters.rclone.client",
            id="store-picks-an-adapter-instead-of-a-port",
        ),
        pytest.param(
            "outbox/worker.py",
            "from recorder.recording import writer\n",
            {"layers"},
            "recorder.outbox.worker -> recorder.recording.writer",
            id="outbox-reaches-into-recording-beside-it",
        ),
        pytest.param(
            "unplaced.py",
            '"""A module nobody gave a layer."""\n',
            {"layers"},
            "- recorder.unplaced",
            id="new-module-without-a-layer",
        ),
    ],
)
def test_a_contract_refuses_an_import_against_the_rule(
    tmp_path: Path, module: str, added: str, broken: set[str], reported: str
) -> None:
    shutil.copytree(
        ROOT / "recorder", tmp_path / "recorder", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "recorder" / module
    before = target.read_text() if target.exists() else ""
    target.write_text(before + "\n" + added)

    result = lint_imports(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert verdicts(result.stdout) == {
        cid: "BROKEN" if cid in broken else "KEPT" for cid in CONTRACTS
    }, result.stdout
    assert reported in result.stdout, result.stdout
