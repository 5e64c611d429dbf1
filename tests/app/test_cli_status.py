"""`ctl status` against a daemon that cannot give its status says so and exits non-zero.

It used to print `state: None`, `0 MB free` and exit 0 when the daemon answered "busy": a
monitoring script read a healthy box with a full disk. The daemon's side is a real
ControlServer on a unix socket; the command line is the real one, in a subprocess.
"""

from __future__ import annotations

import threading

import pytest

from recorder.adapters.control_socket import ControlServer, Limits, send
from tests.support import cli, wait_until, write_config


@pytest.fixture
def box(tmp_path):
    """A socket whose one answer slot a `start` holds, and whose status can be swapped."""
    path = write_config(tmp_path)
    held = threading.Event()
    release = threading.Event()

    def handle(_event) -> dict:
        held.set()
        release.wait(30)
        return {"ok": True, "message": "started"}

    status = {"answer": {"ok": True, "message": "", "status": {"state": "idle"}}}
    server = ControlServer(
        tmp_path / "control.sock", handle, {"status": lambda _q: status["answer"]},
        limits=Limits(max_connections=1, busy_wait=0.2),
    )  # fmt: skip
    server.start()
    yield path, server, held, release, status
    release.set()
    server.stop()


def test_ctl_status_of_a_busy_daemon_exits_non_zero_with_a_sentence(box):
    path, server, held, release, _ = box
    starting = threading.Thread(target=send, args=(server.path, {"cmd": "start"}, 30))
    starting.start()
    wait_until(held.is_set, 10, "the one answer slot taken")
    for args in (("ctl", "status"), ("ctl", "status", "--json")):
        done = cli(*args, "--config", str(path))
        assert done.returncode == 1, done.stdout
        assert done.stdout == ""
        assert done.stderr.startswith(
            "session-recorder: the recorder did not give its status: the recorder is busy: "
        )
    release.set()
    starting.join(30)
    assert cli("ctl", "status", "--config", str(path)).stdout.startswith("state:        idle")


def test_ctl_status_without_a_status_in_the_answer_exits_non_zero(box):
    path, _, _, _, status = box
    status["answer"] = {"ok": True, "message": ""}
    done = cli("ctl", "status", "--config", str(path))
    assert done.returncode == 1 and "state:" not in done.stdout
    assert "did not give its status: its answer held no status" in done.stderr
    status["answer"] = {"ok": False, "message": "the recorder failed while answering 'status'"}
    done = cli("ctl", "status", "--json", "--config", str(path))
    assert done.returncode == 1 and done.stdout == ""
    assert "did not give its status: the recorder failed while answering" in done.stderr
