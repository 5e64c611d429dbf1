"""The local control socket behind `session-recorder ctl`: one JSON request, one JSON answer.

The socket is mode 0660 so only the service user and its group can drive the recorder. Requests
are checked by `recorder.core.requests` before anything acts on them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import socketserver
import threading
from collections.abc import Callable
from pathlib import Path

from recorder.core.requests import Query, RequestError, parse_request

log = logging.getLogger(__name__)

MAX_REQUEST = 4096


class ControlSocketError(OSError):
    pass


class ControlServer:
    """Serves events (to `handle`) and queries (to `queries[name]`) on a unix stream socket."""

    def __init__(
        self,
        path: Path,
        handle: Callable[[object], dict],
        queries: dict[str, Callable[[Query], dict]],
    ) -> None:
        self.path = path
        self._handle = handle
        self._queries = queries
        self._server: socketserver.ThreadingUnixStreamServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.path.exists():
            if _answers(self.path):
                raise ControlSocketError(
                    f"{self.path}: another recorder is already running on this socket"
                )
            self.path.unlink()  # left by a daemon that died
        self.path.parent.mkdir(parents=True, exist_ok=True)
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline(MAX_REQUEST + 1)
                answer = outer.answer(line)
                self.wfile.write(json.dumps(answer).encode() + b"\n")

        old = os.umask(0o117)
        try:
            self._server = socketserver.ThreadingUnixStreamServer(str(self.path), Handler)
        except OSError as exc:
            raise ControlSocketError(f"{self.path}: cannot listen: {exc.strerror}") from None
        finally:
            os.umask(old)
        os.chmod(self.path, 0o660)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="control-socket", daemon=True
        )
        self._thread.start()

    def answer(self, line: bytes) -> dict:
        if len(line) > MAX_REQUEST:
            return {"ok": False, "message": f"request longer than {MAX_REQUEST} bytes"}
        try:
            payload = json.loads(line)
            event = parse_request(payload, source="ctl")
        except (ValueError, RequestError) as exc:
            log.warning("control socket: bad request: %s", exc)
            msg = str(exc) if isinstance(exc, RequestError) else f"not JSON: {exc}"
            return {"ok": False, "message": msg}
        if isinstance(event, Query):
            answer = self._queries.get(event.name)
            if answer is None:
                return {"ok": False, "message": f"{event.name!r} is not available here"}
            return answer(event)
        return self._handle(event)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def _answers(path: Path) -> bool:
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
        try:
            s.connect(str(path))
        except FileNotFoundError:
            raise ControlSocketError(
                f"no recorder is running (no control socket at {path})"
            ) from None
        except OSError as exc:
            raise ControlSocketError(
                f"cannot reach the recorder at {path}: {exc.strerror or exc}"
            ) from None
        s.sendall(json.dumps(payload).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    try:
        return json.loads(data)
    except ValueError:
        raise ControlSocketError(f"the recorder at {path} gave no answer") from None
