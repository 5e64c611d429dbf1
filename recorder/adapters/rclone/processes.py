"""The rclone processes one configured rclone runs: found, frozen, thawed and ended.

rclone-python starts rclone under a shell and does not hand out the process, so the commands
in flight are found in /proc: descendants of this process named `rclone` whose environment
names this config (the client passes it as RCLONE_CONFIG), and no other. Every thread's
commands on that config are found, whichever started them.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


class RcloneProcesses:
    """The rclone commands in flight on one config file."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = Path(config_path).absolute()

    def pids(self) -> list[int]:
        return descendants_named("rclone", {"RCLONE_CONFIG": str(self.config_path)})

    def pause(self) -> None:
        """Freeze them (SIGSTOP): their connections stay open, and may time out."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def stop(self) -> None:
        """End them (SIGTERM), thawed first so that a frozen one receives it."""
        self._signal(signal.SIGCONT, signal.SIGTERM)

    def _signal(self, *signals: int) -> None:
        for pid in self.pids():
            for sig in signals:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)


def descendants_named(name: str, environ: dict[str, str]) -> list[int]:
    """Pids of this process's descendants running `name` with these environment variables."""
    parents: dict[int, int] = {}
    comms: dict[int, str] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        pid = int(entry.name)
        comms[pid] = stat[stat.index("(") + 1 : stat.rindex(")")]
        parents[pid] = int(stat[stat.rindex(")") + 2 :].split()[1])
    me = os.getpid()
    wanted = {f"{k}={v}".encode() for k, v in environ.items()}
    found = []
    for pid, comm in comms.items():
        if comm != name or not _descends_from(pid, me, parents):
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = set(f.read().split(b"\0"))
        except OSError:
            continue
        if wanted <= env:
            found.append(pid)
    return found


def _descends_from(pid: int, ancestor: int, parents: dict[int, int]) -> bool:
    p = parents.get(pid)
    while p is not None and p > 1:
        if p == ancestor:
            return True
        p = parents.get(p)
    return False
