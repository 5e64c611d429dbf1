// @ts-check
// The files a coach downloads from a finished session's view: the submission MP3 (built on the
// box on demand, with its progress), transcript.docx and the FLAC, each named by the box after
// the session. They come from the box's web server, which serves this page; an older setup
// (the page from mosquitto's http_dir: no /api) and a box reached through a central broker
// get the two commands that make the files instead.

import { elem } from "./dom.js";
import { ownOrigin } from "./settings.js";
import { model } from "./state.js";

/** @import { ApiSession, SubmissionStatus } from "./types.js" */

const POLL_MS = 700; // how often a build's progress is asked for
const LIST_AGAIN_MS = 5000; // a view built later than this asks the box again which files it has
// what the web server wants of a request that changes something besides the browser's Origin
const SAME_SITE = { "X-Requested-With": "session-recorder" };

/**
 * What the box's web server said of its sessions: "unknown" before asking, "absent" when
 * there is no /api (an older setup, or the page is not the box's own).
 * @type {{state: "unknown" | "asking" | "known" | "absent", at: number, media: Map<string, string[]>}}
 */
const served = { state: "unknown", at: 0, media: new Map() };
/** @type {Map<string, SubmissionStatus>} session id -> where its submission MP3 stands */
const builds = new Map();
/** @type {Set<string>} sessions whose build is being polled */
const polling = new Set();

/** @param {string} id @param {string} file */
function mediaUrl(id, file) {
  return `/media/${encodeURIComponent(id)}/${file}?download`;
}

/** @param {string} id */
function statusUrl(id) {
  return `/api/sessions/${encodeURIComponent(id)}/submission`;
}

/** Whether the page talks to the box that serves it (not a central broker's boxes). */
function ownBox() {
  return model.settings.url === ownOrigin();
}

/**
 * The files to submit, as downloads (the box's web server has the session) or as the commands
 * that make them; filled again when the box answers.
 * @param {string} id
 */
export function submissionFiles(id) {
  const box = elem("div", "downloads");
  box.dataset.downloads = id;
  paint(box);
  if (ownBox() && (served.state === "unknown" || (served.state !== "asking" && Date.now() - served.at > LIST_AGAIN_MS))) {
    listSessions();
  }
  return box;
}

/** A finished session's downloads, in its own section (a session without a credential check).
 * @param {string} id */
export function downloadsSection(id) {
  const sec = elem("section", "coach-sec downloads-sec");
  sec.append(elem("h3", "", "Download"), submissionFiles(id));
  return sec;
}

async function listSessions() {
  served.state = "asking";
  /** @type {"known" | "absent"} */
  let state = "absent";
  try {
    const r = await fetch("/api/sessions", { credentials: "same-origin", cache: "no-store" });
    if (r.ok) {
      /** @type {unknown} */
      const list = await r.json();
      if (Array.isArray(list)) {
        served.media = new Map();
        for (const s of /** @type {ApiSession[]} */ (list)) {
          if (s && typeof s.id === "string" && Array.isArray(s.media)) served.media.set(s.id, s.media.map(String));
        }
        state = "known";
      }
    }
  } catch {
    // no answer, or not JSON: no /api here
  }
  served.state = state;
  served.at = Date.now();
  repaintAll();
  // a build the box may since have dropped (the session renamed, or gone) is asked about again
  for (const [id, b] of builds) if (b.status !== "building") poll(id, false);
}

function repaintAll() {
  for (const el of document.querySelectorAll(".downloads")) if (el instanceof HTMLElement) paint(el);
  for (const el of document.querySelectorAll(".submission-slot")) {
    if (el instanceof HTMLElement) el.replaceChildren(submissionItem(el.dataset.slot || "", ARCHIVE_NOTE));
  }
}

const ARCHIVE_NOTE = "from the start press, made on the box from the archive's FLAC";

/** The submission MP3 of a session only the archive holds: the box fetches the archive's FLAC
 * and makes the same file from it, with the same button and progress.
 * @param {string} id */
export function submissionSlot(id) {
  const ul = elem("ul", "download-list submission-slot");
  ul.dataset.slot = id;
  ul.append(submissionItem(id, ARCHIVE_NOTE));
  if (!builds.has(id)) poll(id, false);
  return ul;
}

/** @param {HTMLElement} box */
function paint(box) {
  const id = box.dataset.downloads || "";
  box.dataset.served = served.state; // what the box's web server said of its sessions
  const media = served.state === "known" && ownBox() ? served.media.get(id) : undefined;
  if (!media) {
    box.dataset.mode = "commands";
    const cmds = elem("div", "commands");
    for (const cmd of submissionCommands(id)) cmds.append(elem("code", "", cmd));
    box.replaceChildren(elem("p", "small", "To make the files to submit:"), cmds);
    return;
  }
  box.dataset.mode = "buttons";
  const ul = elem("ul", "download-list");
  ul.append(submissionItem(id));
  if (media.includes("transcript.docx")) {
    ul.append(fileItem(id, "transcript.docx", "the transcript (.docx)", "for the submission: proofread it first"));
  } else {
    ul.append(missingItem("The transcript (.docx)", "not written yet: it follows the recording"));
  }
  if (media.includes("session.flac")) ul.append(fileItem(id, "session.flac", "the FLAC", "the whole session, lossless, with the pre-roll"));
  box.replaceChildren(elem("p", "small", "The files to submit, named after the session:"), ul);
  if (!builds.has(id)) poll(id, false);
}

