"""The web server's DaemonLink over the control socket: the daemon's answer, or a named error
when no daemon answers (never a hang, never a bare socket error)."""

from __future__ import annotations

import pytest

from recorder.app.virtualmic import Feeder, random_periods
from recorder.app.web_server import SocketDaemonLink
from recorder.core.formats import FORMATS
from recorder.ports.daemon import DaemonLink, DaemonUnreachable
from tests.support import Running, make_config


def test_the_link_asks_the_running_daemon(tmp_path, mic):
    cfg = make_config(tmp_path)
    feeder = Feeder(mic.infile, random_periods(FORMATS["S16_LE"], 2, 4800, None, seed=3), 0.1)
    link: DaemonLink = SocketDaemonLink(cfg.socket_path)
    with Running(cfg, feeder):
        answer = link.request({"cmd": "status"}, timeout=10)
    assert answer["ok"] is True
    assert answer["status"]["state"] in ("idle", "starting")


def test_no_daemon_is_a_named_error(tmp_path):
    link = SocketDaemonLink(tmp_path / "control.sock")
    with pytest.raises(DaemonUnreachable, match="no recorder is running"):
        link.request({"cmd": "status"}, timeout=2)
    (tmp_path / "control.sock").write_text("not a socket")
    with pytest.raises(DaemonUnreachable, match="cannot reach the recorder"):
        link.request({"cmd": "status"}, timeout=2)
