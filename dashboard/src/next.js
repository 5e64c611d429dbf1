// @ts-check
// The next-session card (while idle): the client and title the next session started gets.

import { command } from "./commands.js";
import { $, record } from "./dom.js";

/** @import { BoxState } from "./types.js" */

export function initNext() {
  $("next-form").addEventListener("submit", onNext);
  $("next-clear").addEventListener("click", onNextClear);
}

/** @param {Partial<BoxState>} s @param {boolean} idle */
export function renderNext(s, idle) {
  const card = $("next-card");
  card.hidden = !(idle && Object.prototype.hasOwnProperty.call(s, "next_session"));
  if (card.hidden) return;
  const next = record(s.next_session);
  const shown = next ? [next.client, next.title].filter((x) => typeof x === "string" && x).join(" · ") : "";
  $("next-current").textContent = shown
    ? `The next session started gets: ${shown}`
    : "Nothing set: the next session is named by its date and time.";
  $("next-current").dataset.set = String(!!shown);
  $("next-clear").hidden = !shown;
  for (const [id, k] of /** @type {const} */ ([["next-client", "client"], ["next-title", "title"]])) {
    const f = $(id, HTMLInputElement);
    const server = next && typeof next[k] === "string" ? next[k] : "";
    if (f.value === f.dataset.initial && document.activeElement !== f) f.value = server;
    if (f.value === server) f.dataset.initial = server; // what the box has is not an edit
  }
}

/** @param {SubmitEvent} ev */
function onNext(ev) {
  ev.preventDefault();
  command({ cmd: "next", client: $("next-client", HTMLInputElement).value.trim(), title: $("next-title", HTMLInputElement).value.trim() }, "next");
}

function onNextClear() {
  $("next-client", HTMLInputElement).value = "";
  $("next-title", HTMLInputElement).value = "";
  command({ cmd: "next", client: "", title: "" }, "next");
}
