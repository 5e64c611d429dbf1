// @ts-check
// The header's word for the box and the banner under it: what is wrong with the link, or the box.

import { $ } from "./dom.js";
import { status } from "./link.js";
import { device, model } from "./state.js";

const NO_WORD_MS = 4000; // connected, but nothing from the box yet: say so
const UNREACHABLE_MS = 6000; // never connected after this: say so

/** @param {string} kind @param {string} text */
export function setConn(kind, text) {
  const el = $("conn");
  el.dataset.conn = kind;
  el.dataset.broker = status.connected ? "up" : "down";
  el.textContent = text;
  el.hidden = !text;
}

/**
 * One word for the box: online, offline or recording. The link to the broker is named only when
 * it is what is wrong (then nothing is known of the box).
 */
export function renderConn() {
  if (!status.connected) {
    setConn("connecting", status.everConnected ? "Reconnecting…" : "Connecting…");
  } else if (model.current) {
    const d = device(model.current);
    if (d.availability === "offline") setConn("offline", "Offline");
    else if (d.state && d.state.state === "recording") setConn("recording", "Recording");
    else if (d.availability === "online" || d.state) setConn("online", "Online");
    else setConn("waiting", "Waiting…");
  } else {
    setConn("online", ""); // the fleet: each card says its own box's state
  }
}

export function renderBanner() {
  const b = $("banner");
  const now = performance.now();
  let text = "";
  let kind = "bad";
  const where = model.current ? "the box" : "the broker";
  if (!status.connected) {
    if (status.everConnected) {
      text = `Connection to ${where} lost. Reconnecting… What you see may be out of date.`;
    } else if (now - status.connectStartedAt > UNREACHABLE_MS) {
      text = `Cannot reach ${model.settings.url}. Still trying; check the address in ⚙ settings.`;
      if (status.lastError) text += ` (${status.lastError})`;
    } else {
      text = `Connecting to ${model.settings.url}…`;
      kind = "info";
    }
  } else if (model.current) {
    const d = device(model.current);
    if (d.availability === "offline") {
      text = "Box offline: the recorder is not running or lost its network.";
    } else if (!d.availability && !d.state && now - status.connectedAt > NO_WORD_MS) {
      text = `No word from box “${model.current}” yet. Is the box id right?`;
      kind = "warn";
    }
  }
  if (!text && status.denied.length) {
    text = model.fleet && !model.current
      ? "This user may not list every box here. Log in with a box id instead."
      : `The broker refused: ${status.denied.join(", ")}`;
    kind = "warn";
  }
  b.textContent = text;
  b.dataset.kind = kind;
  b.hidden = !text;
  document.body.classList.toggle("disconnected", !status.connected);
}
