// @ts-check
// Form fields that survive a rebuild: the box republishes its state every second while
// recording, and a session's view is built again when what the box says of it changed. A field
// remembers the value it was built with (data-initial); what the coach typed since, and the
// focus, are carried over to the new field with the same data-key.

import { $, elem } from "./dom.js";

/** @typedef {HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement} Field */

/**
 * @typedef {object} Kept
 * @property {Map<string, string>} values typed values, by data-key
 * @property {string | null} focus the data-key of the focused element
 * @property {[number, number] | null} selection
 */

/**
 * A text field (a textarea with `multiline`); other attributes are set as they are.
 * @param {string} key @param {string} value
 * @param {Record<string, string | boolean>} [attrs]
 * @returns {HTMLInputElement | HTMLTextAreaElement}
 */
export function textField(key, value, attrs = {}) {
  const multiline = attrs.multiline;
  const f = multiline ? document.createElement("textarea") : document.createElement("input");
  if (f instanceof HTMLInputElement) f.type = "text";
  f.value = value;
  f.dataset.key = key;
  f.dataset.initial = value;
  f.autocomplete = "off";
  for (const [k, v] of Object.entries(attrs)) if (k !== "multiline") f.setAttribute(k, String(v));
  return f;
}

/** @param {string} key @param {ReadonlyArray<readonly [string, string]>} choices @param {string} value */
export function selectField(key, choices, value) {
  const f = document.createElement("select");
  for (const [v, text] of choices) {
    const o = elem("option", "", text);
    o.value = v;
    f.append(o);
  }
  f.value = value;
  f.dataset.key = key;
  f.dataset.initial = f.value;
  return f;
}

/** A control with its label (and a hint in brackets).
 * @param {string} id @param {string} text @param {HTMLElement} control @param {string} [hint] */
export function labelled(id, text, control, hint) {
  const wrap = elem("div", "field");
  const label = elem("label", "", text);
  label.htmlFor = id;
  if (hint) label.append(" ", elem("span", "hint", `(${hint})`));
  control.id = id;
  wrap.append(label, control);
  return wrap;
}

/** A submit button, or a plain one with `onClick`.
 * @param {string} text @param {string} className @param {string} key @param {() => void} [onClick] */
export function actionButton(text, className, key, onClick) {
  const b = elem("button", className, text);
  b.type = onClick ? "button" : "submit";
  b.dataset.key = key;
  if (onClick) b.addEventListener("click", onClick);
  return b;
}

/** What was typed in `box`, and its focus. @param {HTMLElement} box @returns {Kept} */
export function keepFields(box) {
  /** @type {Kept} */
  const kept = { values: new Map(), focus: null, selection: null };
  for (const f of /** @type {NodeListOf<Field>} */ (box.querySelectorAll("[data-initial]"))) {
    if (f.value !== f.dataset.initial) kept.values.set(f.dataset.key || "", f.value);
  }
  const a = document.activeElement;
  if (a instanceof HTMLElement && box.contains(a) && a.dataset.key) {
    kept.focus = a.dataset.key;
    try {
      if ((a instanceof HTMLInputElement || a instanceof HTMLTextAreaElement) && typeof a.selectionStart === "number") {
        kept.selection = [a.selectionStart, a.selectionEnd ?? a.selectionStart];
      }
    } catch {
      // an input without a selection (a checkbox)
    }
  }
  return kept;
}

/** Put kept values and focus back; returns the typed values that found no field.
 * @param {HTMLElement} box @param {Kept} kept */
export function restoreFields(box, kept) {
  const left = new Map(kept.values);
  for (const f of box.querySelectorAll("[data-key]")) {
    if (!(f instanceof HTMLElement)) continue;
    const key = f.dataset.key || "";
    const value = kept.values.get(key);
    if (value !== undefined && "initial" in f.dataset) {
      /** @type {Field} */ (f).value = value;
      left.delete(key);
    }
    if (kept.focus === key) {
      f.focus({ preventScroll: true });
      if (kept.selection && (f instanceof HTMLInputElement || f instanceof HTMLTextAreaElement)) {
        try {
          f.setSelectionRange(...kept.selection);
        } catch {
          // not a text field
        }
      }
    }
  }
  return left;
}

/** Focus a control of a session's view in the recent list. @param {string} sid @param {string} key */
export function focusIn(sid, key) {
  const li = [...$("recent").children].find((x) => x instanceof HTMLElement && x.dataset.session === sid);
  const el = li && li.querySelector(`[data-key="${CSS.escape(key)}"]`);
  if (el instanceof HTMLElement) el.focus();
}
