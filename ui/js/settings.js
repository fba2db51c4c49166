// The Settings view: the notification form generated from View.notifications (PolicySettings in
// policy/settings.rs), pause, launch at login, and the account's actions.

import { $, h, show, showError } from "./dom.js";
import { humanize, moment } from "./format.js";
import { run } from "./actions.js";
import { pausedUntil } from "./header.js";

/** Labels and hints for the known category toggles, in display order. */
const TOGGLES = {
  admin_message: ["Admin broadcasts", "Also during quiet hours and pauses."],
  presence: ["Users coming online and going offline", "Admins only."],
  sessions: ["Listening sessions starting and stopping", "Admins only."],
  progress: ["Your progress", "Finished books, playing on another device."],
  milestones: ["Milestones", "25, 50 and 75 % of a book."],
  server_activity: ["Server activity", "Scans, downloads, backups, new items, users added or removed."],
};

/** Labels, units and hints for the known numbers, in display order. */
const NUMBERS = {
  online_debounce_s: ["Online after", "s", "How long a first connection must last."],
  offline_debounce_s: ["Offline after", "s", "Apps reconnect a lot; wait this long."],
  merge_window_s: ["Merge a stop and restart within", "s", ""],
  rate_limit: ["At most", "popups", "Per rate window; the rest fold into “And N more”."],
  rate_window_s: ["Rate window", "s", ""],
  dedupe_window_s: ["Drop repeats within", "s", ""],
};

/** Fields the form leaves alone: the pause has its own buttons; the rest has no editor here. */
const NOT_IN_FORM = new Set(["paused_until_ms", "muted_users"]);

/** The notifications object the form was built from (JSON), and whether the user edited it. */
let builtFrom = null;
let dirty = false;
/** The newest View, whose notifications a save starts from (keeps fields the form does not show). */
let latest = null;

/** Wires the form and the buttons. */
export function setupSettings() {
  const form = $("settings-form");
  form.addEventListener("input", () => {
    dirty = true;
    $("settings-status").textContent = "Unsaved changes";
    syncQuietHours();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const settings = collect();
    if (!settings) return;
    const result = await run($("settings-save"), $("settings-error"), "save_settings", { settings });
    if (result.ok) {
      dirty = false;
      builtFrom = JSON.stringify(settings);
      $("settings-status").textContent = "Saved.";
    }
  });

  for (const [id, choice] of [["pause-hour", "hour"], ["pause-tomorrow", "tomorrow"], ["pause-resume", "resume"]]) {
    $(id).addEventListener("click", () => run($(id), $("pause-error"), "pause", { choice }));
  }

  const autostart = $("autostart");
  autostart.addEventListener("change", async () => {
    const enabled = autostart.checked;
    const result = await run(autostart, $("autostart-error"), "set_autostart", { enabled });
    if (!result.ok) autostart.checked = !enabled;
  });

  $("reconnect").addEventListener("click", () => run($("reconnect"), $("account-error"), "reconnect"));
  $("open-server").addEventListener("click", () => run($("open-server"), $("account-error"), "open_server"));
}

/** Forgets local edits (after sign-out). */
export function resetSettings() {
  builtFrom = null;
  dirty = false;
  $("settings-status").textContent = "";
}

/** Renders the settings view; the form is rebuilt only when it has no unsaved edits. */
export function renderSettings(view) {
  latest = view;
  const notifications = view.notifications && typeof view.notifications === "object" ? view.notifications : {};
  const json = JSON.stringify(notifications);
  if (!dirty && json !== builtFrom) {
    buildForm(notifications);
    builtFrom = json;
  }

  const paused = pausedUntil(view);
  const quiet = notifications.quiet_hours;
  $("pause-state").textContent = paused
    ? `Paused until ${moment(paused)}. Admin broadcasts still show.`
    : quiet && quiet.start && quiet.end
      ? `Notifications are on, quiet from ${quiet.start} to ${quiet.end}.`
      : "Notifications are on.";
  $("pause-resume").classList.toggle("primary", Boolean(paused));

  const autostart = $("autostart");
  if (autostart.getAttribute("aria-busy") !== "true") autostart.checked = Boolean(view.autostart);
}

