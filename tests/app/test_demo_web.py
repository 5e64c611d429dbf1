"""`session-recorder demo --web`: after the demo session, the demo's box stays up for the page
(the recorder, its own broker, the web server on loopback) until Ctrl-C, and then nothing of
it is left running."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
import uuid
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest

from bench.common import children
from recorder.app import demo_web
from recorder.web.auth import COOKIE
from tests.mosquitto import mosquitto_binary
from tests.support import wait_until

URL = re.compile(r"^  open (http://127\.0\.0\.1:(\d+)/)\?device=demo$")
PASSWORD = re.compile(r"^  page password: (\S+)  \(also in (\S+), mode 0600\)$")
XHR = {"X-Requested-With": "test"}


class Lines:
    """The demo's output, line by line, as it comes."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)  # the demo closed its output: it ended

    def wait_for(self, pattern: re.Pattern, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            self.seen.append(line)
            if m := pattern.match(line):
                return m
        raise AssertionError(f"no line like {pattern.pattern} in:\n" + "\n".join(self.seen))


def descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        for child in children(todo.pop()):
            found.add(child)
            todo.append(child)
    return found


def live_state(port: int, cookie: str, password: str) -> dict:
    """The box's retained state, read as the page reads it: MQTT through the server's /mqtt."""
    got: queue.Queue[bytes] = queue.Queue()
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"phone-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv311,
        transport="websockets",
    )
    c.ws_set_options(path="/mqtt", headers={"Cookie": f"{COOKIE}={cookie}", **XHR})
    c.username_pw_set("dashboard", password)
    c.on_connect = lambda cl, _u, _f, _rc, _p: cl.subscribe("session-recorder/demo/state", 1)
    c.on_message = lambda _c, _u, m: got.put(m.payload)
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    try:
        return json.loads(got.get(timeout=30))
    finally:
        c.disconnect()
        c.loop_stop()


@pytest.mark.slow
def test_demo_web_serves_the_session_until_ctrl_c(tmp_path):
    where = tmp_path / "demo"
    log = open(tmp_path / "stderr.txt", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "recorder", "demo", "--dir", str(where), "--web", "--seconds", "4"],
        stdout=subprocess.PIPE,
        stderr=log,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = Lines(proc)
        url, port = lines.wait_for(URL, 300).groups()
        password, pw_file = lines.wait_for(PASSWORD, 10).groups()
        assert Path(pw_file).read_text().strip() == password
        assert Path(pw_file).stat().st_mode & 0o777 == 0o600
        [session] = list((where / "sessions" / "uploaded").iterdir())

        with httpx.Client(base_url=url, timeout=30) as http:
            assert http.get("api/sessions").status_code == 401
            assert (
                http.post("api/login", json={"password": "wrong"}, headers=XHR).status_code == 401
            )
            login = http.post("api/login", json={"password": password}, headers=XHR)
            assert login.status_code == 200, login.text
            listed = http.get("api/sessions").json()
            assert session.name in [s["id"] for s in listed]
            mp3 = (session / "session.mp3").read_bytes()
            part = http.get(
                f"media/{session.name}/session.mp3", headers={"Range": "bytes=100-4195"}
            )
            assert part.status_code == 206
            assert part.content == mp3[100:4196]
            page = http.get("")
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        if mosquitto_binary() is not None:
            cookie = SimpleCookie(login.headers["set-cookie"])[COOKIE].value
            state = live_state(int(port), cookie, password)
            assert state["device_id"] == "demo" and state["state"] == "idle", state

        running = descendants(proc.pid)
        assert running, "the web server (and the broker) run as the demo's children"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, (tmp_path / "stderr.txt").read_text()[-2000:]
        wait_until(lambda: not any(os.path.exists(f"/proc/{p}") for p in running), 30,
                   "every process the demo started to end")  # fmt: skip
        with pytest.raises(httpx.TransportError):
            httpx.get(url, timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        log.close()


def test_without_mosquitto_the_page_is_served_without_live_status(tmp_path, monkeypatch, capsys):
    """A machine without the broker (it cannot be uninstalled for a test: its look-up finds
    nothing) still gets the page, and is told why it shows no live status."""
    monkeypatch.setattr(demo_web, "_binary", lambda _name: None)
    box = demo_web.Box(tmp_path)
    try:
        sections = tomllib.loads(box.config_sections())
    finally:
        box.stop()
    assert "mqtt" not in sections
    web = sections["web"]
    assert web["host"] == "127.0.0.1" and web["port"] == box.ports.web
    assert (tmp_path / "page.pass").read_text().strip() == box.password
    assert web["password_file"] == str(tmp_path / "page.pass")
    assert "(no live status on the page: mosquitto is not installed" in capsys.readouterr().out
