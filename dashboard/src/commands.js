// @ts-check
// Sending commands to the box shown, and matching its `command` events to what sent them: a
// button's command is answered in a toast, a form's beside that form.

import { COMMAND_LABEL } from "./labels.js";
import { feedback } from "./feedback.js";
import { canSend, publishCommand } from "./link.js";
import { model } from "./state.js";
import { toast } from "./toast.js";

/** @import { CommandEvent, JsonCommand, TextCommand } from "./types.js" */

const PENDING_MAX = 20; // commands sent and not answered yet, kept for their answers
const ANSWER_MS = 30000; // a command unanswered this long is said to be so

/**
 * A command sent and not answered yet.
 * @typedef {object} Pending
 * @property {string} cmd
 * @property {string | null} session
 * @property {string} key the feedback line its answer goes to ("<session>|details")
 * @property {string} box
 */

/** @type {Pending[]} oldest first */
let pending = [];
/** @type {Map<string, string>} session id -> feedback key of the share form waiting for its copy */
const shareWait = new Map();
/** @type {Map<string, string>} "<cmd>|<session>" -> feedback key of a form whose request was queued */
const jobWait = new Map();

/** @param {Error} err */
function refusal(err) {
  return /not authori[sz]ed/i.test(err.message) ? "this user may not control this box" : err.message;
}

/** A button's command, sent as text; the box's answer comes as a toast. @param {TextCommand} cmd */
export function send(cmd) {
  const id = model.current;
  if (!canSend() || !id) {
    toast("Not connected: the command was not sent", "bad");
    return;
  }
  toast(`${COMMAND_LABEL[cmd]}: sent…`, "info");
  publishCommand(id, cmd, (err) => {
    toast(`${COMMAND_LABEL[cmd]} was not accepted: ${refusal(err)}`, "bad");
  });
}

/**
 * A form's command; its answer goes to the feedback line `key`. False when it was not sent.
 * @param {JsonCommand} payload @param {string} key
 */
export function command(payload, key) {
  const id = model.current;
  if (!canSend() || !id) {
    feedback(key, "Not connected: nothing was sent", "bad");
    return false;
  }
  /** @type {Pending} */
  const p = { cmd: payload.cmd, session: "session" in payload && typeof payload.session === "string" ? payload.session : null, key, box: id };
  pending.push(p);
  if (pending.length > PENDING_MAX) pending.shift();
  feedback(key, "Sent, waiting for the box…", "info");
  setTimeout(() => {
    if (!pending.includes(p)) return;
    pending = pending.filter((x) => x !== p); // a late answer then goes to a toast
    feedback(key, "No answer from the box: it may be offline or busy. Check before sending again.", "bad");
  }, ANSWER_MS);
  publishCommand(id, JSON.stringify(payload), (err) => {
    pending = pending.filter((x) => x !== p);
    feedback(key, `Not accepted: ${refusal(err)}`, "bad");
  });
  return true;
}

/** The command waiting for this answer, taken off the list. @param {CommandEvent} e */
export function takePending(e) {
  const sid = typeof e.session_id === "string" ? e.session_id : null;
  const i = pending.findIndex((p) => p.box === model.current && p.cmd === e.cmd && (!p.session || !sid || p.session === sid));
  return i < 0 ? null : pending.splice(i, 1)[0] || null;
}

/** The oldest command waiting on the box shown: an `error` event names no command. */
export function takeOldest() {
  const i = pending.findIndex((x) => x.box === model.current);
  return i < 0 ? null : pending.splice(i, 1)[0] || null;
}

/** @param {string} sid */
export function takeShareWait(sid) {
  const key = shareWait.get(sid);
  shareWait.delete(sid);
  return key;
}

/** The box's first answer to a form's command. @param {Pending} p @param {boolean} ok @param {string} message */
export function answered(p, ok, message) {
  if (ok) {
    feedback(p.key, message || "Done", "ok");
    if (p.cmd === "share" && p.session) shareWait.set(p.session, p.key); // the copy follows
    // a queued request's result comes later as a `command` event with its job
    else if (p.session && /(^|; )(already )?queued: /.test(message)) jobWait.set(`${p.cmd}|${p.session}`, p.key);
  } else {
    feedback(p.key, message ? `Refused: ${message}` : "The box refused it", "bad");
  }
}

/**
 * The end of a request the box queued (a discard, a revocation, a withdrawal's discard): said
 * beside the form that sent it when it is still open, else in a toast.
 * @param {CommandEvent} e @param {string} message @param {string} sid
 */
export function jobDone(e, message, sid) {
  if (e.cmd === "share") {
    // share_ready and share_failed say how a share ended; only a failure with neither is told
    const key = shareWait.get(sid);
    if (!e.ok && key) {
      shareWait.delete(sid);
      feedback(key, `Not shared: ${message || "the box gave no reason"}`, "bad");
    }
    return;
  }
  const wait = `${e.cmd}|${sid}`;
  const key = jobWait.get(wait);
  jobWait.delete(wait);
  const text = e.ok ? message || "Done" : `Failed: ${message || "the box gave no reason"}`;
  if (key) feedback(key, text, e.ok ? "ok" : "bad");
  else toast(text, e.ok ? "ok" : "bad");
}
