// @ts-check
// The toast: one short line that fades after a few seconds.

import { $ } from "./dom.js";

/** @import { Kind } from "./types.js" */

/** @type {ReturnType<typeof setTimeout> | undefined} */
let timer;

/** @param {string} text @param {Kind} [kind] */
export function toast(text, kind = "info") {
  const t = $("toast");
  t.textContent = text;
  t.dataset.kind = kind;
  t.hidden = false;
  clearTimeout(timer);
  timer = setTimeout(() => {
    t.hidden = true;
  }, 4000);
}
