// @ts-check
// The read-along under a session's player: the transcript's lines with their speakers and times,
// the line being played highlighted (and its word, where the line has word timings) and scrolled
// into view unless the coach scrolled lately, a tap on a line (or a word) plays from there, a
// search with next/previous, and the words the engine was unsure of marked "to check".

import { elem, finite, record } from "./dom.js";
import { lineEditor } from "./edit.js";
import { feedbackLine } from "./feedback.js";
import { clock } from "./format.js";
import { transcriptOf } from "./review-api.js";

/** @import { TranscriptAnswer, TranscriptLine } from "./types.js" */

/**
 * Below this the engine gave the word it wrote less than even odds: whisper's word probability is
 * high (0.8–1) on clear speech and falls under one half mostly where it guessed (a misheard name,
 * "carrier" for "career"), so the mark stays rare enough to be read. A word the coach typed has
 * no probability and is never marked.
 */
export const UNSURE_BELOW = 0.5;
const HANDS_OFF_MS = 5000; // after the coach scrolls, the read-along does not scroll for this long

/** @typedef {{start: number, end: number, el: HTMLElement}} Span */
/** @typedef {Span & {words: Span[], text: string}} Row */

export class ReadAlong {
  /** @param {string} sid @param {(mediaS: number) => void} play plays the session from there */
  constructor(sid, play) {
    this.sid = sid;
    this.play = play;
    this.preroll = 0;
    /** @type {string | null} the transcript's status and revision last asked for */
    this.loadedKey = null;
    /** @type {Row[]} */
    this.rows = [];
    /** @type {Row | null} */
    this.current = null;
    /** @type {Span | null} */
    this.currentWord = null;
    this.handsOffUntil = 0;
    /** @type {Row[]} */
    this.matches = [];
    this.matchAt = -1;
    /** @type {TranscriptLine[]} */
    this.lines = [];
    /** @type {string[]} */
    this.speakers = [];
    this.revision = 0;
    this.editing = false;
    this.readOnly = false;

    this.el = elem("div", "readalong");
    this.note = elem("p", "muted small readalong-note", "");
    this.list = elem("ol", "ra-lines");
    this.list.addEventListener("click", (ev) => this.onTap(ev));
    this.query = elem("input", "ra-query");
    this.count = elem("span", "ra-count muted small", "");
    this.search = this.searchBar();
    this.search.hidden = true;
    this.editBtn = elem("button", "btn small secondary ra-correct", "Correct");
    this.editBtn.type = "button";
    this.editBtn.setAttribute("aria-pressed", "false");
    this.editBtn.hidden = true;
    this.editBtn.addEventListener("click", () => this.setEditing(!this.editing));
    const head = elem("div", "ra-head");
    head.append(elem("h4", "", "Read along"), this.editBtn);
    this.editHint = elem("p", "muted small ra-edit-hint", "Tap a line to correct its words or speaker, split it or merge it with the next.");
    this.editHint.hidden = true;
    this.el.append(head, this.editHint, feedbackLine(`${sid}|edit`), this.search, this.note, this.list);
    const off = () => {
      this.handsOffUntil = Date.now() + HANDS_OFF_MS;
    };
    // a scroll gesture, not a tap: a tap on a line plays it and the line is in view anyway
    window.addEventListener("touchmove", off, { passive: true });
    window.addEventListener("wheel", off, { passive: true });
  }

