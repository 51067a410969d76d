// The workspace browser (docs/dashboard.md, "Workspace browser").
//
// The page carries its tree and, when asked for one, a file's view, rendered by
// the server; links and forms work without this script. With it, the page opens
// /ws/debug/<name>/ (debugui/workspace_consumer.py): a snapshot of every source's
// files first, then one event per created, modified or deleted file, which
// updates the tree and re-opens the file on view when it is the one that changed.
// Files open over the socket ({"type": "open", area, target, path}); the answer is
// the viewer fragment as the server rendered it (escaped text, safe Markdown).
// Export and report forms post in the background and follow their job by
// fetching its small fragment until it is finished.

const root = document.querySelector("[data-browser]");
const REFUSED = new Map([
  [4401, "not live: signed out"],
  [4403, "not live: no access"],
  [4404, "not live: no access"],
]);
const JOB_POLL_MS = 1000;
let socket = null;
let opened = null; // {area, target, path} of the file on view

function setStatus(state, text) {
  const el = document.querySelector("[data-browser-status]");
  if (!el) return;
  el.dataset.state = state;
  el.textContent = text;
}

function sizeText(bytes) {
  for (const [unit, size] of [["GB", 2 ** 30], ["MB", 2 ** 20], ["KB", 2 ** 10]]) {
    if (bytes >= size) return `${(bytes / size).toFixed(1)} ${unit}`;
  }
  return `${bytes} bytes`;
}

function sourceOf(area, target) {
  return root.querySelector(
    `[data-source-area="${CSS.escape(area)}"][data-source-target="${CSS.escape(target)}"]`,
  );
}

// A workspace mounted after the page was made (the DebugWorker's targets changed):
// its section is added before the DebugWorker's own exports and reports.
function addSource(area, target) {
  const details = document.createElement("details");
  details.open = true;
  details.dataset.sourceArea = area;
  details.dataset.sourceTarget = target;
  const summary = document.createElement("summary");
  const kind = document.createElement("span");
  kind.className = "source-kind";
  kind.textContent = area;
  const count = document.createElement("span");
  count.className = "muted small";
  count.dataset.count = "";
  summary.append(kind, ` ${target} `, count);
  const list = document.createElement("ul");
  list.className = "files";
  list.dataset.files = "";
  const empty = document.createElement("p");
  empty.className = "muted small";
  empty.dataset.empty = "";
  empty.textContent = "No files.";
  details.append(summary, list, empty);
  const tree = root.querySelector(".tree");
  tree.insertBefore(details, tree.querySelector('[data-source-area="output"]'));
  return details;
}

function fileLink(area, target, path) {
  const query = new URLSearchParams({ area, target, path });
  const a = document.createElement("a");
  a.href = `?${query}`;
  a.textContent = path;
  return a;
}

function upsert(area, target, file, flash = true) {
  const source = sourceOf(area, target) || addSource(area, target);
  const list = source.querySelector("[data-files]");
  let item = [...list.children].find((li) => li.dataset.path === file.path);
  if (!item) {
    item = document.createElement("li");
    item.dataset.path = file.path;
    const size = document.createElement("span");
    size.className = "muted small";
    size.dataset.size = "";
    item.append(fileLink(area, target, file.path), " ", size);
    const after = [...list.children].find((li) => li.dataset.path > file.path);
    list.insertBefore(item, after || null);
  }
  item.querySelector("[data-size]").textContent = sizeText(file.size);
  if (flash) {
    item.classList.remove("flash-update");
    void item.offsetWidth; // restart the highlight
    item.classList.add("flash-update");
  }
  counted(source);
}

function remove(area, target, path) {
  const source = sourceOf(area, target);
  if (!source) return;
  source.querySelectorAll("[data-files] > li").forEach((li) => li.dataset.path === path && li.remove());
  counted(source);
}

function counted(source) {
  const count = source.querySelectorAll("[data-files] > li").length;
  source.querySelector("[data-count]").textContent = String(count);
  source.querySelector("[data-empty]").hidden = count > 0;
}

function isOpen(message) {
  return opened && opened.area === message.area && opened.target === message.target && opened.path === message.path;
}

function open(area, target, path) {
  opened = { area, target, path };
  const query = new URLSearchParams({ area, target, path });
  history.replaceState(null, "", `?${query}`);
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ type: "open", area, target, path }));
    return;
  }
  fetch(`${root.dataset.fragment}?${query}`, { credentials: "same-origin" })
    .then((response) => response.text())
    .then(showFile);
}

