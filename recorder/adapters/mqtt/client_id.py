"""The recorder's MQTT client id, a secret: whoever knows it can take the box's connection over."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from recorder.config import MqttSection

log = logging.getLogger(__package__)  # the link's one logger, as before it was split

CLIENT_ID_FILE = "mqtt-client-id"

_CLIENT_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def client_id(cfg: MqttSection, device_id: str, kept: Path | None) -> str:
    """The recorder's client id: `[mqtt] client_id`, or the one kept in `kept` (made once, mode
    0600). The same id after a restart lets the broker end the old connection at once (its Will
    is sent before the new `online`), instead of a minute later over the new one."""
    if cfg.client_id:
        return cfg.client_id
    fresh = f"session-recorder-{device_id}-{secrets.token_hex(16)}"
    if kept is None:
        return fresh
    try:
        text = kept.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeError) as exc:
        log.warning("MQTT: %s cannot be read (%s); a new client id is used for this run", kept, exc)
        return fresh
    if 16 <= len(text) <= 128 and set(text) <= _CLIENT_ID_CHARS:
        return text
    if text:
        log.warning("MQTT: %s does not hold a client id; a new one is made", kept)
    try:
        _keep(kept, fresh)
    except OSError as exc:
        log.warning(
            "MQTT: the client id cannot be kept in %s (%s): a new one at each start, so after a "
            "restart the box may show offline until the broker drops the old connection",
            kept,
            exc.strerror or exc,
        )
    return fresh


def _keep(kept: Path, fresh: str) -> None:
    """Written beside and renamed: a power cut leaves the old id or the new one, never half."""
    kept.parent.mkdir(parents=True, exist_ok=True)
    tmp = kept.with_name(f".{kept.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (fresh + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, kept)
