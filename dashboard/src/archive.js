// @ts-check
// The sessions only the encrypted archive still holds (retention deleted their copy on the box to
// free space), in a card under the recent sessions, collapsed: the recent list comes from the
// daemon's state and names only the sessions on the box. The box's web server lists these
// (GET /api/sessions, `source` "archive") and serves their files from the archive, so a row opens
// a view with the player (session.mp3 from the archive), the read-along (read only: corrections
// and bookmarks are commands to the daemon, which no longer has the session) and the downloads,
// the submission MP3 among them (the box makes it from the archive's FLAC).
// Shown only on the page the box serves itself, and only when the archive holds such sessions.

import { $, elem, factList, finite, record } from "./dom.js";
import { day, fmtDuration, fmtLength, fullDate } from "./format.js";
import { submissionSlot } from "./downloads.js";
import { playerSection } from "./player.js";
import { apiSessions, mediaUrl } from "./review-api.js";
import { ownOrigin } from "./settings.js";
import { model } from "./state.js";

/** @import { ApiSession, MediaFile, RecentSession } from "./types.js" */

const LIST_EVERY_MS = 60000; // the box reads the archive's list again every 5 minutes anyway

/** @type {{box: string, at: number, asking: boolean, sessions: ApiSession[]}} newest first */
const listed = { box: "", at: 0, asking: false, sessions: [] };
let panelSeq = 0;

/** The card, asking the box for its list when it is another box's or a minute old. */
export function renderArchive() {
  const card = $("archive-card");
  if (model.settings.url !== ownOrigin()) {
    card.hidden = true; // a central broker's boxes: this page's /api is not theirs
    return;
  }
  const box = String(model.current || "");
  if (!listed.asking && (listed.box !== box || Date.now() - listed.at > LIST_EVERY_MS)) ask(box);
  paint();
}

/** @param {string} box */
function ask(box) {
  listed.asking = true;
  apiSessions(true)
    .then((all) => {
      const gone = [...all.values()].filter((s) => s.source === "archive");
      listed.sessions = gone.reverse(); // the box lists them oldest first
      listed.box = box;
    })
    .finally(() => {
      listed.asking = false;
      listed.at = Date.now();
      paint();
    });
}

function paint() {
  const card = $("archive-card");
  const list = listed.box === String(model.current || "") ? listed.sessions : [];
  card.hidden = !list.length;
  if (!list.length) return;
  const n = list.length;
  $("archive-count").textContent = `${n} older ${n === 1 ? "session" : "sessions"}`;
  const ul = $("archived");
  const existing = new Map([...ul.children].map((li) => [/** @type {HTMLElement} */ (li).dataset.session, /** @type {HTMLElement} */ (li)]));
  const items = list.map((s) => {
    const li = existing.get(s.id) || makeRow(s.id);
    fillHead(li, s);
    return li;
  });
  if (items.length !== ul.children.length || items.some((li, i) => ul.children[i] !== li)) ul.replaceChildren(...items);
}

/** @param {string} id */
function makeRow(id) {
  const li = elem("li", "session archived-session");
  li.dataset.session = id;
  const head = elem("button", "session-head");
  head.type = "button";
  const panel = elem("div", "session-panel");
  panelSeq += 1;
  panel.id = `archive-panel-${panelSeq}`;
  panel.setAttribute("role", "region");
  panel.hidden = true;
  head.setAttribute("aria-expanded", "false");
  head.setAttribute("aria-controls", panel.id);
  head.addEventListener("click", () => {
    const open = panel.hidden === true;
    panel.hidden = !open;
    head.setAttribute("aria-expanded", String(open));
    li.classList.toggle("open", open);
    const s = listed.sessions.find((x) => x.id === id);
    if (open && s && !panel.childElementCount) fillPanel(panel, s); // built once: the player goes on playing
  });
  li.append(head, panel);
  return li;
}

/** @param {HTMLElement} li @param {ApiSession} s */
function fillHead(li, s) {
  const name = typeof s.name === "string" ? s.name : "";
  const top = elem("span", "session-top");
  top.append(elem("span", "session-when", name || day(s.started_at) || "Unknown time"), elem("span", "session-len", fmtDuration(finite(s.seconds) ?? 0)));
  const bottom = elem("span", "session-bottom");
  const tag = elem("span", "upload-tag", "In the archive");
  tag.dataset.kind = "local";
  const tags = elem("span", "session-tags");
  tags.append(tag);
  bottom.append(name ? elem("span", "session-date", day(s.started_at) || "") : elem("span", "session-id", s.id), tags);
  const head = /** @type {HTMLElement} */ (li.querySelector(".session-head"));
  head.replaceChildren(top, bottom, elem("span", "session-chevron"));
  const panel = li.querySelector(".session-panel");
  if (panel) panel.setAttribute("aria-label", `Session ${name || s.id}, from the archive`);
}

/** The session as the player reads a recent one. @param {ApiSession} s @returns {RecentSession} */
function asRecent(s) {
  return {
    id: s.id,
    state: "archived",
    seconds: finite(s.seconds) ?? 0,
    started_at: typeof s.started_at === "string" ? s.started_at : null,
    upload_status: "verified",
    name: typeof s.name === "string" ? s.name : "",
    // numbered as the box numbers them in its state message (the listing does not)
    markers: (Array.isArray(s.markers) ? s.markers.filter(record) : []).map((m, i) => ({ ...m, n: finite(m.n) ?? i + 1 })),
  };
}

/** @param {HTMLElement} panel @param {ApiSession} s */
function fillPanel(panel, s) {
  const head = elem("div", "session-title");
  head.append(elem("h3", "session-name", (typeof s.name === "string" && s.name) || day(s.started_at) || s.id), elem("p", "session-ref", `Session id ${s.id}`));
  const facts = factList([
    ["Started", fullDate(s.started_at)],
    ["Length", fmtLength(finite(s.seconds) ?? 0)],
    ["Where", "Only in the encrypted archive: the box deleted its copy to free space", "wide"],
  ]);
  panel.append(head, facts, playerSection(s.id, asRecent(s)), downloads(s));
}

/** @param {ApiSession} s */
function downloads(s) {
  const sec = elem("section", "coach-sec downloads-sec archive-downloads");
  const media = Array.isArray(s.media) ? s.media : [];
  /** @type {[MediaFile, string, string][]} */
  const files = [
    ["transcript.docx", "the transcript (.docx)", "as last corrected on the box"],
    ["session.flac", "the FLAC", "the whole session, lossless, with the pre-roll"],
    ["session.mp3", "the MP3", "the whole session, with the pre-roll"],
  ];
  const ul = elem("ul", "download-list");
  for (const [file, label, note] of files) {
    if (!media.includes(file)) continue;
    const li = elem("li", "download");
    li.dataset.file = file;
    const a = elem("a", "btn small secondary download-link", `Download ${label}`);
    a.href = `${mediaUrl(s.id, file)}?download`;
    a.download = ""; // the box's Content-Disposition names it
    li.append(a, elem("span", "small muted download-note", note));
    ul.append(li);
  }
  sec.append(elem("h3", "", "Download"), elem("p", "small", "From the encrypted archive, named after the session:"), submissionSlot(s.id), ul);
  return sec;
}
