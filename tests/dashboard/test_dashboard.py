"""The phone dashboard, end to end: the built page served by a real mosquitto (the box's shipped
config and ACL), driven in a real headless Chromium at a phone's 360×740 portrait viewport, with
a paho-mqtt client playing the daemon. Also the ACL on its own, with paho.

Skipped only when mosquitto or npm is missing; playwright and Debian's chromium are required.
"""

from __future__ import annotations

import json
import queue
import re
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from playwright.sync_api import Locator, Page, expect

from recorder.app.virtualmic import Feeder
from recorder.web.auth import COOKIE
from tests.dashboard.page import (
    WAIT_MS,
    FakeDaemon,
    log_in,
    pulsing,
    recording,
    screenshot,
    state,
    touch_targets_too_small,
)
from tests.mosquitto import Credentials, Mosquitto
from tests.support import Running, make_config, wait_until
from tests.web.serving import ManualClock, PageServer

# ---- reading the page ----------------------------------------------------------------------------


def elapsed_seconds(page: Page) -> int:
    h, m, s = (int(x) for x in page.inner_text("#elapsed").split(":"))
    return h * 3600 + m * 60 + s


def width_percent(bar: Locator) -> float:
    """The width the page set on a meter bar (the drawn width lags by a CSS transition)."""
    return float(bar.evaluate("e => e.style.width").rstrip("%"))


# ---- single box ----------------------------------------------------------------------------------------


def test_idle_box_shows_state_sessions_and_disk(
    page: Page, broker: Mosquitto, daemon: FakeDaemon
) -> None:
    """The coach's first look: idle, yesterday's sessions and whether they reached the cloud."""
    daemon.state(state())
    log_in(page, broker, broker.dashboard, "box-1")

    expect(page.locator("#state-badge")).to_have_text("Idle", timeout=WAIT_MS)
    expect(page.locator("#hours-left")).to_have_text("38 h")
    expect(page.locator("#disk-free")).to_have_text("20.0 GB")
    expect(page.locator("#upload-summary")).to_have_text("1 waiting")
    expect(page.locator("#upload-detail")).to_contain_text("remote unreachable")
    sessions = page.locator("#recent li")
    expect(sessions).to_have_count(2)
    uploaded = page.locator('#recent li[data-upload="verified"]')
    failed = page.locator('#recent li[data-upload="failed"]')
    expect(uploaded).to_contain_text("000041-20261128T093000Z")
    expect(uploaded).to_contain_text("In the cloud")
    expect(uploaded).to_contain_text("52 min")
    expect(failed).to_contain_text("000042-20261128T140000Z")
    expect(failed).to_contain_text("Upload failed")
    expect(page.locator("#recent-summary")).to_contain_text(
        "1 of 2 finished sessions not in the cloud"
    )
    # newest first
    expect(sessions.first).to_contain_text("000042")
    # only Start makes sense while idle
    expect(page.locator("#btn-start")).to_be_enabled()
    expect(page.locator("#btn-mark")).to_be_disabled()
    expect(page.locator("#btn-stop")).to_be_disabled()
    expect(page.locator("#banner")).to_be_hidden()
    assert touch_targets_too_small(page) == []

    # settings are remembered on the phone, the password only when asked
    stored = json.loads(page.evaluate("localStorage.getItem('session-recorder.dashboard.v1')"))
    assert stored["username"] == "dashboard"
    assert stored["device"] == "box-1"
    assert "password" not in stored


