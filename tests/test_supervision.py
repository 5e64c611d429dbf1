"""No single message or job ends a thread that serves the coach: if one dies anyway it is
restarted, logged once, and shown as a warning in the state (ctl status and MQTT).

The faults are real ends of real threads: a share target (the port) whose copy raises
SystemExit, as a library calling exit() would, and a selector whose select() does, under the
control socket's serving loop. Everything else is real: the daemon, mosquitto, rclone's S3.
"""

from __future__ import annotations

from dataclasses import replace

from recorder.core.state import Start, State, ThreadRestarted, transition


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
