// @ts-check
// Listening back to a finished session, in its view: session.mp3 (session.flac on request) with
// play/pause, −15 s/+15 s, speeds 1×–2×, a timeline with the markers as ticks, the markers as a
// list (a tap jumps there), "Mark this moment" (the `bookmark` command), the read-along under it,
// the lock screen's title and controls (Media Session API), and where the coach left off, kept on
// this phone per box and session.
//
// A session's player is made once and kept (by box and session): the view is built again when the
// box republishes the session, and the same player is put back in it, still playing.
//
// Times: the audio, the markers' `seconds` and a bookmark's count from the session's first frame
// (pre-roll included); the transcript's from the start press, `preroll_s` later.

import { command } from "./commands.js";
import { elem, finite, record } from "./dom.js";
import { feedbackLine } from "./feedback.js";
import { clock } from "./format.js";
import { Preparing } from "./listening.js";
import { ReadAlong } from "./readalong.js";
import { apiSessions, mediaUrl } from "./review-api.js";
import { model, nameOf } from "./state.js";

/** @import { ApiSession, BookmarkCommand, Marker, RecentSession } from "./types.js" */

const SKIP_S = 15;
const SPEEDS = [1, 1.25, 1.5, 2];
const SAVE_EVERY_MS = 3000; // where the coach is, saved this often while playing
const RESUME_KEY = "session-recorder.resume";
export const ARCHIVE_NOTE =
  "Played from the encrypted archive: this session is no longer on the box. Read only: marking a moment and correcting the transcript need the session on the box.";

/** @type {Map<string, Player>} by "<box>|<session id>" */
const players = new Map();

/**
 * A finished session's player, once the box's API says it has session.mp3 (hidden until then,
 * and for a session being recorded).
 * @param {string} sid @param {RecentSession} r @returns {HTMLElement}
 */
export function playerSection(sid, r) {
  const key = `${model.current}|${sid}`;
  let p = players.get(key);
  if (!p) {
    p = new Player(sid, String(model.current || ""));
    players.set(key, p);
  }
  p.update(r);
  return p.el;
}

class Player {
  /** @param {string} sid @param {string} box */
  constructor(sid, box) {
    this.sid = sid;
    this.box = box;
    this.name = sid;
    this.length = 0; // the session's length, until the audio says its duration
    /** @type {Marker[]} */
    this.markers = [];
    /** @type {ApiSession | null} */
    this.api = null;
    this.lossless = false;
    this.savedAt = 0;
    this.dragging = false;

    this.el = elem("section", "coach-sec player-sec");
    this.el.dataset.session = sid;
    this.el.hidden = true;
    this.audio = elem("audio", "player-audio");
    this.audio.preload = "none";
    /** @type {number | null} where to go once the file's metadata is there */
    this.pendingSeek = null;
    this.recording = false;
    this.readAlong = new ReadAlong(sid, (s) => this.playFrom(s));
    this.playable = false; // the box has session.mp3 for it (else it may be preparing a copy)
    /** @type {RecentSession | null} */
    this.last = null;
    this.preparing = new Preparing(sid, () => this.last && this.update(this.last));
    this.controls = elem("div", "player-controls");
    this.source = elem("p", "muted small player-source", "");
    this.resumeNote = elem("p", "muted small player-resume", "");
    this.playBtn = this.button("Play", "btn player-play", () => this.toggle());
    this.time = elem("p", "player-time", "0:00:00 / 0:00:00");
    this.bar = elem("input", "player-bar");
    this.ticks = elem("div", "player-ticks");
    /** @type {HTMLButtonElement[]} */
    this.speedBtns = [];
    this.flacBtn = this.button("Lossless (FLAC)", "btn small secondary player-flac", () => this.setLossless(!this.lossless));
    this.markerList = elem("ol", "player-markers");
    this.markerHead = elem("h4", "", "Jump to a marker");
    this.label = elem("input", "player-mark-label");
    this.markForm = elem("form", "player-mark");
    /** @type {IntersectionObserver | null} */
    this.watch = null;
    this.build();
    this.wire();
  }

