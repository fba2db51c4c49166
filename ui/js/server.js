// The Server view (admins): scans with Cancel, the broadcast with its confirmation, the live log.

import { $, h, show, showError, replaceChildrenKeepingFocus } from "./dom.js";
import { ago } from "./format.js";
import { run } from "./actions.js";

/** Most log lines kept on screen (the core's ring bounds what arrives). */
const MAX_LOG_LINES = 300;
/** Level names by number (LogLevel in protocol/log.rs). */
const LEVEL_NAMES = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "NOTE"];

/** Whether the rendered log is frozen. */
let logPaused = false;
/** The newest View, for rendering the log again when it is unfrozen. */
let lastView = null;

/** Wires the controls. */
export function setupServer() {
  $("scans-list").addEventListener("click", async (event) => {
    const button = event.target.closest("button.cancel-scan");
    if (!button) return;
    const libraryId = button.closest("li.scan")?.dataset.libraryId;
    if (!libraryId) return;
    await run(button, $("scans-error"), "cancel_scan", { libraryId });
  });

  const text = $("broadcast-text");
  const send = $("broadcast-send");
  const dialog = $("broadcast-confirm");
  const syncSend = () => {
    send.disabled = text.value.trim() === "";
  };
  text.addEventListener("input", () => {
    syncSend();
    $("broadcast-status").textContent = "";
  });
  syncSend();

  send.addEventListener("click", () => {
    const message = text.value.trim();
    if (!message) return;
    showError($("broadcast-error"), "");
    $("broadcast-preview").textContent = message;
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
    $("broadcast-confirm-no").focus();
  });
  const closeDialog = () => {
    if (typeof dialog.close === "function") dialog.close();
    else dialog.removeAttribute("open");
  };
  $("broadcast-confirm-no").addEventListener("click", () => {
    closeDialog();
    send.focus();
  });
  $("broadcast-confirm-yes").addEventListener("click", async () => {
    const message = $("broadcast-preview").textContent;
    closeDialog();
    const result = await run(send, $("broadcast-error"), "broadcast", { message });
    if (result.ok) {
      text.value = "";
      $("broadcast-status").textContent = "Sent.";
    }
    syncSend();
    send.focus();
  });

  const level = $("log-level");
  level.dataset.applied = level.value;
  level.addEventListener("change", async () => {
    const value = level.value;
    const result = await run(level, $("log-error"), "set_log_level", {
      level: value === "off" ? null : Number(value),
    });
    if (result.ok) level.dataset.applied = value;
    else level.value = level.dataset.applied;
  });

  $("log-pause").addEventListener("click", () => {
    logPaused = !logPaused;
    const button = $("log-pause");
    button.setAttribute("aria-pressed", String(logPaused));
    button.textContent = logPaused ? "Resume" : "Pause";
    $("log-list").classList.toggle("frozen", logPaused);
    if (!logPaused && lastView) renderLog(lastView);
  });
}

/** Puts the log level back to Off (after sign-out the server forgets the listener). */
export function resetServer() {
  $("log-level").value = "off";
  $("log-level").dataset.applied = "off";
  $("broadcast-status").textContent = "";
}

/** Renders scans and the log from a View. */
export function renderServer(view, now = Date.now()) {
  lastView = view;
  const scans = Array.isArray(view.snapshot?.scans) ? view.snapshot.scans : [];
  const rows = scans.map((scan) => {
    const libraryId = scan.library_id ?? "";
    const name = scan.library_name || scan.library_id || "A library";
    return h(
      "li",
      { class: "scan", dataset: { key: String(scan.task_id), libraryId, taskId: String(scan.task_id) } },
      h("span", { class: "spinner", attrs: { "aria-hidden": "true" } }),
      h(
        "div",
        { class: "row-body" },
        h("div", { class: "library", text: name }),
        h("div", {
          class: "muted small",
          text: Number.isFinite(scan.started_at_ms) ? `Scanning since ${ago(scan.started_at_ms, now)}` : "Scanning",
        }),
      ),
      h("button", {
        type: "button",
        class: "cancel-scan",
        text: "Cancel",
        disabled: !libraryId,
        attrs: { "aria-label": `Cancel the scan of ${name}` },
      }),
    );
  });
  replaceChildrenKeepingFocus($("scans-list"), rows);
  show($("scans-empty"), scans.length === 0);
  renderLog(view);
}

/** Renders the log lines, newest first, unless the log is paused. */
function renderLog(view) {
  if (logPaused) return;
  const lines = Array.isArray(view.snapshot?.logs) ? view.snapshot.logs : [];
  const recent = lines.slice(-MAX_LOG_LINES).reverse();
  $("log-list").replaceChildren(
    ...recent.map((line) => {
      const level = Number.isInteger(line.level) ? line.level : 2;
      const levelName = line.level_name || LEVEL_NAMES[level] || String(level);
      return h(
        "li",
        { class: `log-line level-${Math.max(0, Math.min(6, level))}` },
        h("span", { class: "log-time", text: line.timestamp ?? "" }),
        h("span", { class: "log-level", text: levelName }),
        line.source ? h("span", { class: "log-source", text: line.source }) : null,
        h("span", { class: "log-message", text: line.message ?? "" }),
      );
    }),
  );
  show($("log-empty"), lines.length === 0);
}
