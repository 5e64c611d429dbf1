"""The cmd topic: outside input, read as `ctl` reads it and never trusted further.

- a retained command is never acted on (it would run again at every reconnect): it is answered
  with an error and cleared;
- every valid command is carried out or answered: at most `COMMAND_BURST` at once and
  `COMMANDS_PER_S` a second are acted on, the rest are answered "dropped"; bad messages beyond
  the same rate are counted into one error event a second (`summaries`);
- the commands are carried out one at a time on the `mqtt-commands` thread, whose loop is
  started again when something ends it (`supervision.keep_running`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

import paho.mqtt.client as mqtt

from recorder.adapters.mqtt.outlet import Outlet
from recorder.adapters.mqtt.quiet import Quiet
from recorder.core.inbound import RequestError
from recorder.core.limits import TokenBucket
from recorder.core.requests import read_request, request_name
from recorder.threads.supervision import Restarted, keep_running

COMMANDS_PER_S = 10.0  # commands acted on, on average …
COMMAND_BURST = 20  # … and at once; the rest are answered "dropped"
COMMAND_QUEUE = 32  # room for a whole burst while a slow command is carried out
DROPPED = f"dropped: too many commands at once (at most {COMMANDS_PER_S:g} a second); send it again"
RETAINED = (
    "a retained command is never acted on (it would run again every time the box reconnects): "
    "publish it without retain; the box has cleared it"
)


class CommandGate:
    """What comes in on `topic`, admitted, carried out through `dispatch` and answered."""

    def __init__(
        self,
        topic: str,
        allowed: Collection[str],
        outlet: Outlet,
        quiet: Quiet,
        dispatch: Callable[[object], dict],
        stopping: threading.Event,
        restarted: Restarted,
    ) -> None:
        self.topic = topic
        self.allowed = allowed
        self._outlet = outlet
        self._quiet = quiet
        self._dispatch = dispatch
        self._lock = threading.Lock()
        self._commands_bucket = TokenBucket(COMMANDS_PER_S, COMMAND_BURST)  # guarded by _lock
        self._bad_bucket = TokenBucket(COMMANDS_PER_S, COMMAND_BURST)  # guarded by _lock
        self._bad_unanswered = 0  # guarded by _lock: summed into one error event a second
        self._clear_due = False  # guarded by _lock: a retained command waits to be cleared
        self._stopping = stopping
        self._commands: queue.Queue[object] = queue.Queue(COMMAND_QUEUE)
        self._thread = threading.Thread(
            target=keep_running,
            args=("mqtt-commands", self._command_loop, stopping, restarted),
            name="mqtt-commands",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    # ---- in (paho's thread) ---------------------------------------------------------------------

    def take(self, msg: mqtt.MQTTMessage) -> None:
        """A message on the cmd topic: refused, dropped or queued, and answered unless queued."""
        if msg.retain:
            if msg.payload:
                self.bad(RETAINED, clear=True)
            return  # empty: someone cleared a retained command, which is no command
        try:
            event = read_request(msg.payload, "mqtt", plain_words=True)
            name = request_name(event)
            if name not in self.allowed:
                raise RequestError(f"command {name!r} is not allowed over MQTT on this box")
        except RequestError as exc:
            self.bad(f"bad command: {exc}")
            return
        with self._lock:
            admitted = self._commands_bucket.take(time.monotonic())
        if admitted:
            try:
                self._commands.put_nowait(event)
                return
            except queue.Full:
                pass
        self._quiet.log(logging.WARNING, "commands dropped", "MQTT: %s (%s)", DROPPED, name)
        self._answer(event, name, False, DROPPED)

    def bad(self, message: str, clear: bool = False) -> None:
        """Answered one by one within the rate; beyond it counted into a summary a second."""
        with self._lock:
            answered = self._bad_bucket.take(time.monotonic())
            if not answered:
                self._bad_unanswered += 1
                self._clear_due = self._clear_due or clear
        self._quiet.log(logging.WARNING, "bad commands", "MQTT: %s", message)
        if answered:
            self._outlet.event({"event": "error", "message": message})
            if clear:
                self._clear_retained()

    def summaries(self) -> None:
        """Once a second: the bad messages beyond the rate in one event, a retained command
        cleared, and the log lines held back."""
        with self._lock:
            n, self._bad_unanswered = self._bad_unanswered, 0
            clear, self._clear_due = self._clear_due, False
        if clear:
            self._clear_retained()
        if n:
            self._outlet.event(
                {
                    "event": "error",
                    "message": (
                        f"{n} more bad messages on the cmd topic got no answer of their own "
                        f"(at most {COMMANDS_PER_S:g} a second are answered one by one)"
                    ),
                    "unanswered": n,
                }
            )
        self._quiet.flush()

    def _clear_retained(self) -> None:
        self._outlet.send(self.topic, b"", retain=True)

    # ---- carried out (the mqtt-commands thread) -------------------------------------------------

    def _command_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                event = self._commands.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self._carry_out(event)
            except Exception:
                self._quiet.log(logging.ERROR, "bug", "MQTT: a command was lost", exc_info=True)

    def _carry_out(self, event: Any) -> None:
        name = request_name(event)
        try:
            answer = self._dispatch(event)
            ok, message = bool(answer.get("ok")), str(answer.get("message", ""))
            session = answer.get("session_id") or getattr(event, "session", None)
            queued = {k: answer[k] for k in ("queued", "job") if k in answer}
        except Exception as exc:  # a bug in what the command ran: answered, and logged in full
            self._quiet.log(
                logging.ERROR, "failed commands", "MQTT: %r failed", name, exc_info=True
            )
            ok = False
            message = f"{name!r} failed on the box ({type(exc).__name__}); its log says more"
            session = getattr(event, "session", None)
            queued = {}
        self._answer(event, name, ok, message, session, queued)

    def _answer(
        self,
        event: Any,
        name: str,
        ok: bool,
        message: str,
        session: str | None = None,
        extra: dict | None = None,
    ) -> None:
        """The `command` event; a queued request's `queued` and `job` ride along, so the page
        can match the result that comes later."""
        told: dict = {
            "event": "command",
            "cmd": name,
            "ok": ok,
            "message": message,
            **(extra or {}),
        }
        session = session or getattr(event, "session", None)
        if isinstance(session, str) and session:
            told["session_id"] = session
        self._outlet.event(told)