  /** Ask for the audio only when the player is seen: a list of sessions loads none. */
  watchSeen() {
    if (this.watch || !this.el.isConnected) return; // an element observed before it is in the page is never seen
    this.watch = new IntersectionObserver((seen, obs) => {
      if (!seen.some((e) => e.isIntersecting)) return;
      obs.disconnect();
      this.ensureSource();
    });
    this.watch.observe(this.el);
  }

  build() {
    this.source.hidden = true;
    this.resumeNote.hidden = true;
    const back = this.button("−15 s", "btn secondary player-back", () => this.seek(this.audio.currentTime - SKIP_S));
    back.setAttribute("aria-label", "Back 15 seconds");
    const fwd = this.button("+15 s", "btn secondary player-fwd", () => this.seek(this.audio.currentTime + SKIP_S));
    fwd.setAttribute("aria-label", "Forward 15 seconds");
    const buttons = elem("div", "player-buttons");
    buttons.append(back, this.playBtn, fwd);

    this.bar.type = "range";
    this.bar.min = "0";
    this.bar.step = "0.1";
    this.bar.value = "0";
    this.bar.setAttribute("aria-label", "Position in the session");
    this.bar.addEventListener("input", () => {
      this.dragging = true;
      this.time.textContent = `${clock(Number(this.bar.value))} / ${clock(this.duration())}`;
    });
    this.bar.addEventListener("change", () => {
      this.dragging = false;
      this.seek(Number(this.bar.value));
    });
    this.ticks.setAttribute("aria-hidden", "true");
    const timeline = elem("div", "player-timeline");
    timeline.append(this.bar, this.ticks);

    const speeds = elem("div", "player-speeds");
    speeds.setAttribute("role", "group");
    speeds.setAttribute("aria-label", "Speed");
    this.speedBtns = SPEEDS.map((x) => {
      const b = this.button(`${x}×`, "btn small secondary player-speed", () => this.speed(x));
      b.dataset.speed = String(x);
      b.setAttribute("aria-pressed", String(x === 1));
      speeds.append(b);
      return b;
    });
    this.flacBtn.setAttribute("aria-pressed", "false");
    this.flacBtn.hidden = true;
    speeds.append(this.flacBtn);

    const form = this.markForm;
    form.noValidate = true;
    this.label.type = "text";
    this.label.placeholder = "Label (optional)";
    this.label.maxLength = 80;
    this.label.autocomplete = "off";
    this.label.dataset.key = "player-mark-label"; // keeps its focus when the view is rebuilt
    this.label.setAttribute("aria-label", "Label of the moment to mark");
    const mark = elem("button", "btn small primary player-mark-btn", "Mark this moment");
    mark.type = "submit";
    form.append(this.label, mark);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.bookmark();
    });

    this.controls.append(timeline, this.time, buttons, speeds);
    this.el.append(elem("h3", "", "Listen"), this.source, this.preparing.el, this.audio, this.controls, this.resumeNote);
    this.el.append(this.markerHead, this.markerList, form, feedbackLine(`${this.sid}|bookmark`), this.readAlong.el);
  }

  /** @param {string} text @param {string} className @param {() => void} onClick */
  button(text, className, onClick) {
    const b = elem("button", className, text);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  wire() {
    const a = this.audio;
    a.addEventListener("loadedmetadata", () => this.resume());
    a.addEventListener("durationchange", () => this.paintTicks());
    a.addEventListener("timeupdate", () => this.tick());
    a.addEventListener("seeked", () => {
      this.tick();
      if (a.paused) this.save(); // moved while paused: that is where the coach is now
    });
    a.addEventListener("play", () => this.onPlay());
    a.addEventListener("pause", () => {
      this.playBtn.textContent = "Play";
      this.save();
    });
    a.addEventListener("ended", () => {
      this.playBtn.textContent = "Play";
      localStorage.removeItem(this.resumeKey()); // heard to the end: the next play starts over
    });
    a.addEventListener("error", () => {
      this.resumeNote.textContent = "The recording could not be played on this phone.";
      this.resumeNote.hidden = false;
    });
    window.addEventListener("pagehide", () => {
      if (!a.paused) this.save();
    });
  }

  /** What the box says of the session (its state message) and what its API says. @param {RecentSession} r */
  update(r) {
    this.last = r;
    this.name = nameOf(r) || this.sid;
    this.length = finite(r.seconds) ?? this.length;
    this.markers = Array.isArray(r.markers) ? r.markers.filter(record) : [];
    this.recording = r.state === "recording";
    this.paintMarkers();
    if (this.recording) {
      this.el.hidden = true; // its record changes every second: the API is not asked each time
      return;
    }
    const t = record(r.transcript);
    apiSessions(true).then((all) => {
      this.api = all.get(this.sid) || null;
      const media = this.api && Array.isArray(this.api.media) ? this.api.media : [];
      const listening = this.api?.source === "box" ? record(this.api?.listening) : null;
      this.playable = media.includes("session.mp3");
      this.el.hidden = !this.playable && !listening;
      if (this.el.hidden) return;
      // no session.mp3 on this box: a copy is made when the player is seen, with its progress
      this.controls.hidden = !this.playable;
      this.markForm.style.display = this.playable ? "" : "none"; // no moment to mark yet
      if (this.playable) this.preparing.el.hidden = true;
      else this.preparing.show(listening);
      this.watchSeen();
      this.flacBtn.hidden = !media.includes("session.flac");
      const archived = this.api?.source === "archive";
      this.source.textContent = archived ? ARCHIVE_NOTE : "";
      this.source.hidden = !archived;
      // a bookmark is a command to the daemon, which no longer holds the session
      this.markForm.hidden = archived;
      const apiT = record(this.api?.transcript);
      const preroll = finite(this.api?.preroll_s) ?? 0;
      this.readAlong.preroll = preroll;
      const revision = finite(t?.revision) ?? finite(apiT?.revision);
      const status = String(t?.status || apiT?.status || "none");
      if (archived) this.readAlong.update(apiT?.readalong ? status : "none", null, false);
      else this.readAlong.update(status, revision, true);
    });
  }

  /** Give the audio its file (once), keeping where it was. */
  ensureSource() {
    if (!this.playable) {
      this.preparing.start();
      return;
    }
    const file = this.lossless ? "session.flac" : "session.mp3";
    const url = mediaUrl(this.sid, file);
    if (this.audio.getAttribute("src") === url) return;
    const at = this.audio.currentTime;
    const playing = !this.audio.paused;
    this.pendingSeek = this.audio.getAttribute("src") ? at : null;
    this.audio.preload = "metadata";
    this.audio.src = url;
    if (playing) this.audio.play().catch(() => {});
  }

  duration() {
    const d = this.audio.duration;
    return Number.isFinite(d) && d > 0 ? d : this.length;
  }

  toggle() {
    this.ensureSource();
    if (this.audio.paused) this.audio.play().catch((err) => this.say(`Not played: ${err.message}`));
    else this.audio.pause();
  }

  /** @param {number} s seconds of session.mp3 */
  seek(s) {
    this.ensureSource();
    const to = Math.max(0, Math.min(s, this.duration() || s));
    if (this.audio.readyState < HTMLMediaElement.HAVE_METADATA) this.pendingSeek = to;
    else this.audio.currentTime = to;
    this.tick(to);
  }

  /** @param {number} s */
  playFrom(s) {
    this.seek(s);
    this.audio.play().catch((err) => this.say(`Not played: ${err.message}`));
  }

  /** @param {number} x */
  speed(x) {
    this.audio.playbackRate = x;
    this.audio.defaultPlaybackRate = x;
    for (const b of this.speedBtns) b.setAttribute("aria-pressed", String(Number(b.dataset.speed) === x));
  }

  /** @param {boolean} on */
  setLossless(on) {
    this.lossless = on;
    this.flacBtn.setAttribute("aria-pressed", String(on));
    const rate = this.audio.playbackRate;
    this.ensureSource();
    this.audio.playbackRate = rate;
  }

  /** Back where the coach left off, or where a seek asked before the file was there. */
  resume() {
    this.paintTicks();
    if (this.pendingSeek !== null && this.pendingSeek !== undefined) {
      this.audio.currentTime = this.pendingSeek;
      this.pendingSeek = null;
      return;
    }
    const saved = Number(localStorage.getItem(this.resumeKey()));
    if (saved > 1 && saved < this.duration() - 1 && this.audio.currentTime < 0.5) {
      this.audio.currentTime = saved;
      this.resumeNote.textContent = `Resumed where you left off: ${clock(saved)}`;
      this.resumeNote.hidden = false;
    }
  }

  resumeKey() {
    return `${RESUME_KEY}|${this.box}|${this.sid}`;
  }

  save() {
    this.savedAt = Date.now();
    const t = this.audio.currentTime;
    if (t > 0) localStorage.setItem(this.resumeKey(), t.toFixed(1));
  }

  /** @param {number} [at] where the audio is going */
  tick(at) {
    const t = at ?? this.audio.currentTime;
    if (!this.dragging) {
      this.bar.max = String(this.duration());
      this.bar.value = String(t);
      this.time.textContent = `${clock(t)} / ${clock(this.duration())}`;
    }
    this.readAlong.follow(t);
    if (!this.audio.paused && Date.now() - this.savedAt > SAVE_EVERY_MS) this.save();
    if ("mediaSession" in navigator && navigator.mediaSession.setPositionState && this.duration() > 0 && !this.audio.paused) {
      try {
        navigator.mediaSession.setPositionState({ duration: this.duration(), position: Math.min(t, this.duration()), playbackRate: this.audio.playbackRate });
      } catch {
        // a position past a duration the browser has not settled yet
      }
    }
  }

  onPlay() {
    this.playBtn.textContent = "Pause";
    for (const p of players.values()) if (p !== this && !p.audio.paused) p.audio.pause();
    if (!("mediaSession" in navigator)) return;
    const ms = navigator.mediaSession;
    if (typeof MediaMetadata === "function") ms.metadata = new MediaMetadata({ title: this.name, artist: "Session Recorder", album: this.box });
    /** @type {[MediaSessionAction, MediaSessionActionHandler][]} */
    const handlers = [
      ["play", () => this.audio.play().catch(() => {})],
      ["pause", () => this.audio.pause()],
      ["seekbackward", (d) => this.seek(this.audio.currentTime - (d.seekOffset || SKIP_S))],
      ["seekforward", (d) => this.seek(this.audio.currentTime + (d.seekOffset || SKIP_S))],
      ["seekto", (d) => this.seek(Number(d.seekTime) || 0)],
    ];
    for (const [action, handler] of handlers) {
      try {
        ms.setActionHandler(action, handler);
      } catch {
        // an action this browser does not know
      }
    }
  }

  paintMarkers() {
    this.markerHead.hidden = !this.markers.length;
    this.markerList.replaceChildren(
      ...this.markers.map((m) => {
        const s = finite(m.seconds) ?? 0;
        const label = typeof m.label === "string" ? m.label : "";
        const b = this.button("", "player-marker", () => this.playFrom(s));
        b.dataset.seconds = String(s);
        b.append(elem("span", "marker-n", `#${m.n}`), elem("time", "marker-time", clock(s)), elem("span", "player-marker-label", label || (m.source === "review" ? "bookmark" : "")));
        b.setAttribute("aria-label", `Play from marker ${m.n} at ${clock(s)}${label ? `: ${label}` : ""}`);
        const li = elem("li", "");
        li.append(b);
        return li;
      }),
    );
    this.paintTicks();
  }

  paintTicks() {
    const d = this.duration();
    this.ticks.replaceChildren(
      ...(d > 0 ? this.markers : []).map((m) => {
        const tick = elem("span", "player-tick");
        tick.style.left = `${Math.max(0, Math.min(100, ((finite(m.seconds) ?? 0) / d) * 100))}%`;
        return tick;
      }),
    );
  }

  bookmark() {
    const label = this.label.value.trim();
    /** @type {BookmarkCommand} */
    const cmd = { cmd: "bookmark", session: this.sid, seconds: Math.round(this.audio.currentTime * 1000) / 1000 };
    if (label) cmd.label = label;
    if (command(cmd, `${this.sid}|bookmark`)) this.label.value = "";
  }

  /** @param {string} text */
  say(text) {
    this.resumeNote.textContent = text;
    this.resumeNote.hidden = false;
  }
}
