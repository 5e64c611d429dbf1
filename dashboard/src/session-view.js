// @ts-check
// A session's view, opened from its row in the recent list. It is built again only when what the
// box says of the session changed; what the coach is typing, and the focus, survive a rebuild
// (fields.js).

import { consentSection } from "./consent.js";
import { credentialSection } from "./credential.js";
import { confirmFor, discardSection } from "./deletion.js";
import { detailsForm } from "./details.js";
import { downloadsSection } from "./downloads.js";
import { elem, factList, finite, record } from "./dom.js";
import { keepFields, restoreFields } from "./fields.js";
import { day, fmtLength, fullDate } from "./format.js";
import { markersSection } from "./markers.js";
import { playerSection } from "./player.js";
import { sharesSection } from "./shares.js";
import { isCoach, nameOf } from "./state.js";
import { transcriptLine } from "./transcript.js";

/** @import { Confirm } from "./deletion.js" */
/** @import { CredentialView, Details, RecentSession, Sharing, TranscriptSummary, Where } from "./types.js" */

/** @type {WeakMap<HTMLElement, Map<string, string>>} what was typed in a form that a confirmation replaced */
const drafts = new WeakMap();

/**
 * Fill a session's panel, unless nothing it shows changed.
 * @param {HTMLElement} panel @param {RecentSession} r @param {string} id
 * @param {TranscriptSummary | null} t @param {CredentialView | null} c
 * @param {boolean} uploadsOn @param {Sharing | null} sharing
 */
export function fillPanel(panel, r, id, t, c, uploadsOn, sharing) {
  const confirm = confirmFor(id);
  const sig = JSON.stringify([r, uploadsOn, confirm, sharing]);
  if (panel.dataset.sig === sig) return;
  const kept = keepFields(panel);
  // what was typed in a form that a confirmation replaced comes back with the form
  for (const [k, v] of drafts.get(panel) || []) if (!kept.values.has(k)) kept.values.set(k, v);
  panel.dataset.sig = sig;
  const parts = isCoach(r) ? coachView(panel.id, r, id, t, c, uploadsOn, confirm, sharing) : plainView(r, id, t, c);
  panel.replaceChildren(...parts);
  drafts.set(panel, restoreFields(panel, kept));
}

/** An older daemon's session: its facts, transcript and credential check.
 * @param {RecentSession} r @param {string} id @param {TranscriptSummary | null} t @param {CredentialView | null} c */
function plainView(r, id, t, c) {
  /** @type {HTMLElement[]} */
  const parts = [
    factList([
      ["Session", id || "unknown"],
      ["Started", fullDate(r.started_at)],
      ["Length", fmtLength(Number(r.seconds) || 0)],
    ]),
  ];
  if (t) parts.push(transcriptLine(t));
  if (c) parts.push(credentialSection(c, id, t));
  return parts;
}

/**
 * @param {string} prefix @param {RecentSession} r @param {string} id
 * @param {TranscriptSummary | null} t @param {CredentialView | null} c @param {boolean} uploadsOn
 * @param {Confirm | null} confirm @param {Sharing | null} sharing
 */
function coachView(prefix, r, id, t, c, uploadsOn, confirm, sharing) {
  /** @type {Details} */
  const details = record(r.details) || {};
  const recordingNow = r.state === "recording";
  const head = elem("div", "session-title");
  head.append(elem("h3", "session-name", nameOf(r) || day(r.started_at) || id));
  const ref = elem("p", "session-ref", `Session id ${id}`);
  head.append(ref);
  /** @type {[string, string, string?][]} */
  const rows = [];
  if (details.client) rows.push(["Client", String(details.client)]);
  if (details.title) rows.push(["Title", String(details.title)]);
  if (finite(details.number) !== null) rows.push(["Number", String(details.number)]);
  rows.push(["Started", fullDate(r.started_at)], ["Length", fmtLength(Number(r.seconds) || 0)]);
  rows.push(["Upload", uploadText(r, uploadsOn)]);
  /** @type {Partial<Where>} */
  const where = record(r.where) || {};
  if (typeof where.remote === "string" && where.remote) rows.push(["Archive", where.remote, "wide"]);
  /** @type {HTMLElement[]} */
  const parts = [head, factList(rows)];
  const consent = record(r.consent);
  const problems = consent && Array.isArray(consent.problems) ? consent.problems : [];
  for (const p of problems) parts.push(elem("p", "error record-problem", `Damaged record: ${String(p)}`));
  if (t) parts.push(transcriptLine(t));
  parts.push(playerSection(id, r)); // kept across rebuilds: it goes on playing
  const markers = Array.isArray(r.markers) ? r.markers.filter(record) : [];
  parts.push(markersSection(prefix, id, markers));
  parts.push(detailsForm(prefix, id, details));
  if (!recordingNow) {
    parts.push(consentSection(prefix, id, r, confirm));
    parts.push(sharesSection(prefix, id, r, sharing));
  }
  if (c) parts.push(credentialSection(c, id, t));
  else if (!recordingNow) parts.push(downloadsSection(id));
  if (!recordingNow) parts.push(discardSection(id, r, confirm));
  return parts;
}

/**
 * The transcript follows the audio to the cloud on its own (built once the audio is checked).
 * @param {RecentSession["transcript_upload"]} state
 */
function transcriptCloud(state) {
  /** @type {Record<string, string>} */
  const words = {
    verified: "; the transcript too",
    waiting: "; the transcript follows",
    failed: "; sending the transcript failed, retrying",
  };
  return (state && words[state]) || "";
}

/** @param {RecentSession} r @param {boolean} uploadsOn */
function uploadText(r, uploadsOn) {
  if (r.state === "recording") return "Recording now";
  if (r.state === "damaged") return "Damaged: see the box";
  if (r.upload_status === "verified") return `In the cloud, checked ✓${transcriptCloud(r.transcript_upload)}`;
  if (!uploadsOn) return "On the box only (uploads are off)";
  /** @type {Record<string, string>} */
  const words = {
    uploaded: "In the cloud, being checked",
    uploading: "Uploading",
    pending: "Waiting to upload",
    failed: "Upload failed, retrying",
  };
  return words[r.upload_status] || String(r.upload_status || "unknown");
}
