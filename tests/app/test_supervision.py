"""No single message or job ends a thread that serves the coach: if one dies anyway it is
restarted, logged once, and shown as a warning in the state (ctl status and MQTT).

The faults are real ends of real threads: a share target (the port) whose copy raises
SystemExit, as a library calling exit() would, and a selector whose select() does, under the
control socket's serving loop. Everything else is real: the daemon, mosquitto, rclone's S3.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from recorder.adapters.control_socket import send, wait_for_job
from recorder.adapters.rclone.client import Rclone
from recorder.adapters.rclone.share import RcloneShareTarget
from recorder.app.daemon import Parts
from recorder.core.recording.state import Start, State, Stop, ThreadRestarted, led_view, transition
from recorder.media.deliverables import MP3_NAME
from tests.doubles import Dying
from tests.phone import Phone, Watcher, coach_box, coach_feeder
from tests.rclone_server import S3Server, rclone_binary
from tests.support import Running, wait_until


def test_a_restarted_thread_is_a_warning_said_once_that_outlives_sessions():
    why = "SystemExit: exit() called in a library"
    s, cmds = transition(State(), ThreadRestarted("share", why))
    [note] = cmds
    assert note.kind == "thread" and note.raised
    assert note.message.startswith(f"the recorder's share ({why}) thread failed and restarted")
    assert s.monitor.messages["thread"] == note.message
    again, cmds = transition(s, ThreadRestarted("share", "another reason"))
    assert again == s and cmds == []  # said once
    both, cmds = transition(s, ThreadRestarted("control-socket", why))
    assert [(c.raised, c.kind) for c in cmds] == [(False, "thread"), (True, "thread")]
    assert "share (" in cmds[1].message and "control-socket (" in cmds[1].message
    assert "threads failed" in cmds[1].message
    ready = replace(both, device="ok", starting=False)
    recording, _ = transition(ready, Start())
    assert recording.monitor.messages["thread"] == both.monitor.messages["thread"]
    assert led_view(recording).name == "recording"  # not the coach's to mend mid-session


class DyingOnce:
    """The real share target, whose first copy raises SystemExit (a library calling exit()):
    the share worker's loop ends for real."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.died = False

    def put(self, local_dir, files, folder) -> None:
        if not self.died:
            self.died = True
            raise SystemExit("exit() called in a library")
        self.inner.put(local_dir, files, folder)

    def link(self, path, expire_s):
        return self.inner.link(path, expire_s)

    def remove(self, folder) -> None:
        self.inner.remove(folder)

    def listing(self, folder) -> list[str]:
        return self.inner.listing(folder)


def test_threads_that_die_are_restarted_logged_once_and_shown(
    tmp_path,
    mic,
    broker,
    caplog,
):
    caplog.set_level(logging.INFO)
    watcher = Watcher(broker, topics=("session-recorder/#",))
    phone = Phone(broker, watcher)
    with S3Server(tmp_path / "s3") as s3:
        cfg, conf = coach_box(tmp_path, broker, s3)
        target = DyingOnce(RcloneShareTarget(Rclone(conf, rclone_binary())))
        running = Running(cfg, coach_feeder(mic), Parts(share_target=target))
        running.rec.server.selector = Dying
        with running as r:
            wait_until(lambda: r.rec.mqtt.connected, 20, "the box on the broker")
            sock = cfg.socket_path
            r.wait_frames(48000)
            sid = r.request(Start())["session_id"]
            r.wait_session_frames(48000)
            r.request(Stop())
            session = r.wait_outbox(sid, timeout=60)
            wait_until((session.path / MP3_NAME).exists, 120, "the MP3 built")
            assert send(sock, {"cmd": "consent", "session": sid, "allow": "share",
                               "ref": "signed"})["ok"]  # fmt: skip

            # the share worker dies in the middle of a share: that share is answered failed
            share = {"cmd": "share", "session": sid, "to": "Alex"}
            failed = wait_for_job(sock, send(sock, share), 120)
            assert failed["ok"] is False and failed["state"] == "done"
            assert failed["message"].endswith(
                "failed: internal error (SystemExit: exit() called in a library); "
                "see the recorder's log"
            )
            # and the worker goes on: the next share is made
            done = wait_for_job(sock, send(sock, share), 120)
            assert done["ok"] is True and done["share"]["to"] == "Alex", done

            # the control socket's serving loop dies twice: ctl answers again
            Dying.failures = 2
            Dying.armed.set()
            try:
                send(sock, {"cmd": "status"}, timeout=15)  # wakes the loop, which dies

                def warned() -> str:
                    status = send(sock, {"cmd": "status"}, timeout=15).get("status") or {}
                    found = [w["message"] for w in status.get("warnings", [])]
                    return next((m for m in found if "control-socket (" in m), "")

                message = wait_until(warned, 30, "the thread warning in ctl status")
            finally:
                Dying.armed.clear()
            assert message.startswith(
                "the recorder's share (SystemExit: exit() called in a library), control-socket "
                "(SystemExit: exit() called in a library) threads failed and restarted by itself"
            )

            def shown() -> bool:
                return any(w["kind"] == "thread" and w["message"] == message
                           for w in phone.state().get("warnings") or [])  # fmt: skip

            wait_until(shown, 30, "the warning in the MQTT state")
            assert send(sock, {"cmd": "mark"})["ok"] is False  # answered: not recording
    raised = [r for r in caplog.records if r.getMessage().startswith("warning (thread)")]
    assert [r.levelno for r in raised] == [logging.WARNING] * 2  # once per thread
