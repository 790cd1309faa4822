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

function finish(container, status) {
  container.dataset.finished = "true";
  const cancel = container.querySelector('[data-field="cancel"]');
  if (cancel) cancel.remove();
  const result = document.querySelector("[data-result]");
  if (result && container.id === "task" && status.result !== null && status.result !== undefined) {
    result.textContent = JSON.stringify(status.result, null, 2);
  }
}

/* One stream per element with data-events (a task's page), and one for a whole list (data-list-events: the
   task list's running rows, found by data-task-id): a browser keeps only about six connections per site. */
function follow(url, containerOf, allFinished) {
  const events = new EventSource(url);
  events.addEventListener("status", (event) => {
    const status = JSON.parse(event.data);
    const container = containerOf(status.task_id);
    if (!container || container.dataset.finished === "true") return;
    show(container, status);
    if (FINAL_STATES.includes(status.state)) finish(container, status);
  });
  // The server ends the stream once every task it follows is final; otherwise EventSource reconnects and is sent
  // the current statuses again.
  events.onerror = () => { if (allFinished()) events.close(); };
}

document.addEventListener("DOMContentLoaded", () => {
  if (!window.EventSource) return;
  document.querySelectorAll("[data-events]").forEach((container) => {
    if (container.dataset.finished !== "true") {
      follow(container.dataset.events, () => container, () => container.dataset.finished === "true");
    }
  });
  document.querySelectorAll("[data-list-events]").forEach((list) => {
    const rowOf = (taskId) => list.querySelector(`[data-task-id="${taskId}"]`);
    const followed = new URL(list.dataset.listEvents, location.href).searchParams.getAll("id");
    follow(list.dataset.listEvents, rowOf, () => followed.every((id) => !rowOf(id) || rowOf(id).dataset.finished === "true"));
  });
});