/** @param {string} id @param {string} file @param {string} label @param {string} note */
function fileItem(id, file, label, note) {
  const li = elem("li", "download");
  li.dataset.file = file;
  const a = elem("a", "btn small secondary download-link", `Download ${label}`);
  a.href = mediaUrl(id, file);
  a.download = ""; // the box's Content-Disposition names it
  li.append(a, elem("span", "small muted download-note", note));
  return li;
}

/** @param {string} label @param {string} note */
function missingItem(label, note) {
  const li = elem("li", "download");
  li.append(elem("span", "download-missing", label), elem("span", "small muted download-note", note));
  return li;
}

/** The submission MP3: a button that starts its build, the build's progress, then the link.
 * @param {string} id @param {string} [note] */
function submissionItem(id, note = "from the start press, what export --from-start makes") {
  const li = elem("li", "download submission");
  li.dataset.file = "submission.mp3";
  const b = builds.get(id);
  if (b && b.status === "ready") {
    const a = elem("a", "btn small secondary download-link", "Download the submission MP3");
    a.href = mediaUrl(id, "submission.mp3");
    a.download = "";
    li.append(a, elem("span", "small muted download-note", note));
  } else if (b && b.status === "building") {
    const pct = Math.round(Math.max(0, Math.min(1, Number(b.progress) || 0)) * 100);
    const label = elem("span", "build-label", `Making the submission MP3: ${pct} %`);
    label.id = `build-${id}`;
    const bar = elem("progress", "build-progress");
    bar.max = 100;
    bar.value = pct;
    bar.setAttribute("aria-labelledby", label.id);
    li.append(label, bar);
  } else {
    const button = elem("button", "btn small secondary build-btn", b && b.status === "failed" ? "Make the submission MP3 again" : "Make the submission MP3");
    button.type = "button";
    button.disabled = !b; // its state is being asked
    button.addEventListener("click", () => startBuild(id));
    li.append(button, elem("span", "small muted download-note", note));
    if (b && b.status === "failed") {
      const why = elem("p", "form-msg build-error", `Making the MP3 failed: ${b.error || "the box gave no reason"}`);
      why.dataset.kind = "bad";
      why.setAttribute("role", "status");
      li.append(why);
    }
  }
  return li;
}

/** @param {string} id @param {SubmissionStatus} s */
function setBuild(id, s) {
  builds.set(id, s);
  repaintAll();
  if (s.status === "building") poll(id, true);
}

/** Ask the box to build it (asking twice builds once). @param {string} id */
async function startBuild(id) {
  setBuild(id, { status: "building", progress: 0 });
  setBuild(id, await ask(id, "POST"));
}

/** Where the build stands, asked again while it is building. @param {string} id @param {boolean} later */
function poll(id, later) {
  if (polling.has(id)) return;
  polling.add(id);
  const go = async () => {
    const s = await ask(id, "GET");
    polling.delete(id);
    setBuild(id, s);
  };
  if (later) setTimeout(go, POLL_MS);
  else go();
}

/** @param {string} id @param {"GET" | "POST"} method @returns {Promise<SubmissionStatus>} */
async function ask(id, method) {
  /** @type {Response} */
  let r;
  try {
    r = await fetch(statusUrl(id), {
      method,
      headers: method === "POST" ? SAME_SITE : {},
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    return { status: "failed", progress: 0, error: "the box did not answer" };
  }
  /** @type {Partial<SubmissionStatus> & {error?: unknown, reason?: unknown}} */
  let body = {};
  try {
    body = (await r.json()) || {};
  } catch {
    // not JSON: the status says it
  }
  if (!r.ok) {
    const why = typeof body.error === "string" ? body.error : r.status === 404 ? "the box no longer has this session" : `HTTP ${r.status}`;
    return { status: "failed", progress: 0, error: why };
  }
  if (["waiting", "refused"].includes(String(body.status))) {
    // not now: the box is recording, or the card has no room beside the recordings
    return { status: "failed", progress: 0, error: typeof body.reason === "string" ? body.reason : "not now" };
  }
  const status = ["none", "building", "ready", "failed"].includes(String(body.status)) ? body.status : "failed";
  return {
    status: /** @type {SubmissionStatus["status"]} */ (status),
    progress: typeof body.progress === "number" ? body.progress : 0,
    error: typeof body.error === "string" ? body.error : status === "failed" ? "the box gave no reason" : undefined,
  };
}

/** @param {string} id */
function submissionCommands(id) {
  return [
    `session-recorder export ${id} --format mp3 --from-start`,
    `session-recorder transcript ${id} --format docx`,
  ];
}
