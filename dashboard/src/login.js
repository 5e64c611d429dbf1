// @ts-check
// The login form: the password (checked by the box's web server, which then opens /mqtt to this
// phone), the user, the box id ("all": every box), and under "advanced" the broker's address
// (a central broker is reached directly) and the prefix.

import { $ } from "./dom.js";
import { setConn } from "./header.js";
import { close } from "./link.js";
import { checkSettings, normaliseUrl, ownOrigin, store } from "./settings.js";
import { DEFAULT_PREFIX, model } from "./state.js";

/** @import { Settings } from "./types.js" */

/** @param {(s: Settings) => void} connect what a login does */
export function initLogin(connect) {
  $("login-form").addEventListener("submit", (ev) => onLogin(ev, connect));
  $("settings-btn").addEventListener("click", () => showLogin());
  $("logout-btn").addEventListener("click", () => logOut());
}

/** End this phone's login on the box (its cookie stops opening anything) and forget the
 * password here. */
async function logOut() {
  close();
  const s = { ...model.settings, password: "", remember: false };
  model.settings = s;
  store(s);
  let said = "Logged out: the password is needed again on this phone.";
  try {
    const r = await fetch("/api/logout", {
      method: "POST",
      headers: { "X-Requested-With": "session-recorder" },
      credentials: "same-origin",
    });
    if (!r.ok) said = `The box did not log this phone out (HTTP ${r.status}).`;
  } catch {
    said = "The box did not answer: this phone forgot the password, the box's login stays.";
  }
  showLogin(said);
}

/** Show the form (and drop the connection), with what went wrong. @param {string} [error] */
export function showLogin(error = "") {
  close();
  const s = model.settings;
  $("f-url", HTMLInputElement).value = s.url;
  $("f-user", HTMLInputElement).value = s.username;
  $("f-pass", HTMLInputElement).value = s.password || "";
  $("f-remember", HTMLInputElement).checked = !!s.remember;
  $("f-device", HTMLInputElement).value = s.device;
  $("f-prefix", HTMLInputElement).value = s.prefix;
  $("advanced", HTMLDetailsElement).open = s.url !== ownOrigin() || s.prefix !== DEFAULT_PREFIX;
  const err = $("login-error");
  err.textContent = error;
  err.hidden = !error;
  $("login").hidden = false;
  $("box").hidden = true;
  $("fleet").hidden = true;
  $("settings-btn").hidden = true;
  $("back-btn").hidden = true;
  $("banner").hidden = true;
  setConn("idle", "Not connected");
  (s.username && !s.password ? $("f-pass") : $("f-user")).focus();
}

/**
 * Log in to the box's web server (its cookie opens /mqtt and the recordings), then connect.
 * A broker elsewhere (a central one, in the advanced settings) is connected to directly.
 * @param {Settings} s @param {(s: Settings) => void} connect
 */
export async function logIn(s, connect) {
  if (s.url === ownOrigin()) {
    const why = await serverLogin(s.password);
    if (why) {
      showLogin(why);
      return;
    }
  }
  connect(s);
}

/** POST /api/login; "" when the box took the password, else what to tell the coach.
 * @param {string} password @returns {Promise<string>} */
async function serverLogin(password) {
  /** @type {Response} */
  let r;
  try {
    r = await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Requested-With": "session-recorder" },
      body: JSON.stringify({ password }),
      credentials: "same-origin",
    });
  } catch {
    return "The box did not answer: is this phone on the box's network?";
  }
  if (r.ok) return "";
  if (r.status === 401) return "Wrong password.";
  if (r.status === 429) {
    return `Too many wrong passwords: try again in ${r.headers.get("Retry-After") || "a few"} s.`;
  }
  try {
    const answer = await r.json();
    if (answer && typeof answer.error === "string") return `The box refused the login: ${answer.error}.`;
  } catch {
    // not the box's JSON: say the status
  }
  return `The box refused the login (HTTP ${r.status}).`;
}

/** @param {SubmitEvent} ev @param {(s: Settings) => void} connect */
function onLogin(ev, connect) {
  ev.preventDefault();
  /** @type {Settings} */
  const s = {
    url: normaliseUrl($("f-url", HTMLInputElement).value),
    username: $("f-user", HTMLInputElement).value.trim(),
    password: $("f-pass", HTMLInputElement).value,
    remember: $("f-remember", HTMLInputElement).checked,
    device: $("f-device", HTMLInputElement).value.trim() || "all", // blank: every box, said plainly
    prefix: $("f-prefix", HTMLInputElement).value.trim().replace(/^\/+|\/+$/g, "") || DEFAULT_PREFIX,
  };
  const problem = checkSettings(s);
  if (problem) {
    $("login-error").textContent = problem;
    $("login-error").hidden = false;
    return;
  }
  model.settings = s;
  store(s);
  logIn(s, connect);
}
