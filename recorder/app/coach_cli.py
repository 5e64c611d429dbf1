"""`label`, `consent`, `share`, `bookmark`, `proofread` and `transcript-edit` on the command
line: the running daemon does them when there is one (so its manifest writes and this one never
race), else this process does."""

from __future__ import annotations

import argparse
import json
import re
import sys

from recorder.adapters.control_socket import ControlSocketError, send, wait_for_job
from recorder.coaching.records import RecordError
from recorder.config import Config
from recorder.core.requests import Query, RequestError, parse_request
from recorder.store.sessions import SessionStore, StorageError
from recorder.views.coach import coach_view

EXIT_REFUSED = 1
EXIT_UNREACHABLE = 3
# How long the command line waits for a request the daemon queued (it carries on regardless).
WAITS = {"share": 960.0, "consent": 900.0, "revoke": 300.0}


def add_parsers(sub) -> None:
    label = sub.add_parser(
        "label", help="name a session (client, title, number, notes) or one of its markers"
    )
    label.add_argument("session", help="the session id, or `next` for the next session started")
    label.add_argument("--client", help="the client's first name or a pseudonym")
    label.add_argument("--title", help="what the session was about")
    label.add_argument("--number", type=int, help="the session's number with this client")
    label.add_argument("--notes", help="your notes (kept on the box and in the archive only)")
    label.add_argument("--marker", type=int, metavar="N", help="relabel marker N (from 1)")
    label.add_argument("--label", dest="marker_label", metavar="TEXT", help="the marker's label")
    consent = sub.add_parser(
        "consent", help="record what the client allowed for a session, or show the history"
    )
    consent.add_argument("session", help="the session id")
    what = consent.add_mutually_exclusive_group()
    what.add_argument("--allow", choices=("share", "copy"), help="share: with a mentor, …")
    what.add_argument("--withdraw", choices=("share", "copy", "record"))
    consent.add_argument("--to", help="with --allow share: who may receive it (default anyone)")
    consent.add_argument("--ref", help='how it was obtained: "signed release 2026-12-01"')
    consent.add_argument("--yes", action="store_true", help="withdraw record without asking")
    share = sub.add_parser(
        "share", help="give a mentor or the client a plain copy (needs their consent)"
    )
    share.add_argument("session", help="the session id")
    share.add_argument("--to", help="who the copy is for (the session's client: a client copy)")
    share.add_argument("--what", choices=("mp3", "flac", "transcript", "all"), default="mp3")
    share.add_argument("--expire", help="how long the copy stays: 36h, 14d, 2w, never")
    share.add_argument("--revoke", metavar="SHARE_ID", help="delete a shared copy now")
    _review_parsers(sub)


def _review_parsers(sub) -> None:
    """What the review page does, for a script or a coach without the page."""
    mark = sub.add_parser(
        "bookmark", help="mark a moment of a finished session while listening back"
    )
    mark.add_argument("session", help="the session id")
    mark.add_argument("at", type=_moment, help="where: seconds (754.2) or [h:]mm:ss (12:34.2) "
                      "in session.flac / session.mp3")  # fmt: skip
    mark.add_argument("label", nargs="?", default="", help="what happens there")
    mark.set_defaults(handler=run)
    proof = sub.add_parser(
        "proofread", help="say a session's transcript is read through and right (ICF asks)"
    )
    proof.add_argument("session", help="the session id")
    proof.add_argument("--revision", type=int, help="the revision you read (refused if changed)")
    proof.add_argument("--clear", action="store_true", help="take the mark away")
    proof.set_defaults(handler=run)
    edit = sub.add_parser(
        "transcript-edit", help="correct a transcript: operations as JSON, as the page sends them"
    )
    edit.add_argument("session", help="the session id")
    edit.add_argument("--base", type=int, required=True, help="the revision they were made on")
    edit.add_argument("ops", type=_ops_json, help='[{"op": "text", "line": 3, "text": "…"}, …]')
    edit.set_defaults(handler=run)


