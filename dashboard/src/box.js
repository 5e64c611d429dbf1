// @ts-check
// The single-box view: the state badge, the clock, what is being recorded, and the cards below.

import { renderButtons } from "./controls.js";
import { $ } from "./dom.js";
import { renderFacts } from "./facts.js";
import { clock, when } from "./format.js";
import { STATE_HINT, STATE_LABEL } from "./labels.js";
import { status } from "./link.js";
import { renderLiveMarkers } from "./markers.js";
import { renderMeters } from "./meters.js";
import { renderNext } from "./next.js";
import { renderRecent } from "./recent.js";
import { listsStale } from "./scheduler.js";
import { elapsedOf, recentEntry } from "./state.js";
import { renderWarnings } from "./warnings.js";

/** @import { Device } from "./state.js" */
/** @import { BoxState } from "./types.js" */

/** @param {Device} d */
export function renderBox(d) {
  /** @type {Partial<BoxState>} */
  const s = d.state || {};
  const live = status.connected && d.availability !== "offline";
  const name = s.state && STATE_LABEL[s.state] ? s.state : "unknown";
  const shown = live ? name : "offline";

  $("box-name").textContent = d.id;
  const badge = $("state-badge");
  badge.dataset.state = shown;
  badge.textContent = live ? STATE_LABEL[name] || "" : status.connected ? "Offline" : "No connection";
  $("hero").dataset.state = shown;

  const elapsed = elapsedOf(d, live);
  const time = $("elapsed", HTMLTimeElement);
  time.textContent = clock(elapsed);
  time.dateTime = `PT${Math.floor(elapsed)}S`;

  let sub = live ? STATE_HINT[name] || "" : "";
  if (!live && d.state) sub = `Last known: ${(STATE_LABEL[name] || "").toLowerCase()}${s.ts ? `, ${when(s.ts)}` : ""}`;
  if (live && s.session_id) {
    const running = recentEntry(s, s.session_id);
    sub = running && typeof running.name === "string" && running.name ? running.name : `Session ${s.session_id}`;
  }
  $("session-id").textContent = sub;

  renderMeters(d, live);
  renderButtons(live ? name : "offline");
  if (listsStale(`${d.id}|${d.stateAt}|${live}`)) {
    // the lists are rebuilt only when a state message (or reachability) changed them
    renderWarnings(s.warnings, live);
    renderFacts(s);
    renderLiveMarkers(s, live);
    renderNext(s, live && ["idle", "uploading", "error"].includes(name));
    renderRecent(s);
  }

  $("updated").textContent = d.state
    ? `Status from ${when(s.ts) || "unknown time"}${s.version ? ` · recorder ${s.version}` : ""}`
    : "";
  document.title = live && name === "recording" ? `● ${clock(elapsed)} · ${d.id}` : `${d.id} · Session Recorder`;
}
