// @ts-check
// What the page knows: the login, which box is shown, and one entry per box seen, filled by the
// broker's messages (link.js). The link's own state is in link.js, each card's in its module.

import { record } from "./dom.js";

/** @import { BoxState, LevelMessage, RecentSession, Settings } from "./types.js" */

export const DEFAULT_PREFIX = "session-recorder";
const CLIP_HOLD_MS = 2000; // a clipped block keeps the meter red this long

/**
 * A box, as its messages left it.
 * @typedef {object} Device
 * @property {string} id
 * @property {string | null} availability "online" | "offline" | null (not heard)
 * @property {BoxState | null} state the last state message
 * @property {number} stateAt performance.now() when it arrived
 * @property {LevelMessage | null} level the last level message
 * @property {number} levelAt
 * @property {number[]} clipUntil per channel: a clipped block keeps its meter red until then
 * @property {number} shownElapsed the clock never goes back within a session
 * @property {string | null} shownSession
 */

/**
 * @typedef {object} Model
 * @property {Settings} settings
 * @property {boolean} fleet the login asked for every box
 * @property {string | null} current the box shown in the single-box view (null: the fleet)
 * @property {Map<string, Device>} devices
 */

/** @type {Model} */
export const model = {
  settings: { url: "", username: "dashboard", password: "", remember: false, device: "", prefix: DEFAULT_PREFIX },
  fleet: false,
  current: null,
  devices: new Map(),
};

/** The box with this id, made on first sight. @param {string} id */
export function device(id) {
  let d = model.devices.get(id);
  if (!d) {
    d = {
      id,
      availability: null,
      state: null,
      stateAt: 0,
      level: null,
      levelAt: 0,
      clipUntil: [],
      shownElapsed: 0,
      shownSession: null,
    };
    model.devices.set(id, d);
  }
  return d;
}

/** @param {string} id @param {string} leaf */
export function topic(id, leaf) {
  return `${model.settings.prefix}/${id}/${leaf}`;
}

/** @param {Settings} s */
export function isFleet(s) {
  return !s.device || s.device.toLowerCase() === "all";
}

/** A new login: nothing known of any box yet. @param {Settings} s */
export function startOver(s) {
  model.settings = s;
  model.fleet = isFleet(s);
  model.current = model.fleet ? null : s.device;
  model.devices.clear();
}

/**
 * A level message: a block with clipped samples keeps the meters of the channels that reached
 * full scale red a while.
 * @param {Device} d @param {LevelMessage} msg @param {number} now
 */
export function noteLevel(d, msg, now) {
  d.level = msg;
  d.levelAt = now;
  if (Number(msg.clipped) > 0) holdClip(d, msg.peak_dbfs, now);
}

/** @param {Device} d @param {unknown} peaks @param {number} now */
function holdClip(d, peaks, now) {
  // `clipped` counts samples at full scale over all channels: the ones at full scale clipped
  const list = Array.isArray(peaks) ? peaks : [];
  let hit = list.map((p, i) => (Number(p) >= -1 ? i : -1)).filter((i) => i >= 0);
  if (!hit.length) hit = list.map((_, i) => i);
  for (const i of hit) d.clipUntil[i] = now + CLIP_HOLD_MS;
}

/** The entry of `recent` with this id. @param {Partial<BoxState>} s @param {string} sid */
export function recentEntry(s, sid) {
  const list = Array.isArray(s.recent) ? s.recent : [];
  return list.find((r) => record(r) && r.id === sid) || null;
}

/** The display name of a session of the box shown, for a toast. @param {string} sid */
export function sessionName(sid) {
  const s = model.current && device(model.current).state;
  const r = s && Array.isArray(s.recent) ? s.recent.find((x) => record(x) && x.id === sid) : null;
  return r && typeof r.name === "string" && r.name ? r.name : sid || "a session";
}

/** A session's name, or "" when it has none. @param {RecentSession} r */
export function nameOf(r) {
  return typeof r.name === "string" && r.name ? r.name : "";
}

/** Whether a session comes from a daemon with session names, consent and shares (an older
 * daemon sends none of these fields). @param {RecentSession} r */
export function isCoach(r) {
  return typeof r.name === "string" || !!record(r.details) || !!record(r.consent) || Array.isArray(r.shares) || Array.isArray(r.markers);
}

/**
 * The recording clock: from the last state or level message, running locally in between; it
 * never steps back within a session.
 * @param {Device} d @param {boolean} live whether the box is reachable
 */
export function elapsedOf(d, live) {
  const s = d.state;
  if (!s) return 0;
  let base = Number(s.elapsed_s) || 0;
  let at = d.stateAt;
  const recording = s.state === "recording";
  if (recording && d.level && d.levelAt > at && typeof d.level.elapsed_s === "number") {
    base = d.level.elapsed_s;
    at = d.levelAt;
  }
  let value = recording && live ? base + (performance.now() - at) / 1000 : base;
  if (recording && d.shownSession === s.session_id) value = Math.max(value, d.shownElapsed);
  d.shownSession = recording ? s.session_id : null;
  d.shownElapsed = recording ? value : 0;
  return value;
}
