// @ts-check
// The details form of a session's view: client, title, number, notes; only what changed is sent
// (`label`).

import { command } from "./commands.js";
import { elem, finite } from "./dom.js";
import { feedback, feedbackLine } from "./feedback.js";
import { actionButton, labelled, textField } from "./fields.js";

/** @import { Details, LabelCommand } from "./types.js" */

/** @param {string} prefix the view's element id @param {string} sid @param {Details} details */
export function detailsForm(prefix, sid, details) {
  const form = elem("form", "coach-form details-form");
  form.noValidate = true;
  const key = `${sid}|details`;
  /** @param {unknown} v */
  const str = (v) => (typeof v === "string" ? v : "");
  const fields = {
    client: textField("client", str(details.client), { autocapitalize: "words" }),
    title: textField("title", str(details.title)),
    number: textField("number", finite(details.number) !== null ? String(details.number) : "", { inputmode: "numeric" }),
    notes: textField("notes", str(details.notes), { multiline: true, rows: "3" }),
  };
  form.append(
    elem("h3", "", "Details"),
    labelled(`${prefix}-client`, "Client", fields.client, "a first name or a pseudonym"),
    labelled(`${prefix}-title`, "Title", fields.title),
    labelled(`${prefix}-number`, "Session number", fields.number),
    labelled(`${prefix}-notes`, "Notes", fields.notes, "yours: never shared"),
    actionButton("Save details", "btn secondary", "details-save"),
    feedbackLine(key),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    /** @type {Omit<LabelCommand, "cmd" | "session">} */
    const changes = {};
    for (const k of /** @type {const} */ (["client", "title", "number", "notes"])) {
      const f = fields[k];
      if (f.value === f.dataset.initial) continue;
      if (k === "number") {
        const v = f.value.trim();
        if (v && !/^\d+$/.test(v)) {
          feedback(key, "The session number is a whole number, such as 3", "bad");
          return;
        }
        changes.number = v ? Number(v) : null;
      } else {
        changes[k] = k === "notes" ? f.value : f.value.trim();
      }
    }
    if (!Object.keys(changes).length) {
      feedback(key, "Nothing changed", "info");
      return;
    }
    command({ cmd: "label", session: sid, ...changes }, key);
  });
  return form;
}