  /** The search field, its count and its next/previous buttons. */
  searchBar() {
    const form = elem("form", "ra-search");
    form.setAttribute("role", "search");
    form.noValidate = true;
    this.query.type = "search";
    this.query.placeholder = "Search the transcript";
    this.query.setAttribute("aria-label", "Search the transcript");
    this.query.autocomplete = "off";
    this.query.dataset.key = "ra-query"; // keeps its focus when the view is rebuilt
    this.count.setAttribute("aria-live", "polite");
    const prev = elem("button", "btn small secondary ra-prev", "↑");
    prev.type = "button";
    prev.setAttribute("aria-label", "Previous match");
    const next = elem("button", "btn small secondary ra-next", "↓");
    next.type = "button";
    next.setAttribute("aria-label", "Next match");
    prev.addEventListener("click", () => this.step(-1));
    next.addEventListener("click", () => this.step(1));
    this.query.addEventListener("input", () => this.find(this.query.value));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.step(1);
    });
    form.append(this.query, prev, next, this.count);
    return form;
  }

  /**
   * Fetch the transcript again when its status or revision changed (a correction saved, from
   * this phone or another), else keep what is shown. A session only the archive holds
   * (`onBox` false) is read from the archive's copy, without "Correct".
   * @param {string} status @param {number | null} revision @param {boolean} onBox
   */
  update(status, revision, onBox) {
    // a session only the archive holds is read from there, and cannot be corrected
    this.readOnly = !onBox;
    if (this.readOnly && this.editing) this.setEditing(false);
    if (status !== "done") {
      this.loadedKey = null;
      this.show(null, this.readOnly ? "No read-along for this session: the archive holds no transcript document for it." : status === "building" ? "The transcript is being written: it appears here when it is ready." : "No transcript for this session yet.");
      return;
    }
    const rev = revision ?? 0;
    const key = `${status}|${revision === null ? "" : revision}`;
    if (key === this.loadedKey) return;
    this.loadedKey = key;
    transcriptOf(this.sid).then(
      (a) => {
        if (this.loadedKey !== key) return;
        // the revision of the lines shown, from the same answer as the lines (an older box
        // sends none: then the record's); a correction is made on it
        this.revision = Number.isInteger(a.revision) ? Number(a.revision) : rev;
        this.fill(a);
      },
      (err) => {
        if (this.loadedKey !== key) return;
        this.loadedKey = null; // asked again at the next change
        this.note.textContent = `The transcript could not be read: ${err instanceof Error ? err.message : String(err)}.`;
      },
    );
  }

  /** @param {TranscriptAnswer} a */
  fill(a) {
    const doc = record(a.doc);
    this.preroll = finite(a.preroll_s) ?? this.preroll;
    const lines = doc && Array.isArray(doc.lines) ? doc.lines.filter(record) : [];
    if (!doc) {
      this.show(null, a.status === "damaged" ? `The transcript is damaged: ${a.error || "build it again"}.` : "No transcript for this session yet.");
      return;
    }
    this.speakers = Array.isArray(doc.speakers) ? doc.speakers.filter((x) => typeof x === "string") : [];
    this.show(lines, lines.length ? "" : "The transcript has no lines.");
  }

  /** Correcting (a tap opens a line's editor) or listening (a tap plays the line). @param {boolean} on */
  setEditing(on) {
    this.editing = on;
    this.editBtn.setAttribute("aria-pressed", String(on));
    this.editBtn.textContent = on ? "Done correcting" : "Correct";
    this.editHint.hidden = !on;
    this.el.classList.toggle("editing", on);
    if (!on) this.closeEditor();
  }

  /** @param {number} i */
  openEditor(i) {
    const row = this.rows[i];
    const line = this.lines[i];
    if (!row || !line || row.el.querySelector(".ra-edit")) return;
    this.closeEditor();
    row.el.classList.add("editing-line");
    row.el.append(
      lineEditor({
        sid: this.sid,
        line,
        index: i,
        last: i === this.lines.length - 1,
        speakers: this.speakers,
        base: this.revision,
        key: `${this.sid}|edit`,
        close: () => this.closeEditor(),
      }),
    );
    const field = row.el.querySelector("textarea");
    if (field) field.focus();
  }

  closeEditor() {
    for (const f of this.list.querySelectorAll(".ra-edit")) f.remove();
    for (const r of this.rows) r.el.classList.remove("editing-line");
  }

  /** @param {TranscriptLine[] | null} lines @param {string} note */
  show(lines, note) {
    this.note.textContent = note;
    this.note.hidden = !note;
    this.search.hidden = !lines || !lines.length;
    this.editBtn.hidden = !lines || !lines.length || this.readOnly;
    this.lines = lines || [];
    this.current = null;
    this.currentWord = null;
    this.rows = (lines || []).map((line, i) => this.row(line, i));
    this.list.replaceChildren(...this.rows.map((r) => r.el));
    if (this.query.value) this.find(this.query.value);
  }

  /** @param {TranscriptLine} line @param {number} i @returns {Row} */
  row(line, i) {
    const start = finite(line.start_s) ?? 0;
    const li = elem("li", "ra-line");
    li.dataset.i = String(i);
    li.dataset.start = String(start);
    const meta = elem("div", "ra-meta");
    const at = elem("button", "ra-time", clock(this.preroll + start));
    at.type = "button";
    at.setAttribute("aria-label", `Play from ${clock(this.preroll + start)}`);
    meta.append(elem("span", "ra-speaker", typeof line.speaker === "string" ? line.speaker : ""), at);
    const p = elem("p", "ra-text");
    /** @type {Span[]} */
    const words = [];
    const list = Array.isArray(line.words) ? line.words.filter(record) : [];
    if (list.length) {
      list.forEach((w, k) => {
        const shown = typeof w.display === "string" && w.display ? w.display : ` ${w.text}`;
        const lead = k === 0 ? shown.trimStart() : shown;
        const space = lead.length - lead.trimStart().length;
        if (space) p.append(lead.slice(0, space));
        const span = elem("span", "ra-word", lead.slice(space));
        const ws = finite(w.start_s) ?? start;
        span.dataset.start = String(ws);
        const prob = finite(w.probability);
        if (prob !== null && prob < UNSURE_BELOW) {
          span.classList.add("unsure");
          span.title = `To check: the engine was unsure (${Math.round(prob * 100)} %)`;
        }
        words.push({ start: ws, end: finite(w.end_s) ?? ws, el: span });
        p.append(span);
      });
    } else {
      p.textContent = typeof line.text === "string" ? line.text : "";
    }
    li.append(meta, p);
    const text = typeof line.text === "string" ? line.text : p.textContent || "";
    return { start, end: finite(line.end_s) ?? start, el: li, words, text };
  }

  /** A tap on a word plays from it, anywhere else on a line from the line's start. @param {MouseEvent} ev */
  onTap(ev) {
    const t = ev.target;
    if (!(t instanceof Element)) return;
    const li = t.closest(".ra-line");
    if (!(li instanceof HTMLElement) || t.closest(".ra-edit")) return;
    if (this.editing) {
      this.openEditor(Number(li.dataset.i));
      return;
    }
    const word = t.closest(".ra-word");
    const at = word instanceof HTMLElement ? word.dataset.start : li.dataset.start;
    this.play(this.preroll + Number(at));
  }

  /** Highlight what is played at `mediaS` (seconds of session.mp3). @param {number} mediaS */
  follow(mediaS) {
    const t = mediaS - this.preroll;
    const row = lastStarted(this.rows, t);
    if (row !== this.current) {
      if (this.current) {
        this.current.el.classList.remove("current");
        this.current.el.removeAttribute("aria-current");
      }
      this.current = row;
      if (row) {
        row.el.classList.add("current");
        row.el.setAttribute("aria-current", "true");
        if (Date.now() > this.handsOffUntil) intoView(row.el);
      }
    }
    const word = row ? lastStarted(row.words, t) : null;
    if (word !== this.currentWord) {
      if (this.currentWord) this.currentWord.el.classList.remove("spoken");
      this.currentWord = word;
      if (word) word.el.classList.add("spoken");
    }
  }

  /** Mark the lines holding `q`, and in them the words that hold it. @param {string} q */
  find(q) {
    const needle = fold(q.trim());
    for (const r of this.rows) {
      r.el.classList.remove("match", "match-current");
      for (const w of r.words) w.el.classList.remove("hit");
    }
    this.matches = needle ? this.rows.filter((r) => fold(r.text).includes(needle)) : [];
    const parts = needle.split(/\s+/).filter((x) => x.length > 1 || needle.length === 1);
    for (const r of this.matches) {
      r.el.classList.add("match");
      for (const w of r.words) if (parts.some((x) => fold(w.el.textContent || "").includes(x))) w.el.classList.add("hit");
    }
    this.matchAt = -1;
    this.count.textContent = needle ? (this.matches.length ? `${this.matches.length} found` : "not found") : "";
  }

  /** Go to the next (1) or previous (-1) match. @param {number} by */
  step(by) {
    if (!this.matches.length) return;
    const old = this.matches[this.matchAt];
    if (old) old.el.classList.remove("match-current");
    this.matchAt = (this.matchAt + by + this.matches.length) % this.matches.length;
    const r = this.matches[this.matchAt];
    if (!r) return;
    r.el.classList.add("match-current");
    this.count.textContent = `${this.matchAt + 1} of ${this.matches.length}`;
    this.handsOffUntil = Date.now() + HANDS_OFF_MS; // the coach reads the match, not the playback
    r.el.scrollIntoView({ block: "center" });
  }
}

/** The last of `spans` (in time order) that started by `t`. @template {Span} T @param {T[]} spans @param {number} t */
function lastStarted(spans, t) {
  let lo = 0;
  let hi = spans.length; // the answer is spans[lo - 1]
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (/** @type {T} */ (spans[mid]).start <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo ? spans[lo - 1] || null : null;
}

/** Lower case without accents: "Zoë" is found as "zoe". @param {string} s */
function fold(s) {
  return s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
}

/** Scroll a line into view when it is not, clear of the page's fixed buttons. @param {HTMLElement} el */
function intoView(el) {
  const box = el.getBoundingClientRect();
  const bottom = window.innerHeight - 100;
  if (box.top >= 60 && box.bottom <= bottom) return;
  el.scrollIntoView({ block: "center", behavior: "smooth" });
}
