"""The client's end: `session-recorder ctl` and the other commands ask a running daemon."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from pathlib import Path

from recorder.adapters.control_socket.wire import ControlSocketError


def answers(path: Path) -> bool:
    """Whether a recorder takes connections on `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def send(path: Path, payload: dict, timeout: float = 15.0) -> dict:
    """Send one request to a running daemon; raises ControlSocketError when none answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    s.connect(str(path))
                    break
                except BlockingIOError:  # its listen queue is full: the recorder is catching up
                    if time.monotonic() >= deadline:
                        raise ControlSocketError(
                            f"the recorder at {path} is too busy to take a connection"
                        ) from None
                    time.sleep(0.05)
        except ControlSocketError:
            raise
        except FileNotFoundError:
            raise ControlSocketError(
                f"no recorder is running (no control socket at {path})"
            ) from None
        except OSError as exc:
            raise ControlSocketError(
                f"cannot reach the recorder at {path}: {exc.strerror or exc}"
            ) from None
        # A recorder that turns the request away (busy) answers and closes at once, perhaps
        # before the request is sent: its answer is still there to read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            s.sendall(json.dumps(payload).encode() + b"\n")
        data = b""
        try:
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            raise ControlSocketError(
                f"the recorder at {path} did not answer within {timeout:g} s"
            ) from None
        except ConnectionResetError:
            pass  # the answer, if any, came before the reset
    try:
        return json.loads(data)
    except ValueError:
        raise ControlSocketError(f"the recorder at {path} gave no answer") from None


def wait_for_job(path: Path, answer: dict, timeout: float, poll: float = 0.25) -> dict:
    """The end of a request the recorder queued (`queued`, `job`): polls `job` until it is
    done and returns the answer it ended with; any other answer is returned as it is.

    After `timeout` the answer says the job is still being done. Raises ControlSocketError when
    the recorder stops answering meanwhile.
    """
    job = answer.get("job")
    if not (answer.get("ok") and answer.get("queued") and isinstance(job, str)):
        return answer
    deadline = time.monotonic() + timeout
    while True:
        now = send(path, {"cmd": "job", "job": job})
        if now.get("state") == "done" or not (now.get("ok") or now.get("busy")):
            return now
        if time.monotonic() >= deadline:
            return {
                "ok": False,
                "job": job,
                "message": f"{now.get('message') or answer.get('message')}; not done after "
                f"{timeout:g} s: it goes on, and `session-recorder sessions` shows the result",
            }
        time.sleep(poll)
