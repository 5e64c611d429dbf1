// @ts-check
// A level meter per channel: the RMS as a bar, the peak as a tick, red while clipping.

import { $ } from "./dom.js";
import { fmtDb, METER_FLOOR_DB, pct } from "./format.js";

/** @import { Device } from "./state.js" */

const LEVEL_FRESH_MS = 2000; // older level messages no longer drive the meters

/** @param {Device} d @param {boolean} live */
export function renderMeters(d, live) {
  const now = performance.now();
  const fresh = d.level && now - d.levelAt < LEVEL_FRESH_MS;
  const levels = live ? (fresh ? d.level : d.state && d.state.levels) : null;
  /** @type {unknown[]} */
  const peaks = (levels && Array.isArray(levels.peak_dbfs) && levels.peak_dbfs) || [];
  /** @type {unknown[]} */
  const rmss = (levels && Array.isArray(levels.rms_dbfs) && levels.rms_dbfs) || [];
  const recording = d.state && d.state.state === "recording";
  const channels = Math.max(peaks.length, (d.state && d.state.levels && d.state.levels.peak_dbfs?.length) || 0) || (recording ? 2 : 0);
  const box = $("meters");
  while (box.children.length > channels) box.lastChild?.remove();
  while (box.children.length < channels) box.append(makeMeter(box.children.length));
  for (let i = 0; i < channels; i++) {
    const m = /** @type {HTMLElement} */ (box.children[i]);
    const p = peaks[i];
    const r = rmss[i];
    const peak = typeof p === "number" && Number.isFinite(p) ? p : null;
    const rms = typeof r === "number" && Number.isFinite(r) ? r : null;
    const track = part(m, ".meter-track");
    part(m, ".meter-rms").style.width = `${pct(rms)}%`;
    part(m, ".meter-peak").style.left = `${pct(peak)}%`;
    part(m, ".meter-peak").hidden = peak === null;
    let level = "none";
    if (peak !== null) {
      if (now < (d.clipUntil[i] || 0) || peak >= -0.5) level = "clip";
      else if (peak >= -6) level = "hot";
      else if ((rms ?? peak) < -50) level = "quiet";
      else level = "ok";
    }
    m.dataset.level = level;
    const value = part(m, ".meter-value");
    value.textContent = peak === null ? "–" : `${level === "clip" ? "CLIP " : ""}${fmtDb(peak)} dB`;
    track.setAttribute("aria-valuenow", String(peak === null ? METER_FLOOR_DB : Math.max(METER_FLOOR_DB, Math.round(peak))));
    track.setAttribute("aria-valuetext", peak === null ? "no level" : `peak ${fmtDb(peak)} dB${level === "clip" ? ", clipping" : ""}`);
  }
  let note = "";
  if (!live) note = "No live sound levels while the box is unreachable.";
  else if (recording && !fresh) note = d.level ? "Sound levels are late…" : "Waiting for sound levels…";
  else if (!recording && !channels) note = "Levels show while recording.";
  else if (peaks.length && peaks.every((p) => /** @type {number} */ (p) < -50)) note = "Very quiet: is the microphone on?";
  $("meter-note").textContent = note;
}

/** A part of a meter that makeMeter made. @param {HTMLElement} m @param {string} selector */
function part(m, selector) {
  return /** @type {HTMLElement} */ (m.querySelector(selector));
}

/** @param {number} i */
function makeMeter(i) {
  const m = document.createElement("div");
  m.className = "meter";
  const head = document.createElement("div");
  head.className = "meter-head";
  const label = document.createElement("span");
  label.className = "meter-label";
  label.textContent = `Channel ${i + 1}`;
  const value = document.createElement("span");
  value.className = "meter-value";
  head.append(label, value);
  const track = document.createElement("div");
  track.className = "meter-track";
  track.setAttribute("role", "meter");
  track.setAttribute("aria-label", `Channel ${i + 1} level`);
  track.setAttribute("aria-valuemin", String(METER_FLOOR_DB));
  track.setAttribute("aria-valuemax", "0");
  const rms = document.createElement("span");
  rms.className = "meter-rms";
  const peak = document.createElement("span");
  peak.className = "meter-peak";
  track.append(rms, peak);
  m.append(head, track);
  return m;
}
