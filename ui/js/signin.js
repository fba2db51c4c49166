// The sign-in form, the demo button, and what to do when signing in fails: one plain sentence
// under the button (the doctor's first failed step, when the server could not be used), the
// system's own words and the step-by-step check under "Details", and the trust choice for a
// certificate this computer does not know.

import { invoke, asError } from "./ipc.js";
import { $, h, show } from "./dom.js";

/** People's names for the doctor's steps (`Step::title` in doctor/report.rs). */
const STEP_TITLES = {
  address: "Address",
  dns: "Name resolution",
  tcp: "TCP connection",
  tls: "TLS certificate",
  status: "Audiobookshelf status",
  base_path: "Base path",
  socket_polling: "Socket.IO polling",
  websocket: "WebSocket upgrade",
  socket_auth: "Socket sign-in",
  clock: "Clock",
};

/** Symbols for verdicts; the words are there for screen readers and tests. */
const VERDICT_MARKS = { ok: "✓", warn: "!", fail: "✕", skipped: "–" };

/** The fields a user fills in, in order, for each mode. */
const FIELDS = { password: ["server", "username", "password"], apiKey: ["server", "api-key"] };

/** Wires the form; `onSignedIn` runs after a successful sign-in or demo start. */
export function setupSignin({ onSignedIn, onCancel }) {
  const form = $("signin-form");
  const useKey = $("use-api-key");

  const syncMode = () => {
    show($("password-fields"), !useKey.checked);
    show($("api-key-fields"), useKey.checked);
  };
  useKey.addEventListener("change", () => {
    syncMode();
    clearProblem();
    focusFirstEmpty();
  });
  syncMode();

  let trusted = null;
  const submit = async () => {
    const server = $("server").value.trim();
    clearProblem();
    if (!server) {
      showProblem({ message: "Enter the address of your Audiobookshelf server." });
      $("server").focus();
      return;
    }
    const apiKey = useKey.checked;
    const formData = {
      server,
      username: apiKey ? null : $("username").value.trim(),
      password: apiKey ? null : $("password").value,
      apiKey: apiKey ? $("api-key").value.trim() : null,
      trustCertificate: trusted,
    };
    if (apiKey ? !formData.apiKey : !formData.username) {
      showProblem({ message: apiKey ? "Paste an API key." : "Enter your user name." });
      (apiKey ? $("api-key") : $("username")).focus();
      return;
    }
    setBusy(true);
    let error = null;
    try {
      await invoke("sign_in", { form: formData });
    } catch (err) {
      error = asError(err);
    }
    setBusy(false);
    trusted = null;
    if (!error) {
      $("password").value = "";
      $("api-key").value = "";
      onSignedIn();
      return;
    }
    showProblem(error);
    if (error.diagnose) await diagnose(server, error);
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });

  $("trust-certificate").addEventListener("click", () => {
    trusted = $("trust-fingerprint").textContent;
    submit();
  });

  $("try-demo").addEventListener("click", async () => {
    const button = $("try-demo");
    const label = button.textContent;
    clearProblem();
    button.textContent = "Starting the demo server…";
    setBusy(true);
    let error = null;
    try {
      await invoke("try_demo");
    } catch (err) {
      error = asError(err);
    }
    setBusy(false);
    button.textContent = label;
    if (error) showProblem(error);
    else onSignedIn();
  });

  $("signin-cancel").addEventListener("click", onCancel);
}

/** Disables the whole form while a sign-in is in flight. */
function setBusy(busy) {
  for (const control of $("signin-form").querySelectorAll("input, button")) control.disabled = busy;
  $("signin-form").setAttribute("aria-busy", String(busy));
}

/** Hides the previous attempt's error, details and trust choice. */
function clearProblem() {
  $("signin-error").textContent = "";
  show($("signin-error"), false);
  show($("trust-choice"), false);
  $("trust-fingerprint").textContent = "";
  $("signin-detail").textContent = "";
  $("doctor").replaceChildren();
  delete $("doctor").dataset.verdict;
  $("signin-details").open = false;
  show($("signin-details"), false);
  show($("signin-problem"), false);
}

/** Shows an error's sentence under the button, and its system text under "Details". */
function showProblem(error) {
  $("signin-error").textContent = error.message;
  show($("signin-error"), Boolean(error.message));
  $("signin-detail").textContent = error.detail || "";
  show($("signin-details"), Boolean(error.detail));
  show($("signin-problem"), true);
}

