// Rows that come and go on live lists (docs/dashboard.md, "Live updates").
//
// live.js updates the rows a page has and passes every socket message on as a
// "hiclaw:live" event; this module adds and removes rows. A list body marked
// data-live-rows="worker" (or "debugworker", "manager", "human") with
// data-row-url fetches the HTML of a new row from the server (the same
// partial and the same access check as the page; a 204 when the row is outside
// the page's filter) and drops a row reported gone.
//
// Lists of several pages (data-page / data-pages) are in name order: a new row
// is inserted when its name falls on this page (between its first and last
// names, before the last on the first page, after the first on the last page);
// one that belongs to another page, or any on a list sorted otherwise, only
// shows as "N new — reload". Every [data-live-count] in the list's card
// (its "(N)", "N in all", the bulk forms' hidden count) follows additions and
// removals, and so do the bulk forms' questions (data-count-question).

const KINDS = ["worker", "debugworker", "manager", "human"];
const known = new Map(); // kind -> Map(name -> row) of what the socket reported, after the first snapshot
const fetching = new Set(); // "kind:name" of rows being fetched, so a burst fetches once
const elsewhere = new Map(); // kind -> Set of new names that belong to another page

const rowsOf = (body, kind) => [...body.querySelectorAll(`tr[data-${kind}]`)];
const cardOf = (body) => body.closest("section") || document;

function listBody(kind) {
  return document.querySelector(`tbody[data-live-rows="${kind}"]`);
}

// The card's table is shown when it has rows, its "none" note when it has none.
function showList(body) {
  const empty = !body.querySelector("tr");
  const table = body.closest(".scroll") || body.closest("table");
  if (table) table.hidden = empty;
  const note = cardOf(body).querySelector("[data-live-empty]");
  if (note) note.hidden = !empty;
}

// Set every count of the card to `count(before)`, and the bulk forms' questions with them.
function setCounts(card, count) {
  for (const el of card.querySelectorAll("[data-live-count]")) {
    const now = String(Math.max(0, count(Number(el.dataset.liveCount))));
    el.dataset.liveCount = now;
    if (el instanceof HTMLInputElement) el.value = now;
    else el.textContent = now;
  }
  for (const form of card.querySelectorAll("form[data-count-question]")) {
    const now = Number(form.querySelector("[data-live-count]")?.dataset.liveCount ?? 0);
    const noun = `${form.dataset.countNoun}${now === 1 ? "" : "s"}`;
    form.dataset.confirm = form.dataset.countQuestion.replace("{count}", `${now} ${noun}`);
  }
}

function countBy(body, delta) {
  setCounts(cardOf(body), (before) => before + delta);
}

// Whether a row named `name` is shown on this page of the list (see the top).
export function belongsHere(names, name, { page = 1, pages = 1, sort = "name" } = {}) {
  if (pages <= 1) return true;
  if (sort !== "name" && sort !== "-name") return false;
  if (!names.length) return page === pages;
  const before = sort === "name" ? (a, b) => a < b : (a, b) => a > b;
  return (page === 1 || before(names[0], name)) && (page === pages || before(name, names.at(-1)));
}

function noteElsewhere(body, kind, name, added) {
  const names = elsewhere.get(kind) || new Set();
  elsewhere.set(kind, names);
  if (added) names.add(name);
  else if (!names.delete(name)) return;
  let note = cardOf(body).querySelector("[data-live-more]");
  if (!note) {
    note = document.createElement("p");
    note.className = "note live-more";
    note.dataset.liveMore = "";
    note.setAttribute("role", "status");
    (body.closest(".scroll") || body.closest("table")).after(note);
  }
  note.hidden = names.size === 0;
  note.innerHTML = "";
  const link = document.createElement("a");
  link.href = location.href;
  link.textContent = `${names.size} new on other pages — reload`;
  note.append(link);
}

