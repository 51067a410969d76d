// Live status for dashboard pages (docs/dashboard.md, "Live updates").
//
// A page that carries <body data-live="/ws/..."> opens a WebSocket to the
// controller's LiveStatusConsumer. The first message is a full snapshot (on
// every reconnect too); later ones are single rows. Rows are found by
// data-worker="<name>" / data-team="<name>" and their cells by
// data-field="<key>", so the page updates without a reload. Ages (heartbeat,
// idle) are rendered here from ISO timestamps and re-ticked every second, and a
// heartbeat age's colour follows its health as it ticks (heartbeatHealth).
//
// Rows that come and go are live_lists.js's: it hears every message as a
// "hiclaw:live" event (so do page scripts such as upgrades.js). A card with
// data-events-url refetches its events after each change. While the socket is down a banner says so and body.live-paused greys
// the values, which would otherwise look current.

const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 30000;
// Close codes the consumer uses when the policy refuses (at connect, or later when
// the login's access is withdrawn): retrying would not help, so the page says why
// and stops. The consumer accepts before closing, so these codes reach the browser.
const REFUSED = new Map([
  [4401, "not live: signed out"],
  [4403, "not live: no access"],
]);

const HEALTH_LABELS = { ok: "healthy", warn: "settling", bad: "unhealthy" };
// The rule of controller/services/heartbeat_health.py, in heartbeat intervals.
const HEARTBEAT_LATE_AFTER = 1.5;
const HEARTBEAT_MISSED_AFTER = 3;
const HEARTBEAT_STATES = ["ok", "late", "missed"];
const HEARTBEAT_LABELS = { ok: "", late: "late", missed: "missed" };

let clockOffsetMs = 0; // server time minus browser time, from the snapshot

export function formatAge(iso, now = Date.now() + clockOffsetMs) {
  const seconds = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60]]) {
    if (seconds >= size) return `${Math.floor(seconds / size)} ${unit}`;
  }
  return `${seconds} s`;
}

// The health of a heartbeat age at `now`: the server's word when the page got it (a worker
// marked unhealthy stays missed until it reports), or worse once the silence since
// `sinceIso` passes 1.5 or 3 intervals. Without `sinceIso` the agent is not expected to report.
export function heartbeatHealth(serverHealth, sinceIso, intervalSeconds, now = Date.now() + clockOffsetMs) {
  let rank = Math.max(0, HEARTBEAT_STATES.indexOf(serverHealth));
  if (sinceIso && intervalSeconds > 0) {
    const silent = (now - Date.parse(sinceIso)) / 1000;
    const aged = silent > HEARTBEAT_MISSED_AFTER * intervalSeconds ? 2 : silent > HEARTBEAT_LATE_AFTER * intervalSeconds ? 1 : 0;
    rank = Math.max(rank, aged);
  }
  return HEARTBEAT_STATES[rank];
}

function renderHeartbeat(el) {
  const health = heartbeatHealth(el.dataset.value, el.dataset.since, Number(el.dataset.interval));
  for (const state of HEARTBEAT_STATES) el.classList.toggle(`hb-${state}`, state === health);
  const label = el.querySelector(".hb-label");
  if (label && label.textContent !== HEARTBEAT_LABELS[health]) label.textContent = HEARTBEAT_LABELS[health];
}

function renderAge(el) {
  const iso = el.getAttribute("datetime");
  el.textContent = iso ? formatAge(iso) + (el.dataset.suffix || "") : el.dataset.empty || "—";
}

function setField(el, value) {
  const format = el.dataset.format;
  if (format === "age") {
    if (value) el.setAttribute("datetime", value);
    else el.removeAttribute("datetime");
    renderAge(el);
    return;
  }
  if (format === "heartbeat") {
    el.dataset.value = value?.health || "ok";
    if (value?.since) el.dataset.since = value.since;
    else delete el.dataset.since;
    if (value?.interval) el.dataset.interval = String(value.interval);
    renderHeartbeat(el);
    return;
  }
  const text = value === null || value === undefined || value === "" ? "" : String(value);
  if (format === "health") {
    el.dataset.value = text;
    el.setAttribute("aria-label", `health: ${HEALTH_LABELS[text] || text}`);
    return;
  }
  if (el.dataset.field === "message") el.hidden = !text;
  if ("value" in el.dataset) el.dataset.value = text;
  if (el.textContent !== text) el.textContent = text;
}

function updateRows(selector, row) {
  for (const container of document.querySelectorAll(selector)) {
    let changed = false;
    for (const el of container.querySelectorAll("[data-field]")) {
      const key = el.dataset.field;
      if (!(key in row)) continue;
      const before = el.getAttribute("datetime") ?? el.dataset.value ?? el.textContent;
      setField(el, row[key]);
      const after = el.getAttribute("datetime") ?? el.dataset.value ?? el.textContent;
      changed ||= before !== after;
    }
    if (row.state && container.dataset.state !== undefined) container.dataset.state = row.state;
    container.classList.remove("gone");
    if (changed && container.tagName === "TR") {
      container.classList.remove("flash-update");
      void container.offsetWidth; // restart the highlight animation
      container.classList.add("flash-update");
    }
  }
}

