// @ts-check
// The player's "preparing" state: on a box that builds no session.mp3 (no uploads, no sharing),
// the web server makes a copy to listen to when the coach opens the session
// (POST /api/sessions/<id>/listening), and the player waits for it with the box's progress. The
// box makes none while a session records, nor one that would take the room recording needs: the
// note then says why.

import { elem, record } from "./dom.js";

const POLL_MS = 1000; // how often the copy's progress is asked for
const SAME_SITE = { "X-Requested-With": "session-recorder" };

/** Where a session's copy to listen to stands, and the note that shows it. */
export class Preparing {
  /** @param {string} sid @param {() => void} onReady called once the copy can be played */
  constructor(sid, onReady) {
    this.sid = sid;
    this.onReady = onReady;
    this.asked = false; // a request or a poll is on its way
    this.el = elem("div", "player-preparing");
    this.el.hidden = true;
    this.label = elem("p", "build-label player-preparing-note", "");
    this.bar = elem("progress", "build-progress");
    this.bar.max = 1;
    this.again = elem("button", "btn small secondary player-prepare-again", "Prepare it again");
    this.again.type = "button";
    this.again.hidden = true;
    this.again.addEventListener("click", () => this.start());
    this.el.append(this.label, this.bar, this.again);
  }

  url() {
    return `/api/sessions/${encodeURIComponent(this.sid)}/listening`;
  }

  /** What the box says of the copy (`listening` in /api/sessions, or its own answer). @param {unknown} answer */
  show(answer) {
    const a = /** @type {Record<string, unknown>} */ (record(answer) || {});
    const status = String(a.status || "none");
    const progress = typeof a.progress === "number" ? Math.max(0, Math.min(1, a.progress)) : 0;
    const reason = typeof a.reason === "string" ? a.reason : typeof a.error === "string" ? a.error : "";
    const stuck = status === "failed" || status === "refused";
    this.el.hidden = false;
    this.bar.hidden = stuck;
    this.bar.value = progress;
    this.again.hidden = !stuck;
    this.el.dataset.status = status;
    if (stuck) this.label.textContent = `The recording could not be prepared for listening: ${reason || "the box gave no reason"}`;
    else if (reason) this.label.textContent = `Preparing the recording for listening: ${reason}.`;
    else this.label.textContent = `Preparing the recording for listening on the box: ${Math.round(progress * 100)} %`;
    return status;
  }

  /** Ask the box to make the copy (the player is seen), then follow it until it is ready. */
  start() {
    if (this.asked) return;
    this.ask("POST");
  }

  /** @param {"GET" | "POST"} method */
  async ask(method) {
    this.asked = true;
    let status = "failed";
    try {
      const r = await fetch(this.url(), {
        method,
        headers: method === "POST" ? SAME_SITE : {},
        credentials: "same-origin",
        cache: "no-store",
      });
      const body = await r.json().catch(() => ({}));
      status = this.show(r.ok ? body : { status: "failed", error: r.status === 404 ? "the box no longer has this session" : `HTTP ${r.status}` });
    } catch {
      status = this.show({ status: "failed", error: "the box did not answer" });
    }
    if (status === "ready") {
      this.asked = false;
      this.el.hidden = true;
      this.onReady();
    } else if (status === "failed" || status === "refused") {
      this.asked = false;
    } else {
      // building: its progress; none or waiting (a session was recording): ask again to start
      setTimeout(() => this.ask(status === "building" ? "GET" : "POST"), POLL_MS);
    }
  }
}
