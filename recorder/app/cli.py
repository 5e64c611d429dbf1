"""`session-recorder`: the command line (the interfaces are listed in README and DESIGN.md)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from recorder import __version__
from recorder.adapters.control_socket import ControlSocketError, send, wait_for_job
from recorder.app import coach_cli as coaching_command
from recorder.config import Config, ConfigError, load_config
from recorder.store.sessions import SessionStore, StorageError
from recorder.views.sessions import session_json

# Each command imports what it runs inside its function: `ctl status` loads 372 modules, all the
# commands' modules together 661 (20 MB and a third of a second more).
EXIT_REFUSED = 1  # the daemon answered, and said no
EXIT_CONFIG = 2  # the config or the storage cannot be used
EXIT_UNREACHABLE = 3  # no daemon answered
DISCARD_WAIT_S = 900.0  # a discard the daemon queued: how long the command line waits for it


def _parser() -> argparse.ArgumentParser:
    """Each command's parser carries its handler (`handler(cfg, args) -> exit code`)."""
    # SUPPRESS: a subcommand's parser that did not see an option leaves it alone; with a
    # default it would put that default over what the parser before it read (`ctl --config X
    # status` lost X).
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $SESSION_RECORDER_CONFIG or /etc/session-recorder/config.toml)",
    )
    common.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    p = argparse.ArgumentParser(
        prog="session-recorder",
        description="Records in-person sessions from a USB audio interface; never loses one.",
        parents=[common],
    )
    p.add_argument("--version", action="version", version=f"session-recorder {__version__}")
    sub = _WithCommon(p.add_subparsers(dest="command", required=True, metavar="COMMAND"), common)
    sub.add_parser("run", help="run the recorder daemon in the foreground").set_defaults(
        handler=lambda cfg, _args: _run(cfg)
    )
    _ctl_parser(sub, common)
    _session_parsers(sub)
    coaching_command.add_parsers(sub)
    for name in ("label", "consent", "share"):
        sub.choices[name].set_defaults(handler=coaching_command.run)
    sub.add_parser("upload", help="upload finished sessions now").set_defaults(
        handler=lambda cfg, _args: _upload(cfg)
    )
    discard = sub.add_parser(
        "discard", help="delete a session here and on the remote (consent withdrawn)"
    )
    discard.add_argument("session", help="the session id")
    discard.set_defaults(handler=lambda cfg, args: _discard(cfg, args.session))
    _box_parsers(sub)
    sub.add_parser(
        "web", help="serve the phone page, its live status and the recordings (one login)"
    ).set_defaults(handler=lambda cfg, _args: _web(cfg))
    return p


def _ctl_parser(sub: _WithCommon, common: argparse.ArgumentParser) -> None:
    ctl = sub.add_parser("ctl", help="drive the running daemon")
    ctl.set_defaults(handler=_ctl)
    ctl_sub = _WithCommon(
        ctl.add_subparsers(dest="action", required=True, metavar="ACTION"), common
    )
    ctl_sub.add_parser("start", help="start a session (with the pre-roll)")
    ctl_sub.add_parser("stop", help="stop and finalize the session")
    mark = ctl_sub.add_parser("mark", help="drop a marker now")
    mark.add_argument("label", nargs="?", default="", help="what happened (optional)")
    ctl_sub.add_parser("upload", help="run an upload pass now")
    ctl_discard = ctl_sub.add_parser("discard", help="delete a session here and on the remote")
    ctl_discard.add_argument("session", help="the session id")
    status = ctl_sub.add_parser("status", help="what the recorder is doing")
    status.add_argument("--json", action="store_true", help="machine-readable output")


def _session_parsers(sub: _WithCommon) -> None:
    """The commands about stored sessions: list, export, transcript, credential check."""
    sessions = sub.add_parser("sessions", help="list recorded sessions")
    sessions.add_argument("--json", action="store_true", help="machine-readable output")
    sessions.set_defaults(handler=lambda cfg, args: _sessions(cfg, args.json))
    export = sub.add_parser("export", help="one file of a session: flac, mp3 (credentials) or wav")
    export.add_argument("session", help="the session id")
    export.add_argument("--format", choices=("flac", "mp3", "wav"), default="flac")
    export.add_argument("-o", "--output", type=Path, help="file to write (default ./<id>.<fmt>)")
    export.add_argument(
        "--from-start",
        action="store_true",
        help="leave out the pre-roll: the file begins at the start press (credential submissions)",
    )
    export.set_defaults(
        handler=lambda cfg, a: _export(cfg, a.session, a.format, a.output, a.from_start)
    )
    transcript = sub.add_parser(
        "transcript",
        help="build a session's transcript (who spoke when) or export it as docx, txt or vtt",
    )
    transcript.add_argument("session", help="the session id")
    transcript.add_argument("--format", choices=("docx", "txt", "vtt"))
    transcript.add_argument("-o", "--output", type=Path, help="file to write")
    transcript.add_argument("--rebuild", action="store_true", help="decode the audio again")
    transcript.add_argument(
        "--discard-corrections",
        action="store_true",
        help="with --rebuild: replace a corrected transcript too (kept as "
        "transcript.corrected.json)",
    )
    transcript.set_defaults(
        handler=lambda cfg, a: _transcript(
            cfg, a.session, a.format, a.output, a.rebuild, a.discard_corrections
        )
    )
    check = sub.add_parser(
        "credential-check",
        help="is a session ready for an ICF credential submission? (length, speakers, gaps, …)",
    )
    check.add_argument("session", help="the session id")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(handler=lambda cfg, a: _credential_check(cfg, a.session, a.json))