def test_recording_elapsed_levels_and_warnings(
    page: Page, broker: Mosquitto, daemon: FakeDaemon
) -> None:
    """While recording the clock runs between state messages and the meters follow `level`."""
    daemon.state(recording())
    log_in(page, broker, broker.dashboard, "box-1")
    expect(page.locator("#state-badge")).to_have_text("Recording", timeout=WAIT_MS)
    expect(page.locator("#session-id")).to_contain_text("000043-20261129T050000Z")

    first = elapsed_seconds(page)
    assert 754 <= first < 770
    time.sleep(1.2)  # no state message in between: the page advances the clock itself
    second = elapsed_seconds(page)
    assert second > first

    meter = page.locator(".meter").first
    track = meter.locator(".meter-track")
    bar = meter.locator(".meter-rms")
    daemon.level([-30.0, -35.0], [-42.0, -45.0], elapsed=760.0)
    expect(track).to_have_attribute("aria-valuenow", "-30", timeout=WAIT_MS)
    quiet = width_percent(bar)
    daemon.level([-3.0, -8.0], [-12.0, -16.0], elapsed=760.25)
    expect(track).to_have_attribute("aria-valuenow", "-3", timeout=WAIT_MS)
    expect(meter).to_have_attribute("data-level", "hot")
    loud = width_percent(bar)
    assert (round(quiet), round(loud)) == (30, 80)  # RMS on a -60..0 dBFS scale
    daemon.level([0.0, -8.0], [-6.0, -16.0], elapsed=760.5, clipped=12)
    expect(meter).to_have_attribute("data-level", "clip", timeout=WAIT_MS)
    expect(meter.locator(".meter-value")).to_contain_text("CLIP")
    expect(page.locator(".meter").nth(1)).not_to_have_attribute("data-level", "clip")

    daemon.state(
        recording(
            elapsed_s=761.0,
            warnings=[{"kind": "clipping", "message": "channel 1 clipped: turn the gain down"}],
            upload={
                "enabled": True,
                "queue": 1,
                "current": None,
                "progress": None,
                "paused": True,
                "last_error": None,
            },
        )
    )
    warning = page.locator('#warnings li[data-kind="clipping"]')
    expect(warning).to_be_visible(timeout=WAIT_MS)
    expect(warning).to_contain_text("Clipping")
    expect(warning).to_contain_text("turn the gain down")
    expect(page.locator("#upload-summary")).to_contain_text("paused while recording")
    expect(page.locator("#btn-start")).to_be_disabled()
    expect(page.locator("#btn-stop")).to_be_enabled()
    daemon.level([-10.0, -14.0], [-20.0, -24.0], elapsed=761.5)
    expect(track).to_have_attribute("aria-valuenow", "-10", timeout=WAIT_MS)
    screenshot(page, "dashboard-recording.png")


def test_buttons_send_commands_and_stop_needs_confirmation(
    page: Page, broker: Mosquitto, daemon: FakeDaemon
) -> None:
    """Marker and Stop reach the daemon's cmd topic; one stray tap on Stop does nothing."""
    daemon.state(recording())
    log_in(page, broker, broker.dashboard, "box-1")
    expect(page.locator("#btn-mark")).to_be_enabled(timeout=WAIT_MS)

    page.locator("#btn-mark").tap()
    assert daemon.next_command() == b"mark"

    stop = page.locator("#btn-stop")
    stop.tap()
    expect(stop).to_have_text("Tap again to stop")
    assert daemon.next_command(timeout=1.0) is None  # not confirmed: nothing sent
    stop.tap()
    assert daemon.next_command() == b"stop"
    expect(stop).to_have_text("Stop")

    # the daemon answers with an event; the page says so
    answer = {"event": "command", "cmd": "stop", "ok": True, "message": "stopping 000043"}
    daemon.publish("event", json.dumps(answer))
    expect(page.locator("#toast")).to_contain_text("stopping 000043", timeout=WAIT_MS)

    daemon.state(state())
    expect(page.locator("#btn-start")).to_be_enabled(timeout=WAIT_MS)
    page.locator("#btn-start").tap()
    assert daemon.next_command() == b"start"
    assert daemon.next_command(timeout=0.3) is None  # exactly one command per confirmed tap