/** Focuses the first empty field of the form as it is now (the server address first). */
export function focusFirstEmpty() {
  const fields = $("use-api-key").checked ? FIELDS.apiKey : FIELDS.password;
  const empty = fields.map((id) => $(id)).find((field) => !field.value);
  (empty || $("signin-submit")).focus({ preventScroll: true });
}

/**
 * Readies the form for a sign-in: the last server's address and the user name when they are known
 * (never overwriting what was typed), no stale error, the first empty field focused.
 */
export function prefillSignin(view, reSignIn) {
  show($("signin-cancel"), reSignIn);
  const server = view?.account?.server_url || view?.last_server || "";
  if (!$("server").value) $("server").value = server;
  if (!$("username").value) $("username").value = view?.account?.username || "";
  clearProblem();
  focusFirstEmpty();
}

/** Asks the doctor about `server`: its first failed step becomes the sentence shown. */
async function diagnose(server, error) {
  const doctor = $("doctor");
  doctor.replaceChildren(h("p", { class: "muted", text: "Checking the connection to the server…" }));
  doctor.setAttribute("aria-busy", "true");
  show($("signin-details"), true);
  try {
    const report = await invoke("diagnose", { server });
    renderReport(doctor, report);
    const failed = (report?.checks || []).find((check) => check.verdict === "fail");
    if (failed?.headline) $("signin-error").textContent = failed.headline;
    if (!error.detail && failed?.detail) $("signin-detail").textContent = failed.detail;
    if (report?.certificate) {
      $("trust-fingerprint").textContent = report.certificate;
      show($("trust-choice"), true);
    }
  } catch (err) {
    doctor.replaceChildren(h("p", { class: "error", text: `The check failed too: ${asError(err).message}` }));
  } finally {
    doctor.removeAttribute("aria-busy");
  }
}

/** One list item for a check. */
function checkItem(check) {
  const verdict = String(check.verdict || "skipped");
  return h(
    "li",
    { class: `check verdict-${verdict}`, dataset: { step: String(check.name), verdict } },
    h("span", { class: "mark", attrs: { "aria-hidden": "true" }, text: VERDICT_MARKS[verdict] || "?" }),
    h(
      "div",
      { class: "check-body" },
      h("strong", { text: STEP_TITLES[check.name] || String(check.name) }),
      h("span", { class: "sr-only", text: ` (${verdict})` }),
      check.detail ? h("div", { class: "detail", text: check.detail }) : null,
      check.fix ? h("div", { class: "fix", text: check.fix }) : null,
    ),
  );
}

/**
 * Renders a doctor Report (doctor/report.rs) as a list of steps; the steps after a failure that
 * could not run are folded into one line.
 */
export function renderReport(container, report) {
  const checks = Array.isArray(report?.checks) ? report.checks : [];
  const verdicts = checks.map((c) => c.verdict);
  const worst = verdicts.includes("fail") ? "fail" : verdicts.includes("warn") ? "warn" : "ok";
  const summary = {
    fail: "The server could not be used. Fix the first failed step:",
    warn: "The server works, with warnings:",
    ok: "Every check passed; the problem may be the sign-in itself.",
  }[worst];
  const firstFail = checks.findIndex((c) => c.verdict === "fail");
  const shown = firstFail < 0 ? checks : checks.slice(0, firstFail + 1);
  const rest = firstFail < 0 ? [] : checks.slice(firstFail + 1);
  const notRun = rest.filter((c) => c.verdict === "skipped");
  const items = [...shown, ...rest.filter((c) => c.verdict !== "skipped")].map(checkItem);
  if (notRun.length) {
    const title = STEP_TITLES[checks[firstFail].name] || checks[firstFail].name;
    items.push(
      h("li", {
        class: "check verdict-skipped folded",
        dataset: { folded: String(notRun.length) },
        text: `${notRun.length} later ${notRun.length === 1 ? "step" : "steps"} not checked: ${
          notRun.length === 1 ? "it needs" : "they need"
        } the ${title} step to pass.`,
      }),
    );
  }
  container.replaceChildren(
    h("h2", { text: "Connection check" }),
    report?.server ? h("p", { class: "muted small", text: report.server }) : null,
    h("p", { class: `summary verdict-${worst}`, text: summary }),
    h("ol", { class: "checks" }, items),
  );
  container.dataset.verdict = worst;
}
