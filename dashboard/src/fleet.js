// @ts-check
// The fleet view: one card per box under the prefix; a tap opens the box.

import { $ } from "./dom.js";
import { clock, when } from "./format.js";
import { STATE_LABEL, WARNING_LABEL } from "./labels.js";
import { status } from "./link.js";
import { openBox } from "./nav.js";
import { device, elapsedOf, model } from "./state.js";

/** @import { Device } from "./state.js" */
/** @import { BoxState } from "./types.js" */

export function renderFleet() {
  const ids = [...model.devices.keys()].sort();
  $("fleet-empty").hidden = ids.length > 0;
  $("fleet-h").textContent = ids.length ? `Boxes (${ids.length})` : "Boxes";
  const list = $("fleet-list");
  const existing = new Map([...list.children].map((li) => [/** @type {HTMLElement} */ (li).dataset.device, li]));
  const items = ids.map((id) => {
    const li = /** @type {HTMLElement} */ (existing.get(id) || makeCard(id));
    fillCard(li, device(id));
    return li;
  });
  if (items.some((li, i) => list.children[i] !== li) || list.children.length !== items.length) {
    list.replaceChildren(...items); // only when boxes came or the order changed: keeps focus
  }
  document.title = "Boxes · Session Recorder";
}

/** @param {string} id */
function makeCard(id) {
  const li = document.createElement("li");
  li.dataset.device = id;
  const b = document.createElement("button");
  b.type = "button";
  b.className = "fleet-card";
  b.addEventListener("click", () => openBox(id));
  const head = document.createElement("span");
  head.className = "fc-head";
  const name = document.createElement("span");
  name.className = "fc-name";
  name.textContent = id;
  const badge = document.createElement("span");
  badge.className = "fc-badge";
  head.append(name, badge);
  const line = document.createElement("span");
  line.className = "fc-line";
  const warn = document.createElement("span");
  warn.className = "fc-warn";
  b.append(head, line, warn);
  li.append(b);
  return li;
}

/** A part of a card that makeCard made. @param {Element} b @param {string} selector */
function part(b, selector) {
  return /** @type {HTMLElement} */ (b.querySelector(selector));
}

/** @param {HTMLElement} li @param {Device} d */
function fillCard(li, d) {
  /** @type {Partial<BoxState>} */
  const s = d.state || {};
  const live = status.connected && d.availability !== "offline";
  const name = s.state && STATE_LABEL[s.state] ? s.state : "unknown";
  const shown = live ? name : "offline";
  const b = /** @type {HTMLElement} */ (li.firstElementChild);
  b.dataset.state = shown;
  const badge = part(b, ".fc-badge");
  badge.dataset.state = shown;
  badge.textContent = live ? STATE_LABEL[name] || "" : "Offline";
  const bits = [];
  if (name === "recording") bits.push(clock(elapsedOf(d, live)));
  if (Number.isFinite(Number(s.hours_left)) && s.hours_left !== undefined) bits.push(`${Number(s.hours_left).toFixed(1)} h left`);
  if (s.upload) {
    const q = Number(s.upload.queue) || 0;
    bits.push(!s.upload.enabled ? "uploads off" : q ? `${q} to upload` : "all uploaded");
  }
  if (!live && s.ts) bits.push(`last heard ${when(s.ts)}`);
  part(b, ".fc-line").textContent = bits.join(" · ") || "No status yet";
  const warnings = Array.isArray(s.warnings) ? s.warnings : [];
  const warn = part(b, ".fc-warn");
  warn.textContent = warnings.length ? `⚠ ${warnings.map((w) => WARNING_LABEL[w.kind] || w.kind).join(", ")}` : "";
  warn.hidden = !warnings.length;
}