_MOMENT = re.compile(r"(?:([0-9]{1,3}):)?([0-9]{1,2}):([0-9]{1,2}(?:\.[0-9]+)?)", re.ASCII)


def _moment(text: str) -> float:
    """Seconds as a player shows them: 754.2, 12:34.2 or 1:02:03."""
    found = _MOMENT.fullmatch(text)
    if found:
        h, m, sec = found.groups()
        return int(h or 0) * 3600 + int(m) * 60 + float(sec)
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not seconds or [h:]mm:ss") from None


def _ops_json(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None


def payload_for(args: argparse.Namespace) -> dict:
    """The request the arguments make: the same JSON the phone page sends over MQTT."""
    if args.command in ("bookmark", "proofread", "transcript-edit"):
        return _review_payload(args)
    if args.command == "label":
        if args.marker is not None:
            return {"cmd": "label_marker", "session": args.session, "marker": args.marker,
                    "label": args.marker_label or ""}  # fmt: skip
        fields = {k: getattr(args, k) for k in ("client", "title", "number", "notes")}
        fields = {k: v for k, v in fields.items() if v is not None}
        if args.session == "next":
            return {"cmd": "next", **fields}
        return {"cmd": "label", "session": args.session, **fields}
    if args.command == "consent":
        p: dict = {"cmd": "consent", "session": args.session}
        if args.allow is None and args.withdraw is None:
            return {"cmd": "consent_history", "session": args.session}
        p.update({"allow": args.allow} if args.allow else {"withdraw": args.withdraw})
        p["ref"] = args.ref
        if args.to is not None:
            p["to"] = args.to
        return p
    if args.revoke:
        return {"cmd": "revoke", "session": args.session, "share": args.revoke}
    p = {"cmd": "share", "session": args.session, "to": args.to, "what": args.what}
    if args.expire is not None:
        p["expire"] = args.expire
    return p


def _review_payload(args: argparse.Namespace) -> dict:
    if args.command == "bookmark":
        return {"cmd": "bookmark", "session": args.session, "seconds": args.at,
                "label": args.label}  # fmt: skip
    if args.command == "proofread":
        p: dict = {"cmd": "proofread", "session": args.session, "done": not args.clear}
        if args.revision is not None:
            p["revision"] = args.revision
        return p
    return {"cmd": "transcript_edit", "session": args.session, "base": args.base,
            "ops": args.ops}  # fmt: skip


def run(cfg: Config, args: argparse.Namespace) -> int:
    if args.command == "share" and not args.revoke and args.to is None:
        return _list_shares(cfg, args.session)
    payload = payload_for(args)
    try:
        parse_request(payload, "cli")  # a bad request is refused here, daemon or not
    except RequestError as exc:
        print(f"session-recorder: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if payload.get("withdraw") == "record" and not _confirmed(cfg, args):
        return EXIT_REFUSED
    answer = _ask_daemon(cfg, payload)
    if answer is None:
        answer = _here(cfg, payload)
        if answer is None:
            return EXIT_UNREACHABLE
    _show(payload, answer)
    return 0 if answer.get("ok") else EXIT_REFUSED


def _confirmed(cfg: Config, args: argparse.Namespace) -> bool:
    remote = f" and on the remote ({cfg.upload.remote})" if cfg.upload else ""
    text = (
        f"Withdrawing consent to keep {args.session} deletes it on this box{remote}, and every "
        "shared copy of it. This cannot be undone."
    )
    if args.yes:
        return True
    if not sys.stdin.isatty():
        print(f"session-recorder: {text} Add --yes to do it.", file=sys.stderr)
        return False
    print(text)
    typed = input(f"Type the session id to confirm ({args.session}): ").strip()
    if typed != args.session:
        print("not withdrawn")
        return False
    return True


def _ask_daemon(cfg: Config, payload: dict) -> dict | None:
    """The daemon's answer (a queued request: once done), or None when no daemon answers."""
    try:
        answer = send(cfg.socket_path, payload, timeout=15.0)
    except ControlSocketError:
        return None
    try:
        return wait_for_job(cfg.socket_path, answer, WAITS.get(payload["cmd"], 60.0))
    except ControlSocketError as exc:
        return {"ok": False, "message": f"{exc}; it was queued as job {answer.get('job')}: "
                "`session-recorder sessions` shows whether it was done"}  # fmt: skip


def _here(cfg: Config, payload: dict) -> dict | None:
    """No daemon answered: act on the storage, unless a recorder holds it after all."""
    # Imported here and below: every command line imports this module for its parser, and only
    # these commands, with no daemon running, need the coaching side, the outbox and the remote.
    from recorder.app.assemble_coaching import build_coaching
    from recorder.app.remotes import upload_remote
    from recorder.outbox.discard import DiscardError, discard_session

    store = SessionStore(cfg.storage.dir)
    try:
        store.lock()
    except StorageError as exc:
        print(f"session-recorder: {exc}; its control socket {cfg.socket_path} does not answer",
              file=sys.stderr)  # fmt: skip
        return None

    def discard(session_id: str) -> dict:
        remote, _ = upload_remote(cfg.upload)
        try:
            return discard_session(store, remote, cfg.upload, session_id)
        except DiscardError as exc:
            raise RecordError(str(exc)) from None

    coaching = build_coaching(cfg, store, discard)
    query = parse_request(payload, "cli")
    assert isinstance(query, Query)
    answer = coaching.queries()[query.name](query)
    if query.name in ("consent", "revoke"):
        coaching.sharer.sweep()  # no outbox runs here: withdrawn copies go now
    return answer


def _show(payload: dict, answer: dict) -> None:
    stream = sys.stdout if answer.get("ok") else sys.stderr
    if not answer.get("ok"):
        print(f"session-recorder: {answer.get('message')}", file=stream)
        return
    if payload["cmd"] == "consent_history":
        print(_history(answer))
        return
    print(answer.get("message"))
    share = answer.get("share")
    if share:
        print(f"share id: {share['id']} (revoke with --revoke {share['id']})")
        if share.get("link"):
            print(f"link: {share['link']}")
        if share.get("link_expires_at"):
            print(f"the link works until {share['link_expires_at']}")
        if share.get("link_note"):
            print(share["link_note"])


def _history(answer: dict) -> str:
    c = answer["consent"]
    lines = []
    for e in answer["history"]:
        whom = f" to {e['to']}" if e.get("to") else ""
        lines.append(f"{e['at']}  {e['action']:<8} {e['what']}{whom}  ({e['ref']}, {e['source']})")
    for p in answer.get("problems") or []:
        lines.append(f"DAMAGED: {p}")
    if not lines:
        lines.append("no consent changes recorded (recording is allowed; nothing shared)")
    share = "no"
    if c["share"]:
        share = "anyone" if c["share_to"] is None else ", ".join(c["share_to"])
    lines.append(
        f"now: record {'yes' if c['record'] else 'withdrawn'}, share {share}, "
        f"client copy {'yes' if c['copy'] else 'no'}"
    )
    return "\n".join(lines)


def _list_shares(cfg: Config, session_id: str) -> int:
    for s in SessionStore(cfg.storage.dir).sessions():
        if s.id == session_id and s.manifest is not None:
            shares = coach_view(s.manifest, s.state, s.manifest.upload.remote)["shares"]
            if not shares:
                print(f"{session_id} has not been shared")
            for sh in shares:
                state = sh["removed"] or f"until {sh['expires_at'] or 'revoked'}"
                print(f"{sh['id']}  {sh['to']:<16} {sh['what']:<10} {state}  "
                      f"{sh['link'] or sh['remote']}")  # fmt: skip
            return 0
    print(f"session-recorder: session {session_id}: not found", file=sys.stderr)
    return EXIT_REFUSED
