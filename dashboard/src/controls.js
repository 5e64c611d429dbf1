// @ts-check
// Start, Marker and Stop. Stop needs a second tap within 3 s.

import { send } from "./commands.js";
import { $ } from "./dom.js";
import { queueRender } from "./scheduler.js";
import { toast } from "./toast.js";

const STOP_CONFIRM_MS = 3000; // a second tap on Stop within this confirms it

let stopArmedUntil = 0;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let stopTimer;

export function initControls() {
  $("btn-start").addEventListener("click", () => send("start"));
  $("btn-mark").addEventListener("click", () => send("mark"));
  $("btn-stop").addEventListener("click", onStop);
}

function onStop() {
  const now = performance.now();
  if (now < stopArmedUntil) {
    disarmStop();
    send("stop");
    return;
  }
  stopArmedUntil = now + STOP_CONFIRM_MS;
  clearTimeout(stopTimer);
  stopTimer = setTimeout(() => {
    disarmStop();
    queueRender();
  }, STOP_CONFIRM_MS);
  toast("Tap Stop again within 3 seconds to stop recording", "info");
  queueRender();
}

export function disarmStop() {
  stopArmedUntil = 0;
  clearTimeout(stopTimer);
}

/** @param {string} state the box's state, or "offline" */
export function renderButtons(state) {
  const armed = performance.now() < stopArmedUntil;
  const canStart = ["idle", "uploading", "error"].includes(state);
  const canMark = state === "recording";
  const canStop = state === "recording" || state === "starting";
  if (!canStop && armed) disarmStop();
  $("btn-start", HTMLButtonElement).disabled = !canStart;
  $("btn-mark", HTMLButtonElement).disabled = !canMark;
  const stop = $("btn-stop", HTMLButtonElement);
  stop.disabled = !canStop;
  stop.classList.toggle("armed", canStop && armed);
  stop.textContent = canStop && armed ? "Tap again to stop" : "Stop";
}
