// @ts-check
// Markers: the list in a session's view and the card of the session being recorded, each marker
// with a label field (`label_marker`).

import { command } from "./commands.js";
import { $, elem, record } from "./dom.js";
import { feedbackLine } from "./feedback.js";
import { actionButton, keepFields, restoreFields, textField } from "./fields.js";
import { clock } from "./format.js";
import { recentEntry } from "./state.js";

/** @import { BoxState, LabelMarkerCommand, Marker } from "./types.js" */

/**
 * Markers told by `marker` events: an older daemon refreshed `recent` on the event, before its
 * writer had put the marker in the manifest, so the list missed the newest one.
 * @type {{session: string | null, list: {seconds: number, label: string}[]}}
 */
let told = { session: null, list: [] };

/** A `marker` event's marker, shown until the session's record has it.
 * @param {string} sid @param {number} seconds @param {string} label */
export function noteToldMarker(sid, seconds, label) {
  if (told.session !== sid) told = { session: sid, list: [] };
  told.list.push({ seconds, label });
}

/** A session view's markers. @param {string} prefix @param {string} sid @param {Marker[]} markers */
export function markersSection(prefix, sid, markers) {
  const sec = elem("section", "coach-sec markers-sec");
  sec.append(elem("h3", "", markers.length ? `Markers (${markers.length})` : "Markers"));
  if (!markers.length) {
    sec.append(elem("p", "muted small", "No markers in this session."));
    return sec;
  }
  const ol = elem("ol", "markers");
  for (const m of markers) ol.append(markerItem(prefix, sid, m));
  sec.append(ol);
  return sec;
}

/** @param {string} prefix @param {string} sid @param {Marker} m */
function markerItem(prefix, sid, m) {
  const n = Number(m.n);
  const at = clock(Number(m.seconds) || 0);
  const label = typeof m.label === "string" ? m.label : "";
  const li = elem("li", "marker");
  li.dataset.n = String(n);
  const top = elem("div", "marker-top");
  top.append(elem("span", "marker-n", `#${n}`), elem("time", "marker-time", at));
  if (m.edited) top.append(elem("span", "marker-edited", "edited"));
  const form = elem("form", "marker-form");
  form.noValidate = true;
  const key = `${sid}|marker-${n}`;
  const input = textField(`marker-${n}`, label, { placeholder: "Label", "aria-label": `Label of marker ${n} at ${at}` });
  input.id = `${prefix}-marker-${n}`;
  form.append(input, actionButton("Save", "btn small secondary", `marker-${n}-save`));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    /** @type {LabelMarkerCommand} */
    const cmd = { cmd: "label_marker", session: sid, marker: n, label: input.value.trim() };
    // where this page saw marker n: the box refuses it if a bookmark renumbered the markers since
    if (Number.isInteger(m.frame)) cmd.frame = m.frame;
    command(cmd, key);
  });
  li.append(top, form, feedbackLine(key));
  return li;
}

/** The markers card while recording. @param {Partial<BoxState>} s @param {boolean} live */
export function renderLiveMarkers(s, live) {
  const card = $("live-markers");
  const entry = live && s.state === "recording" && s.session_id ? recentEntry(s, s.session_id) : null;
  const known = entry && Array.isArray(entry.markers) ? entry.markers.filter(record) : null;
  card.hidden = !known;
  if (!known || !s.session_id) return;
  const sid = s.session_id;
  const markers = withToldMarkers(sid, known);
  const list = $("live-marker-list");
  const sig = JSON.stringify([sid, markers]);
  if (list.dataset.sig !== sig) {
    const kept = keepFields(list);
    list.dataset.sig = sig;
    list.replaceChildren(...markers.map((m) => markerItem("live", sid, m)));
    restoreFields(list, kept);
  }
  $("live-markers-h").textContent = markers.length ? `Markers (${markers.length})` : "Markers";
  $("live-markers-empty").hidden = markers.length > 0;
}

/**
 * The session's markers, and those told by events that its record does not hold yet, in time
 * order and numbered as the daemon numbers them (1, 2, … by time).
 * @param {string} sid @param {Marker[]} known @returns {Marker[]}
 */
function withToldMarkers(sid, known) {
  if (told.session !== sid) return known;
  const seconds = known.map((m) => Number(m.seconds));
  const missing = told.list.filter((t) => !seconds.some((x) => Math.abs(x - t.seconds) < 0.05));
  if (!missing.length) return known;
  /** @type {Omit<Marker, "n">[]} */
  const all = [...known, ...missing.map((t) => ({ seconds: t.seconds, label: t.label, edited: false }))];
  all.sort((a, b) => Number(a.seconds) - Number(b.seconds));
  return all.map((m, i) => ({ ...m, n: i + 1 }));
}