async function addRow(kind, name) {
  const body = listBody(kind);
  const key = `${kind}:${name}`;
  if (!body || fetching.has(key)) return;
  fetching.add(key);
  try {
    const url = new URL(body.dataset.rowUrl.replace("/NAME/", `/${encodeURIComponent(name)}/`), location.href);
    url.searchParams.set("next", location.pathname + location.search);
    const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (answer.status !== 200 || body.querySelector(`tr[data-${kind}="${CSS.escape(name)}"]`)) return;
    const template = document.createElement("template");
    template.innerHTML = (await answer.text()).trim();
    const row = template.content.querySelector("tr");
    if (!row) return;
    countBy(body, 1);
    const names = rowsOf(body, kind).map((tr) => tr.dataset[kind]);
    const place = { page: Number(body.dataset.page || 1), pages: Number(body.dataset.pages || 1), sort: body.dataset.sort };
    if (!belongsHere(names, name, place)) {
      noteElsewhere(body, kind, name, true);
      return;
    }
    const descending = body.dataset.sort === "-name";
    const after = rowsOf(body, kind).find((tr) => (descending ? tr.dataset[kind] < name : tr.dataset[kind] > name));
    body.insertBefore(row, after || null);
    row.classList.add("flash-update");
    showList(body);
  } catch (error) {
    console.warn("live row not added", error);
  } finally {
    fetching.delete(key);
  }
}

function removeRow(kind, name, reported) {
  const body = listBody(kind);
  let listed = false;
  for (const tr of document.querySelectorAll(`tbody[data-live-rows] tr[data-${kind}="${CSS.escape(name)}"]`)) {
    const list = tr.parentElement;
    listed ||= list === body;
    tr.remove();
    showList(list);
  }
  // A row outside a live list (the leader's table) is marked instead.
  document.querySelectorAll(`tr[data-${kind}="${CSS.escape(name)}"]`).forEach((tr) => tr.classList.add("gone"));
  if (body && (listed || reported)) {
    countBy(body, -1);
    noteElsewhere(body, kind, name, false);
  }
}

// Whether a row the socket reported counts in this list (a team's Workers card leaves out its leader).
function inList(kind, row) {
  const role = listBody(kind)?.dataset.role;
  return !role || !row || !row.role || row.role === role;
}

function rowSeen(kind, row) {
  const rows = known.get(kind);
  const isNew = !rows.has(row.name);
  rows.set(row.name, row);
  const body = listBody(kind);
  const shown = body?.querySelector(`tr[data-${kind}="${CSS.escape(row.name)}"]`);
  if (body && !shown && isNew) addRow(kind, row.name);
}

function rowGone(kind, name) {
  const rows = known.get(kind);
  const row = rows?.get(name);
  rows?.delete(name);
  removeRow(kind, name, row !== undefined && inList(kind, row));
}

// A snapshot (on connect and every reconnect): rows added meanwhile are fetched, rows gone
// meanwhile dropped. The first one sets what is known; rows it has that a one-page list
// lacks were added between the page's rendering and the socket's opening.
function snapshot(kind, rows) {
  const body = listBody(kind);
  const first = !known.has(kind);
  const before = known.get(kind) || new Map();
  known.set(kind, new Map(first ? rows.map((row) => [row.name, row]) : before));
  const names = new Set(rows.map((row) => row.name));
  for (const name of before.keys()) if (!names.has(name)) rowGone(kind, name);
  if (body) rowsOf(body, kind).forEach((tr) => names.has(tr.dataset[kind]) || rowGone(kind, tr.dataset[kind]));
  const onePage = Number(body?.dataset.pages || 1) <= 1;
  for (const row of rows) {
    const shown = body?.querySelector(`tr[data-${kind}="${CSS.escape(row.name)}"]`);
    if (first && body && onePage && !shown) addRow(kind, row.name);
    else if (!first) rowSeen(kind, row);
  }
}

document.addEventListener("hiclaw:live", ({ detail: message }) => {
  for (const kind of KINDS) {
    if (message.type === "snapshot" && Array.isArray(message[`${kind}s`])) snapshot(kind, message[`${kind}s`]);
    else if (message.type === kind && known.has(kind)) rowSeen(kind, message[kind]);
    else if (message.type === `${kind}.gone`) rowGone(kind, message.name);
  }
});

// A bulk action refused because the filters match another count by now: the answer's count
// becomes the one the next confirmation asks about.
document.addEventListener("hiclaw:answered", ({ target, detail: answer }) => {
  if (target instanceof HTMLFormElement && target.dataset.countQuestion && Number.isInteger(answer?.count)) {
    setCounts(target.closest("section") || document, () => answer.count);
  }
});
