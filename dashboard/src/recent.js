// @ts-check
// The recent sessions card: one row per session with its upload and transcript tags, and a
// summary line. A row opens its view (session-view.js) only when the daemon sent a transcript,
// a credential check or a coach record for it; an older daemon's rows stay plain. Rows are kept
// (keyed by id) across state messages, so an open view stays open and a focused row keeps its
// focus while the box republishes its state.

import { renderArchive } from "./archive.js";
import { $, elem, finite, record } from "./dom.js";
import { day, fmtDuration } from "./format.js";
import { fillPanel } from "./session-view.js";
import { isCoach, model, nameOf } from "./state.js";

/** @import { BoxState, CredentialView, Details, RecentSession, Sharing, TranscriptSummary } from "./types.js" */

/** @type {Record<string, [string, string, string]>} [label, kind, icon] */
const UPLOAD_LABEL = {
  verified: ["In the cloud", "ok", "✓"],
  uploaded: ["In the cloud, being checked", "ok", "✓"],
  uploading: ["Uploading", "busy", "↑"],
  pending: ["Waiting to upload", "wait", "…"],
  failed: ["Upload failed, retrying", "bad", "!"],
};
/** @type {Record<string, [string, string, string]>} the tag a row shows for its transcript: [icon, kind, the icon in words] */
const TRANSCRIPT_TAG = {
  done: ["✓", "ok", "ready"],
  building: ["…", "busy", "being written"],
  failed: ["✗", "bad", "failed"],
  damaged: ["✗", "bad", "damaged"],
};

/** @type {string | null} "<box>|<session id>" whose view is open */
let openSession = null;
let panelSeq = 0; // numbers the session views' element ids

/** @param {Partial<BoxState>} s */
function uploadsOnOf(s) {
  // `enabled` false: no [upload] section, so sessions stay on the box on purpose
  return !(s.upload && s.upload.enabled === false);
}

/** @param {Partial<BoxState>} s */
export function renderRecent(s) {
  const sharing = record(s.sharing);
  const list = Array.isArray(s.recent) ? s.recent.filter(record).reverse() : []; // newest first
  const uploadsOn = uploadsOnOf(s);
  const ul = $("recent");
  const existing = new Map([...ul.children].map((li) => [/** @type {HTMLElement} */ (li).dataset.key, /** @type {HTMLElement} */ (li)]));
  const used = new Set();
  const items = list.map((r) => {
    const t = record(r.transcript);
    const c = record(r.credential);
    const withView = !!(t || c || isCoach(r));
    const key = `${withView ? "view" : "plain"}|${String(r.id || "")}`;
    let li = used.has(key) ? null : existing.get(key);
    if (!li) li = makeSession(withView);
    used.add(key);
    li.dataset.key = key;
    fillSession(li, r, uploadsOn, t, c, sharing);
    return li;
  });
  if (items.length !== ul.children.length || items.some((li, i) => ul.children[i] !== li)) {
    ul.replaceChildren(...items); // only when sessions came, went or moved: keeps focus
  }
  $("recent-hint").hidden = !items.some((li) => li.querySelector(".session-panel"));
  $("recent-hint").textContent = list.some(isCoach)
    ? "Tap a session to name it, label its markers, record consent and share it."
    : "Tap a session for its transcript and credential check.";

  const done = list.filter((r) => r.state !== "recording");
  const notSent = done.filter((r) => !["verified", "uploaded"].includes(r.upload_status));
  let summary = "";
  if (!list.length) summary = "No sessions on this box yet.";
  else if (!uploadsOn) summary = "Uploads are off: sessions stay on the box.";
  else if (!notSent.length && done.length) summary = `✓ All ${done.length} finished sessions are in the cloud.`;
  else if (notSent.length) summary = `${notSent.length} of ${done.length} finished sessions not in the cloud yet.`;
  const el = $("recent-summary");
  el.textContent = summary;
  const bad = notSent.some((r) => r.state === "damaged" || (uploadsOn && r.upload_status === "failed"));
  el.dataset.kind = bad ? "bad" : !uploadsOn ? "neutral" : notSent.length ? "warn" : "ok";
  renderArchive(); // the sessions no longer on the box, under these
}