def test_uploaded_then_verified_sessions_are_toasted(
    page: Page, broker: Mosquitto, daemon: FakeDaemon
) -> None:
    """The two upload events as the daemon sends them: arrived, then checked by rclone (only
    then may the box delete its own copy), each said in words on the page."""
    daemon.state(state())
    log_in(page, broker, broker.dashboard, "box-1")
    expect(page.locator("#state-badge")).to_have_text("Idle", timeout=WAIT_MS)
    sid, remote = "000043-20261129T093000Z", "secret:box-1/000043-20261129T093000Z"
    toast = page.locator("#toast")
    daemon.publish(
        "event", json.dumps({"event": "session_uploaded", "session_id": sid, "remote": remote})
    )
    expect(toast).to_have_text("A session reached the cloud", timeout=WAIT_MS)
    daemon.publish(
        "event", json.dumps({"event": "session_verified", "session_id": sid, "remote": remote})
    )
    expect(toast).to_have_text(f"Checked in the cloud: {sid}", timeout=WAIT_MS)
    expect(toast).to_be_visible()
    assert toast.get_attribute("data-kind") == "ok"


def test_offline_box_is_stated_clearly(page: Page, broker: Mosquitto, daemon: FakeDaemon) -> None:
    """The daemon's Last Will (`offline`) greys out the page and disables the buttons."""
    daemon.state(recording())
    log_in(page, broker, broker.dashboard, "box-1")
    expect(page.locator("#state-badge")).to_have_text("Recording", timeout=WAIT_MS)

    daemon.offline()
    banner = page.locator("#banner")
    expect(banner).to_be_visible(timeout=WAIT_MS)
    expect(banner).to_contain_text("Box offline")
    expect(page.locator("#state-badge")).to_have_text("Offline")
    expect(page.locator("#session-id")).to_contain_text("Last known: recording")
    for button in ("#btn-start", "#btn-mark", "#btn-stop"):
        expect(page.locator(button)).to_be_disabled()
    # the clock stops with the box
    first = page.inner_text("#elapsed")
    time.sleep(1.1)
    assert page.inner_text("#elapsed") == first
    screenshot(page, "dashboard-offline.png")

    daemon.online()
    expect(banner).to_be_hidden(timeout=WAIT_MS)
    expect(page.locator("#state-badge")).to_have_text("Recording")


def test_lost_broker_connection_is_shown_and_recovers(
    page: Page, tmp_path: Path, dist: Path
) -> None:
    """The broker going away (box rebooting, phone out of Wi-Fi) says so, then recovers alone."""
    own = PageServer(Mosquitto(tmp_path, device_id="box-1").start(), dist, tmp_path / "web")
    own.serve()
    try:
        fake = FakeDaemon(own)
        fake.state(state())
        log_in(page, own, own.dashboard, "box-1")
        expect(page.locator("#state-badge")).to_have_text("Idle", timeout=WAIT_MS)

        own.stop()
        banner = page.locator("#banner")
        expect(banner).to_contain_text("Connection to the box lost", timeout=WAIT_MS)
        expect(page.locator("#state-badge")).to_have_text("No connection")
        expect(page.locator("#btn-start")).to_be_disabled()

        fake.last_state = state(hours_left=8.5)  # what the daemon says when it is back
        own.start()  # same ports; the daemon and the page both reconnect by themselves
        expect(page.locator("#state-badge")).to_have_text("Idle", timeout=10_000)
        expect(banner).to_be_hidden()
        expect(page.locator("#hours-left")).to_have_text("8.5 h", timeout=WAIT_MS)  # resubscribed
    finally:
        own.shutdown()
        own.close()