function upsert(kind, row) {
  updateRows(`[data-${kind}="${CSS.escape(row.name)}"]`, row);
}

// Parts of a page fetched again after a change to a row of the page, at most every 0.3 s:
// a card with data-events-url (a worker's Recent events, a team's timeline) replaces its list
// ([data-live-events]); a heartbeat chart card (data-chart-url) replaces itself, keeping its
// "Last reports" table open if it was.
const FRAGMENTS = [
  ["[data-events-url]", (card) => card.dataset.eventsUrl, (card) => card.querySelector("[data-live-events]")],
  ["[data-chart-url]", (card) => card.dataset.chartUrl, (card) => card],
];
let refreshTimer = null;

async function refreshFragment(url, target) {
  try {
    const answer = await fetch(url, { credentials: "same-origin" });
    if (answer.status !== 200 || !target?.isConnected) return;
    const wasOpen = target.querySelector("details")?.open;
    const template = document.createElement("template");
    template.innerHTML = (await answer.text()).trim();
    const fresh = template.content.firstElementChild;
    if (!fresh) return;
    if (wasOpen) fresh.querySelector("details")?.setAttribute("open", "");
    target.replaceWith(fresh);
  } catch (error) {
    console.warn("live fragment not refreshed", url, error);
  }
}

function refreshFragments() {
  if (refreshTimer || !FRAGMENTS.some(([selector]) => document.querySelector(selector))) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    for (const [selector, urlOf, targetOf] of FRAGMENTS) {
      document.querySelectorAll(selector).forEach((card) => refreshFragment(urlOf(card), targetOf(card)));
    }
  }, 300);
}

const KINDS = ["worker", "debugworker", "manager", "human"];

function applyMessage(message) {
  if (message.type === "snapshot") {
    if (message.now) clockOffsetMs = Date.parse(message.now) - Date.now();
    message.teams?.forEach((team) => updateRows(`[data-team="${CSS.escape(team.name)}"]`, team));
    for (const kind of KINDS) (message[`${kind}s`] || []).forEach((row) => upsert(kind, row));
    refreshFragments();
  } else if (message.type === "team") {
    updateRows(`[data-team="${CSS.escape(message.team.name)}"]`, message.team);
    refreshFragments();
  } else if (KINDS.includes(message.type)) {
    upsert(message.type, message[message.type]);
    refreshFragments();
  }
  // Rows that come and go (*.gone, rows a list lacks) are live_lists.js's, from the same message.
}

// The lost-connection banner: shown while reconnecting, removed once live again.
function setPaused(paused) {
  document.body.classList.toggle("live-paused", paused);
  let banner = document.querySelector("[data-live-banner]");
  if (paused && !banner) {
    banner = document.createElement("p");
    banner.className = "live-banner";
    banner.dataset.liveBanner = "";
    banner.setAttribute("role", "status");
    banner.textContent = "Live updates paused — reconnecting…";
    document.querySelector("main")?.prepend(banner);
  } else if (!paused && banner) {
    banner.remove();
  }
}

function setStatus(state, text) {
  const el = document.querySelector("[data-live-status]");
  if (!el) return;
  el.dataset.state = state;
  el.textContent = text;
}

function connect(path, attempt = 0) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}${path}`);
  let opened = false;
  socket.addEventListener("open", () => {
    opened = true;
    setStatus("live", "live");
    setPaused(false);
  });
  socket.addEventListener("message", (event) => {
    try {
      const message = JSON.parse(event.data);
      applyMessage(message);
      // Page scripts with rows of their own (upgrades.js) read the same messages.
      document.dispatchEvent(new CustomEvent("hiclaw:live", { detail: message }));
    } catch (error) {
      console.warn("live update not applied", error);
    }
  });
  socket.addEventListener("close", (event) => {
    if (REFUSED.has(event.code)) {
      setStatus("refused", REFUSED.get(event.code));
      document.body.classList.add("live-refused");
      return;
    }
    // Capped exponential backoff with jitter; a connection that had opened starts over.
    const next = opened ? 0 : attempt + 1;
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** next) * (0.75 + Math.random() * 0.5);
    setStatus("reconnecting", "reconnecting…");
    setPaused(true);
    setTimeout(() => connect(path, next), opened ? RECONNECT_MIN_MS : delay);
  });
}

function tick() {
  document.querySelectorAll('time[data-format="age"]').forEach(renderAge);
  document.querySelectorAll('[data-format="heartbeat"]').forEach(renderHeartbeat);
}

const livePath = document.body.dataset.live;
if (livePath) connect(livePath);
tick();
setInterval(tick, 1000);
