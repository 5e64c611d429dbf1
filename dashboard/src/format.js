// @ts-check
// Numbers, lengths and times as the coach reads them; no DOM, no state.

export const METER_FLOOR_DB = -60;

/** "1:02:05": the recording clock. @param {number} seconds */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h}:${String(m).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

/** "45 min", "1 h 02 min": a session's length in a list. @param {number} seconds */
export function fmtDuration(seconds) {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${String(Math.round((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** "31 min 5 s", "1 h 02 min 0 s": the credential check counts in minutes and seconds.
 * @param {number} seconds */
export function fmtLength(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = `${s % 60} s`;
  if (h) return `${h} h ${String(m).padStart(2, "0")} min ${rest}`;
  return m ? `${m} min ${rest}` : rest;
}

/** @param {number} db */
export function fmtDb(db) {
  return db <= -100 ? "−∞" : db.toFixed(1).replace("-", "−");
}

/** @param {number} n */
export function fmtBytes(n) {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${Math.round(n / 1e3)} kB`;
  return `${Math.round(n)} B`;
}

/** How far along its meter a level is, in percent. @param {number | null} db */
export function pct(db) {
  if (db === null) return 0;
  return Math.max(0, Math.min(100, ((db - METER_FLOOR_DB) / -METER_FLOOR_DB) * 100));
}

/** @param {string | null | undefined} iso */
export function parseTime(iso) {
  if (!iso) return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** The time of day, with the date when it is not today. @param {string | null | undefined} iso */
export function when(iso) {
  const d = parseTime(iso);
  if (!d) return "";
  const sameDay = d.toDateString() === new Date().toDateString();
  const t = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return sameDay ? t : `${d.toLocaleDateString([], { day: "numeric", month: "short" })} ${t}`;
}

/** "Today 09:30", "Yesterday 14:00", "Mon 3 Nov 10:00". @param {string | null | undefined} iso */
export function day(iso) {
  const d = parseTime(iso);
  if (!d) return iso ? String(iso) : "";
  const today = new Date();
  const yesterday = new Date(today);
  yesterday.setDate(today.getDate() - 1);
  const t = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (d.toDateString() === today.toDateString()) return `Today ${t}`;
  if (d.toDateString() === yesterday.toDateString()) return `Yesterday ${t}`;
  return `${d.toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" })} ${t}`;
}

/** @param {string | null | undefined} iso */
export function fullDate(iso) {
  const d = parseTime(iso);
  if (!d) return iso ? String(iso) : "unknown";
  return d.toLocaleString([], { weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
}
