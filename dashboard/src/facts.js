// @ts-check
// The box's facts card: recording time left, free space, the upload queue and progress, and the
// box's last error.

import { $ } from "./dom.js";
import { fmtBytes, fmtDuration } from "./format.js";

/** @import { BoxState } from "./types.js" */

/** @param {Partial<BoxState>} s */
export function renderFacts(s) {
  const hours = Number(s.hours_left);
  const hl = $("hours-left");
  hl.textContent = Number.isFinite(hours) ? `${hours < 10 ? hours.toFixed(1) : Math.round(hours)} h` : "–";
  hl.dataset.kind = Number.isFinite(hours) && hours < 1 ? "bad" : Number.isFinite(hours) && hours < 3 ? "warn" : "";
  const mb = Number(s.disk_free_mb);
  $("disk-free").textContent = Number.isFinite(mb) ? (mb >= 1024 ? `${(mb / 1024).toFixed(1)} GB` : `${Math.round(mb)} MB`) : "–";

  const u = s.upload && typeof s.upload === "object" ? s.upload : null;
  const bar = $("upload-progress");
  let summary = "–";
  let detail = "";
  bar.hidden = true;
  if (u) {
    const queue = Number(u.queue) || 0;
    if (!u.enabled) summary = "Off: sessions stay on the box";
    else if (u.current) summary = `Sending${queue > 1 ? ` (${queue} waiting)` : ""}`;
    else if (queue) summary = `${queue} waiting`;
    else if (u.transcribing) summary = "All sent; writing a transcript";
    else summary = "All sent";
    if (u.paused && u.enabled) summary += queue || u.current ? " · paused while recording" : "";
    const p = u.progress && typeof u.progress === "object" ? u.progress : null;
    if (u.current) {
      detail = String(u.current);
      if (p) {
        const percent = Math.max(0, Math.min(100, Number(p.percent) || 0));
        bar.hidden = false;
        /** @type {HTMLElement} */ (bar.firstElementChild).style.width = `${percent}%`;
        bar.setAttribute("aria-valuenow", String(Math.round(percent)));
        detail += ` · ${Math.round(percent)} %`;
        if (Number(p.rate_bps) > 0) detail += ` · ${fmtBytes(Number(p.rate_bps))}/s`;
        if (Number(p.eta_s) > 0) detail += ` · about ${fmtDuration(Number(p.eta_s))} left`;
      }
    }
    if (u.last_error) detail += `${detail ? " · " : ""}Last upload error: ${u.last_error}`;
  }
  $("upload-summary").textContent = summary;
  $("upload-detail").textContent = detail;
  const err = $("box-error");
  err.textContent = s.last_error ? `Last error: ${s.last_error}` : "";
  err.hidden = !s.last_error;
}
