// Confirmed actions (docs/dashboard.md, "Actions"): forms with data-confirm="question" ask in a
// dialog, then post in the background (with the CSRF token the form carries)
// and show the answer beside the control. The page itself is updated by the
// live module when the change reaches the database. Without JavaScript the
// same forms post normally and the server asks for confirmation on a page.

const dialog = document.getElementById("confirm-dialog");

function ask(question, label) {
  if (!dialog || typeof dialog.showModal !== "function") return Promise.resolve(window.confirm(question));
  dialog.querySelector("#confirm-question").textContent = question;
  dialog.querySelector("[data-confirm-ok]").textContent = label || "Confirm";
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

function show(form, ok, message, field) {
  form.querySelectorAll("[data-error-for]").forEach((el) => (el.textContent = ""));
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  const inline = field && form.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
  if (!ok && inline) {
    inline.textContent = message;
    form.querySelector(`[name="${CSS.escape(field)}"]`)?.setAttribute("aria-invalid", "true");
    return;
  }
  // The answer goes beside the control that asked, and the previous answer (wherever it was)
  // goes away: one answer on the page, where the hand is.
  document.querySelectorAll("[data-action-result]").forEach((el) => el.remove());
  document.getElementById("flash")?.replaceChildren();
  const note = document.createElement("p");
  note.className = `note action-result ${ok ? "success" : "error"}`;
  note.setAttribute("role", ok ? "status" : "alert");
  note.dataset.actionResult = "";
  note.textContent = message;
  form.after(note);
}

async function submit(form, button) {
  const body = new FormData(form);
  body.set("confirmed", "1");
  button?.setAttribute("aria-busy", "true");
  if (button) button.disabled = true;
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body,
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    const answer = await response.json().catch(() => ({ ok: false, message: `The server answered ${response.status}.` }));
    show(form, response.ok && answer.ok, answer.message, answer.field);
    // Page scripts read the answer too (live_lists.js takes a bulk action's current count from it).
    form.dispatchEvent(new CustomEvent("hiclaw:answered", { bubbles: true, detail: answer }));
  } catch (error) {
    show(form, false, `The request failed: ${error.message}. Check the connection and try again.`);
  } finally {
    button?.removeAttribute("aria-busy");
    if (button) button.disabled = false;
  }
}

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
  event.preventDefault();
  const button = event.submitter || form.querySelector("button[type=submit]");
  if (await ask(form.dataset.confirm, form.dataset.label)) await submit(form, button);
});
