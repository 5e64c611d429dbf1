// @ts-check
// Shared copies in a session's view: each with its link, a copy button, the link as a QR code and
// Revoke (a second tap confirms); and the form that makes one (`share`).

import { command } from "./commands.js";
import { elem, record } from "./dom.js";
import { feedback, feedbackLine } from "./feedback.js";
import { actionButton, labelled, selectField, textField } from "./fields.js";
import { fullDate } from "./format.js";
import { WHAT_LABEL } from "./labels.js";
import { qrFigure } from "./qr.js";

/** @import { RecentSession, Share, ShareCommand, Sharing } from "./types.js" */

const REVOKE_CONFIRM_MS = 3000; // a second tap on Revoke within this confirms it
/** @type {ReadonlyArray<readonly [string, string]>} */
const EXPIRE_CHOICES = [
  ["", "The box's default"],
  ["1d", "1 day"],
  ["7d", "7 days"],
  ["14d", "14 days"],
  ["30d", "30 days"],
  ["90d", "90 days"],
  ["never", "No expiry"],
];

/**
 * @param {string} prefix the view's element id @param {string} sid @param {RecentSession} r
 * @param {Sharing | null} sharing the state's `sharing`; null from an older daemon
 */
export function sharesSection(prefix, sid, r, sharing) {
  const sec = elem("section", "coach-sec shares-sec");
  sec.append(elem("h3", "", "Shared copies"));
  const shares = Array.isArray(r.shares) ? r.shares.filter(record) : [];
  if (!shares.length) sec.append(elem("p", "muted small", "Not shared with anyone."));
  else {
    const ul = elem("ul", "shares");
    for (const sh of shares) ul.append(shareItem(sid, sh));
    sec.append(ul);
  }
  if (sharing && sharing.enabled === false) {
    // no form to fill in for nothing: the box says why it cannot share
    sec.append(elem("p", "muted small sharing-off", String(sharing.message || "Sharing is off on this box")));
  } else sec.append(shareForm(prefix, sid));
  return sec;
}

/** @param {string} sid @param {Share} sh */
function shareItem(sid, sh) {
  const id = String(sh.id || "");
  const li = elem("li", "share");
  li.dataset.share = id;
  li.dataset.active = String(!sh.removed_at);
  const to = typeof sh.to === "string" ? sh.to : "someone";
  const head = elem("p", "share-head");
  head.append(elem("strong", "", `For ${to}`), elem("span", "share-what", ` · ${WHAT_LABEL[sh.what] || String(sh.what || "")}${sh.purpose === "copy" ? " · client copy" : ""}`));
  li.append(head);
  const made = `made ${fullDate(sh.created_at)}`;
  if (sh.removed_at) {
    li.append(elem("p", "share-removed muted small", `Removed ${fullDate(sh.removed_at)}${typeof sh.removed === "string" && sh.removed ? `: ${sh.removed}` : ""} (${made})`));
    return li;
  }
  li.append(elem("p", "share-when small", `${made} · ${sh.expires_at ? `deleted after ${fullDate(sh.expires_at)}` : "no expiry"}`));
  const link = typeof sh.link === "string" && sh.link ? sh.link : "";
  const key = `${sid}|share-${id}`;
  if (link) {
    const a = elem("a", "share-link", link);
    if (/^https?:\/\//i.test(link)) {
      a.href = link;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
    }
    li.append(a);
    if (sh.link_expires_at) li.append(elem("p", "share-link-until small", `The link works until ${fullDate(sh.link_expires_at)}`));
    const buttons = elem("div", "form-buttons");
    buttons.append(
      actionButton("Copy link", "btn small secondary", `copy-${id}`, () => copyLink(link, key)),
      revokeButton(sid, id, key),
    );
    li.append(buttons, qrFigure(link));
  } else {
    const note = typeof sh.link_note === "string" && sh.link_note ? sh.link_note : "This share remote makes no links.";
    li.append(elem("p", "share-note", note));
    if (typeof sh.remote === "string" && sh.remote) li.append(elem("p", "share-remote small", `Folder: ${sh.remote}`));
    const buttons = elem("div", "form-buttons");
    buttons.append(revokeButton(sid, id, key));
    li.append(buttons);
  }
  li.append(feedbackLine(key));
  return li;
}

/** @param {string} sid @param {string} shareId @param {string} key */
function revokeButton(sid, shareId, key) {
  const b = actionButton("Revoke", "btn small danger-outline", `revoke-${shareId}`, () => {
    const now = performance.now();
    if (Number(b.dataset.armedUntil || 0) > now) {
      b.dataset.armedUntil = "0";
      b.textContent = "Revoke";
      command({ cmd: "revoke", session: sid, share: shareId }, key);
      return;
    }
    b.dataset.armedUntil = String(now + REVOKE_CONFIRM_MS);
    b.textContent = "Tap again to revoke";
    feedback(key, "Tap again within 3 seconds to delete this copy now", "info");
    setTimeout(() => {
      if (Number(b.dataset.armedUntil || 0) && Number(b.dataset.armedUntil) <= performance.now()) {
        b.dataset.armedUntil = "0";
        b.textContent = "Revoke";
      }
    }, REVOKE_CONFIRM_MS + 50);
  });
  return b;
}

/** @param {string} prefix @param {string} sid */
function shareForm(prefix, sid) {
  const form = elem("form", "coach-form share-form");
  form.noValidate = true;
  const key = `${sid}|share`;
  const to = textField("share-to", "", { autocapitalize: "words", placeholder: "Alex" });
  const what = selectField("share-what", Object.entries(WHAT_LABEL), "mp3");
  const expire = selectField("share-expire", EXPIRE_CHOICES, "");
  form.append(
    elem("h4", "", "Share a copy"),
    labelled(`${prefix}-share-to`, "For", to, "the client's name makes a client copy"),
    labelled(`${prefix}-share-what`, "What", what),
    labelled(`${prefix}-share-expire`, "Deleted after", expire),
    actionButton("Share", "btn secondary", "share-save"),
    feedbackLine(key),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const whom = to.value.trim();
    if (!whom) {
      feedback(key, "Say whom the copy is for", "bad");
      return;
    }
    /** @type {ShareCommand} */
    const payload = { cmd: "share", session: sid, to: whom, what: /** @type {ShareCommand["what"]} */ (what.value) };
    if (expire.value) payload.expire = expire.value;
    command(payload, key);
  });
  return form;
}

/** Copy a link, with the older copy command where the clipboard API is missing.
 * @param {string} text @param {string} key */
async function copyLink(text, key) {
  let done = false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      done = true;
    }
  } catch {
    done = false;
  }
  if (!done) {
    // a box's page over plain http is no secure context: no clipboard API there
    const ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.className = "copy-buffer";
    document.body.append(ta);
    ta.select();
    try {
      done = document.execCommand("copy");
    } catch {
      done = false;
    }
    ta.remove();
  }
  feedback(key, done ? "Link copied" : "Could not copy: press and hold the link to copy it", done ? "ok" : "bad");
}
