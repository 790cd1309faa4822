/* Cratedigger dashboard: an element with data-events follows that task's Server-Sent Events (one `status` event
   per change) and updates its [data-field] parts: on a task's page, and for the running rows of the task list.
   The pages work without this script; they just do not move by themselves. */
"use strict";

const FINAL_STATES = ["success", "failure", "cancelled"];

function utc(iso) {
  return iso ? `${new Date(iso).toISOString().replace("T", " ").slice(0, 19)} UTC` : "—";
}

function show(container, status) {
  const part = (name) => container.querySelector(`[data-field="${name}"]`);
  const set = (name, text) => { const el = part(name); if (el) el.textContent = text; };
  const progress = status.progress || { done: 0, total: null, message: "" };
  const bar = part("progress");
  bar.max = progress.total || Math.max(progress.done, 1);
  bar.value = progress.done;
  bar.textContent = `${progress.done} of ${progress.total ?? "?"}`;
  bar.dataset.updates = String(Number(bar.dataset.updates) + 1);
  set("state", status.state);
  part("state").className = `state state-${status.state}`;
  const counted = `${progress.done}${progress.total ? ` of ${progress.total}` : ""}`;
  set("message", container.tagName === "TR" ? progress.message : counted + (progress.message ? ` · ${progress.message}` : ""));
  set("attempt", String(status.attempt));
  set("started", utc(status.started_at));
  set("finished", utc(status.finished_at));
  if (status.error) {
    set("error", `${status.error.type}: ${status.error.message}`);
    part("error").hidden = false;
  }
}

function follow(container) {
  const events = new EventSource(container.dataset.events);
  events.addEventListener("status", (event) => {
    const status = JSON.parse(event.data);
    show(container, status);
    if (FINAL_STATES.includes(status.state)) {
      events.close();
      container.dataset.finished = "true";
      const cancel = container.querySelector('[data-field="cancel"]');
      if (cancel) cancel.remove();
      const result = document.querySelector("[data-result]");
      if (result && container.id === "task" && status.result !== null && status.result !== undefined) {
        result.textContent = JSON.stringify(status.result, null, 2);
      }
    }
  });
  events.onerror = () => { if (container.dataset.finished === "true") events.close(); };
}

document.addEventListener("DOMContentLoaded", () => {
  if (!window.EventSource) return;
  document.querySelectorAll("[data-events]").forEach((container) => {
    if (container.dataset.finished !== "true") follow(container);
  });
});