def test_wrong_password_returns_to_the_form(page: Page, broker: Mosquitto) -> None:
    """A refused login stops the retries and says why, on a form a thumb can use."""
    log_in_bad = Credentials("dashboard", "not-the-password")
    page.goto(broker.http_url)
    page.fill("#f-user", log_in_bad.username)
    page.fill("#f-pass", log_in_bad.password)
    page.fill("#f-device", "box-1")
    page.click("#connect-btn")
    error = page.locator("#login-error")
    expect(error).to_be_visible(timeout=WAIT_MS)
    expect(error).to_contain_text("Wrong password.")  # the web server's answer
    expect(page.locator("#login")).to_be_visible()
    page.locator("#advanced summary").tap()  # the broker address and prefix fold away
    expect(page.locator("#f-prefix")).to_have_value("session-recorder")
    assert touch_targets_too_small(page) == []


def test_the_page_logs_in_through_the_web_server(page: Page, tmp_path: Path, dist: Path) -> None:
    """The password goes to the box's web server first: wrong ones are slowed and said so, the
    right one gives a cookie the page's scripts cannot read, and MQTT follows through /mqtt."""
    clock = ManualClock()
    own = PageServer(
        Mosquitto(tmp_path, device_id="box-1").start(), dist, tmp_path / "web", clock=clock
    )
    own.serve()
    try:
        FakeDaemon(own).state(state())
        page.goto(own.http_url)
        error = page.locator("#login-error")
        page.fill("#f-user", own.dashboard.username)
        page.fill("#f-device", "box-1")
        for attempt in range(5):
            page.fill("#f-pass", f"wrong-{attempt}")
            page.click("#connect-btn")
            said = (
                "Too many wrong passwords: try again in 1 s." if attempt == 4 else "Wrong password."
            )
            expect(error).to_have_text(said, timeout=WAIT_MS)
            page.evaluate("document.getElementById('login-error').textContent = ''")
        clock.now += 1.0
        page.fill("#f-pass", own.dashboard.password)
        page.click("#connect-btn")
        expect(page.locator("#state-badge")).to_have_text("Idle", timeout=WAIT_MS)
        assert page.evaluate("document.cookie") == ""  # HttpOnly
        [cookie] = page.context.cookies(own.http_url)
        assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == (COOKIE, True, "Strict")
        # no wrong guess ever reached the broker: one MQTT login, the right one
        logins = [line for line in own.log_text().splitlines() if "New client connected" in line]
        assert len([line for line in logins if " as dashboard-" in line]) == 1, logins

        # logging out ends the login on the box, not only on this phone
        page.locator("#settings-btn").tap()
        page.locator("#logout-btn").tap()
        expect(error).to_have_text(
            "Logged out: the password is needed again on this phone.", timeout=WAIT_MS
        )
        assert page.context.cookies(own.http_url) == []
        asked = httpx.get(own.http_url + "api/me", cookies={COOKIE: cookie["value"]})
        assert asked.status_code == 401  # the token is dead, even to one who kept it
        expect(page.locator("#f-pass")).to_have_value("")
    finally:
        own.shutdown()
        own.close()


# ---- fleet ------------------------------------------------------------------------------------------------


def test_fleet_view_lists_every_box(page: Page, broker: Mosquitto, daemon: FakeDaemon) -> None:
    """Pointed at a central broker with box id `all`: one card per box, each with its state."""
    other = broker.client(broker.admin)  # plays the second box's daemon
    try:
        daemon.state(recording(warnings=[{"kind": "silence", "message": "no sound for 60 s"}]))
        for leaf, payload in (
            ("availability", "online"),
            ("state", json.dumps(state("box-2", hours_left=5.5))),
        ):
            other.publish(
                broker.topic(leaf, "box-2"), payload, qos=1, retain=True
            ).wait_for_publish(5)

        # a central broker's viewer, reached directly (here the same mosquitto's websockets)
        log_in(page, broker, broker.fleet, "all", url=broker.broker.ws_url)
        cards = page.locator("#fleet-list .fleet-card")
        expect(cards).to_have_count(2, timeout=WAIT_MS)
        box1 = page.locator('#fleet-list li[data-device="box-1"] .fleet-card')
        box2 = page.locator('#fleet-list li[data-device="box-2"] .fleet-card')
        expect(box1).to_have_attribute("data-state", "recording")
        expect(box1).to_contain_text("Recording")
        expect(box1).to_contain_text("Silence")
        expect(box1).to_contain_text("0:12:")
        expect(box2).to_have_attribute("data-state", "idle")
        expect(box2).to_contain_text("5.5 h left")
        expect(box2).to_contain_text("1 to upload")
        assert touch_targets_too_small(page) == []
        screenshot(page, "dashboard-fleet.png")

        # a box going offline shows on its card
        other.publish(broker.topic("availability", "box-2"), "offline", qos=1, retain=True)
        expect(box2).to_have_attribute("data-state", "offline", timeout=WAIT_MS)

        # a card opens that box's own view, and back
        box1.tap()
        expect(page.locator("#box-name")).to_have_text("box-1")
        expect(page.locator("#state-badge")).to_have_text("Recording")
        page.locator("#back-btn").tap()
        expect(cards).to_have_count(2)
    finally:
        other.publish(broker.topic("availability", "box-2"), b"", qos=1, retain=True)
        other.publish(broker.topic("state", "box-2"), b"", qos=1, retain=True).wait_for_publish(5)