function showFile(html) {
  root.querySelector("[data-viewer]").innerHTML = html; // rendered and escaped by the server
}

function apply(message) {
  switch (message.type) {
    case "snapshot":
      for (const source of message.sources) {
        const el = sourceOf(source.area, source.target) || addSource(source.area, source.target);
        const paths = new Set(source.files.map((file) => file.path));
        el.querySelectorAll("[data-files] > li").forEach((li) => paths.has(li.dataset.path) || li.remove());
        source.files.forEach((file) => upsert(source.area, source.target, file, false));
      }
      if (opened) open(opened.area, opened.target, opened.path);
      break;
    case "created":
    case "modified":
      upsert(message.area, message.target, message);
      if (isOpen(message)) open(message.area, message.target, message.path);
      break;
    case "deleted":
      remove(message.area, message.target, message.path);
      if (isOpen(message)) {
        const note = document.createElement("p");
        note.className = "note warn";
        note.setAttribute("role", "alert");
        note.textContent = `${message.path} was deleted.`;
        root.querySelector("[data-viewer]").replaceChildren(note);
      }
      break;
    case "file":
      if (isOpen(message)) showFile(message.html);
      break;
  }
}

function connect(attempt = 0) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}${root.dataset.browser}`);
  let wasOpen = false;
  socket.addEventListener("open", () => {
    wasOpen = true;
    setStatus("live", "live");
  });
  socket.addEventListener("message", (event) => {
    try {
      apply(JSON.parse(event.data));
    } catch (error) {
      console.warn("workspace update not applied", error);
    }
  });
  socket.addEventListener("close", (event) => {
    if (REFUSED.has(event.code)) {
      setStatus("refused", REFUSED.get(event.code));
      document.body.classList.add("live-refused");
      socket = null;
      return;
    }
    const next = wasOpen ? 0 : attempt + 1;
    setStatus("reconnecting", "reconnecting…");
    setTimeout(() => connect(next), Math.min(30000, 1000 * 2 ** next));
  });
}

// --- jobs ------------------------------------------------------------------------------
async function follow(holder) {
  while (holder.isConnected) {
    const response = await fetch(holder.dataset.jobUrl, { credentials: "same-origin" });
    if (!response.ok) return;
    holder.innerHTML = await response.text();
    if (holder.querySelector("[data-finished]")) return;
    await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
  }
}

function showAnswer(form, ok, message, field) {
  form.querySelectorAll("[data-error-for]").forEach((el) => (el.textContent = ""));
  const inline = field && form.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
  document.querySelectorAll("[data-action-result]").forEach((el) => el.remove());
  if (!ok && inline) {
    inline.textContent = message;
    return;
  }
  // Beside the form that asked, as actions.js answers the other forms.
  const note = document.createElement("p");
  note.className = `note action-result ${ok ? "success" : "error"}`;
  note.setAttribute("role", ok ? "status" : "alert");
  note.dataset.actionResult = "";
  note.textContent = message;
  form.after(note);
}

async function startJob(form, button) {
  const body = new FormData(form, button);
  button.disabled = true;
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body,
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    const answer = await response.json().catch(() => ({ ok: false, message: `The server answered ${response.status}.` }));
    showAnswer(form, response.ok && answer.ok, answer.message, answer.field);
    if (response.ok && answer.ok) {
      const holder = document.createElement("div");
      holder.dataset.jobUrl = answer.url;
      document.querySelector("[data-jobs]").prepend(holder);
      follow(holder);
    }
  } finally {
    button.disabled = false;
  }
}

if (root) {
  root.addEventListener("click", (event) => {
    const link = event.target.closest("[data-files] a");
    if (!link) return;
    event.preventDefault();
    const query = new URL(link.href).searchParams;
    open(query.get("area"), query.get("target"), query.get("path"));
  });
  const query = new URLSearchParams(location.search);
  if (query.get("path")) opened = { area: query.get("area") || "workspace", target: query.get("target") || "", path: query.get("path") };
  document.querySelector("[data-job-form]")?.addEventListener("submit", (event) => {
    event.preventDefault();
    startJob(event.target, event.submitter);
  });
  document.querySelectorAll("[data-job-url][data-running]").forEach(follow);
  connect();
}
