"""session-recorder-web.service: it verifies, scores at least as well as the recorder's unit,
and promises what the web server needs (port 80 without root, behind the recorder)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.app.test_systemd import analyze  # noqa: F401  (the fixture)
from tests.support import ROOT

UNIT = ROOT / "systemd" / "session-recorder-web.service"


def _unit_here(tmp_path) -> Path:
    exe = Path(sys.executable).parent / "session-recorder"
    text = UNIT.read_text().replace("/opt/session-recorder/venv/bin/session-recorder", str(exe))
    out = tmp_path / UNIT.name
    out.write_text(text)
    return out


def test_web_unit_verifies(tmp_path, analyze):  # noqa: F811
    done = subprocess.run(
        [analyze, "verify", str(_unit_here(tmp_path))], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert UNIT.name not in done.stderr


def test_web_unit_hardening_scores_ok(tmp_path, analyze):  # noqa: F811
    done = subprocess.run(
        [analyze, "security", "--offline=true", str(_unit_here(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    score = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", done.stdout)[1])
    assert score <= 2.5, done.stdout


def test_web_unit_promises_what_the_server_needs():
    text = UNIT.read_text()
    lines = set(text.splitlines())
    for line in (
        "ExecStart=/opt/session-recorder/venv/bin/session-recorder web --config /etc/session-recorder/config.toml",
        "User=session-recorder",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "Nice=10",
        "IOSchedulingClass=idle",
        "DevicePolicy=closed",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "StateDirectory=session-recorder",
        "Environment=RUNTIME_DIRECTORY=/run/session-recorder",
        "WantedBy=multi-user.target",
    ):
        assert line in lines, line
    # a RuntimeDirectory here would take the daemon's control socket away when this unit stops
    assert not any(line.startswith("RuntimeDirectory=") for line in lines)
    recorder = (ROOT / "systemd" / "session-recorder.service").read_text()
    assert "Nice=-5" in recorder  # the recording always wins