def _box_parsers(sub: _WithCommon) -> None:
    """The commands about the box itself: fleet, doctor, config check, demo."""
    fleet = sub.add_parser("fleet", help="live table of every box on a broker")
    fleet.add_argument("--broker", help="HOST[:PORT] (default: [mqtt] host and port)")
    fleet.add_argument("--prefix", help="topic prefix (default: [mqtt] prefix)")
    fleet.add_argument("--username")
    fleet.add_argument("--password-file", type=Path)
    fleet.add_argument("--tls", action="store_true")
    fleet.add_argument("--ca-file")
    fleet.add_argument("--once", type=float, metavar="SECONDS", help="collect, print once, exit")
    fleet.set_defaults(handler=lambda cfg, args: _fleet(args, cfg))
    doctor = sub.add_parser("doctor", help="check device, storage, GPIO, clock, broker, remote")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.set_defaults(handler=lambda cfg, args: _doctor(cfg, args.json))
    cfg = sub.add_parser("config", help="configuration tools")
    cfg_sub = cfg.add_subparsers(dest="action", required=True, metavar="ACTION")
    cfg_sub.add_parser("check", parents=[sub.common], help="check the config file and print it")
    cfg.set_defaults(handler=lambda cfg, _args: _config_check(cfg))
    demo = sub.add_parser("demo", help="record a session from a virtual microphone (no hardware)")
    demo.add_argument("--dir", type=Path, help="where to put it (default: a new temporary dir)")
    demo.add_argument(
        "--seconds",
        type=float,
        help="length of the session after the pre-roll (default: the conversation's, or 9)",
    )
    demo.add_argument(
        "--web",
        action="store_true",
        help="then keep the demo's box up for the phone page on localhost, until Ctrl-C",
    )


class _WithCommon:
    """A subparsers object whose new parsers take the common options (--config, -v)."""

    def __init__(self, sub, common: argparse.ArgumentParser) -> None:
        self._sub, self.common = sub, common

    @property
    def choices(self) -> dict[str, argparse.ArgumentParser]:
        return self._sub.choices

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        return self._sub.add_parser(name, parents=[self.common], **kwargs)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = logging.DEBUG if getattr(args, "verbose", False) else logging.INFO
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # These two need no config: the demo writes its own, and a broker given is enough for fleet.
    if args.command == "demo":
        from recorder.app.demo import run_demo

        return run_demo(args.dir, args.seconds, web=args.web)
    if args.command == "fleet" and args.broker:
        return _fleet(args, None)
    try:
        cfg = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        print(f"session-recorder: config error:\n{exc}", file=sys.stderr)
        if args.command == "doctor":
            print("[FAIL] config: fix the lines above, then run `session-recorder doctor` again")
            return EXIT_REFUSED
        return EXIT_CONFIG
    return args.handler(cfg, args)


def _run(cfg: Config) -> int:
    from recorder.app.daemon import run

    try:
        return run(cfg)
    except (StorageError, ControlSocketError) as exc:
        logging.getLogger("recorder").error("%s", exc)
        return EXIT_CONFIG


def _web(cfg: Config) -> int:
    from recorder.app.web_server import WebConfigError, run

    try:
        return run(cfg)
    except (WebConfigError, OSError) as exc:  # a bad password file or certificate, a busy port
        logging.getLogger("recorder").error("web: %s", exc)
        return EXIT_CONFIG


