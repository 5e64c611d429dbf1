"""A box on the real broker, and the clients that talk to it as a subscriber and the phone do.

watcher = Watcher(broker)        # every message a subscriber sees, in order
phone = Phone(broker, watcher)   # the dashboard's account: commands out, answers in
cfg, feeder = box_on_broker(tmp_path, mic, broker)       # an in-process box with [mqtt]
cfg, conf = coach_box(tmp_path, broker, s3)              # ... and [share] on the S3 server
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from recorder.app.virtualmic import Feeder, VirtualMic, random_periods
from recorder.config import Config
from recorder.core.formats import FORMATS
from tests.mosquitto import Mosquitto
from tests.rclone_server import BUCKET, S3_REMOTE, S3Server, rclone_binary
from tests.rclone_server import write_config as write_rclone
from tests.support import make_config, wait_until

S16 = FORMATS["S16_LE"]


class Watcher:
    """Everything a subscriber sees, in order."""

    def __init__(self, broker: Mosquitto, topics=("session-recorder/#", "homeassistant/#")):
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.client = broker.client(broker.admin)
        self.client.on_message = self._on
        for t in topics:
            self.client.subscribe(t, qos=1)

    def _on(self, _c, _u, msg) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload, msg.retain))

    def of(self, leaf: str) -> list:
        with self.lock:
            return [(p, r) for t, p, r in self.messages if t.endswith(leaf)]

    def states(self) -> list[str]:
        return [json.loads(p)["state"] for p, _ in self.of("/state")]

    def events(self) -> list[dict]:
        return [json.loads(p) for p, _ in self.of("/event")]

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()


class Phone:
    """The dashboard's side of MQTT: commands out, the box's answers and state in."""

    def __init__(self, broker: Mosquitto, watcher: Watcher) -> None:
        self.client = broker.client(broker.dashboard)
        self.topic = broker.topic("cmd")
        self.watcher = watcher

    def send(self, payload: dict | bytes) -> None:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.client.publish(self.topic, raw, qos=1)

    def answer(self, cmd: str, seen: int = 0, timeout: float = 20.0) -> dict:
        """The `seen`-th (from 0) `command` event answering `cmd`."""

        def found():
            answers = [e for e in self.watcher.events() if e.get("cmd") == cmd]
            return answers[seen] if len(answers) > seen else None

        wait_until(lambda: found() is not None, timeout, f"the answer to {cmd}")
        return found()

    def errors(self) -> list[str]:
        return [e["message"] for e in self.watcher.events() if e["event"] == "error"]

    def state(self) -> dict:
        return json.loads(self.watcher.of("/state")[-1][0])

    def event(self, name: str, timeout: float = 60.0) -> dict:
        wait_until(lambda: any(e["event"] == name for e in self.watcher.events()), timeout, name)
        return next(e for e in self.watcher.events() if e["event"] == name)


def box_on_broker(
    tmp_path: Path, mic: VirtualMic, broker: Mosquitto, **mqtt
) -> tuple[Config, Feeder]:
    """The config of box-1 logged in to `broker` (`mqtt` changes its section), and a feeder
    that keeps what it sends (`feeder.recorded`)."""
    cfg = make_config(
        tmp_path,
        device={"id": "box-1"},
        mqtt={**broker.recorder_section(tmp_path), **mqtt},
        warnings={"disk_minutes": 0},
    )
    feeder = Feeder(mic.infile, random_periods(S16, 2, 4800, None, seed=2), 0.05, record=True)
    return cfg, feeder


def coach_box(tmp_path: Path, broker: Mosquitto, s3: S3Server, **sections) -> tuple[Config, Path]:
    """The config of box-1 on `broker` sharing to the S3 server, and its rclone config."""
    conf = write_rclone(tmp_path / "rclone.conf", s3)
    cfg = make_config(
        tmp_path,
        device={"id": "box-1"},
        mqtt=broker.recorder_section(tmp_path),
        share={"remote": f"{S3_REMOTE}:{BUCKET}/shares", "rclone_config": str(conf),
               "rclone_binary": str(rclone_binary())},
        warnings={"disk_minutes": 0, "clip_repeat": 1_000_000},
        **sections,
    )  # fmt: skip
    return cfg, conf


def coach_feeder(mic: VirtualMic) -> Feeder:
    """Seeded random audio, a 0.1 s period every 0.02 s: five times faster than real time."""
    return Feeder(mic.infile, random_periods(S16, 2, 4800, None, seed=5), 0.02)
