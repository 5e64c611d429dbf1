"""`session-recorder fleet`: every box under a prefix on one broker, live."""

from __future__ import annotations

import json
import sys
import threading
import time

import paho.mqtt.client as mqtt

from recorder.core.fleet import format_fleet


def watch(
    host: str,
    port: int,
    prefix: str,
    username: str | None = None,
    password: str | None = None,
    tls: bool = False,
    ca_file: str | None = None,
    once_after_s: float | None = None,
) -> int:
    """Print the table; with `once_after_s`, collect that long, print once and return."""
    boxes: dict[str, dict] = {}  # guarded by lock
    lock = threading.Lock()
    changed = threading.Event()

    def on_message(_c, _u, msg) -> None:
        parts = msg.topic.split("/")
        device, kind = parts[-2], parts[-1]
        with lock:
            box = boxes.setdefault(device, {"availability": "?", "state": None})
            if kind == "availability":
                box["availability"] = msg.payload.decode("utf-8", "replace")
            else:
                try:
                    box["state"] = json.loads(msg.payload)
                except ValueError:
                    return
        changed.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    if username:
        client.username_pw_set(username, password)
    if tls:
        client.tls_set(ca_certs=ca_file)
    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(
        [(f"{prefix}/+/state", 1), (f"{prefix}/+/availability", 1)]
    )
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        print(f"session-recorder: cannot reach the broker {host}:{port}: {exc}", file=sys.stderr)
        return 3
    client.loop_start()
    try:
        if once_after_s is not None:
            time.sleep(once_after_s)
            with lock:
                print(format_fleet(boxes, prefix))
            return 0
        while True:
            changed.wait(1.0)
            changed.clear()
            with lock:
                table = format_fleet(boxes, prefix)
            if sys.stdout.isatty():
                sys.stdout.write("\x1b[H\x1b[2J")
            print(table, flush=True)
    except KeyboardInterrupt:
        return 0
    finally:
        client.loop_stop()
        client.disconnect()
