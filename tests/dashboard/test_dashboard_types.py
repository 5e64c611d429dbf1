"""The phone page's types: `npm run typecheck` (TypeScript's checker on the page's JavaScript, each
module `// @ts-check`, the MQTT messages typed in dashboard/src/types.js) passes, and it fails on
a page that misreads a message: a copy of src/ with one field misspelt, sent with the wrong type,
or an event the box never sends, is refused at that line.

Skipped only when npm is missing, as the dashboard's browser tests are.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT

DASHBOARD = ROOT / "dashboard"


@pytest.fixture(scope="module")
def npm() -> str:
    """npm, with the dashboard's packages installed as `npm ci` installs them (dev ones too)."""
    found = shutil.which("npm")
    if found is None:
        pytest.skip("npm is not installed: the dashboard cannot be checked")
    package = json.loads((DASHBOARD / "package.json").read_text())
    wanted = {**package["dependencies"], **package["devDependencies"]}
    if not all((DASHBOARD / "node_modules" / name).is_dir() for name in wanted):
        subprocess.run(
            [found, "ci", "--no-audit"], cwd=DASHBOARD, env=_env(), check=True, timeout=300
        )
    return found


def _env() -> dict[str, str]:
    return {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false"}


def test_the_page_type_checks(npm: str) -> None:
    """Every module of the page passes the checker as it is committed."""
    done = subprocess.run(
        [npm, "run", "typecheck"],
        check=False,
        cwd=DASHBOARD,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "error TS" not in done.stdout


# (module, exact text in it, what it becomes, the checker's error code)
MISTAKES = {
    "a state field misspelt": (
        "facts.js",
        "const hours = Number(s.hours_left);",
        "const hours = Number(s.hours_remaining);",
        "TS2339",  # Property 'hours_remaining' does not exist on type 'Partial<BoxState>'
    ),
    "a command field of the wrong type": (
        "markers.js",
        'const cmd = { cmd: "label_marker", session: sid, marker: n,',
        'const cmd = { cmd: "label_marker", session: sid, marker: String(n),',
        "TS2322",  # Type 'string' is not assignable to type 'number'
    ),
    "an event the box never sends": (
        "events.js",
        'case "share_failed": {',
        'case "share_refused": {',
        "TS2678",  # Type '"share_refused"' is not comparable to type '"command" | …'
    ),
}


def _check_copy(npm: str, tmp_path: Path, change: tuple[str, str, str] | None) -> tuple[str, int]:
    """tsc on a copy of the page, with `change` made in it: (its output, the changed line)."""
    shutil.copytree(DASHBOARD / "src", tmp_path / "src")
    shutil.copy(DASHBOARD / "tsconfig.json", tmp_path / "tsconfig.json")
    (tmp_path / "node_modules").symlink_to(DASHBOARD / "node_modules")  # the vendor types
    line = 0
    if change is not None:
        name, old, new = change
        module = tmp_path / "src" / name
        text = module.read_text()
        assert text.count(old) == 1, f"{name} no longer holds {old!r} once: update this test"
        line = text[: text.index(old)].count("\n") + 1
        module.write_text(text.replace(old, new))
    done = subprocess.run(
        [npm, "exec", "--no", "--", "tsc", "-p", str(tmp_path)],
        check=False,
        cwd=DASHBOARD,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert (done.returncode == 0) == (change is None), output
    return output, line


def test_a_copy_of_the_page_type_checks(npm: str, tmp_path: Path) -> None:
    """The copy the tests below break passes as it is: their errors come from their change."""
    output, _ = _check_copy(npm, tmp_path, None)
    assert "error TS" not in output


@pytest.mark.parametrize("mistake", MISTAKES, ids=list(MISTAKES))
def test_the_checker_refuses_a_misread_message(npm: str, tmp_path: Path, mistake: str) -> None:
    name, old, new, code = MISTAKES[mistake]
    output, line = _check_copy(npm, tmp_path, (name, old, new))
    errors = re.findall(r"^(\S+)\((\d+),\d+\): error (TS\d+)", output, re.MULTILINE)
    assert errors, output
    # every error is the one made, where it was made
    assert {(Path(f).name, int(n), c) for f, n, c in errors} == {(name, line, code)}, output
