// @ts-check
// The web server's session API, read with the login cookie (same origin): which sessions have
// media and where their start press falls (GET /api/sessions), and a session's transcript for the
// read-along (GET /api/sessions/<id>/transcript). A page logged in to a central broker instead of
// a box gets no answer here, and shows no player.

import { record } from "./dom.js";

/** @import { ApiSession, TranscriptAnswer } from "./types.js" */

/** @type {Promise<Map<string, ApiSession>> | null} the last list asked for */
let listing = null;
let asking = false;
/** @type {Promise<Map<string, ApiSession>> | null} one more list, after the one being asked */
let again = null;

/** @param {string} url */
async function getJson(url) {
  const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  return r.json();
}

/**
 * The sessions the box serves, by id; asked again when `fresh` (a session's record changed).
 * Those who ask while a list is on its way share one more list after it, so a state message
 * that changed every session's record costs two requests, not one per session. An unreachable
 * API gives an empty map.
 * @param {boolean} fresh @returns {Promise<Map<string, ApiSession>>}
 */
export function apiSessions(fresh) {
  if (listing && !fresh) return listing;
  if (listing && asking) {
    if (!again) {
      again = listing.then(() => {
        again = null;
        return askList();
      });
    }
    return again;
  }
  return askList();
}

function askList() {
  asking = true;
  listing = getJson("/api/sessions")
    .then(
      (list) => new Map((Array.isArray(list) ? list : []).filter(record).map((s) => [String(s.id), /** @type {ApiSession} */ (s)])),
      () => /** @type {Map<string, ApiSession>} */ (new Map()),
    )
    .finally(() => {
      asking = false;
    });
  return listing;
}

/** A session's transcript for the read-along. @param {string} sid @returns {Promise<TranscriptAnswer>} */
export async function transcriptOf(sid) {
  const answer = await getJson(`/api/sessions/${encodeURIComponent(sid)}/transcript`);
  const a = record(answer);
  if (!a) throw new Error("not the box's answer");
  return /** @type {TranscriptAnswer} */ (a);
}

/** The address of a session's file. @param {string} sid @param {string} file */
export function mediaUrl(sid, file) {
  return `/media/${encodeURIComponent(sid)}/${file}`;
}
