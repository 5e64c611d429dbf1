// @ts-check
// Correcting the transcript in the read-along: a line's words and speaker, a split at the cursor,
// a merge with the next line. Each save is one `transcript_edit` on the revision the page read;
// the box refuses it when another phone saved first, keeps the engine's original and rebuilds
// transcript.docx/.txt/.vtt. The answer goes to the read-along's feedback line, and the corrected
// transcript comes back when the box republishes the session with its new revision.

import { command } from "./commands.js";
import { elem, record } from "./dom.js";
import { feedback } from "./feedback.js";
import { actionButton } from "./fields.js";

/** @import { TranscriptEditCommand, TranscriptEditOp, TranscriptLine } from "./types.js" */

/**
 * @typedef {object} EditTarget
 * @property {string} sid
 * @property {TranscriptLine} line
 * @property {number} index the line's number in transcript.json, from 0
 * @property {boolean} last whether no line follows it (nothing to merge with)
 * @property {string[]} speakers the transcript's speakers
 * @property {number} base the revision the page read
 * @property {string} key the feedback line of the answer
 * @property {() => void} close
 */

/** The form that corrects one line. @param {EditTarget} o */
export function lineEditor(o) {
  const form = elem("form", "ra-edit coach-form");
  form.noValidate = true;
  const text = elem("textarea", "ra-edit-text");
  text.value = o.line.text;
  text.rows = Math.min(8, Math.max(2, Math.ceil(o.line.text.length / 32)));
  text.dataset.key = "ra-edit-text";
  text.setAttribute("aria-label", `Words of line ${o.index + 1}`);
  const speaker = elem("select", "ra-edit-speaker");
  speaker.dataset.key = "ra-edit-speaker";
  speaker.setAttribute("aria-label", `Speaker of line ${o.index + 1}`);
  for (const name of new Set([...o.speakers, o.line.speaker])) {
    const opt = elem("option", "", name);
    opt.value = name;
    opt.selected = name === o.line.speaker;
    speaker.append(opt);
  }
  const buttons = elem("div", "form-buttons");
  buttons.append(actionButton("Save", "btn small primary ra-edit-save", "ra-edit-save"));
  const starts = wordStarts(o.line);
  if (starts) {
    buttons.append(
      actionButton("Split at the cursor", "btn small secondary ra-edit-split", "ra-edit-split", () => {
        if (text.value !== o.line.text) {
          send(o, [], "Save the words first, then split the line.");
          return;
        }
        const at = text.selectionStart;
        const k = starts.findIndex((s) => s >= at);
        if (k <= 0) send(o, [], "Put the cursor just before the word that starts the new line.");
        else send(o, [{ op: "split", line: o.index, word: k }], "");
      }),
    );
  }
  if (!o.last) {
    buttons.append(actionButton("Merge with the next line", "btn small secondary ra-edit-merge", "ra-edit-merge", () => send(o, [{ op: "merge", line: o.index }], "")));
  }
  buttons.append(actionButton("Cancel", "btn small secondary ra-edit-cancel", "ra-edit-cancel", o.close));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    /** @type {TranscriptEditOp[]} */
    const ops = [];
    const words = text.value.replace(/\s+/g, " ").trim();
    if (words && words !== o.line.text) ops.push({ op: "text", line: o.index, text: words });
    if (speaker.value !== o.line.speaker) ops.push({ op: "speaker", line: o.index, speaker: speaker.value });
    send(o, ops, words ? "Nothing changed." : "A line needs words: merge it with the next one instead.");
  });
  form.append(speaker, text, buttons);
  return form;
}

/**
 * Send `ops` as one save, or say `why` when there are none.
 * @param {EditTarget} o @param {TranscriptEditOp[]} ops @param {string} why
 */
function send(o, ops, why) {
  if (!ops.length) {
    feedback(o.key, why, "warn"); // beside the form, where the box's answers go
    return;
  }
  /** @type {TranscriptEditCommand} */
  const cmd = { cmd: "transcript_edit", session: o.sid, base: o.base, ops };
  command(cmd, o.key);
}

/**
 * Where each word starts in the line's text, when the text is its words as the box joins them
 * (else null: a split needs word numbers the box knows).
 * @param {TranscriptLine} line @returns {number[] | null}
 */
export function wordStarts(line) {
  const words = Array.isArray(line.words) ? line.words.filter(record) : [];
  if (words.length < 2) return null;
  let s = "";
  /** @type {number[]} */
  const starts = [];
  words.forEach((w, k) => {
    let piece = typeof w.display === "string" && w.display ? w.display : ` ${w.text}`;
    if (k === 0) piece = piece.trimStart();
    starts.push(s.length + piece.length - piece.trimStart().length);
    s += piece;
  });
  return s === line.text ? starts : null;
}
