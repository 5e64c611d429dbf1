// @ts-check
// Deleting a session (Discard, or withdrawing consent to keep it): what goes where is said first,
// and nothing is sent unless the coach confirms.

import { command } from "./commands.js";
import { elem, finite, record } from "./dom.js";
import { feedback, feedbackLine } from "./feedback.js";
import { actionButton, focusIn } from "./fields.js";
import { refreshViews } from "./scheduler.js";
import { nameOf } from "./state.js";

/** @import { RecentSession } from "./types.js" */

/**
 * A deletion being confirmed; `ref` is the withdrawal's reference.
 * @typedef {{session: string, kind: "discard"} | {session: string, kind: "withdraw", ref: string}} Confirm
 */

/** @type {Confirm | null} */
let confirming = null;

/** The deletion being confirmed for this session, if any. @param {string} sid */
export function confirmFor(sid) {
  return confirming && confirming.session === sid ? confirming : null;
}

/** Ask before deleting: the session's view shows what would be deleted. @param {Confirm} what */
export function askToDelete(what) {
  confirming = what;
  refreshViews();
  focusIn(what.session, "confirm-no");
}

/** @param {RecentSession} r @param {Confirm["kind"]} kind */
function deletion(r, kind) {
  const id = String(r.id || "");
  /** @type {Partial<import("./types.js").Where>} */
  const w = record(r.where) || {};
  const name = nameOf(r) || id;
  const local = typeof w.local === "string" && w.local ? `${w.local}${id}` : "";
  const remote = typeof w.remote === "string" && w.remote ? w.remote : "";
  const n = Math.max(0, finite(w.active_shares) || 0);
  const lead = kind === "withdraw"
    ? `Withdrawing consent to keep “${name}” deletes it everywhere:`
    : `Discarding “${name}” deletes it everywhere:`;
  const places = [
    local ? `on this box: the folder ${local}` : "on this box",
    remote ? `in the archive: ${remote}` : "nothing in the archive (it was never uploaded)",
    n ? `${n} shared ${n === 1 ? "copy" : "copies"}: their links stop working` : "no shared copies",
  ];
  return { lead, places };
}

/** @param {string} sid @param {RecentSession} r @param {Confirm} confirm */
export function confirmBlock(sid, r, confirm) {
  const box = elem("div", "confirm");
  box.setAttribute("role", "group");
  box.dataset.kind = confirm.kind;
  const { lead, places } = deletion(r, confirm.kind);
  const ul = elem("ul", "confirm-places");
  for (const p of places) ul.append(elem("li", "", p));
  box.append(elem("p", "confirm-lead", lead), ul, elem("p", "confirm-tail", "This cannot be undone."));
  box.setAttribute("aria-label", lead);
  const key = confirm.kind === "withdraw" ? `${sid}|consent` : `${sid}|discard`;
  const buttons = elem("div", "form-buttons");
  buttons.append(
    actionButton("Delete everywhere", "btn danger", "confirm-yes", () => {
      confirming = null;
      if (confirm.kind === "withdraw") command({ cmd: "consent", session: sid, withdraw: "record", ref: confirm.ref }, key);
      else command({ cmd: "discard", session: sid }, key);
      refreshViews();
    }),
    actionButton("Keep it", "btn secondary", "confirm-no", () => {
      confirming = null;
      feedback(key, "Nothing was deleted", "info");
      refreshViews();
    }),
  );
  box.append(buttons);
  return box;
}

/** @param {string} sid @param {RecentSession} r @param {Confirm | null} confirm */
export function discardSection(sid, r, confirm) {
  const sec = elem("section", "coach-sec discard-sec");
  const key = `${sid}|discard`;
  if (confirm && confirm.kind === "discard") {
    sec.append(confirmBlock(sid, r, confirm));
  } else {
    sec.append(actionButton("Discard this session…", "btn danger-outline", "discard", () => askToDelete({ session: sid, kind: "discard" })));
  }
  sec.append(feedbackLine(key));
  return sec;
}
