// @ts-check
// The credential check in a session's view: each point ✓/✗/?, the verdict, ICF's caveat and the
// commands that make the submission files.

import { elem, record } from "./dom.js";

/** @import { CredentialCheck, CredentialView } from "./types.js" */

/** @type {Record<string, [string, string]>} */
const CHECK_MARK = { pass: ["✓", "passed"], fail: ["✗", "failed"], unknown: ["?", "not known"] };
/** @type {Record<string, string>} */
const CHECK_LABEL = {
  length: "Length",
  speakers: "Both speakers",
  gaps: "No gaps",
  ending: "Not cut short",
  transcript: "Transcript",
  consent: "Consent",
};
const ICF_CAVEAT = "ICF's rules change: confirm them with ICF before you submit.";

/** @param {CredentialView} c @param {string} id the session's id */
export function credentialSection(c, id) {
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
  section.append(ul, v, elem("p", "small muted caveat", ICF_CAVEAT), elem("p", "small", "To make the files to submit:"));
  const cmds = elem("div", "commands");
  for (const cmd of submissionCommands(id)) cmds.append(elem("code", "", cmd));
  section.append(cmds);
  return section;
}

/** @param {CredentialCheck} k */
function checkLabel(k) {
  if (typeof k.label === "string" && k.label) return k.label;
  return CHECK_LABEL[k.name] || String(k.name || "Check");
}

/** @param {string} id */
function submissionCommands(id) {
  return [
    `session-recorder export ${id} --format mp3 --from-start`,
    `session-recorder transcript ${id} --format docx`,
  ];
}
