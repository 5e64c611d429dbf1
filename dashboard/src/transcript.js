// @ts-check
// A session's transcript, in a line of its view.

import { elem, finite } from "./dom.js";

/** @import { TranscriptSummary } from "./types.js" */

/** @param {TranscriptSummary} t */
export function transcriptLine(t) {
  const p = elem("p", "session-transcript");
  p.dataset.status = String(t.status || "");
  p.append(elem("strong", "", "Transcript: "), elem("span", "", transcriptText(t)));
  return p;
}

/**
 * "ready — 31 turns (changes of speaker) in 34 paragraphs, 512 words (whisper)", "being written:
 * 40 %", … A paragraph also starts after a long pause, so they can outnumber the turns; an older
 * daemon counts no paragraphs and its line says turns and words only.
 * @param {TranscriptSummary} t
 */
function transcriptText(t) {
  /** @param {unknown} v @param {string} one @param {string} many */
  const n = (v, one, many) => (finite(v) === null ? "" : `${v} ${v === 1 ? one : many}`);
  switch (t.status) {
    case "done": {
      const turns = n(t.turns, "turn", "turns");
      const paragraphs = n(t.paragraphs, "paragraph", "paragraphs");
      const spoken = turns && paragraphs ? `${turns} (changes of speaker) in ${paragraphs}` : turns;
      const counts = [spoken, n(t.words, "word", "words")].filter(Boolean).join(", ");
      const engine = typeof t.engine === "string" && t.engine ? ` (${t.engine})` : "";
      return `ready${counts ? ` — ${counts}` : ""}${engine}`;
    }
    case "building": {
      const p = finite(t.progress);
      return p === null ? "being written…" : `being written: ${Math.round(Math.max(0, Math.min(1, p)) * 100)} %`;
    }
    case "failed":
      return typeof t.error === "string" && t.error ? `failed: ${t.error}` : "failed";
    case "damaged":
      return `damaged, build it again${typeof t.error === "string" && t.error ? `: ${t.error}` : ""}`;
    case "none":
      return "none yet";
    default:
      return String(t.status || "unknown");
  }
}
