// @ts-check
// Consent in a session's view: what is allowed now, the history, and a form that records an
// allowance or a withdrawal with its reference. Withdrawing consent to keep the recording deletes
// it, so it is confirmed first (deletion.js).

import { command } from "./commands.js";
import { elem, factList, record } from "./dom.js";
import { askToDelete, confirmBlock } from "./deletion.js";
import { feedback, feedbackLine } from "./feedback.js";
import { actionButton, labelled, selectField, textField } from "./fields.js";
import { fullDate } from "./format.js";

/** @import { Confirm } from "./deletion.js" */
/** @import { Consent, ConsentCommand, RecentSession } from "./types.js" */

/**
 * What the consent form can record: [value, label, the command's fields].
 * @type {ReadonlyArray<readonly [string, string, Pick<ConsentCommand, "allow" | "withdraw">]>}
 */
const CONSENT_CHOICES = [
  ["allow-share", "Allows sharing", { allow: "share" }],
  ["allow-copy", "Allows a copy for the client", { allow: "copy" }],
  ["withdraw-share", "Withdraws sharing", { withdraw: "share" }],
  ["withdraw-copy", "Withdraws the client copy", { withdraw: "copy" }],
  ["withdraw-record", "Withdraws keeping it: delete", { withdraw: "record" }],
];
/** @type {Record<string, string>} */
const SOURCE_LABEL = { cli: "command line", ctl: "command line", mqtt: "phone page" };
/** @type {Record<string, string>} */
const WHAT_WORDS = { share: "sharing", copy: "a client copy", record: "keeping the recording" };

/**
 * @param {string} prefix the view's element id @param {string} sid @param {RecentSession} r
 * @param {Confirm | null} confirm
 */
export function consentSection(prefix, sid, r, confirm) {
  /** @type {Partial<Consent>} */
  const consent = record(r.consent) || {};
  const sec = elem("section", "coach-sec consent-sec");
  sec.append(elem("h3", "", "Consent"));
  const shareTo = Array.isArray(consent.share_to) ? consent.share_to.filter((x) => typeof x === "string") : null;
  /** @type {[string, string][]} */
  const standing = [
    ["Keep the recording", consent.record === false ? "withdrawn" : "yes"],
    ["Share with a mentor, supervisor or assessor", consent.share ? (shareTo && shareTo.length ? `allowed with ${shareTo.join(", ")}` : "allowed") : "not allowed"],
    ["A copy for the client", consent.copy ? "allowed" : "not allowed"],
  ];
  sec.append(factList(standing, "facts consent-standing"));
  const history = Array.isArray(consent.history) ? consent.history.filter(record) : [];
  const ol = elem("ol", "consent-history");
  ol.setAttribute("aria-label", "Consent history");
  for (const e of history) {
    const li = elem("li", "consent-entry");
    li.dataset.action = String(e.action || "");
    li.dataset.what = String(e.what || "");
    const verb = e.action === "withdraw" ? "Withdrawn" : "Allowed";
    const what = WHAT_WORDS[e.what] || String(e.what || "");
    const to = typeof e.to === "string" && e.to ? ` with ${e.to}` : "";
    li.append(elem("strong", "", `${verb}: ${what}${to}`));
    const bits = [fullDate(e.at)];
    if (typeof e.ref === "string" && e.ref) bits.push(`“${e.ref}”`);
    if (e.source) bits.push(`from the ${SOURCE_LABEL[e.source] || String(e.source)}`);
    li.append(elem("span", "consent-meta", bits.join(" · ")));
    ol.append(li);
  }
  if (history.length) sec.append(elem("h4", "", "History"), ol);
  else sec.append(elem("p", "muted small", "Nothing recorded yet: the recording is kept, and nothing may be shared."));

  const key = `${sid}|consent`;
  if (confirm && confirm.kind === "withdraw") {
    sec.append(confirmBlock(sid, r, confirm), feedbackLine(key));
    return sec;
  }
  const form = elem("form", "coach-form consent-form");
  form.noValidate = true;
  const action = selectField("consent-action", CONSENT_CHOICES.map(([v, text]) => /** @type {const} */ ([v, text])), "allow-share");
  const to = textField("consent-to", "", { autocapitalize: "words" });
  const ref = textField("consent-ref", "", { placeholder: "signed release 2026-12-01" });
  form.append(
    elem("h4", "", "Record consent"),
    labelled(`${prefix}-consent-action`, "What the client said", action, "sharing: with a mentor, supervisor or assessor"),
    labelled(`${prefix}-consent-to`, "With whom", to, "sharing only; blank: anyone you name"),
    labelled(`${prefix}-consent-ref`, "How it was obtained", ref),
    actionButton("Record consent", "btn secondary", "consent-save"),
    feedbackLine(key),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const reference = ref.value.trim();
    if (!reference) {
      feedback(key, "Say how consent was obtained or withdrawn, such as “signed release 2026-12-01”", "bad");
      return;
    }
    const choice = CONSENT_CHOICES.find(([v]) => v === action.value) || CONSENT_CHOICES[0];
    const fields = choice ? choice[2] : {};
    if (fields.withdraw === "record") {
      askToDelete({ session: sid, kind: "withdraw", ref: reference });
      return;
    }
    /** @type {ConsentCommand} */
    const payload = { cmd: "consent", session: sid, ...fields, ref: reference };
    const whom = to.value.trim();
    if (whom && (fields.allow || fields.withdraw) === "share") payload.to = whom;
    command(payload, key);
  });
  sec.append(form);
  return sec;
}