def _ctl(cfg: Config, args: argparse.Namespace) -> int:
    payload: dict = {"cmd": args.action}
    if args.action == "mark" and args.label:
        payload["label"] = args.label
    if args.action == "discard":
        payload["session"] = args.session
    try:
        answer = send(cfg.socket_path, payload, timeout=15)
        answer = wait_for_job(cfg.socket_path, answer, DISCARD_WAIT_S)
    except ControlSocketError as exc:
        print(f"session-recorder: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if args.action == "status":
        status = answer.get("status")
        if not answer.get("ok") or not isinstance(status, dict):
            why = answer.get("message") or "its answer held no status"
            print(f"session-recorder: the recorder did not give its status: {why}", file=sys.stderr)
            return EXIT_REFUSED
        if args.json:
            print(json.dumps(status, indent=2))
        else:
            print(format_status(status))
        return 0
    print(answer.get("message") or ("ok" if answer.get("ok") else "refused"))
    return 0 if answer.get("ok") else EXIT_REFUSED


def format_status(s: dict) -> str:
    lines = [f"state:        {s.get('state')}"]
    if s.get("session_id"):
        lines.append(f"session:      {s['session_id']} ({s.get('elapsed_s', 0):.1f} s)")
    lines += [
        f"audio device: {s.get('audio_device')} ({s.get('device')})",
        f"disk:         {s.get('disk_free_mb', 0):.0f} MB free, "
        f"{s.get('hours_left', 0):.1f} h of recording left",
        f"buffer:       {s.get('buffer_s', 0):.1f} s queued for the disk, "
        f"{s.get('overruns', 0)} overrun(s)",
    ]
    for w in s.get("warnings") or []:
        lines.append(f"warning:      {w['message']}")
    if s.get("levels"):
        peaks = ", ".join(f"{p:.0f}" for p in s["levels"]["peak_dbfs"])
        lines.append(f"levels:       peak {peaks} dBFS")
    lines.append(f"LED:          {s.get('led')} (button/LED: {s.get('gpio')})")
    if s.get("last_error"):
        lines.append(f"last error:   {s['last_error']}")
    if s.get("last_session"):
        last = s["last_session"]
        lines.append(f"last session: {last['id']} ({last['stop_reason']}) in {last['path']}")
    return "\n".join(lines)


def _sessions(cfg: Config, as_json: bool) -> int:
    records = [session_json(s) for s in SessionStore(cfg.storage.dir).sessions()]
    if as_json:
        print(json.dumps(records, indent=2))
        return 0
    if not records:
        print(f"no sessions in {cfg.storage.dir}")
        return 0
    print(f"{'id':<27} {'state':<10} {'length':>9} {'seg':>4} {'marks':>5}  stop / upload  name")
    for r in records:
        seconds = r.get("seconds") or 0
        length = f"{int(seconds // 60)}:{seconds % 60:06.3f}"
        tail = r.get("error") or f"{r.get('stop_reason') or '-'} / {r['upload']['status']}"
        d = r.get("details") or {}
        name = f"  {r['name']}" if d.get("client") or d.get("title") or d.get("number") else ""
        print(
            f"{r['id']:<27} {r['state']:<10} {length:>9} {len(r['segments']):>4} "
            f"{len(r['markers']):>5}  {tail}{name}"
        )
    return 0


def _find(cfg: Config, session_id: str):
    return SessionStore(cfg.storage.dir).find(session_id)


def _export(
    cfg: Config, session_id: str, fmt: str, output: Path | None, from_start: bool = False
) -> int:
    from recorder.media.deliverables import DeliverableError, export

    s = _found(cfg, session_id)
    if s is None:
        return EXIT_REFUSED
    out = output or Path.cwd() / f"{s.id}.{fmt}"
    try:
        path = export(s.path, s.manifest, fmt, out, from_start=from_start)
    except (DeliverableError, OSError) as exc:
        print(f"session-recorder: export failed: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def _found(cfg: Config, session_id: str):
    """The session with a manifest, or None after saying why there is none."""
    s = _find(cfg, session_id)
    if s is None or s.manifest is None:
        why = "not found" if s is None else s.error
        print(f"session-recorder: session {session_id}: {why}", file=sys.stderr)
        return None
    return s


def _transcript(
    cfg: Config, session_id: str, fmt, output: Path | None, rebuild: bool, discard: bool
) -> int:
    from recorder.app import transcript_cli as command

    s = _found(cfg, session_id)
    return EXIT_REFUSED if s is None else command.run(cfg, s, fmt, output, rebuild, discard)


def _credential_check(cfg: Config, session_id: str, as_json: bool) -> int:
    from recorder.views import credential

    s = _found(cfg, session_id)
    if s is None:
        return EXIT_REFUSED
    checks = credential.check(s.path, s.manifest)
    if as_json:
        print(json.dumps(credential.as_json(checks, s.id), indent=2))
    else:
        print(credential.report(checks, s.id))
    return 0 if credential.ready(checks) else EXIT_REFUSED


def _offline_worker(cfg: Config):
    """The outbox worker without a daemon, for `upload` and `discard` when none runs."""
    from recorder.adapters.disk import StatvfsDisk
    from recorder.app.daemon import transcript_step
    from recorder.app.remotes import upload_remote
    from recorder.outbox.worker import Hookup, OutboxWork, OutboxWorker

    remote, error = upload_remote(cfg.upload)
    if cfg.upload is not None and remote is None:
        raise SystemExit(f"session-recorder: uploads are off: {error}")
    store = SessionStore(cfg.storage.dir)
    worker = OutboxWorker(
        store,
        cfg.upload,
        remote,
        StatvfsDisk(),
        Hookup(recording=lambda: False, emit=lambda e: None),
        # as the daemon would: a verified session's transcript is built and sent after it
        OutboxWork(steps=[step] if (step := transcript_step(cfg)) else []),
    )
    return store, remote, worker


def _daemon_answer(cfg: Config, payload: dict, timeout: float) -> dict | None:
    try:
        return send(cfg.socket_path, payload, timeout=timeout)
    except ControlSocketError:
        return None


def _upload(cfg: Config) -> int:
    answer = _daemon_answer(cfg, {"cmd": "upload"}, 15)
    if answer is not None:
        print(answer.get("message"))
        return 0 if answer.get("ok") else EXIT_REFUSED
    if cfg.upload is None:
        print("session-recorder: no [upload] section in the config", file=sys.stderr)
        return EXIT_REFUSED
    store, _, worker = _offline_worker(cfg)
    worker.pass_once()
    failed = 0
    for s in store.sessions():
        if s.manifest is not None and s.state in ("outbox", "uploaded"):
            u = s.manifest.upload
            t = u.transcript
            print(f"{s.id}  {s.state:<9} {u.status:<9} transcript {t.status:<8} "
                  f"{u.last_error or t.last_error or u.remote or ''}")  # fmt: skip
            failed += u.status != "verified"  # still in outbox/, or uploaded but unverified
    return EXIT_REFUSED if failed else 0


def _discard(cfg: Config, session_id: str) -> int:
    from recorder.outbox.discard import DiscardError, discard_session

    answer = _daemon_answer(cfg, {"cmd": "discard", "session": session_id}, 15)
    if answer is not None:
        try:
            answer = wait_for_job(cfg.socket_path, answer, DISCARD_WAIT_S)
        except ControlSocketError as exc:
            print(f"session-recorder: {exc}; the discard was queued as job {answer.get('job')}: "
                  "`session-recorder sessions` shows whether it was done", file=sys.stderr)  # fmt: skip
            return EXIT_UNREACHABLE
        print(answer.get("message"))
        return 0 if answer.get("ok") else EXIT_REFUSED
    store, remote, _ = _offline_worker(cfg)
    try:
        record = discard_session(store, remote, cfg.upload, session_id)
    except DiscardError as exc:
        print(f"session-recorder: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"discarded {record['id']}: local {record['local']}, remote {record['remote']}")
    return 0


def _fleet(args: argparse.Namespace, cfg: Config | None) -> int:
    from recorder.app.fleet import watch

    m = cfg.mqtt if cfg is not None else None
    if args.broker:
        host, _, port = args.broker.rpartition(":") if ":" in args.broker else (args.broker, "", "")
        port_n = int(port) if port else 1883
    elif m is not None:
        host, port_n = m.host, m.port
    else:
        print("session-recorder: give --broker or an [mqtt] section", file=sys.stderr)
        return EXIT_CONFIG
    password_file = args.password_file or (m.password_file if m else None)
    password = password_file.read_text().rstrip("\r\n") if password_file else None
    return watch(
        host,
        port_n,
        args.prefix or (m.prefix if m else "session-recorder"),
        args.username or (m.username if m else None),
        password,
        args.tls or bool(m and m.tls),
        args.ca_file or (str(m.ca_file) if m and m.ca_file else None),
        args.once,
    )


def _doctor(cfg: Config, as_json: bool) -> int:
    from recorder.app import doctor

    checks = doctor.run_checks(cfg)
    if as_json:
        print(json.dumps(doctor.as_json(checks), indent=2))
    else:
        print(doctor.report(checks))
    return EXIT_REFUSED if any(not c.ok and c.blocks for c in checks) else 0


def _config_check(cfg: Config) -> int:
    print(f"{cfg.source}: ok")
    print(json.dumps(cfg.model_dump(mode="json"), indent=2))
    return 0
