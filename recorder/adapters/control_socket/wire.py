"""What travels on the socket: one JSON line each way, and the refusals both ends know."""

from __future__ import annotations

import contextlib
import json
import logging
import socket

log = logging.getLogger(__package__)  # one logger for the whole socket, as before its split


class ControlSocketError(OSError):
    pass


def refusal(message: str) -> dict:
    return {"ok": False, "message": message}


def busy(message: str) -> dict:
    return {"ok": False, "busy": True, "message": message}


def encode(answer: dict) -> bytes:
    try:
        return json.dumps(answer).encode() + b"\n"
    except (TypeError, ValueError) as exc:
        log.error("control socket: an answer could not be written as JSON: %s", exc)
        message = f"the recorder made an answer it cannot send: {exc}"
        return json.dumps(refusal(message)).encode() + b"\n"


def tell(conn: socket.socket, answer: dict) -> None:
    """Best effort, without waiting: one line to a client about to be closed, then close it."""
    with contextlib.suppress(OSError):
        conn.setblocking(False)
        conn.send(encode(answer))
        # Read what the client already sent: closing a unix socket with unread data makes the
        # client's next read fail with ECONNRESET instead of ending after our line.
        for _ in range(16):
            if not conn.recv(65536):
                break
    conn.close()
