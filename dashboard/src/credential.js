// @ts-check
// The credential check in a session's view: each point ✓/✗/?, the verdict, ICF's caveat, the
// coach's "proofread" mark on the transcript and the files to submit (downloads.js).

import { command } from "./commands.js";
import { elem, record } from "./dom.js";
import { submissionFiles } from "./downloads.js";
import { feedbackLine } from "./feedback.js";

/** @import { CredentialCheck, CredentialView, ProofreadCommand, TranscriptSummary } from "./types.js" */

/** @type {Record<string, [string, string]>} */
const CHECK_MARK = { pass: ["✓", "passed"], fail: ["✗", "failed"], unknown: ["?", "not known"] };
/** @type {Record<string, string>} */
const CHECK_LABEL = {
  length: "Length",
  speakers: "Both speakers",
  gaps: "No gaps",
  ending: "Not cut short",
  transcript: "Transcript",
  proofread: "Proofread",
  consent: "Consent",
};
const ICF_CAVEAT = "ICF's rules change: confirm them with ICF before you submit.";

/**
 * @param {CredentialView} c @param {string} id the session's id
 * @param {TranscriptSummary | null} [t] its transcript: a finished one can be marked proofread
 */
export function credentialSection(c, id, t = null) {
  const section = elem("section", "credential");
  section.append(elem("h3", "", "Credential check"));
  const checks = Array.isArray(c.checks) ? c.checks.filter(record) : [];
  const ul = elem("ul", "checks");
  for (const k of checks) {
    const result = CHECK_MARK[k.result] ? k.result : "unknown";
    const [icon, words] = CHECK_MARK[result] || ["?", "not known"];
    const li = elem("li", "check");
    li.dataset.result = result;
    li.dataset.name = String(k.name || "");
    const mark = elem("span", "check-mark", icon);
    mark.setAttribute("aria-hidden", "true");
    const body = elem("span", "check-body");
    body.append(
      elem("strong", "check-label", checkLabel(k)),
      elem("span", "visually-hidden", ` (${words})`),
      elem("span", "check-message", typeof k.message === "string" ? k.message : ""),
    );
    li.append(mark, body);
    ul.append(li);
  }
  const blocking = checks.filter((k) => k.result !== "pass");
  const ready = c.ready === true && checks.length > 0 && !blocking.length;
  let verdict = "Ready for an ICF submission";
  if (!ready) {
    const why = blocking.map((k) => `${checkLabel(k)} ${k.result === "fail" ? "failed" : "not known"}`);
    // every point passing without `ready` from the box is still not a claim of readiness
    verdict = why.length ? `Not ready: ${why.join(", ")}` : checks.length ? "Not ready" : "Not ready: nothing was checked";
  }
  const v = elem("p", "verdict", `${ready ? "✓" : "✗"} ${verdict}`);
  v.dataset.ready = String(ready);
  const mark = t ? proofreadToggle(id, t) : null;
  if (mark) (ul.querySelector('.check[data-name="proofread"] .check-body') || ul).append(mark);
  section.append(ul, v, elem("p", "small muted caveat", ICF_CAVEAT), submissionFiles(id));
  return section;
}

/**
 * "Mark proofread" on the transcript's current revision, or "Mark not proofread": a mark the
 * box refuses when the transcript changed since this page saw it. Only for a daemon that says
 * the revision (a finished transcript).
 * @param {string} id @param {TranscriptSummary} t
 */
function proofreadToggle(id, t) {
  if (t.status !== "done" || !Number.isInteger(t.revision) || typeof t.proofread !== "boolean") return null;
  const revision = /** @type {number} */ (t.revision);
  const done = t.proofread;
  const key = `${id}|proofread`;
  const box = elem("div", "proofread");
  box.dataset.proofread = String(done);
  const b = elem("button", "btn small secondary proofread-btn", done ? "Mark not proofread" : "Mark proofread");
  b.type = "button";
  b.addEventListener("click", () => {
    /** @type {ProofreadCommand} */
    const cmd = { cmd: "proofread", session: id, revision, done: !done };
    command(cmd, key);
  });
  box.append(b, feedbackLine(key));
  return box;
}

/** @param {CredentialCheck} k */
function checkLabel(k) {
  if (typeof k.label === "string" && k.label) return k.label;
  return CHECK_LABEL[k.name] || String(k.name || "Check");
}
