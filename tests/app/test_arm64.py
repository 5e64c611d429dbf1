"""The appliance on 64-bit ARM: `scripts/dev arm64` end to end, under QEMU.

Everything else here runs on this machine's architecture. `scripts/dev arm64` builds (or reuses
from ~/.cache/session-recorder/arm64) a Debian bookworm arm64 root with debootstrap, and runs
`bash install.sh` in a copy of it through chroot and binfmt (qemu-user-static), as a user runs it
on a fresh Raspberry Pi: its own apt-get, pip with aarch64 wheels, the C extensions compiled.
Then, in that root: the compiled and aarch64-only modules import, Debian's rclone is arm64, a
second install.sh changes nothing, and `session-recorder demo` records, uploads and verifies,
and whisper (the default engine) builds the transcript. Then it boots that root under
qemu-system-aarch64 with systemd, and the guest checks itself (scripts/arm64_guest.py): the
unit is active with its watchdog, the settings file is provisioned, doctor passes but for GPIO,
a session recorded through `ctl` is sample-exact, uploads to a loopback S3 and verifies, the
web server answers, whisper transcribes the spoken clip, and `systemctl stop` finalizes a
session being recorded.
The command prints a table of its phases, pass or fail and how long each took; this test runs it
and wants every phase to pass.

Slow (about 35 minutes the first time, which builds the root; 12 after), so it is opt-in:

    SESSION_RECORDER_ARM64=1 .venv/bin/python -m pytest -q -s tests/app/test_arm64.py

It needs root, the Debian mirror apt uses here and PyPI (the command installs QEMU with apt-get).
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.support import ROOT, opt_in

OPT_IN = "SESSION_RECORDER_ARM64"

pytestmark = [
    pytest.mark.arm64,
    opt_in(
        OPT_IN, "slow (an arm64 Debian under QEMU, 35 minutes cold)", "-s tests/app/test_arm64.py"
    ),
]

ROW = re.compile(r"^ *(\S+)\s+(PASS|FAIL|SKIP)\s+(\d+)\s+(.*)$", re.MULTILINE)
PHASES = {"binfmt", "root", "install", "modules", "again", "demo", "ratio", "boot"}
# what the booted guest checks (scripts/arm64_guest.py), indented under `boot` in the table
CHECKS = {"booted", "unit", "provision", "doctor", "record", "upload", "web", "transcript", "stop"}


@pytest.mark.timeout(10800)
def test_scripts_dev_arm64_passes_every_phase() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (debootstrap, chroot, mounts)")
    done = subprocess.run(
        [str(ROOT / "scripts" / "dev"), "arm64"],
        capture_output=True,
        text=True,
        check=False,
        timeout=10700,
    )
    print(done.stdout)  # the table, shown with -s
    rows = {m[1]: (m[2], m[4]) for m in ROW.finditer(done.stdout)}
    assert rows.keys() >= PHASES | CHECKS, done.stdout + done.stderr[-4000:]
    failed = {name: note for name, (result, note) in rows.items() if result != "PASS"}
    assert not failed, f"{failed}\n{done.stderr[-4000:]}"
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
