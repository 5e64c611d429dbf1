// @ts-check
// The login's settings: defaults < the box's config.json < this phone < the link's query.

import { DEFAULT_PREFIX } from "./state.js";

/** @import { Settings } from "./types.js" */

const STORE_KEY = "session-recorder.dashboard.v1";

/** The page's own broker: the box's web server serves the page and carries the broker's
 * websocket at /mqtt, on the same origin and behind the same login. */
export function ownOrigin() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return location.host ? `${scheme}://${location.host}/mqtt` : "ws://localhost/mqtt";
}

/** What this phone remembers. @returns {Partial<Settings>} */
export function loadStored() {
  try {
    return JSON.parse(localStorage.getItem(STORE_KEY) || "{}") || {};
  } catch {
    return {};
  }
}

/** Remember the settings on this phone, the password only when asked. @param {Settings} settings */
export function store(settings) {
  /** @type {Partial<Settings>} */
  const kept = {
    // the page's own address is stored as "", so a box that changes address still works
    url: settings.url === ownOrigin() ? "" : settings.url,
    username: settings.username,
    device: settings.device,
    prefix: settings.prefix,
    remember: settings.remember,
  };
  if (settings.remember) kept.password = settings.password;
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify(kept));
  } catch {
    // private mode or full storage: the settings just are not remembered
  }
}

/** The installer may write config.json beside the page: {"device_id": "...", "prefix": "..."}.
 * @returns {Promise<Partial<Settings>>} */
async function boxDefaults() {
  try {
    const r = await fetch("config.json", { cache: "no-store" });
    if (!r.ok) return {};
    const c = await r.json();
    return { device: c.device_id || "", prefix: c.prefix || "", url: c.url || "" };
  } catch {
    return {};
  }
}

/** @returns {Promise<Settings>} */
export async function initialSettings() {
  /** @type {Settings} */
  const s = { url: "", username: "dashboard", password: "", remember: false, device: "", prefix: DEFAULT_PREFIX };
  /** @type {Record<string, unknown>[]} */
  const layers = [await boxDefaults(), loadStored()];
  const q = new URLSearchParams(location.search);
  layers.push({ url: q.get("url"), username: q.get("user"), device: q.get("device"), prefix: q.get("prefix") });
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      // a stored value is taken as this phone stored it
      if (v !== null && v !== undefined && (v !== "" || k === "url")) /** @type {Record<string, unknown>} */ (s)[k] = v;
    }
  }
  if (!s.url) s.url = ownOrigin();
  return s;
}

/** "box.local:9001" → "ws://box.local:9001/". @param {string} text */
export function normaliseUrl(text) {
  let url = text.trim();
  if (!url) return ownOrigin();
  if (!/^wss?:\/\//i.test(url)) url = `${location.protocol === "https:" ? "wss" : "ws"}://${url}`;
  if (!/^wss?:\/\/[^/]+\/.*/i.test(url)) url += "/";
  return url;
}

/** What is wrong with these settings, or "". @param {Settings} s */
export function checkSettings(s) {
  if (/[+#/]/.test(s.device)) return "A box id cannot contain “/”, “+” or “#”.";
  if (!s.prefix || /[+#]/.test(s.prefix) || s.prefix.startsWith("/") || s.prefix.endsWith("/")) {
    return "The topic prefix must not be empty, contain “+” or “#”, or start or end with “/”.";
  }
  try {
    new URL(s.url);
  } catch {
    return `“${s.url}” is not a broker address (ws://host:port/).`;
  }
  if (location.protocol === "https:" && s.url.startsWith("ws:")) {
    return "This page was loaded over https, so the broker address must start with wss://.";
  }
  return "";
}
