"""The state never says `recording` without its session id.

A start makes the state machine record at once, but the session's id is known to viewers only
once the writer has said the session's folder exists (up to a second on a slow card). Meanwhile
`status()` from another thread (MQTT's state, `ctl status`) said `recording` with no session: the
phone then showed a recording it could not name, and a test that took the id at that moment
waited for session None.
"""

from __future__ import annotations

import threading

from recorder.app.daemon import Parts
from recorder.app.virtualmic import Feeder, random_periods
from recorder.core.formats import FORMATS
from recorder.core.recording.state import Start, Stop
from tests.doubles import StallingSegments
from tests.support import Running, make_config


def test_status_says_starting_until_the_session_has_its_id(tmp_path, mic):
    segments = StallingSegments()  # a card whose writes do not return: the start waits 1 s
    cfg = make_config(tmp_path, warnings={"disk_minutes": 0})
    feeder = Feeder(mic.infile, random_periods(FORMATS["S16_LE"], 2, 4800, None), 0.05)
    with Running(cfg, feeder, Parts(open_segment=segments)) as r:
        r.wait_frames(2 * 48000)
        segments.stall.set()
        answered = threading.Event()
        started: list[dict] = []

        def start() -> None:
            started.append(r.request(Start()))
            answered.set()

        seen: list[dict] = []
        threading.Thread(target=start).start()
        while not answered.wait(0.002):
            seen.append(r.rec.controller.status())
        segments.stall.clear()
        segments.resume.set()
        [answer] = started
        assert answer["ok"] and "the storage is slow to answer" in answer["message"]
        states = [(s["state"], s["session_id"]) for s in seen]
        assert [s for s in states if s[0] == "recording" and not s[1]] == []
        assert ("starting", None) in states  # the window was there, and said so
        after = r.rec.controller.status()
        assert after["state"] == "recording" and after["session_id"] == answer["session_id"]
        assert r.request(Stop())["ok"]
        r.wait_outbox(answer["session_id"], timeout=60)
