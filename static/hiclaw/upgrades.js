// Live progress on the Upgrades page (docs/dashboard.md, "Upgrades").
//
// live.js holds the WebSocket (/ws/upgrades/) and hands every message on as a
// "hiclaw:live" event. A snapshot and each "upgrade" message carry whole
// upgrades (the API's body): the row of each one the page shows gets its
// state, progress bar and target states; an upgrade the page does not show
// yet (started since it loaded) brings up a note offering a reload.

import { formatAge } from "./live.js";

function setText(el, text) {
  if (el && el.textContent !== text) el.textContent = text;
}

function setBadge(el, value) {
  if (!el) return;
  el.dataset.value = value;
  setText(el, value);
}

function setTime(el, iso) {
  if (!el) return;
  if (iso) el.setAttribute("datetime", iso);
  else el.removeAttribute("datetime");
  // Shown now; live.js re-renders every time[data-format="age"] each second after.
  setText(el, iso ? formatAge(iso) + (el.dataset.suffix || "") : el.dataset.empty || "—");
}

function updateTarget(body, target) {
  const row = body.querySelector(`tr[data-target="${CSS.escape(target.worker)}"]`);
  if (!row) return false;
  setBadge(row.querySelector('[data-t="state"]'), target.state);
  setText(row.querySelector('[data-t="message"]'), target.message || "");
  setTime(row.querySelector('[data-t="startedAt"]'), target.startedAt);
  setTime(row.querySelector('[data-t="finishedAt"]'), target.finishedAt);
  return true;
}

function updateUpgrade(upgrade) {
  const body = document.querySelector(`tbody[data-upgrade="${upgrade.id}"]`);
  if (!body) {
    const note = document.querySelector("[data-upgrades-new]");
    if (note) note.hidden = false;
    return;
  }
  const { done, total, failed } = upgrade.progress;
  setBadge(body.querySelector('[data-u="state"]'), upgrade.state);
  const message = body.querySelector('[data-u="message"]');
  setText(message, upgrade.message || "");
  if (message) message.hidden = !upgrade.message;
  const bar = body.querySelector('[data-u="bar"]');
  if (bar) {
    bar.max = Math.max(total, 1);
    bar.value = done;
  }
  setText(body.querySelector('[data-u="progress"]'), `${done}/${total} done`);
  const failedEl = body.querySelector('[data-u="failed"]');
  if (failedEl) {
    failedEl.hidden = !failed;
    setText(failedEl.lastChild, ` ${failed} failed`);
  }
  let missing = false;
  for (const target of upgrade.targets) missing = !updateTarget(body, target) || missing;
  if (missing) {
    const note = document.querySelector("[data-upgrades-new]");
    if (note) note.hidden = false;
  }
  body.classList.remove("flash-update");
  void body.offsetWidth; // restart the highlight animation
  body.classList.add("flash-update");
}

document.addEventListener("hiclaw:live", (event) => {
  const message = event.detail;
  if (message.type === "snapshot" && message.upgrades) {
    message.upgrades.forEach((upgrade) => {
      if (document.querySelector(`tbody[data-upgrade="${upgrade.id}"]`)) updateUpgrade(upgrade);
    });
  } else if (message.type === "upgrade") {
    updateUpgrade(message.upgrade);
  } else if (message.type === "upgrade.gone") {
    document.querySelector(`tbody[data-upgrade="${message.id}"]`)?.classList.add("gone");
  }
});
