// @ts-check
// The line beside a form that says the box's answer to what it sent. Kept by key
// ("<session>|details"), so it survives the form being built again.

import { elem } from "./dom.js";
import { toast } from "./toast.js";

/** @import { Kind } from "./types.js" */

/** @type {Map<string, {text: string, kind: Kind}>} */
const said = new Map();

/** Say `text` beside the form with this key, or in a toast when there is none.
 * @param {string} key @param {string} text @param {Kind} kind */
export function feedback(key, text, kind) {
  if (!key) {
    toast(text, kind);
    return;
  }
  said.set(key, { text, kind });
  for (const el of document.querySelectorAll(".form-msg")) {
    if (el instanceof HTMLElement && el.dataset.feedback === key) paintFeedback(el);
  }
}

/** The answer line of the form with this key. @param {string} key */
export function feedbackLine(key) {
  const p = elem("p", "form-msg");
  p.dataset.feedback = key;
  p.setAttribute("role", "status");
  p.setAttribute("aria-live", "polite");
  paintFeedback(p);
  return p;
}

/** @param {HTMLElement} el */
function paintFeedback(el) {
  const f = said.get(el.dataset.feedback || "");
  el.textContent = f ? f.text : "";
  el.dataset.kind = f ? f.kind : "";
  el.hidden = !f;
}
