// @ts-check
// The box's raised warnings, each with its kind in words.

import { $ } from "./dom.js";
import { WARNING_LABEL } from "./labels.js";

/** @import { Warning } from "./types.js" */

/** @param {Warning[] | undefined} warnings @param {boolean} live */
export function renderWarnings(warnings, live) {
  const ul = $("warnings");
  const items = Array.isArray(warnings) ? warnings : [];
  ul.replaceChildren(
    ...items.map((w) => {
      const li = document.createElement("li");
      li.className = "warning";
      li.dataset.kind = String(w.kind || "other");
      const strong = document.createElement("strong");
      strong.textContent = WARNING_LABEL[w.kind] || String(w.kind || "Warning");
      const msg = document.createElement("span");
      msg.textContent = String(w.message || "");
      li.append(strong, msg);
      if (!live) li.classList.add("stale");
      return li;
    }),
  );
  ul.hidden = !items.length;
}