/** @param {boolean} withView */
function makeSession(withView) {
  const li = elem("li", "session");
  const head = withView ? elem("button", "session-head") : elem("div", "session-head");
  li.append(head);
  if (head instanceof HTMLButtonElement) {
    const panel = elem("div", "session-panel");
    panelSeq += 1;
    panel.id = `session-panel-${panelSeq}`;
    panel.setAttribute("role", "region");
    panel.hidden = true;
    head.type = "button";
    head.setAttribute("aria-expanded", "false");
    head.setAttribute("aria-controls", panel.id);
    head.addEventListener("click", () => toggleSession(li));
    li.append(panel);
  }
  return li;
}

/** @param {HTMLElement} li */
function toggleSession(li) {
  const key = `${model.current}|${li.dataset.session}`;
  openSession = openSession === key ? null : key;
  for (const other of $("recent").children) showSessionOpen(/** @type {HTMLElement} */ (other));
}

/** @param {HTMLElement} li */
function showSessionOpen(li) {
  const head = li.querySelector("button.session-head");
  const panel = li.querySelector(".session-panel");
  if (!head || !(panel instanceof HTMLElement)) return;
  const open = openSession === `${model.current}|${li.dataset.session}`;
  head.setAttribute("aria-expanded", String(open));
  panel.hidden = !open;
  li.classList.toggle("open", open);
}

/** @param {RecentSession} r @param {boolean} uploadsOn @returns {[string, string, string]} [label, kind, icon] */
function sessionStatus(r, uploadsOn) {
  if (r.state === "recording") return ["Recording", "busy", "●"];
  if (r.state === "damaged") return ["Damaged: see the box", "bad", "!"];
  // uploads off on purpose: staying on the box is no warning
  if (!uploadsOn && r.upload_status !== "verified") return ["On the box", "local", "•"];
  return UPLOAD_LABEL[r.upload_status] || [String(r.upload_status || "unknown"), "wait", "?"];
}

/**
 * @param {HTMLElement} li @param {RecentSession} r @param {boolean} uploadsOn
 * @param {TranscriptSummary | null} t @param {CredentialView | null} c @param {Sharing | null} sharing
 */
function fillSession(li, r, uploadsOn, t, c, sharing) {
  const id = String(r.id || "");
  const name = nameOf(r);
  li.dataset.session = id;
  li.dataset.upload = String(r.upload_status || "unknown");
  li.dataset.transcriptUpload = String(r.transcript_upload || "unknown");
  li.dataset.state = String(r.state || "");
  if (t) li.dataset.transcript = String(t.status || "");
  else delete li.dataset.transcript;

  const top = elem("span", "session-top");
  top.append(
    elem("span", "session-when", name || day(r.started_at) || "Unknown time"),
    elem("span", "session-len", fmtDuration(Number(r.seconds) || 0)),
  );
  const bottom = elem("span", "session-bottom");
  const tags = elem("span", "session-tags");
  const [label, kind, icon] = sessionStatus(r, uploadsOn);
  const upload = elem("span", "upload-tag", `${icon} ${label}`);
  upload.dataset.kind = kind;
  const tTag = t && TRANSCRIPT_TAG[t.status];
  if (tTag) {
    const tt = elem("span", "transcript-tag", "Transcript ");
    tt.dataset.kind = tTag[1];
    const icon = elem("span", "", tTag[0]);
    icon.setAttribute("aria-hidden", "true");
    tt.append(icon, elem("span", "visually-hidden", ` ${tTag[2]}`));
    tags.append(tt);
  }
  const shares = Array.isArray(r.shares) ? r.shares.filter((x) => record(x) && !x.removed_at).length : 0;
  if (shares) {
    const st = elem("span", "share-tag", `Shared ${shares}`);
    st.setAttribute("aria-label", `${shares} shared ${shares === 1 ? "copy" : "copies"}`);
    tags.append(st);
  }
  tags.append(upload);
  // a named session shows its date under its name (unless its name is its date and time); the
  // id only in its view
  /** @type {Details} */
  const d = record(r.details) || {};
  const dated = !(d.client || d.title || finite(d.number) !== null);
  const second = name ? elem("span", "session-date", dated ? "" : day(r.started_at) || "") : elem("span", "session-id", id);
  bottom.append(second, tags);
  const head = /** @type {HTMLElement} */ (li.querySelector(".session-head"));
  const parts = [top, bottom];
  if (head.tagName === "BUTTON") parts.push(elem("span", "session-chevron"));
  head.replaceChildren(...parts);

  const panel = li.querySelector(".session-panel");
  if (panel instanceof HTMLElement) {
    panel.setAttribute("aria-label", `Session ${name || id}`);
    fillPanel(panel, r, id, t, c, uploadsOn, sharing);
    showSessionOpen(li);
  }
}
