// Session Recorder dashboard: MQTT over WebSockets to the box's mosquitto (or a central broker),
// no framework. Everything that arrives from the broker is shown with textContent, never parsed
// as HTML: a message is data, not markup.
// mqtt.min.js (the npm package `mqtt`, inlined by build.mjs before this script) defines the
// global `mqtt`; this script keeps its own names to itself.
(() => {
  "use strict";

  const STORE_KEY = "session-recorder.dashboard.v1";
  const DEFAULT_PREFIX = "session-recorder";
  const STOP_CONFIRM_MS = 3000; // a second tap on Stop within this confirms it
  const LEVEL_FRESH_MS = 2000; // older level messages no longer drive the meters
  const CLIP_HOLD_MS = 2000; // a clipped block keeps the meter red this long
  const NO_WORD_MS = 4000; // connected, but nothing from the box yet: say so
  const UNREACHABLE_MS = 6000; // never connected after this: say so
  const METER_FLOOR_DB = -60;

  const STATE_LABEL = {
    starting: "Starting…",
    idle: "Idle",
    recording: "Recording",
    finalizing: "Finishing…",
    uploading: "Uploading",
    error: "Error",
    unknown: "Waiting…",
  };
  const STATE_HINT = {
    starting: "The recorder is starting up",
    idle: "Ready to record",
    recording: "",
    finalizing: "Saving the session",
    uploading: "Ready to record; sending sessions to the cloud",
    error: "",
    unknown: "",
  };
  const WARNING_LABEL = { silence: "Silence", clipping: "Clipping", disk_low: "Disk nearly full", device: "Audio device" };
  const UPLOAD_LABEL = {
    verified: ["In the cloud", "ok", "✓"],
    uploaded: ["In the cloud, being checked", "ok", "✓"],
    uploading: ["Uploading", "busy", "↑"],
    pending: ["Waiting to upload", "wait", "…"],
    failed: ["Upload failed, retrying", "bad", "!"],
  };
  const COMMAND_LABEL = { start: "Start", stop: "Stop", mark: "Marker" };
  // the tag a session row shows for its transcript: [icon, kind, the icon in words]
  const TRANSCRIPT_TAG = {
    done: ["✓", "ok", "ready"],
    building: ["…", "busy", "being written"],
    failed: ["✗", "bad", "failed"],
    damaged: ["✗", "bad", "damaged"],
  };
  const CHECK_MARK = { pass: ["✓", "passed"], fail: ["✗", "failed"], unknown: ["?", "not known"] };
  const CHECK_LABEL = {
    length: "Length",
    speakers: "Both speakers",
    gaps: "No gaps",
    ending: "Not cut short",
    transcript: "Transcript",
    consent: "Consent",
  };
  const ICF_CAVEAT = "ICF's rules change: confirm them with ICF before you submit.";
  const REVOKE_CONFIRM_MS = 3000; // a second tap on Revoke within this confirms it
  const PENDING_MAX = 20; // commands sent and not answered yet, kept for their answers
  const ANSWER_MS = 30000; // a command unanswered this long is said to be so
  const WHAT_LABEL = { mp3: "MP3", flac: "FLAC", transcript: "Transcript", all: "Everything" };
  const EXPIRE_CHOICES = [
    ["", "The box's default"],
    ["1d", "1 day"],
    ["7d", "7 days"],
    ["14d", "14 days"],
    ["30d", "30 days"],
    ["90d", "90 days"],
    ["never", "No expiry"],
  ];
  // what the consent form can record: [value, label, the command's fields]
  const CONSENT_CHOICES = [
    ["allow-share", "Allows sharing", { allow: "share" }],
    ["allow-copy", "Allows a copy for the client", { allow: "copy" }],
    ["withdraw-share", "Withdraws sharing", { withdraw: "share" }],
    ["withdraw-copy", "Withdraws the client copy", { withdraw: "copy" }],
    ["withdraw-record", "Withdraws keeping it: delete", { withdraw: "record" }],
  ];
  const SOURCE_LABEL = { cli: "command line", ctl: "command line", mqtt: "phone page" };

  const $ = (id) => document.getElementById(id);

  // ---- the model: one entry per box seen, filled by messages ---------------------------------------

  const app = {
    settings: null, // {url, username, password, remember, device, prefix}
    client: null,
    connected: false,
    everConnected: false,
    connectStartedAt: 0,
    connectedAt: 0,
    lastError: "",
    fleet: false, // the login asked for every box
    current: null, // the box shown in the single-box view (null: fleet view)
    devices: new Map(), // id -> Device
    denied: [], // subscriptions the broker refused
    stopArmedUntil: 0,
    stopTimer: null,
    toastTimer: null,
    renderQueued: false,
    renderedKey: "", // what the box view's lists were last built from
    openSession: null, // "<box>|<session id>" whose view is open in the recent list
    panelSeq: 0, // numbers the session views' element ids
    pending: [], // commands sent, oldest first: {cmd, session, key, box} until the box answers
    feedback: new Map(), // feedback key ("<session>|details") -> {text, kind}: a form's answer
    shareWait: new Map(), // session id -> feedback key of the share form waiting for its copy
    jobWait: new Map(), // "<cmd>|<session>" -> feedback key of a form whose request was queued
    confirm: null, // {session, kind: "discard" | "withdraw", ref}: a deletion being confirmed
    sharing: null, // the state's `sharing`: {enabled, message}; null from an older daemon
    // markers told by `marker` events: an older daemon refreshed `recent` on the event, before
    // its writer had put the marker in the manifest, so the list missed the newest one
    liveMarkers: { session: null, list: [] }, // list: [{seconds, label}]
  };

  function device(id) {
    let d = app.devices.get(id);
    if (!d) {
      d = {
        id,
        availability: null, // "online" | "offline" | null (not heard)
        state: null, // the last state message
        stateAt: 0, // performance.now() when it arrived
        level: null, // the last level message
        levelAt: 0,
        clipUntil: [], // per channel: a clipped block keeps its meter red until then
        shownElapsed: 0, // never goes back within a session
        shownSession: null,
      };
      app.devices.set(id, d);
    }
    return d;
  }

  // ---- settings: defaults < the box's config.json < this phone < the link's query -------------------

  function ownOrigin() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return location.host ? `${scheme}://${location.host}/` : "ws://localhost:9001/";
  }

  function loadStored() {
    try {
      return JSON.parse(localStorage.getItem(STORE_KEY) || "{}") || {};
    } catch {
      return {};
    }
  }

  function store(settings) {
    const kept = {
      // the page's own address is stored as "", so a box that changes address still works
      url: settings.url === ownOrigin() ? "" : settings.url,
      username: settings.username,
      device: settings.device,
      prefix: settings.prefix,
      remember: settings.remember,
    };
    if (settings.remember) kept.password = settings.password;
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify(kept));
    } catch {
      // private mode or full storage: the settings just are not remembered
    }
  }

  async function boxDefaults() {
    // The installer may write config.json beside the page: {"device_id": "...", "prefix": "..."}.
    try {
      const r = await fetch("config.json", { cache: "no-store" });
      if (!r.ok) return {};
      const c = await r.json();
      return { device: c.device_id || "", prefix: c.prefix || "", url: c.url || "" };
    } catch {
      return {};
    }
  }

  async function initialSettings() {
    const s = { url: "", username: "dashboard", password: "", remember: false, device: "", prefix: DEFAULT_PREFIX };
    const layers = [await boxDefaults(), loadStored()];
    const q = new URLSearchParams(location.search);
    layers.push({ url: q.get("url"), username: q.get("user"), device: q.get("device"), prefix: q.get("prefix") });
    for (const layer of layers) {
      for (const [k, v] of Object.entries(layer)) {
        if (v !== null && v !== undefined && (v !== "" || k === "url")) s[k] = v;
      }
    }
    if (!s.url) s.url = ownOrigin();
    return s;
  }

  function normaliseUrl(text) {
    let url = text.trim();
    if (!url) return ownOrigin();
    if (!/^wss?:\/\//i.test(url)) url = `${location.protocol === "https:" ? "wss" : "ws"}://${url}`;
    if (!/^wss?:\/\/[^/]+\/.*/i.test(url)) url += "/";
    return url;
  }

  function checkSettings(s) {
    if (/[+#/]/.test(s.device)) return "A box id cannot contain “/”, “+” or “#”.";
    if (!s.prefix || /[+#]/.test(s.prefix) || s.prefix.startsWith("/") || s.prefix.endsWith("/")) {
      return "The topic prefix must not be empty, contain “+” or “#”, or start or end with “/”.";
    }
    try {
      new URL(s.url);
    } catch {
      return `“${s.url}” is not a broker address (ws://host:port/).`;
    }
    if (location.protocol === "https:" && s.url.startsWith("ws:")) {
      return "This page was loaded over https, so the broker address must start with wss://.";
    }
    return "";
  }

  // ---- the login form ---------------------------------------------------------------------------------

  function showLogin(error = "") {
    disconnect();
    const s = app.settings;
    $("f-url").value = s.url;
    $("f-user").value = s.username;
    $("f-pass").value = s.password || "";
    $("f-remember").checked = !!s.remember;
    $("f-device").value = s.device;
    $("f-prefix").value = s.prefix;
    $("advanced").open = s.url !== ownOrigin() || s.prefix !== DEFAULT_PREFIX;
    const err = $("login-error");
    err.textContent = error;
    err.hidden = !error;
    $("login").hidden = false;
    $("box").hidden = true;
    $("fleet").hidden = true;
    $("settings-btn").hidden = true;
    $("back-btn").hidden = true;
    $("banner").hidden = true;
    setConn("idle", "Not connected");
    (s.username && !s.password ? $("f-pass") : $("f-user")).focus();
  }

  function onLogin(ev) {
    ev.preventDefault();
    const s = {
      url: normaliseUrl($("f-url").value),
      username: $("f-user").value.trim(),
      password: $("f-pass").value,
      remember: $("f-remember").checked,
      device: $("f-device").value.trim() || "all", // blank: every box, said plainly
      prefix: $("f-prefix").value.trim().replace(/^\/+|\/+$/g, "") || DEFAULT_PREFIX,
    };
    const problem = checkSettings(s);
    if (problem) {
      $("login-error").textContent = problem;
      $("login-error").hidden = false;
      return;
    }
    app.settings = s;
    store(s);
    connect();
  }

  // ---- MQTT -----------------------------------------------------------------------------------------------

  function topic(id, leaf) {
    return `${app.settings.prefix}/${id}/${leaf}`;
  }

  function isFleet(s) {
    return !s.device || s.device.toLowerCase() === "all";
  }

  function connect() {
    disconnect();
    const s = app.settings;
    app.fleet = isFleet(s);
    app.current = app.fleet ? null : s.device;
    app.devices.clear();
    app.denied = [];
    app.everConnected = false;
    app.lastError = "";
    app.connectStartedAt = performance.now();
    $("login").hidden = true;
    $("settings-btn").hidden = false;
    setConn("connecting", "Connecting…");
    const client = window.mqtt.connect(s.url, {
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
    app.client = client;
    client.on("connect", () => {
      if (app.client !== client) return;
      app.connected = true;
      app.everConnected = true;
      app.connectedAt = performance.now();
      app.lastError = "";
      subscribe();
      queueRender();
    });
    client.on("reconnect", () => {
      if (app.client === client) queueRender();
    });
    client.on("close", () => {
      if (app.client !== client) return;
      app.connected = false;
      queueRender();
    });
    client.on("error", (err) => {
      if (app.client !== client) return;
      const code = err && err.code;
      if (code === 4 || code === 5 || code === 134 || code === 135) {
        // a wrong password does not get better by retrying
        showLogin("The broker refused this user name or password.");
        return;
      }
      app.lastError = (err && err.message) || String(err);
      queueRender();
    });
    client.on("message", onMessage);
    showView();
  }

  function disconnect() {
    const c = app.client;
    app.client = null;
    app.connected = false;
    if (c) c.end(true);
  }

  function subscribe() {
    const topics = app.fleet
      ? [topic("+", "availability"), topic("+", "state")]
      : [];
    if (app.current) {
      for (const leaf of ["availability", "state", "level", "event"]) topics.push(topic(app.current, leaf));
    }
    subscribeTo([...new Set(topics)]);
  }

  function subscribeTo(topics) {
    if (!app.client || !topics.length) return;
    const client = app.client;
    client.subscribe(topics, { qos: 1 }, (err, granted) => {
      if (app.client !== client) return;
      if (err) {
        app.lastError = err.message;
      } else {
        for (const g of granted || []) {
          if (g.qos >= 128 && !app.denied.includes(g.topic)) app.denied.push(g.topic);
        }
      }
      queueRender();
    });
  }

  function onMessage(t, payload) {
    const prefix = `${app.settings.prefix}/`;
    if (!t.startsWith(prefix)) return;
    const parts = t.slice(prefix.length).split("/");
    if (parts.length !== 2) return;
    const [id, leaf] = parts;
    const text = new TextDecoder().decode(payload);
    if (!["availability", "state", "level", "event"].includes(leaf)) return;
    const d = leaf === "event" ? null : device(id);
    const now = performance.now();
    if (leaf === "availability") {
      d.availability = text.trim() || null; // an empty retained message clears it
    } else {
      if (!text.trim()) {
        if (leaf === "state") d.state = null;
        queueRender();
        return;
      }
      let msg;
      try {
        msg = JSON.parse(text);
      } catch {
        console.warn(`ignored a message on ${t} that is not JSON`);
        return;
      }
      if (!msg || typeof msg !== "object") return;
      if (leaf === "state") {
        d.state = msg;
        d.stateAt = now;
      } else if (leaf === "level") {
        d.level = msg;
        d.levelAt = now;
        if (Number(msg.clipped) > 0) holdClip(d, msg.peak_dbfs, now);
      } else if (id === app.current) {
        onEvent(msg);
      }
    }
    queueRender();
  }

  function holdClip(d, peaks, now) {
    // `clipped` counts samples at full scale over all channels: the ones at full scale clipped
    const list = Array.isArray(peaks) ? peaks : [];
    let hit = list.map((p, i) => (Number(p) >= -1 ? i : -1)).filter((i) => i >= 0);
    if (!hit.length) hit = list.map((_, i) => i);
    for (const i of hit) d.clipUntil[i] = now + CLIP_HOLD_MS;
  }

  function onEvent(e) {
    const message = typeof e.message === "string" ? e.message : "";
    const sid = typeof e.session_id === "string" ? e.session_id : "";
    switch (e.event) {
      case "command": {
        if (typeof e.job === "string" && e.job && e.queued !== true) {
          jobDone(e, message, sid);
          break;
        }
        const p = takePending(e);
        if (p) answered(p, e.ok === true, message);
        else if (e.ok) toast(message || `${COMMAND_LABEL[e.cmd] || e.cmd || "Command"}: done`, "ok");
        else toast(message ? `Refused: ${message}` : "The box refused the command", "bad");
        break;
      }
      case "error": {
        // a malformed or refused command names no command: the oldest one waiting gets it
        const i = app.pending.findIndex((x) => x.box === app.current);
        const p = i < 0 ? null : app.pending.splice(i, 1)[0];
        if (p) answered(p, false, message);
        else toast(message || "The box reported an error", "bad");
        break;
      }
      case "share_ready": {
        const share = record(e.share) || {};
        const to = typeof share.to === "string" ? share.to : "";
        const how = share.link ? "the link is below" : typeof share.link_note === "string" ? share.link_note : "";
        const text = `Shared${to ? ` with ${to}` : ""}${how ? `: ${how}` : ""}`;
        const key = app.shareWait.get(sid);
        app.shareWait.delete(sid);
        if (key) feedback(key, text, "ok");
        toast(`${text.split(":")[0]} (${sessionName(sid)})`, "ok");
        break;
      }
      case "share_failed": {
        const key = app.shareWait.get(sid);
        app.shareWait.delete(sid);
        const text = `Not shared: ${message || "the box gave no reason"}`;
        if (key) feedback(key, text, "bad");
        else toast(text, "bad");
        break;
      }
      case "session_discarded":
        toast(`Discarded: ${sessionName(sid)}`, "ok");
        break;
      case "marker": {
        if (sid && typeof e.seconds === "number") {
          if (app.liveMarkers.session !== sid) app.liveMarkers = { session: sid, list: [] };
          app.liveMarkers.list.push({ seconds: e.seconds, label: typeof e.label === "string" ? e.label : "" });
          app.renderedKey = ""; // the markers card is rebuilt at the next frame
        }
        const at = typeof e.seconds === "number" ? ` at ${clock(e.seconds)}` : "";
        toast(`Marker set${at}${e.label ? `: ${e.label}` : ""}`, "ok");
        break;
      }
      case "session_started":
        toast("Recording started", "ok");
        break;
      case "session_stopped":
        toast("Recording stopped", "ok");
        break;
      case "session_uploaded":
        toast("A session reached the cloud", "ok");
        break;
      case "session_verified":
        // rclone compared the copy with the box's files: from now on the box may free its own
        toast(`Checked in the cloud: ${sessionName(sid)}`, "ok");
        break;
      default:
        break;
    }
  }

  function send(cmd) {
    const id = app.current;
    if (!app.client || !app.connected || !id) {
      toast("Not connected: the command was not sent", "bad");
      return;
    }
    const client = app.client;
    toast(`${COMMAND_LABEL[cmd]}: sent…`, "info");
    client.publish(topic(id, "cmd"), cmd, { qos: 1 }, (err) => {
      if (err && app.client === client) {
        const why = /not authori[sz]ed/i.test(err.message) ? "this user may not control this box" : err.message;
        toast(`${COMMAND_LABEL[cmd]} was not accepted: ${why}`, "bad");
      }
    });
  }

  // ---- commands with an answer: a form sends one, the box's answer is shown beside that form ----

  function command(payload, key) {
    // payload: the JSON command; key: the feedback line its answer goes to ("<session>|details")
    const id = app.current;
    if (!app.client || !app.connected || !id) {
      feedback(key, "Not connected: nothing was sent", "bad");
      return false;
    }
    const client = app.client;
    const p = { cmd: payload.cmd, session: typeof payload.session === "string" ? payload.session : null, key, box: id };
    app.pending.push(p);
    if (app.pending.length > PENDING_MAX) app.pending.shift();
    feedback(key, "Sent, waiting for the box…", "info");
    setTimeout(() => {
      if (!app.pending.includes(p)) return;
      app.pending = app.pending.filter((x) => x !== p); // a late answer then goes to a toast
      feedback(key, "No answer from the box: it may be offline or busy. Check before sending again.", "bad");
    }, ANSWER_MS);
    client.publish(topic(id, "cmd"), JSON.stringify(payload), { qos: 1 }, (err) => {
      if (!err || app.client !== client) return;
      app.pending = app.pending.filter((x) => x !== p);
      const why = /not authori[sz]ed/i.test(err.message) ? "this user may not control this box" : err.message;
      feedback(key, `Not accepted: ${why}`, "bad");
    });
    return true;
  }

  function takePending(e) {
    const sid = typeof e.session_id === "string" ? e.session_id : null;
    const i = app.pending.findIndex((p) => p.box === app.current && p.cmd === e.cmd && (!p.session || !sid || p.session === sid));
    return i < 0 ? null : app.pending.splice(i, 1)[0];
  }

  function jobDone(e, message, sid) {
    // the end of a request the box queued (a discard, a revocation, a withdrawal's discard):
    // said beside the form that sent it when it is still open, else in a toast
    if (e.cmd === "share") {
      // share_ready and share_failed say how a share ended; only a failure with neither is told
      const key = app.shareWait.get(sid);
      if (!e.ok && key) {
        app.shareWait.delete(sid);
        feedback(key, `Not shared: ${message || "the box gave no reason"}`, "bad");
      }
      return;
    }
    const wait = `${e.cmd}|${sid}`;
    const key = app.jobWait.get(wait);
    app.jobWait.delete(wait);
    const text = e.ok ? message || "Done" : `Failed: ${message || "the box gave no reason"}`;
    if (key) feedback(key, text, e.ok ? "ok" : "bad");
    else toast(text, e.ok ? "ok" : "bad");
  }

  function answered(p, ok, message) {
    if (ok) {
      feedback(p.key, message || "Done", "ok");
      if (p.cmd === "share" && p.session) app.shareWait.set(p.session, p.key); // the copy follows
      // a queued request's result comes later as a `command` event with its job
      else if (p.session && /(^|; )(already )?queued: /.test(message)) app.jobWait.set(`${p.cmd}|${p.session}`, p.key);
    } else {
      feedback(p.key, message ? `Refused: ${message}` : "The box refused it", "bad");
    }
  }

  function feedback(key, text, kind) {
    if (!key) {
      toast(text, kind);
      return;
    }
    app.feedback.set(key, { text, kind });
    for (const el of document.querySelectorAll(".form-msg")) {
      if (el.dataset.feedback === key) paintFeedback(el);
    }
  }

  function feedbackLine(key) {
    const p = elem("p", "form-msg");
    p.dataset.feedback = key;
    p.setAttribute("role", "status");
    p.setAttribute("aria-live", "polite");
    paintFeedback(p);
    return p;
  }

  function paintFeedback(el) {
    const f = app.feedback.get(el.dataset.feedback);
    el.textContent = f ? f.text : "";
    el.dataset.kind = f ? f.kind : "";
    el.hidden = !f;
  }

  function sessionName(sid) {
    const s = app.current && device(app.current).state;
    const r = s && Array.isArray(s.recent) ? s.recent.find((x) => record(x) && x.id === sid) : null;
    return r && typeof r.name === "string" && r.name ? r.name : sid || "a session";
  }

  // ---- buttons -------------------------------------------------------------------------------------------

  function onStop() {
    const now = performance.now();
    if (now < app.stopArmedUntil) {
      disarmStop();
      send("stop");
      return;
    }
    app.stopArmedUntil = now + STOP_CONFIRM_MS;
    clearTimeout(app.stopTimer);
    app.stopTimer = setTimeout(() => {
      disarmStop();
      queueRender();
    }, STOP_CONFIRM_MS);
    toast("Tap Stop again within 3 seconds to stop recording", "info");
    queueRender();
  }

  function disarmStop() {
    app.stopArmedUntil = 0;
    clearTimeout(app.stopTimer);
  }

  function openBox(id) {
    app.current = id;
    subscribe();
    showView();
    window.scrollTo(0, 0);
  }

  function backToFleet() {
    const id = app.current;
    app.current = null;
    disarmStop();
    if (app.client && id) app.client.unsubscribe([topic(id, "level"), topic(id, "event")]);
    showView();
  }

  // ---- rendering ----------------------------------------------------------------------------------------

  function queueRender() {
    if (app.renderQueued) return;
    app.renderQueued = true;
    requestAnimationFrame(() => {
      app.renderQueued = false;
      render();
    });
  }

  function showView() {
    app.renderedKey = "";
    const boxView = !!app.current;
    $("box").hidden = !boxView;
    $("fleet").hidden = boxView;
    $("back-btn").hidden = !(boxView && app.fleet);
    render();
  }

  function render() {
    if (!app.client) return;
    renderConn();
    renderBanner();
    if (app.current) renderBox(device(app.current));
    else renderFleet();
  }

  function setConn(kind, text) {
    const el = $("conn");
    el.dataset.conn = kind;
    el.dataset.broker = app.connected ? "up" : "down";
    el.textContent = text;
    el.hidden = !text;
  }

  function renderConn() {
    // One word for the box: online, offline or recording. The link to the broker is named only
    // when it is what is wrong (then nothing is known of the box).
    if (!app.connected) {
      setConn("connecting", app.everConnected ? "Reconnecting…" : "Connecting…");
    } else if (app.current) {
      const d = device(app.current);
      if (d.availability === "offline") setConn("offline", "Offline");
      else if (d.state && d.state.state === "recording") setConn("recording", "Recording");
      else if (d.availability === "online" || d.state) setConn("online", "Online");
      else setConn("waiting", "Waiting…");
    } else {
      setConn("online", ""); // the fleet: each card says its own box's state
    }
  }

  function renderBanner() {
    const b = $("banner");
    const now = performance.now();
    let text = "";
    let kind = "bad";
    const where = app.current ? "the box" : "the broker";
    if (!app.connected) {
      if (app.everConnected) {
        text = `Connection to ${where} lost. Reconnecting… What you see may be out of date.`;
      } else if (now - app.connectStartedAt > UNREACHABLE_MS) {
        text = `Cannot reach ${app.settings.url}. Still trying; check the address in ⚙ settings.`;
        if (app.lastError) text += ` (${app.lastError})`;
      } else {
        text = `Connecting to ${app.settings.url}…`;
        kind = "info";
      }
    } else if (app.current) {
      const d = device(app.current);
      if (d.availability === "offline") {
        text = "Box offline: the recorder is not running or lost its network.";
      } else if (!d.availability && !d.state && now - app.connectedAt > NO_WORD_MS) {
        text = `No word from box “${app.current}” yet. Is the box id right?`;
        kind = "warn";
      }
    }
    if (!text && app.denied.length) {
      text = app.fleet && !app.current
        ? "This user may not list every box here. Log in with a box id instead."
        : `The broker refused: ${app.denied.join(", ")}`;
      kind = "warn";
    }
    b.textContent = text;
    b.dataset.kind = kind;
    b.hidden = !text;
    document.body.classList.toggle("disconnected", !app.connected);
  }

  function elapsedOf(d, live) {
    const s = d.state;
    if (!s) return 0;
    let base = Number(s.elapsed_s) || 0;
    let at = d.stateAt;
    const recording = s.state === "recording";
    if (recording && d.level && d.levelAt > at && typeof d.level.elapsed_s === "number") {
      base = d.level.elapsed_s;
      at = d.levelAt;
    }
    let value = recording && live ? base + (performance.now() - at) / 1000 : base;
    // between messages the clock runs locally; it never steps back within a session
    if (recording && d.shownSession === s.session_id) value = Math.max(value, d.shownElapsed);
    d.shownSession = recording ? s.session_id : null;
    d.shownElapsed = recording ? value : 0;
    return value;
  }

  function renderBox(d) {
    const s = d.state || {};
    const live = app.connected && d.availability !== "offline";
    const name = s.state && STATE_LABEL[s.state] ? s.state : "unknown";
    const shown = live ? name : "offline";

    $("box-name").textContent = d.id;
    const badge = $("state-badge");
    badge.dataset.state = shown;
    badge.textContent = live ? STATE_LABEL[name] : app.connected ? "Offline" : "No connection";
    $("hero").dataset.state = shown;

    const elapsed = elapsedOf(d, live);
    $("elapsed").textContent = clock(elapsed);
    $("elapsed").dateTime = `PT${Math.floor(elapsed)}S`;

    let sub = live ? STATE_HINT[name] : "";
    if (!live && d.state) sub = `Last known: ${STATE_LABEL[name].toLowerCase()}${s.ts ? `, ${when(s.ts)}` : ""}`;
    if (live && s.session_id) {
      const running = recentEntry(s, s.session_id);
      sub = running && typeof running.name === "string" && running.name ? running.name : `Session ${s.session_id}`;
    }
    $("session-id").textContent = sub;

    renderMeters(d, live);
    renderButtons(live ? name : "offline");
    const key = `${d.id}|${d.stateAt}|${live}`;
    if (app.renderedKey !== key) {
      // the lists are rebuilt only when a state message (or reachability) changed them
      app.renderedKey = key;
      renderWarnings(s.warnings, live);
      renderFacts(s);
      renderLiveMarkers(s, live);
      renderNext(s, live && ["idle", "uploading", "error"].includes(name));
      renderRecent(s);
    }

    $("updated").textContent = d.state
      ? `Status from ${when(s.ts) || "unknown time"}${s.version ? ` · recorder ${s.version}` : ""}`
      : "";
    document.title = live && name === "recording" ? `● ${clock(elapsed)} · ${d.id}` : `${d.id} · Session Recorder`;
  }

  function renderWarnings(warnings, live) {
    const ul = $("warnings");
    const items = Array.isArray(warnings) ? warnings : [];
    ul.replaceChildren(
      ...items.map((w) => {
        const li = document.createElement("li");
        li.className = "warning";
        li.dataset.kind = String(w.kind || "other");
        const strong = document.createElement("strong");
        strong.textContent = WARNING_LABEL[w.kind] || String(w.kind || "Warning");
        const msg = document.createElement("span");
        msg.textContent = String(w.message || "");
        li.append(strong, msg);
        if (!live) li.classList.add("stale");
        return li;
      }),
    );
    ul.hidden = !items.length;
  }

  function renderMeters(d, live) {
    const now = performance.now();
    const fresh = d.level && now - d.levelAt < LEVEL_FRESH_MS;
    const levels = live ? (fresh ? d.level : d.state && d.state.levels) : null;
    const peaks = (levels && Array.isArray(levels.peak_dbfs) && levels.peak_dbfs) || [];
    const rmss = (levels && Array.isArray(levels.rms_dbfs) && levels.rms_dbfs) || [];
    const recording = d.state && d.state.state === "recording";
    const channels = Math.max(peaks.length, (d.state && d.state.levels && d.state.levels.peak_dbfs?.length) || 0) || (recording ? 2 : 0);
    const box = $("meters");
    while (box.children.length > channels) box.lastChild.remove();
    while (box.children.length < channels) box.append(makeMeter(box.children.length));
    for (let i = 0; i < channels; i++) {
      const m = box.children[i];
      const peak = Number.isFinite(peaks[i]) ? peaks[i] : null;
      const rms = Number.isFinite(rmss[i]) ? rmss[i] : null;
      const track = m.querySelector(".meter-track");
      m.querySelector(".meter-rms").style.width = `${pct(rms)}%`;
      m.querySelector(".meter-peak").style.left = `${pct(peak)}%`;
      m.querySelector(".meter-peak").hidden = peak === null;
      let level = "none";
      if (peak !== null) {
        if (now < (d.clipUntil[i] || 0) || peak >= -0.5) level = "clip";
        else if (peak >= -6) level = "hot";
        else if ((rms ?? peak) < -50) level = "quiet";
        else level = "ok";
      }
      m.dataset.level = level;
      const value = m.querySelector(".meter-value");
      value.textContent = peak === null ? "–" : `${level === "clip" ? "CLIP " : ""}${fmtDb(peak)} dB`;
      track.setAttribute("aria-valuenow", String(peak === null ? METER_FLOOR_DB : Math.max(METER_FLOOR_DB, Math.round(peak))));
      track.setAttribute("aria-valuetext", peak === null ? "no level" : `peak ${fmtDb(peak)} dB${level === "clip" ? ", clipping" : ""}`);
    }
    let note = "";
    if (!live) note = "No live sound levels while the box is unreachable.";
    else if (recording && !fresh) note = d.level ? "Sound levels are late…" : "Waiting for sound levels…";
    else if (!recording && !channels) note = "Levels show while recording.";
    else if (peaks.length && peaks.every((p) => p < -50)) note = "Very quiet: is the microphone on?";
    $("meter-note").textContent = note;
  }

  function makeMeter(i) {
    const m = document.createElement("div");
    m.className = "meter";
    const head = document.createElement("div");
    head.className = "meter-head";
    const label = document.createElement("span");
    label.className = "meter-label";
    label.textContent = `Channel ${i + 1}`;
    const value = document.createElement("span");
    value.className = "meter-value";
    head.append(label, value);
    const track = document.createElement("div");
    track.className = "meter-track";
    track.setAttribute("role", "meter");
    track.setAttribute("aria-label", `Channel ${i + 1} level`);
    track.setAttribute("aria-valuemin", String(METER_FLOOR_DB));
    track.setAttribute("aria-valuemax", "0");
    const rms = document.createElement("span");
    rms.className = "meter-rms";
    const peak = document.createElement("span");
    peak.className = "meter-peak";
    track.append(rms, peak);
    m.append(head, track);
    return m;
  }

  function renderFacts(s) {
    const hours = Number(s.hours_left);
    const hl = $("hours-left");
    hl.textContent = Number.isFinite(hours) ? `${hours < 10 ? hours.toFixed(1) : Math.round(hours)} h` : "–";
    hl.dataset.kind = Number.isFinite(hours) && hours < 1 ? "bad" : Number.isFinite(hours) && hours < 3 ? "warn" : "";
    const mb = Number(s.disk_free_mb);
    $("disk-free").textContent = Number.isFinite(mb) ? (mb >= 1024 ? `${(mb / 1024).toFixed(1)} GB` : `${Math.round(mb)} MB`) : "–";

    const u = s.upload && typeof s.upload === "object" ? s.upload : null;
    const bar = $("upload-progress");
    let summary = "–";
    let detail = "";
    bar.hidden = true;
    if (u) {
      const queue = Number(u.queue) || 0;
      if (!u.enabled) summary = "Off: sessions stay on the box";
      else if (u.current) summary = `Sending${queue > 1 ? ` (${queue} waiting)` : ""}`;
      else if (queue) summary = `${queue} waiting`;
      else summary = "All sent";
      if (u.paused && u.enabled) summary += queue || u.current ? " · paused while recording" : "";
      const p = u.progress && typeof u.progress === "object" ? u.progress : null;
      if (u.current) {
        detail = String(u.current);
        if (p) {
          const percent = Math.max(0, Math.min(100, Number(p.percent) || 0));
          bar.hidden = false;
          bar.firstElementChild.style.width = `${percent}%`;
          bar.setAttribute("aria-valuenow", String(Math.round(percent)));
          detail += ` · ${Math.round(percent)} %`;
          if (Number(p.rate_bps) > 0) detail += ` · ${fmtBytes(p.rate_bps)}/s`;
          if (Number(p.eta_s) > 0) detail += ` · about ${fmtDuration(p.eta_s)} left`;
        }
      }
      if (u.last_error) detail += `${detail ? " · " : ""}Last upload error: ${u.last_error}`;
    }
    $("upload-summary").textContent = summary;
    $("upload-detail").textContent = detail;
    const err = $("box-error");
    err.textContent = s.last_error ? `Last error: ${s.last_error}` : "";
    err.hidden = !s.last_error;
  }

  // ---- recent sessions and the session view ----------------------------------------------------------
  // A row opens its view only when the daemon sent a transcript or credential record for it; an
  // older daemon's rows stay plain. Rows are kept (keyed by id) across state messages, so an open
  // view stays open and a focused row keeps its focus while the box republishes its state.

  function record(v) {
    return v && typeof v === "object" && !Array.isArray(v) ? v : null;
  }

  function finite(v) {
    return typeof v === "number" && Number.isFinite(v) ? v : null;
  }

  function elem(tag, className, value) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (value !== undefined) e.textContent = value;
    return e;
  }

  function isCoach(r) {
    // a daemon with session names, consent and shares sends these; an older one none of them
    return typeof r.name === "string" || !!record(r.details) || !!record(r.consent) || Array.isArray(r.shares) || Array.isArray(r.markers);
  }

  function recentEntry(s, sid) {
    const list = Array.isArray(s.recent) ? s.recent : [];
    return list.find((r) => record(r) && r.id === sid) || null;
  }

  function uploadsOnOf(s) {
    // `enabled` false: no [upload] section, so sessions stay on the box on purpose
    return !(s.upload && s.upload.enabled === false);
  }

  function renderRecent(s) {
    app.sharing = record(s.sharing);
    const list = Array.isArray(s.recent) ? s.recent.filter(record).reverse() : []; // newest first
    const uploadsOn = uploadsOnOf(s);
    const ul = $("recent");
    const existing = new Map([...ul.children].map((li) => [li.dataset.key, li]));
    const used = new Set();
    const items = list.map((r) => {
      const t = record(r.transcript);
      const c = record(r.credential);
      const withView = !!(t || c || isCoach(r));
      const key = `${withView ? "view" : "plain"}|${String(r.id || "")}`;
      let li = used.has(key) ? null : existing.get(key);
      if (!li) li = makeSession(withView);
      used.add(key);
      li.dataset.key = key;
      fillSession(li, r, uploadsOn, t, c);
      return li;
    });
    if (items.length !== ul.children.length || items.some((li, i) => ul.children[i] !== li)) {
      ul.replaceChildren(...items); // only when sessions came, went or moved: keeps focus
    }
    $("recent-hint").hidden = !items.some((li) => li.querySelector(".session-panel"));
    $("recent-hint").textContent = list.some(isCoach)
      ? "Tap a session to name it, label its markers, record consent and share it."
      : "Tap a session for its transcript and credential check.";

    const done = list.filter((r) => r.state !== "recording");
    const notSent = done.filter((r) => !["verified", "uploaded"].includes(r.upload_status));
    let summary = "";
    if (!list.length) summary = "No sessions on this box yet.";
    else if (!uploadsOn) summary = "Uploads are off: sessions stay on the box.";
    else if (!notSent.length && done.length) summary = `✓ All ${done.length} finished sessions are in the cloud.`;
    else if (notSent.length) summary = `${notSent.length} of ${done.length} finished sessions not in the cloud yet.`;
    const el = $("recent-summary");
    el.textContent = summary;
    const bad = notSent.some((r) => r.state === "damaged" || (uploadsOn && r.upload_status === "failed"));
    el.dataset.kind = bad ? "bad" : !uploadsOn ? "neutral" : notSent.length ? "warn" : "ok";
  }

  function makeSession(withView) {
    const li = elem("li", "session");
    const head = elem(withView ? "button" : "div", "session-head");
    li.append(head);
    if (withView) {
      const panel = elem("div", "session-panel");
      app.panelSeq += 1;
      panel.id = `session-panel-${app.panelSeq}`;
      panel.setAttribute("role", "region");
      panel.hidden = true;
      head.type = "button";
      head.setAttribute("aria-expanded", "false");
      head.setAttribute("aria-controls", panel.id);
      head.addEventListener("click", () => toggleSession(li));
      li.append(panel);
    }
    return li;
  }

  function toggleSession(li) {
    const key = `${app.current}|${li.dataset.session}`;
    app.openSession = app.openSession === key ? null : key;
    for (const other of $("recent").children) showSessionOpen(other);
  }

  function showSessionOpen(li) {
    const head = li.querySelector("button.session-head");
    const panel = li.querySelector(".session-panel");
    if (!head || !panel) return;
    const open = app.openSession === `${app.current}|${li.dataset.session}`;
    head.setAttribute("aria-expanded", String(open));
    panel.hidden = !open;
    li.classList.toggle("open", open);
  }

  function nameOf(r) {
    return typeof r.name === "string" && r.name ? r.name : "";
  }

  function fillSession(li, r, uploadsOn, t, c) {
    const id = String(r.id || "");
    const name = nameOf(r);
    li.dataset.session = id;
    li.dataset.upload = String(r.upload_status || "unknown");
    li.dataset.state = String(r.state || "");
    if (t) li.dataset.transcript = String(t.status || "");
    else delete li.dataset.transcript;

    const top = elem("span", "session-top");
    top.append(
      elem("span", "session-when", name || day(r.started_at) || "Unknown time"),
      elem("span", "session-len", fmtDuration(Number(r.seconds) || 0)),
    );
    const bottom = elem("span", "session-bottom");
    const tags = elem("span", "session-tags");
    const [label, kind, icon] = sessionStatus(r, uploadsOn);
    const upload = elem("span", "upload-tag", `${icon} ${label}`);
    upload.dataset.kind = kind;
    const tTag = t && TRANSCRIPT_TAG[t.status];
    if (tTag) {
      const tt = elem("span", "transcript-tag", "Transcript ");
      tt.dataset.kind = tTag[1];
      const icon = elem("span", "", tTag[0]);
      icon.setAttribute("aria-hidden", "true");
      tt.append(icon, elem("span", "visually-hidden", ` ${tTag[2]}`));
      tags.append(tt);
    }
    const shares = Array.isArray(r.shares) ? r.shares.filter((x) => record(x) && !x.removed_at).length : 0;
    if (shares) {
      const st = elem("span", "share-tag", `Shared ${shares}`);
      st.setAttribute("aria-label", `${shares} shared ${shares === 1 ? "copy" : "copies"}`);
      tags.append(st);
    }
    tags.append(upload);
    // a named session shows its date under its name (unless its name is its date and time); the
    // id only in its view
    const d = record(r.details) || {};
    const dated = !(d.client || d.title || finite(d.number) !== null);
    const second = name ? elem("span", "session-date", dated ? "" : day(r.started_at) || "") : elem("span", "session-id", id);
    bottom.append(second, tags);
    const head = li.querySelector(".session-head");
    const parts = [top, bottom];
    if (head.tagName === "BUTTON") parts.push(elem("span", "session-chevron"));
    head.replaceChildren(...parts);

    const panel = li.querySelector(".session-panel");
    if (panel) {
      panel.setAttribute("aria-label", `Session ${name || id}`);
      fillPanel(panel, r, id, t, c, uploadsOn);
      showSessionOpen(li);
    }
  }

  // ---- the session view --------------------------------------------------------------------------
  // Rebuilt only when what the box says of the session changed; what the coach is typing, and
  // the focus, survive a rebuild (a field keeps its text when it differs from what it was built
  // with).

  function fillPanel(panel, r, id, t, c, uploadsOn) {
    const confirm = app.confirm && app.confirm.session === id ? app.confirm : null;
    const sig = JSON.stringify([r, uploadsOn, confirm, app.sharing]);
    if (panel.dataset.sig === sig) return;
    const kept = keepFields(panel);
    // what was typed in a form that a confirmation replaced comes back with the form
    for (const [k, v] of panel.drafts || []) if (!kept.values.has(k)) kept.values.set(k, v);
    panel.dataset.sig = sig;
    const parts = isCoach(r) ? coachView(panel.id, r, id, t, c, uploadsOn, confirm) : plainView(r, id, t, c);
    panel.replaceChildren(...parts);
    panel.drafts = restoreFields(panel, kept);
  }

  function refreshViews() {
    app.renderedKey = "";
    render();
  }

  function fullDate(iso) {
    const d = parseTime(iso);
    if (!d) return iso ? String(iso) : "unknown";
    return d.toLocaleString([], { weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function factList(rows, className = "facts session-facts") {
    const facts = elem("dl", className);
    for (const [k, v, cls] of rows) {
      const row = document.createElement("div");
      if (cls) row.className = cls;
      row.append(elem("dt", "", k), elem("dd", "", v));
      facts.append(row);
    }
    return facts;
  }

  function transcriptLine(t) {
    const p = elem("p", "session-transcript");
    p.dataset.status = String(t.status || "");
    p.append(elem("strong", "", "Transcript: "), elem("span", "", transcriptText(t)));
    return p;
  }

  function plainView(r, id, t, c) {
    const parts = [
      factList([
        ["Session", id || "unknown"],
        ["Started", fullDate(r.started_at)],
        ["Length", fmtLength(Number(r.seconds) || 0)],
      ]),
    ];
    if (t) parts.push(transcriptLine(t));
    if (c) parts.push(credentialSection(c, id));
    return parts;
  }

  function coachView(prefix, r, id, t, c, uploadsOn, confirm) {
    const details = record(r.details) || {};
    const recordingNow = r.state === "recording";
    const head = elem("div", "session-title");
    head.append(elem("h3", "session-name", nameOf(r) || day(r.started_at) || id));
    const ref = elem("p", "session-ref", `Session id ${id}`);
    head.append(ref);
    const rows = [];
    if (details.client) rows.push(["Client", String(details.client)]);
    if (details.title) rows.push(["Title", String(details.title)]);
    if (finite(details.number) !== null) rows.push(["Number", String(details.number)]);
    rows.push(["Started", fullDate(r.started_at)], ["Length", fmtLength(Number(r.seconds) || 0)]);
    rows.push(["Upload", uploadText(r, uploadsOn)]);
    const where = record(r.where) || {};
    if (typeof where.remote === "string" && where.remote) rows.push(["Archive", where.remote, "wide"]);
    const parts = [head, factList(rows)];
    const problems = record(r.consent) && Array.isArray(r.consent.problems) ? r.consent.problems : [];
    for (const p of problems) parts.push(elem("p", "error record-problem", `Damaged record: ${String(p)}`));
    if (t) parts.push(transcriptLine(t));
    const markers = Array.isArray(r.markers) ? r.markers.filter(record) : [];
    parts.push(markersSection(prefix, id, markers));
    parts.push(detailsForm(prefix, id, details));
    if (!recordingNow) {
      parts.push(consentSection(prefix, id, r, confirm));
      parts.push(sharesSection(prefix, id, r));
    }
    if (c) parts.push(credentialSection(c, id));
    if (!recordingNow) parts.push(discardSection(id, r, confirm));
    return parts;
  }

  function uploadText(r, uploadsOn) {
    if (r.state === "recording") return "Recording now";
    if (r.state === "damaged") return "Damaged: see the box";
    if (r.upload_status === "verified") return "In the cloud, checked ✓";
    if (!uploadsOn) return "On the box only (uploads are off)";
    return {
      uploaded: "In the cloud, being checked",
      uploading: "Uploading",
      pending: "Waiting to upload",
      failed: "Upload failed, retrying",
    }[r.upload_status] || String(r.upload_status || "unknown");
  }

  // ---- fields that survive a rebuild ----

  function textField(key, value, attrs = {}) {
    const multiline = attrs.multiline;
    const f = document.createElement(multiline ? "textarea" : "input");
    if (!multiline) f.type = "text";
    f.value = value;
    f.dataset.key = key;
    f.dataset.initial = value;
    f.autocomplete = "off";
    for (const [k, v] of Object.entries(attrs)) if (k !== "multiline") f.setAttribute(k, v);
    return f;
  }

  function selectField(key, choices, value) {
    const f = document.createElement("select");
    for (const [v, text] of choices) {
      const o = elem("option", "", text);
      o.value = v;
      f.append(o);
    }
    f.value = value;
    f.dataset.key = key;
    f.dataset.initial = f.value;
    return f;
  }

  function labelled(id, text, control, hint) {
    const wrap = elem("div", "field");
    const label = elem("label", "", text);
    label.htmlFor = id;
    if (hint) label.append(" ", elem("span", "hint", `(${hint})`));
    control.id = id;
    wrap.append(label, control);
    return wrap;
  }

  function actionButton(text, className, key, onClick) {
    const b = elem("button", className, text);
    b.type = onClick ? "button" : "submit";
    b.dataset.key = key;
    if (onClick) b.addEventListener("click", onClick);
    return b;
  }

  function keepFields(box) {
    const kept = { values: new Map(), focus: null, selection: null };
    for (const f of box.querySelectorAll("[data-initial]")) {
      if (f.value !== f.dataset.initial) kept.values.set(f.dataset.key, f.value);
    }
    const a = document.activeElement;
    if (a && box.contains(a) && a.dataset.key) {
      kept.focus = a.dataset.key;
      try {
        if (typeof a.selectionStart === "number") kept.selection = [a.selectionStart, a.selectionEnd];
      } catch {
        // a select has no selection
      }
    }
    return kept;
  }

  function restoreFields(box, kept) {
    // returns the typed values that found no field
    const left = new Map(kept.values);
    for (const f of box.querySelectorAll("[data-key]")) {
      const key = f.dataset.key;
      if (kept.values.has(key) && "initial" in f.dataset) {
        f.value = kept.values.get(key);
        left.delete(key);
      }
      if (kept.focus === key) {
        f.focus({ preventScroll: true });
        if (kept.selection) {
          try {
            f.setSelectionRange(...kept.selection);
          } catch {
            // not a text field
          }
        }
      }
    }
    return left;
  }

  function focusIn(sid, key) {
    const li = [...$("recent").children].find((x) => x.dataset.session === sid);
    const el = li && li.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (el) el.focus();
  }

  // ---- markers ----

  function markersSection(prefix, sid, markers) {
    const sec = elem("section", "coach-sec markers-sec");
    sec.append(elem("h3", "", markers.length ? `Markers (${markers.length})` : "Markers"));
    if (!markers.length) {
      sec.append(elem("p", "muted small", "No markers in this session."));
      return sec;
    }
    const ol = elem("ol", "markers");
    for (const m of markers) ol.append(markerItem(prefix, sid, m));
    sec.append(ol);
    return sec;
  }

  function markerItem(prefix, sid, m) {
    const n = Number(m.n);
    const at = clock(Number(m.seconds) || 0);
    const label = typeof m.label === "string" ? m.label : "";
    const li = elem("li", "marker");
    li.dataset.n = String(n);
    const top = elem("div", "marker-top");
    top.append(elem("span", "marker-n", `#${n}`), elem("time", "marker-time", at));
    if (m.edited) top.append(elem("span", "marker-edited", "edited"));
    const form = elem("form", "marker-form");
    form.noValidate = true;
    const key = `${sid}|marker-${n}`;
    const input = textField(`marker-${n}`, label, { placeholder: "Label", "aria-label": `Label of marker ${n} at ${at}` });
    input.id = `${prefix}-marker-${n}`;
    form.append(input, actionButton("Save", "btn small secondary", `marker-${n}-save`));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      command({ cmd: "label_marker", session: sid, marker: n, label: input.value.trim() }, key);
    });
    li.append(top, form, feedbackLine(key));
    return li;
  }

  function renderLiveMarkers(s, live) {
    const card = $("live-markers");
    const entry = live && s.state === "recording" && s.session_id ? recentEntry(s, s.session_id) : null;
    const known = entry && Array.isArray(entry.markers) ? entry.markers.filter(record) : null;
    card.hidden = !known;
    if (!known) return;
    const markers = withToldMarkers(s.session_id, known);
    const list = $("live-marker-list");
    const sig = JSON.stringify([s.session_id, markers]);
    if (list.dataset.sig !== sig) {
      const kept = keepFields(list);
      list.dataset.sig = sig;
      list.replaceChildren(...markers.map((m) => markerItem("live", s.session_id, m)));
      restoreFields(list, kept);
    }
    $("live-markers-h").textContent = markers.length ? `Markers (${markers.length})` : "Markers";
    $("live-markers-empty").hidden = markers.length > 0;
  }

  function withToldMarkers(sid, known) {
    // the session's markers, and those told by events that its record does not hold yet, in time
    // order and numbered as the daemon numbers them (1, 2, … by time)
    if (app.liveMarkers.session !== sid) return known;
    const seconds = known.map((m) => Number(m.seconds));
    const missing = app.liveMarkers.list.filter((t) => !seconds.some((x) => Math.abs(x - t.seconds) < 0.05));
    if (!missing.length) return known;
    const all = [...known, ...missing.map((t) => ({ seconds: t.seconds, label: t.label, edited: false }))];
    all.sort((a, b) => Number(a.seconds) - Number(b.seconds));
    return all.map((m, i) => ({ ...m, n: i + 1 }));
  }

  // ---- the next session ----

  function renderNext(s, idle) {
    const card = $("next-card");
    card.hidden = !(idle && Object.prototype.hasOwnProperty.call(s, "next_session"));
    if (card.hidden) return;
    const next = record(s.next_session);
    const shown = next ? [next.client, next.title].filter((x) => typeof x === "string" && x).join(" · ") : "";
    $("next-current").textContent = shown
      ? `The next session started gets: ${shown}`
      : "Nothing set: the next session is named by its date and time.";
    $("next-current").dataset.set = String(!!shown);
    $("next-clear").hidden = !shown;
    for (const [id, k] of [["next-client", "client"], ["next-title", "title"]]) {
      const f = $(id);
      const server = next && typeof next[k] === "string" ? next[k] : "";
      if (f.value === f.dataset.initial && document.activeElement !== f) f.value = server;
      if (f.value === server) f.dataset.initial = server; // what the box has is not an edit
    }
  }

  function onNext(ev) {
    ev.preventDefault();
    command({ cmd: "next", client: $("next-client").value.trim(), title: $("next-title").value.trim() }, "next");
  }

  function onNextClear() {
    $("next-client").value = "";
    $("next-title").value = "";
    command({ cmd: "next", client: "", title: "" }, "next");
  }

  // ---- details ----

  function detailsForm(prefix, sid, details) {
    const form = elem("form", "coach-form details-form");
    form.noValidate = true;
    const key = `${sid}|details`;
    const str = (v) => (typeof v === "string" ? v : "");
    const fields = {
      client: textField("client", str(details.client), { autocapitalize: "words" }),
      title: textField("title", str(details.title)),
      number: textField("number", finite(details.number) !== null ? String(details.number) : "", { inputmode: "numeric" }),
      notes: textField("notes", str(details.notes), { multiline: true, rows: "3" }),
    };
    form.append(
      elem("h3", "", "Details"),
      labelled(`${prefix}-client`, "Client", fields.client, "a first name or a pseudonym"),
      labelled(`${prefix}-title`, "Title", fields.title),
      labelled(`${prefix}-number`, "Session number", fields.number),
      labelled(`${prefix}-notes`, "Notes", fields.notes, "yours: never shared"),
      actionButton("Save details", "btn secondary", "details-save"),
      feedbackLine(key),
    );
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const changes = {};
      for (const [k, f] of Object.entries(fields)) {
        if (f.value === f.dataset.initial) continue;
        if (k === "number") {
          const v = f.value.trim();
          if (v && !/^\d+$/.test(v)) {
            feedback(key, "The session number is a whole number, such as 3", "bad");
            return;
          }
          changes.number = v ? Number(v) : null;
        } else {
          changes[k] = k === "notes" ? f.value : f.value.trim();
        }
      }
      if (!Object.keys(changes).length) {
        feedback(key, "Nothing changed", "info");
        return;
      }
      command({ cmd: "label", session: sid, ...changes }, key);
    });
    return form;
  }

  // ---- consent ----

  function consentSection(prefix, sid, r, confirm) {
    const consent = record(r.consent) || {};
    const sec = elem("section", "coach-sec consent-sec");
    sec.append(elem("h3", "", "Consent"));
    const shareTo = Array.isArray(consent.share_to) ? consent.share_to.filter((x) => typeof x === "string") : null;
    const standing = [
      ["Keep the recording", consent.record === false ? "withdrawn" : "yes"],
      ["Share with a mentor, supervisor or assessor", consent.share ? (shareTo && shareTo.length ? `allowed with ${shareTo.join(", ")}` : "allowed") : "not allowed"],
      ["A copy for the client", consent.copy ? "allowed" : "not allowed"],
    ];
    sec.append(factList(standing, "facts consent-standing"));
    const history = Array.isArray(consent.history) ? consent.history.filter(record) : [];
    const ol = elem("ol", "consent-history");
    ol.setAttribute("aria-label", "Consent history");
    for (const e of history) {
      const li = elem("li", "consent-entry");
      li.dataset.action = String(e.action || "");
      li.dataset.what = String(e.what || "");
      const verb = e.action === "withdraw" ? "Withdrawn" : "Allowed";
      const what = { share: "sharing", copy: "a client copy", record: "keeping the recording" }[e.what] || String(e.what || "");
      const to = typeof e.to === "string" && e.to ? ` with ${e.to}` : "";
      li.append(elem("strong", "", `${verb}: ${what}${to}`));
      const bits = [fullDate(e.at)];
      if (typeof e.ref === "string" && e.ref) bits.push(`“${e.ref}”`);
      if (e.source) bits.push(`from the ${SOURCE_LABEL[e.source] || String(e.source)}`);
      li.append(elem("span", "consent-meta", bits.join(" · ")));
      ol.append(li);
    }
    if (history.length) sec.append(elem("h4", "", "History"), ol);
    else sec.append(elem("p", "muted small", "Nothing recorded yet: the recording is kept, and nothing may be shared."));

    const key = `${sid}|consent`;
    if (confirm && confirm.kind === "withdraw") {
      sec.append(confirmBlock(sid, r, confirm), feedbackLine(key));
      return sec;
    }
    const form = elem("form", "coach-form consent-form");
    form.noValidate = true;
    const action = selectField("consent-action", CONSENT_CHOICES.map(([v, text]) => [v, text]), "allow-share");
    const to = textField("consent-to", "", { autocapitalize: "words" });
    const ref = textField("consent-ref", "", { placeholder: "signed release 2026-12-01" });
    form.append(
      elem("h4", "", "Record consent"),
      labelled(`${prefix}-consent-action`, "What the client said", action, "sharing: with a mentor, supervisor or assessor"),
      labelled(`${prefix}-consent-to`, "With whom", to, "sharing only; blank: anyone you name"),
      labelled(`${prefix}-consent-ref`, "How it was obtained", ref),
      actionButton("Record consent", "btn secondary", "consent-save"),
      feedbackLine(key),
    );
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const reference = ref.value.trim();
      if (!reference) {
        feedback(key, "Say how consent was obtained or withdrawn, such as “signed release 2026-12-01”", "bad");
        return;
      }
      const choice = CONSENT_CHOICES.find(([v]) => v === action.value) || CONSENT_CHOICES[0];
      const fields = choice[2];
      if (fields.withdraw === "record") {
        app.confirm = { session: sid, kind: "withdraw", ref: reference };
        refreshViews();
        focusIn(sid, "confirm-no");
        return;
      }
      const payload = { cmd: "consent", session: sid, ...fields, ref: reference };
      const whom = to.value.trim();
      if (whom && (fields.allow || fields.withdraw) === "share") payload.to = whom;
      command(payload, key);
    });
    sec.append(form);
    return sec;
  }

  // ---- deleting a session: what goes where, said before it goes ----

  function deletion(r, kind) {
    const id = String(r.id || "");
    const w = record(r.where) || {};
    const name = nameOf(r) || id;
    const local = typeof w.local === "string" && w.local ? `${w.local}${id}` : "";
    const remote = typeof w.remote === "string" && w.remote ? w.remote : "";
    const n = Math.max(0, finite(w.active_shares) || 0);
    const lead = kind === "withdraw"
      ? `Withdrawing consent to keep “${name}” deletes it everywhere:`
      : `Discarding “${name}” deletes it everywhere:`;
    const places = [
      local ? `on this box: the folder ${local}` : "on this box",
      remote ? `in the archive: ${remote}` : "nothing in the archive (it was never uploaded)",
      n ? `${n} shared ${n === 1 ? "copy" : "copies"}: their links stop working` : "no shared copies",
    ];
    return { lead, places };
  }

  function confirmBlock(sid, r, confirm) {
    const box = elem("div", "confirm");
    box.setAttribute("role", "group");
    box.dataset.kind = confirm.kind;
    const { lead, places } = deletion(r, confirm.kind);
    const ul = elem("ul", "confirm-places");
    for (const p of places) ul.append(elem("li", "", p));
    box.append(elem("p", "confirm-lead", lead), ul, elem("p", "confirm-tail", "This cannot be undone."));
    box.setAttribute("aria-label", lead);
    const key = confirm.kind === "withdraw" ? `${sid}|consent` : `${sid}|discard`;
    const buttons = elem("div", "form-buttons");
    buttons.append(
      actionButton("Delete everywhere", "btn danger", "confirm-yes", () => {
        app.confirm = null;
        if (confirm.kind === "withdraw") command({ cmd: "consent", session: sid, withdraw: "record", ref: confirm.ref }, key);
        else command({ cmd: "discard", session: sid }, key);
        refreshViews();
      }),
      actionButton("Keep it", "btn secondary", "confirm-no", () => {
        app.confirm = null;
        feedback(key, "Nothing was deleted", "info");
        refreshViews();
      }),
    );
    box.append(buttons);
    return box;
  }

  function discardSection(sid, r, confirm) {
    const sec = elem("section", "coach-sec discard-sec");
    const key = `${sid}|discard`;
    if (confirm && confirm.kind === "discard") {
      sec.append(confirmBlock(sid, r, confirm));
    } else {
      sec.append(
        actionButton("Discard this session…", "btn danger-outline", "discard", () => {
          app.confirm = { session: sid, kind: "discard" };
          refreshViews();
          focusIn(sid, "confirm-no");
        }),
      );
    }
    sec.append(feedbackLine(key));
    return sec;
  }

  // ---- shares ----

  function sharesSection(prefix, sid, r) {
    const sec = elem("section", "coach-sec shares-sec");
    sec.append(elem("h3", "", "Shared copies"));
    const shares = Array.isArray(r.shares) ? r.shares.filter(record) : [];
    if (!shares.length) sec.append(elem("p", "muted small", "Not shared with anyone."));
    else {
      const ul = elem("ul", "shares");
      for (const sh of shares) ul.append(shareItem(sid, sh));
      sec.append(ul);
    }
    if (app.sharing && app.sharing.enabled === false) {
      // no form to fill in for nothing: the box says why it cannot share
      sec.append(elem("p", "muted small sharing-off", String(app.sharing.message || "Sharing is off on this box")));
    } else sec.append(shareForm(prefix, sid));
    return sec;
  }

  function shareItem(sid, sh) {
    const id = String(sh.id || "");
    const li = elem("li", "share");
    li.dataset.share = id;
    li.dataset.active = String(!sh.removed_at);
    const to = typeof sh.to === "string" ? sh.to : "someone";
    const head = elem("p", "share-head");
    head.append(elem("strong", "", `For ${to}`), elem("span", "share-what", ` · ${WHAT_LABEL[sh.what] || String(sh.what || "")}${sh.purpose === "copy" ? " · client copy" : ""}`));
    li.append(head);
    const made = `made ${fullDate(sh.created_at)}`;
    if (sh.removed_at) {
      li.append(elem("p", "share-removed muted small", `Removed ${fullDate(sh.removed_at)}${typeof sh.removed === "string" && sh.removed ? `: ${sh.removed}` : ""} (${made})`));
      return li;
    }
    li.append(elem("p", "share-when small", `${made} · ${sh.expires_at ? `deleted after ${fullDate(sh.expires_at)}` : "no expiry"}`));
    const link = typeof sh.link === "string" && sh.link ? sh.link : "";
    const key = `${sid}|share-${id}`;
    if (link) {
      const a = elem("a", "share-link", link);
      if (/^https?:\/\//i.test(link)) {
        a.href = link;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
      }
      li.append(a);
      if (sh.link_expires_at) li.append(elem("p", "share-link-until small", `The link works until ${fullDate(sh.link_expires_at)}`));
      const buttons = elem("div", "form-buttons");
      buttons.append(
        actionButton("Copy link", "btn small secondary", `copy-${id}`, () => copyLink(link, key)),
        revokeButton(sid, id, key),
      );
      li.append(buttons, qrFigure(link));
    } else {
      const note = typeof sh.link_note === "string" && sh.link_note ? sh.link_note : "This share remote makes no links.";
      li.append(elem("p", "share-note", note));
      if (typeof sh.remote === "string" && sh.remote) li.append(elem("p", "share-remote small", `Folder: ${sh.remote}`));
      const buttons = elem("div", "form-buttons");
      buttons.append(revokeButton(sid, id, key));
      li.append(buttons);
    }
    li.append(feedbackLine(key));
    return li;
  }

  function revokeButton(sid, shareId, key) {
    const b = actionButton("Revoke", "btn small danger-outline", `revoke-${shareId}`, () => {
      const now = performance.now();
      if (Number(b.dataset.armedUntil || 0) > now) {
        b.dataset.armedUntil = "0";
        b.textContent = "Revoke";
        command({ cmd: "revoke", session: sid, share: shareId }, key);
        return;
      }
      b.dataset.armedUntil = String(now + REVOKE_CONFIRM_MS);
      b.textContent = "Tap again to revoke";
      feedback(key, "Tap again within 3 seconds to delete this copy now", "info");
      setTimeout(() => {
        if (Number(b.dataset.armedUntil || 0) && Number(b.dataset.armedUntil) <= performance.now()) {
          b.dataset.armedUntil = "0";
          b.textContent = "Revoke";
        }
      }, REVOKE_CONFIRM_MS + 50);
    });
    return b;
  }

  function shareForm(prefix, sid) {
    const form = elem("form", "coach-form share-form");
    form.noValidate = true;
    const key = `${sid}|share`;
    const to = textField("share-to", "", { autocapitalize: "words", placeholder: "Alex" });
    const what = selectField("share-what", Object.entries(WHAT_LABEL), "mp3");
    const expire = selectField("share-expire", EXPIRE_CHOICES, "");
    form.append(
      elem("h4", "", "Share a copy"),
      labelled(`${prefix}-share-to`, "For", to, "the client's name makes a client copy"),
      labelled(`${prefix}-share-what`, "What", what),
      labelled(`${prefix}-share-expire`, "Deleted after", expire),
      actionButton("Share", "btn secondary", "share-save"),
      feedbackLine(key),
    );
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const whom = to.value.trim();
      if (!whom) {
        feedback(key, "Say whom the copy is for", "bad");
        return;
      }
      const payload = { cmd: "share", session: sid, to: whom, what: what.value };
      if (expire.value) payload.expire = expire.value;
      command(payload, key);
    });
    return form;
  }

  async function copyLink(text, key) {
    let done = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        done = true;
      }
    } catch {
      done = false;
    }
    if (!done) {
      // a box's page over plain http is no secure context: no clipboard API there
      const ta = document.createElement("textarea");
      ta.value = text;
      ta.setAttribute("readonly", "");
      ta.className = "copy-buffer";
      document.body.append(ta);
      ta.select();
      try {
        done = document.execCommand("copy");
      } catch {
        done = false;
      }
      ta.remove();
    }
    feedback(key, done ? "Link copied" : "Could not copy: press and hold the link to copy it", done ? "ok" : "bad");
  }

  function qrFigure(text) {
    const fig = elem("figure", "qr-figure");
    const svg = qrSvg(text);
    if (!svg) {
      fig.append(elem("figcaption", "muted small", "No QR code: the link is too long for one."));
      return fig;
    }
    fig.append(svg, elem("figcaption", "muted small", "Scan with a phone's camera to open the link"));
    return fig;
  }

  function qrSvg(text) {
    // qrcode-generator (npm, inlined by build.mjs) computes the modules; drawn as one SVG path
    let qr;
    try {
      qr = window.qrcode(0, "M");
      qr.addData(text, "Byte");
      qr.make();
    } catch {
      return null;
    }
    const n = qr.getModuleCount();
    const quiet = 4;
    const size = n + 2 * quiet;
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "qr");
    svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
    svg.setAttribute("width", String(size * 3));
    svg.setAttribute("height", String(size * 3));
    svg.setAttribute("shape-rendering", "crispEdges");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "QR code of the link");
    const bg = document.createElementNS(ns, "rect");
    bg.setAttribute("width", String(size));
    bg.setAttribute("height", String(size));
    bg.setAttribute("fill", "#fff");
    let d = "";
    for (let row = 0; row < n; row++) {
      for (let col = 0; col < n; col++) {
        if (qr.isDark(row, col)) d += `M${col + quiet} ${row + quiet}h1v1h-1z`;
      }
    }
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    path.setAttribute("fill", "#000");
    svg.append(bg, path);
    return svg;
  }

  // ---- the transcript and the credential check ----

  function transcriptText(t) {
    const n = (v, one, many) => (finite(v) === null ? "" : `${v} ${v === 1 ? one : many}`);
    switch (t.status) {
      case "done": {
        const counts = [n(t.turns, "turn", "turns"), n(t.words, "word", "words")].filter(Boolean).join(", ");
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

  function credentialSection(c, id) {
    const section = elem("section", "credential");
    section.append(elem("h3", "", "Credential check"));
    const checks = Array.isArray(c.checks) ? c.checks.filter(record) : [];
    const ul = elem("ul", "checks");
    for (const k of checks) {
      const result = CHECK_MARK[k.result] ? k.result : "unknown";
      const li = elem("li", "check");
      li.dataset.result = result;
      li.dataset.name = String(k.name || "");
      const mark = elem("span", "check-mark", CHECK_MARK[result][0]);
      mark.setAttribute("aria-hidden", "true");
      const body = elem("span", "check-body");
      body.append(
        elem("strong", "check-label", checkLabel(k)),
        elem("span", "visually-hidden", ` (${CHECK_MARK[result][1]})`),
        elem("span", "check-message", typeof k.message === "string" ? k.message : ""),
      );
      li.append(mark, body);
      ul.append(li);
    }
    const blocking = checks.filter((k) => k.result !== "pass");
    const ready = c.ready === true && checks.length > 0 && !blocking.length;
    let verdict = "Ready for an ICF submission";
    if (!ready) {
      const why = blocking.map((k) => `${checkLabel(k)} ${k.result === "fail" ? "failed" : "not known"}`);
      // every point passing without `ready` from the box is still not a claim of readiness
      verdict = why.length ? `Not ready: ${why.join(", ")}` : checks.length ? "Not ready" : "Not ready: nothing was checked";
    }
    const v = elem("p", "verdict", `${ready ? "✓" : "✗"} ${verdict}`);
    v.dataset.ready = String(ready);
    section.append(ul, v, elem("p", "small muted caveat", ICF_CAVEAT), elem("p", "small", "To make the files to submit:"));
    const cmds = elem("div", "commands");
    for (const cmd of submissionCommands(id)) cmds.append(elem("code", "", cmd));
    section.append(cmds);
    return section;
  }

  function checkLabel(k) {
    if (typeof k.label === "string" && k.label) return k.label;
    return CHECK_LABEL[k.name] || String(k.name || "Check");
  }

  function submissionCommands(id) {
    return [
      `session-recorder export ${id} --format mp3 --from-start`,
      `session-recorder transcript ${id} --format docx`,
    ];
  }

  function sessionStatus(r, uploadsOn) {
    if (r.state === "recording") return ["Recording", "busy", "●"];
    if (r.state === "damaged") return ["Damaged: see the box", "bad", "!"];
    // uploads off on purpose: staying on the box is no warning
    if (!uploadsOn && r.upload_status !== "verified") return ["On the box", "local", "•"];
    return UPLOAD_LABEL[r.upload_status] || [String(r.upload_status || "unknown"), "wait", "?"];
  }

  function renderButtons(state) {
    const armed = performance.now() < app.stopArmedUntil;
    const canStart = ["idle", "uploading", "error"].includes(state);
    const canMark = state === "recording";
    const canStop = state === "recording" || state === "starting";
    if (!canStop && armed) disarmStop();
    $("btn-start").disabled = !canStart;
    $("btn-mark").disabled = !canMark;
    const stop = $("btn-stop");
    stop.disabled = !canStop;
    stop.classList.toggle("armed", canStop && armed);
    stop.textContent = canStop && armed ? "Tap again to stop" : "Stop";
  }

  function renderFleet() {
    const ids = [...app.devices.keys()].sort();
    $("fleet-empty").hidden = ids.length > 0;
    $("fleet-h").textContent = ids.length ? `Boxes (${ids.length})` : "Boxes";
    const list = $("fleet-list");
    const existing = new Map([...list.children].map((li) => [li.dataset.device, li]));
    const items = ids.map((id) => {
      const li = existing.get(id) || makeCard(id);
      fillCard(li, device(id));
      return li;
    });
    if (items.some((li, i) => list.children[i] !== li) || list.children.length !== items.length) {
      list.replaceChildren(...items); // only when boxes came or the order changed: keeps focus
    }
    document.title = "Boxes · Session Recorder";
  }

  function makeCard(id) {
    const li = document.createElement("li");
    li.dataset.device = id;
    const b = document.createElement("button");
    b.type = "button";
    b.className = "fleet-card";
    b.addEventListener("click", () => openBox(id));
    const head = document.createElement("span");
    head.className = "fc-head";
    const name = document.createElement("span");
    name.className = "fc-name";
    name.textContent = id;
    const badge = document.createElement("span");
    badge.className = "fc-badge";
    head.append(name, badge);
    const line = document.createElement("span");
    line.className = "fc-line";
    const warn = document.createElement("span");
    warn.className = "fc-warn";
    b.append(head, line, warn);
    li.append(b);
    return li;
  }

  function fillCard(li, d) {
    const s = d.state || {};
    const live = app.connected && d.availability !== "offline";
    const name = s.state && STATE_LABEL[s.state] ? s.state : "unknown";
    const shown = live ? name : "offline";
    const b = li.firstElementChild;
    b.dataset.state = shown;
    const badge = b.querySelector(".fc-badge");
    badge.dataset.state = shown;
    badge.textContent = live ? STATE_LABEL[name] : "Offline";
    const bits = [];
    if (name === "recording") bits.push(clock(elapsedOf(d, live)));
    if (Number.isFinite(Number(s.hours_left)) && s.hours_left !== undefined) bits.push(`${Number(s.hours_left).toFixed(1)} h left`);
    if (s.upload) {
      const q = Number(s.upload.queue) || 0;
      bits.push(!s.upload.enabled ? "uploads off" : q ? `${q} to upload` : "all uploaded");
    }
    if (!live && s.ts) bits.push(`last heard ${when(s.ts)}`);
    b.querySelector(".fc-line").textContent = bits.join(" · ") || "No status yet";
    const warnings = Array.isArray(s.warnings) ? s.warnings : [];
    const warn = b.querySelector(".fc-warn");
    warn.textContent = warnings.length ? `⚠ ${warnings.map((w) => WARNING_LABEL[w.kind] || w.kind).join(", ")}` : "";
    warn.hidden = !warnings.length;
  }

  function toast(text, kind = "info") {
    const t = $("toast");
    t.textContent = text;
    t.dataset.kind = kind;
    t.hidden = false;
    clearTimeout(app.toastTimer);
    app.toastTimer = setTimeout(() => {
      t.hidden = true;
    }, 4000);
  }

  // ---- formatting ---------------------------------------------------------------------------------------

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return `${h}:${String(m).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
  }

  function fmtDuration(seconds) {
    const s = Math.round(seconds);
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.round(s / 60)} min`;
    return `${Math.floor(s / 3600)} h ${String(Math.round((s % 3600) / 60)).padStart(2, "0")} min`;
  }

  function fmtLength(seconds) {
    // "31 min 5 s", "1 h 02 min 0 s": the credential check counts in minutes and seconds
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const rest = `${s % 60} s`;
    if (h) return `${h} h ${String(m).padStart(2, "0")} min ${rest}`;
    return m ? `${m} min ${rest}` : rest;
  }

  function fmtDb(db) {
    return db <= -100 ? "−∞" : db.toFixed(1).replace("-", "−");
  }

  function fmtBytes(n) {
    if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
    if (n >= 1e3) return `${Math.round(n / 1e3)} kB`;
    return `${Math.round(n)} B`;
  }

  function pct(db) {
    if (db === null) return 0;
    return Math.max(0, Math.min(100, ((db - METER_FLOOR_DB) / -METER_FLOOR_DB) * 100));
  }

  function parseTime(iso) {
    if (!iso) return null;
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? null : d;
  }

  function when(iso) {
    const d = parseTime(iso);
    if (!d) return "";
    const sameDay = d.toDateString() === new Date().toDateString();
    const t = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    return sameDay ? t : `${d.toLocaleDateString([], { day: "numeric", month: "short" })} ${t}`;
  }

  function day(iso) {
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

  // ---- start ---------------------------------------------------------------------------------------------

  async function main() {
    $("login-form").addEventListener("submit", onLogin);
    $("settings-btn").addEventListener("click", () => showLogin());
    $("back-btn").addEventListener("click", backToFleet);
    $("btn-start").addEventListener("click", () => send("start"));
    $("btn-mark").addEventListener("click", () => send("mark"));
    $("btn-stop").addEventListener("click", onStop);
    $("next-form").addEventListener("submit", onNext);
    $("next-clear").addEventListener("click", onNextClear);
    // links are ASCII, but a QR code of any text should hold its UTF-8 bytes
    if (window.qrcode && window.qrcode.stringToBytesFuncs && window.qrcode.stringToBytesFuncs["UTF-8"]) {
      window.qrcode.stringToBytes = window.qrcode.stringToBytesFuncs["UTF-8"];
    }
    // the clock and the meters' freshness move without messages
    setInterval(() => {
      if (app.client) render();
    }, 250);
    app.settings = await initialSettings();
    const stored = loadStored();
    if (stored.remember && stored.password) connect();
    else showLogin();
  }

  main();
})();
