// @ts-check
// Which view is shown: the fleet (every box under the prefix) or one box.

import { disarmStop } from "./controls.js";
import { $ } from "./dom.js";
import { leaveBox, subscribe } from "./link.js";
import { invalidateLists, renderNow } from "./scheduler.js";
import { model } from "./state.js";

export function showView() {
  invalidateLists();
  const boxView = !!model.current;
  $("box").hidden = !boxView;
  $("fleet").hidden = boxView;
  $("back-btn").hidden = !(boxView && model.fleet);
  renderNow();
}

/** @param {string} id */
export function openBox(id) {
  model.current = id;
  subscribe();
  showView();
  window.scrollTo(0, 0);
}

export function backToFleet() {
  const id = model.current;
  model.current = null;
  disarmStop();
  leaveBox(id);
  showView();
}