# ---- the ACL ------------------------------------------------------------------------------------------


def subscribe(client: mqtt.Client, topics: list[str]) -> list[mqtt.ReasonCode]:
    """Subscribe and wait for the SUBACK, so later publishes are certainly seen (or not)."""
    acks: queue.Queue[list[mqtt.ReasonCode]] = queue.Queue()
    client.on_subscribe = lambda _c, _u, _mid, codes, _p: acks.put(codes)
    client.subscribe([(t, 1) for t in topics])
    return acks.get(timeout=5)


def test_acl_confines_the_dashboard_to_its_own_box(broker: Mosquitto) -> None:
    """`dashboard` reads box-1 and commands box-1 only; nothing of another box or Home Assistant."""
    seen: queue.Queue[tuple[str, bytes]] = queue.Queue()
    watcher = broker.client(broker.admin)
    watcher.on_message = lambda _c, _u, msg: seen.put((msg.topic, msg.payload))
    subscribe(watcher, [f"{broker.prefix}/#", "homeassistant/#"])

    dash = broker.client(broker.dashboard)
    got: queue.Queue[tuple[str, bytes]] = queue.Queue()
    dash.on_message = lambda _c, _u, msg: got.put((msg.topic, msg.payload))
    subscribe(
        dash,
        [
            "homeassistant/#",
            broker.topic("state", "box-2"),
            broker.topic("cmd", "box-2"),
            broker.topic("event"),  # its own box: allowed, the control
        ],
    )

    # publishing anywhere but its own cmd topic is refused (MQTT 5 says so in the PUBACK)
    refused = dash.publish(broker.topic("cmd", "box-2"), "stop", qos=1)
    refused_state = dash.publish(broker.topic("state"), "{}", qos=1)
    refused_ha = dash.publish("homeassistant/status", "online", qos=1)
    allowed = dash.publish(broker.topic("cmd"), "mark", qos=1)
    for info in (refused, refused_state, refused_ha, allowed):
        info.wait_for_publish(timeout=5)

    # what others publish where dashboard may not read never reaches it
    admin = broker.client(broker.admin)
    for topic in (
        "homeassistant/status",
        broker.topic("state", "box-2"),
        broker.topic("cmd", "box-2"),
    ):
        admin.publish(topic, "secret", qos=1).wait_for_publish(timeout=5)
    admin.publish(broker.topic("event"), "control", qos=1).wait_for_publish(timeout=5)

    # messages on one connection arrive in order: the control comes after anything forbidden
    assert got.get(timeout=5) == (broker.topic("event"), b"control")
    assert got.empty()

    watched = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (broker.topic("event"), b"control") not in watched:
        watched.append(seen.get(timeout=5))
    assert (broker.topic("cmd"), b"mark") in watched  # its own box's cmd went through
    for topic, payload in watched:
        assert payload != b"stop", f"a refused publish arrived on {topic}"
        assert topic != broker.topic("state") or payload != b"{}"
        assert not (topic == "homeassistant/status" and payload == b"online")