/** Builds the fields: booleans become checkboxes, numbers number inputs, quiet hours two times. */
function buildForm(notifications) {
  const keys = Object.keys(notifications).filter((k) => !NOT_IN_FORM.has(k));
  const ordered = (known) => [
    ...Object.keys(known).filter((k) => keys.includes(k)),
  ];
  const toggles = ordered(TOGGLES).filter((k) => typeof notifications[k] === "boolean");
  const numbers = ordered(NUMBERS).filter((k) => typeof notifications[k] === "number");
  const known = new Set([...toggles, ...numbers, "quiet_hours"]);
  const otherBools = keys.filter((k) => !known.has(k) && typeof notifications[k] === "boolean");
  const otherNumbers = keys.filter((k) => !known.has(k) && typeof notifications[k] === "number");

  const groups = [];
  if (toggles.length || otherBools.length) {
    groups.push(
      fieldset("Notify me about", [
        ...toggles.map((k) => checkbox(k, notifications[k], ...TOGGLES[k])),
        ...otherBools.map((k) => checkbox(k, notifications[k], humanize(k), "")),
      ]),
    );
  }
  if ("quiet_hours" in notifications && isQuietHoursShape(notifications.quiet_hours)) {
    groups.push(quietHours(notifications.quiet_hours));
  }
  if (numbers.length || otherNumbers.length) {
    groups.push(
      fieldset("Timing", [
        ...numbers.map((k) => numberField(k, notifications[k], ...NUMBERS[k])),
        ...otherNumbers.map((k) => numberField(k, notifications[k], humanize(k), k.endsWith("_s") ? "s" : "", "")),
      ]),
    );
  }
  $("settings-fields").replaceChildren(...groups);
  syncQuietHours();
}

/** A titled group of fields. */
function fieldset(title, children) {
  return h("fieldset", { class: "group" }, h("legend", { text: title }), ...children);
}

/** A checkbox bound to a boolean setting. */
function checkbox(key, value, label, hint) {
  return h(
    "label",
    { class: "check" },
    h("input", { type: "checkbox", id: `setting-${key}`, name: key, checked: Boolean(value), dataset: { key, type: "bool" } }),
    h("span", {}, h("span", { text: label }), hint ? h("span", { class: "hint block", text: hint }) : null),
  );
}

/** A number input bound to a non-negative integer setting. */
function numberField(key, value, label, unit, hint) {
  return h(
    "label",
    { class: "number-field" },
    h("span", { class: "label" }, label, hint ? h("span", { class: "hint block", text: hint }) : null),
    h(
      "span",
      { class: "number-input" },
      h("input", {
        type: "number",
        id: `setting-${key}`,
        name: key,
        min: "0",
        step: "1",
        value: String(value),
        inputMode: "numeric",
        dataset: { key, type: "number" },
      }),
      unit ? h("span", { class: "unit muted", text: unit }) : null,
    ),
  );
}

/** `null` or `{start: "HH:MM", end: "HH:MM"}`: the shape this form can edit. */
function isQuietHoursShape(value) {
  return value === null || (typeof value === "object" && typeof value.start === "string" && typeof value.end === "string");
}

/** The quiet-hours switch with its two times. */
function quietHours(value) {
  return fieldset("Quiet hours", [
    h(
      "label",
      { class: "check" },
      h("input", { type: "checkbox", id: "setting-quiet_hours", checked: value !== null, dataset: { type: "quiet" } }),
      h("span", {}, h("span", { text: "No popups at night" }), h("span", { class: "hint block", text: "Local time; may cross midnight." })),
    ),
    h(
      "div",
      { class: "time-range", id: "quiet-hours-times" },
      h("label", {}, h("span", { text: "From" }), h("input", { type: "time", id: "quiet-start", value: value?.start ?? "22:00" })),
      h("label", {}, h("span", { text: "to" }), h("input", { type: "time", id: "quiet-end", value: value?.end ?? "07:00" })),
    ),
  ]);
}

/** Enables the times only while quiet hours are on. */
function syncQuietHours() {
  const on = $("setting-quiet_hours");
  if (!on) return;
  for (const id of ["quiet-start", "quiet-end"]) $(id).disabled = !on.checked;
}

/** The edited settings: the newest View's object with the form's fields written over it. */
function collect() {
  const errorArea = $("settings-error");
  showError(errorArea, "");
  const base = latest?.notifications && typeof latest.notifications === "object" ? latest.notifications : {};
  const settings = JSON.parse(JSON.stringify(base));
  for (const input of $("settings-form").querySelectorAll("input[data-key]")) {
    const key = input.dataset.key;
    if (input.dataset.type === "bool") settings[key] = input.checked;
    else if (input.dataset.type === "number") {
      const number = Number(input.value);
      if (input.value.trim() === "" || !Number.isSafeInteger(number) || number < 0) {
        showError(errorArea, `“${input.closest("label")?.querySelector(".label")?.firstChild?.textContent ?? key}” needs a whole number, 0 or more.`);
        input.focus();
        return null;
      }
      settings[key] = number;
    }
  }
  const quiet = $("setting-quiet_hours");
  if (quiet) {
    if (quiet.checked) {
      const start = $("quiet-start").value.slice(0, 5);
      const end = $("quiet-end").value.slice(0, 5);
      if (!/^\d\d:\d\d$/.test(start) || !/^\d\d:\d\d$/.test(end)) {
        showError(errorArea, "Quiet hours need a start and an end time.");
        $("quiet-start").focus();
        return null;
      }
      settings.quiet_hours = { start, end };
    } else settings.quiet_hours = null;
  }
  return settings;
}
