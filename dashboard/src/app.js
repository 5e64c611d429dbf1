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
      setConn("online", "Connected");
      subscribe();
      queueRender();
    });
    client.on("reconnect", () => {
      if (app.client === client) setConn("connecting", "Reconnecting…");
    });
    client.on("close", () => {
      if (app.client !== client) return;
      app.connected = false;
      setConn("connecting", app.everConnected ? "Reconnecting…" : "Connecting…");
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
    switch (e.event) {
      case "command":
        if (e.ok) toast(message || `${COMMAND_LABEL[e.cmd] || e.cmd || "Command"}: done`, "ok");
        else toast(message ? `Refused: ${message}` : "The box refused the command", "bad");
        break;
      case "error":
        toast(message || "The box reported an error", "bad");
        break;
      case "marker": {
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
        toast(`Checked in the cloud: ${typeof e.session_id === "string" ? e.session_id : "a session"}`, "ok");
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
    renderBanner();
    if (app.current) renderBox(device(app.current));
    else renderFleet();
  }

  function setConn(kind, text) {
    const el = $("conn");
    el.dataset.conn = kind;
    el.textContent = text;
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
    if (live && s.session_id) sub = `Session ${s.session_id}`;
    $("session-id").textContent = sub;

    renderMeters(d, live);
    renderButtons(live ? name : "offline");
    const key = `${d.id}|${d.stateAt}|${live}`;
    if (app.renderedKey !== key) {
      // the lists are rebuilt only when a state message (or reachability) changed them
      app.renderedKey = key;
      renderWarnings(s.warnings, live);
      renderFacts(s);
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

  function renderRecent(s) {
    const list = Array.isArray(s.recent) ? s.recent.filter(record).reverse() : []; // newest first
    const uploadsOn = !(s.upload && s.upload.enabled === false);
    const ul = $("recent");
    const existing = new Map([...ul.children].map((li) => [li.dataset.key, li]));
    const used = new Set();
    const items = list.map((r) => {
      const t = record(r.transcript);
      const c = record(r.credential);
      const key = `${t || c ? "view" : "plain"}|${String(r.id || "")}`;
      let li = used.has(key) ? null : existing.get(key);
      if (!li) li = makeSession(!!(t || c));
      used.add(key);
      li.dataset.key = key;
      fillSession(li, r, uploadsOn, t, c);
      return li;
    });
    if (items.length !== ul.children.length || items.some((li, i) => ul.children[i] !== li)) {
      ul.replaceChildren(...items); // only when sessions came, went or moved: keeps focus
    }
    $("recent-hint").hidden = !items.some((li) => li.querySelector(".session-panel"));

    const done = list.filter((r) => r.state !== "recording");
    const notSent = done.filter((r) => !["verified", "uploaded"].includes(r.upload_status));
    let summary = "";
    if (!list.length) summary = "No sessions on this box yet.";
    else if (!uploadsOn) summary = "Uploads are off: sessions stay on the box.";
    else if (!notSent.length && done.length) summary = `✓ All ${done.length} finished sessions are in the cloud.`;
    else if (notSent.length) summary = `${notSent.length} of ${done.length} finished sessions not in the cloud yet.`;
    const el = $("recent-summary");
    el.textContent = summary;
    el.dataset.kind = notSent.some((r) => r.upload_status === "failed" || r.state === "damaged") ? "bad" : notSent.length ? "warn" : "ok";
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

  function fillSession(li, r, uploadsOn, t, c) {
    const id = String(r.id || "");
    li.dataset.session = id;
    li.dataset.upload = String(r.upload_status || "unknown");
    li.dataset.state = String(r.state || "");
    if (t) li.dataset.transcript = String(t.status || "");
    else delete li.dataset.transcript;

    const top = elem("span", "session-top");
    top.append(
      elem("span", "session-when", day(r.started_at) || "Unknown time"),
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
    tags.append(upload);
    bottom.append(elem("span", "session-id", id), tags);
    const head = li.querySelector(".session-head");
    const parts = [top, bottom];
    if (head.tagName === "BUTTON") parts.push(elem("span", "session-chevron"));
    head.replaceChildren(...parts);

    const panel = li.querySelector(".session-panel");
    if (panel) {
      panel.setAttribute("aria-label", `Session ${id}`);
      fillPanel(panel, r, id, t, c);
      showSessionOpen(li);
    }
  }

  function fillPanel(panel, r, id, t, c) {
    const facts = elem("dl", "facts session-facts");
    const started = parseTime(r.started_at);
    const dateText = started
      ? started.toLocaleString([], { weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" })
      : r.started_at ? String(r.started_at) : "unknown";
    for (const [k, v] of [
      ["Session", id || "unknown"],
      ["Started", dateText],
      ["Length", fmtLength(Number(r.seconds) || 0)],
    ]) {
      const row = document.createElement("div");
      row.append(elem("dt", "", k), elem("dd", "", v));
      facts.append(row);
    }
    const parts = [facts];
    if (t) {
      const p = elem("p", "session-transcript");
      p.dataset.status = String(t.status || "");
      p.append(elem("strong", "", "Transcript: "), elem("span", "", transcriptText(t)));
      parts.push(p);
    }
    if (c) parts.push(credentialSection(c, id));
    panel.replaceChildren(...parts);
  }

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
    if (!uploadsOn && r.upload_status !== "verified") return ["On the box", "wait", "•"];
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