def test_acl_recorder_and_anonymous(broker: Mosquitto) -> None:
    """The daemon's user cannot speak for another box; nobody gets in without a password."""
    seen: queue.Queue[tuple[str, bytes]] = queue.Queue()
    watcher = broker.client(broker.admin)
    watcher.on_message = lambda _c, _u, msg: seen.put((msg.topic, msg.payload))
    subscribe(watcher, [f"{broker.prefix}/box-2/#", "homeassistant/#"])

    rec = broker.client(broker.recorder)
    rec.publish(broker.topic("state", "box-2"), "forged", qos=1).wait_for_publish(timeout=5)
    rec.publish("homeassistant/sensor/box-1/config", "{}", qos=1).wait_for_publish(timeout=5)
    assert seen.get(timeout=5) == ("homeassistant/sensor/box-1/config", b"{}")
    assert seen.empty()

    with pytest.raises(ConnectionRefusedError):
        broker.client(None)
    with pytest.raises(ConnectionRefusedError):
        broker.client(Credentials("dashboard", "wrong"))
    assert re.search(r"Denied PUBLISH from \S+ .*session-recorder/box-2/state", broker.log_text())


# ---- the real recorder ----------------------------------------------------------------------------


def test_the_real_recorder_from_a_phone(page: Page, broker: Mosquitto, tmp_path, mic) -> None:
    """The page against the real daemon: start, an advancing clock, a moving meter, a marker
    that lands in the session, and a confirmed stop."""
    pw = tmp_path / "mqtt.pass"
    pw.write_text(broker.recorder.password)
    cfg = make_config(
        tmp_path,
        device={"id": "box-1"},
        mqtt={
            "host": "127.0.0.1",
            "port": broker.port,
            "username": broker.recorder.username,
            "password_file": str(pw),
        },
        warnings={"disk_minutes": 0},
    )
    feeder = Feeder(mic.infile, pulsing(), 0.1)  # real time: the clock is the wall clock
    with Running(cfg, feeder) as r:
        wait_until(lambda: r.rec.mqtt.connected, 10)
        r.wait_frames(48000)
        log_in(page, broker, broker.dashboard, "box-1")
        expect(page.locator("#btn-start")).to_be_enabled(timeout=WAIT_MS)
        page.locator("#btn-start").tap()
        expect(page.locator("#state-badge")).to_have_text("Recording", timeout=WAIT_MS)
        sid = r.rec.controller.status()["session_id"]
        # the running session by its name (its date and time until it has a client or title)
        name = wait_until(
            lambda: next((e.get("name") for e in r.rec.views.recent() if e["id"] == sid), None)
        )
        expect(page.locator("#session-id")).to_have_text(str(name), timeout=WAIT_MS)

        first = elapsed_seconds(page)
        track = page.locator(".meter").first.locator(".meter-track")
        seen = set()
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            seen.add(track.get_attribute("aria-valuenow"))
            time.sleep(0.1)
        assert elapsed_seconds(page) > first
        assert len(seen - {None}) >= 2, seen  # the meter follows the sound

        before = r.rec.tap.session_frames
        page.locator("#btn-mark").tap()
        wait_until(lambda: r.rec.controller.state.ack == 1, 10, "the marker")
        after = r.rec.tap.session_frames
        screenshot(page, "dashboard-real-recorder.png")
        stop = page.locator("#btn-stop")
        stop.tap()
        stop.tap()
        session = r.wait_outbox(sid)
        expect(page.locator("#state-badge")).not_to_have_text("Recording", timeout=WAIT_MS)
    [marker] = session.manifest.markers
    assert marker.source == "mqtt" and before <= marker.frame <= after
    assert session.manifest.stop_reason == "requested"
