// @ts-check
// The MQTT link to the broker: one mqtt.js client at a time, MQTT 5 over WebSockets. It keeps the
// model (state.js) up to date from the box's topics and hands events on; a callback from a client
// that has since been replaced (a new login) is ignored.

import { device, model, noteLevel, topic } from "./state.js";
import { queueRender } from "./scheduler.js";

/** @import { MqttClient } from "mqtt" */
/** @import { BoxEvent, BoxState, LevelMessage, Settings } from "./types.js" */

/**
 * What the link is doing, for the header and the banner.
 * @typedef {object} LinkStatus
 * @property {boolean} connected
 * @property {boolean} everConnected
 * @property {number} connectStartedAt performance.now()
 * @property {number} connectedAt
 * @property {string} lastError
 * @property {string[]} denied subscriptions the broker refused
 */

/** @type {LinkStatus} */
export const status = {
  connected: false,
  everConnected: false,
  connectStartedAt: 0,
  connectedAt: 0,
  lastError: "",
  denied: [],
};

/** @type {MqttClient | null} */
let client = null;

/**
 * @typedef {object} Handlers
 * @property {(e: BoxEvent) => void} onEvent an event of the box shown
 * @property {(why: string) => void} onRefused the broker refused the login: retrying won't help
 */

/** mqtt.min.js (the npm package `mqtt`, inlined by build.mjs before this bundle) defines it. */
function mqttLibrary() {
  return /** @type {{mqtt: typeof import("mqtt")}} */ (/** @type {unknown} */ (window)).mqtt;
}

/** Whether a login is in force (connected or trying). */
export function isOpen() {
  return client !== null;
}

/** Whether a command can be sent now. */
export function canSend() {
  return client !== null && status.connected;
}

/** Connect with these settings, dropping any earlier client. @param {Settings} s @param {Handlers} handlers */
export function open(s, handlers) {
  close();
  status.denied = [];
  status.everConnected = false;
  status.lastError = "";
  status.connectStartedAt = performance.now();
  const c = mqttLibrary().connect(s.url, {
    username: s.username || undefined,
    password: s.password || undefined,
    clientId: `dashboard-${Math.random().toString(16).slice(2, 10)}`,
    protocolVersion: 5, // the broker then says why it refused a command
    clean: true,
    keepalive: 20,
    reconnectPeriod: 2000,
    connectTimeout: 8000,
    resubscribe: false, // subscribe() runs on every connect
  });
  client = c;
  c.on("connect", () => {
    if (client !== c) return;
    status.connected = true;
    status.everConnected = true;
    status.connectedAt = performance.now();
    status.lastError = "";
    subscribe();
    queueRender();
  });
  c.on("reconnect", () => {
    if (client === c) queueRender();
  });
  c.on("close", () => {
    if (client !== c) return;
    status.connected = false;
    queueRender();
  });
  c.on("error", (err) => {
    if (client !== c) return;
    const code = "code" in err ? err.code : undefined;
    if (code === 4 || code === 5 || code === 134 || code === 135) {
      // a wrong password does not get better by retrying
      handlers.onRefused("The broker refused this user name or password.");
      return;
    }
    status.lastError = (err && err.message) || String(err);
    queueRender();
  });
  c.on("message", (t, payload) => onMessage(t, payload, handlers.onEvent));
}

export function close() {
  const c = client;
  client = null;
  status.connected = false;
  if (c) c.end(true);
}

/** Subscribe to what the view shows: every box's state in the fleet, all of the box shown. */
export function subscribe() {
  const topics = model.fleet ? [topic("+", "availability"), topic("+", "state")] : [];
  if (model.current) {
    for (const leaf of ["availability", "state", "level", "event"]) topics.push(topic(model.current, leaf));
  }
  subscribeTo([...new Set(topics)]);
}

/** @param {string[]} topics */
function subscribeTo(topics) {
  if (!client || !topics.length) return;
  const c = client;
  c.subscribe(topics, { qos: 1 }, (err, granted) => {
    if (client !== c) return;
    if (err) {
      status.lastError = err.message;
    } else {
      for (const g of granted || []) {
        if (g.qos >= 128 && !status.denied.includes(g.topic)) status.denied.push(g.topic);
      }
    }
    queueRender();
  });
}

/** Stop the live topics of a box no longer shown (its state stays, for the fleet). @param {string | null} id */
export function leaveBox(id) {
  if (client && id) client.unsubscribe([topic(id, "level"), topic(id, "event")]);
}

/**
 * Publish to a box's cmd topic at QoS 1; `onRefused` hears the broker's refusal, unless another
 * login has replaced this one meanwhile.
 * @param {string} id @param {string} payload @param {(err: Error) => void} onRefused
 */
export function publishCommand(id, payload, onRefused) {
  if (!client) return;
  const c = client;
  c.publish(topic(id, "cmd"), payload, { qos: 1 }, (err) => {
    if (err && client === c) onRefused(err);
  });
}

/**
 * @param {string} t @param {Uint8Array} payload @param {(e: BoxEvent) => void} onEvent
 */
function onMessage(t, payload, onEvent) {
  const prefix = `${model.settings.prefix}/`;
  if (!t.startsWith(prefix)) return;
  const parts = t.slice(prefix.length).split("/");
  if (parts.length !== 2) return;
  const [id = "", leaf = ""] = parts;
  const text = new TextDecoder().decode(payload);
  if (!["availability", "state", "level", "event"].includes(leaf)) return;
  const d = leaf === "event" ? null : device(id);
  const now = performance.now();
  if (d && leaf === "availability") {
    d.availability = text.trim() || null; // an empty retained message clears it
  } else {
    if (!text.trim()) {
      if (d && leaf === "state") d.state = null;
      queueRender();
      return;
    }
    /** @type {unknown} */
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      console.warn(`ignored a message on ${t} that is not JSON`);
      return;
    }
    if (!msg || typeof msg !== "object") return;
    // JSON from the box: the types say what it sends; the cards check each field they show
    if (d && leaf === "state") {
      d.state = /** @type {BoxState} */ (msg);
      d.stateAt = now;
    } else if (d && leaf === "level") {
      noteLevel(d, /** @type {LevelMessage} */ (msg), now);
    } else if (id === model.current) {
      onEvent(/** @type {BoxEvent} */ (msg));
    }
  }
  queueRender();
}
