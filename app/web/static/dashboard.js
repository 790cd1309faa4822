/* Cratedigger dashboard: a task page follows its task's Server-Sent Events (one `status` event per change);
   the page works without this script, it just does not move by itself. */
"use strict";

function utc(iso) {
  return iso ? `${new Date(iso).toISOString().replace("T", " ").slice(0, 19)} UTC` : "—";
}

function followTask(section) {
  const bar = document.getElementById("task-progress");
  const state = document.getElementById("task-state");
  const message = document.getElementById("task-message");
  const error = document.getElementById("task-error");
  const events = new EventSource(section.dataset.events);
  events.addEventListener("status", (event) => {
    const status = JSON.parse(event.data);
    const progress = status.progress || { done: 0, total: null, message: "" };
    bar.max = progress.total || Math.max(progress.done, 1);
    bar.value = progress.done;
    bar.textContent = `${progress.done} of ${progress.total ?? "?"}`;
    bar.dataset.updates = String(Number(bar.dataset.updates) + 1);
    state.textContent = status.state;
    state.className = `state state-${status.state}`;
    message.textContent = `${progress.done}${progress.total ? ` of ${progress.total}` : ""}` +
      (progress.message ? ` · ${progress.message}` : "");
    document.getElementById("task-attempt").textContent = String(status.attempt);
    document.getElementById("task-started").textContent = utc(status.started_at);
    document.getElementById("task-finished").textContent = utc(status.finished_at);
    if (status.error) {
      error.textContent = `${status.error.type}: ${status.error.message}`;
      error.hidden = false;
    }
    if (["success", "failure", "cancelled"].includes(status.state)) {
      events.close();
      const cancel = document.getElementById("cancel-form");
      if (cancel) cancel.remove();
      if (status.result !== null && status.result !== undefined) {
        document.getElementById("task-result").textContent = JSON.stringify(status.result, null, 2);
      }
      section.dataset.finished = "true";
    }
  });
  events.onerror = () => { if (section.dataset.finished === "true") events.close(); };
}

document.addEventListener("DOMContentLoaded", () => {
  const section = document.getElementById("task");
  if (section && section.dataset.finished !== "true" && window.EventSource) followTask(section);
});
