// @ts-check
// Session Recorder dashboard: served by the box's web server, MQTT over WebSockets through its
// /mqtt to the box's mosquitto (or straight to a central broker), no framework. build.mjs bundles this module and those it imports into one script (esbuild),
// inlined into dist/index.html after the vendor scripts (mqtt.min.js, qrcode.js) that define the
// globals `mqtt` and `qrcode`.
//
// The modules: state.js (the model), link.js (the MQTT link), events.js and commands.js (the
// box's events and the commands sent), scheduler.js (when the page is drawn), and one module per
// card or form.

import { renderBox } from "./box.js";
import { initControls } from "./controls.js";
import { $ } from "./dom.js";
import { onEvent } from "./events.js";
import { renderFleet } from "./fleet.js";
import { renderBanner, renderConn, setConn } from "./header.js";
import { initLogin, logIn, showLogin } from "./login.js";
import { close, isOpen, open } from "./link.js";
import { backToFleet, showView } from "./nav.js";
import { initNext } from "./next.js";
import { initQr } from "./qr.js";
import { setRenderer } from "./scheduler.js";
import { initialSettings, loadStored } from "./settings.js";
import { device, model, startOver } from "./state.js";

/** @import { Settings } from "./types.js" */

function render() {
  if (!isOpen()) return;
  renderConn();
  renderBanner();
  if (model.current) renderBox(device(model.current));
  else renderFleet();
}

/** Log in with these settings: a new link, nothing known of any box yet. @param {Settings} s */
function connect(s) {
  close();
  startOver(s);
  $("login").hidden = true;
  $("settings-btn").hidden = false;
  setConn("connecting", "Connecting…");
  open(s, { onEvent, onRefused: showLogin });
  showView();
}

async function main() {
  setRenderer(render);
  initLogin(connect);
  $("back-btn").addEventListener("click", backToFleet);
  initControls();
  initNext();
  initQr();
  // the clock and the meters' freshness move without messages
  setInterval(() => {
    if (isOpen()) render();
  }, 250);
  model.settings = await initialSettings();
  const stored = loadStored();
  if (stored.remember && stored.password) logIn(model.settings, connect);
  else showLogin();
}

main();
