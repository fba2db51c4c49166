// The sign-in form, the demo button and the doctor's verdict after a failed connection.

import { invoke, asError } from "./ipc.js";
import { $, h, showError, show } from "./dom.js";
import { run } from "./actions.js";

/** Sign-in failures about reaching the server (not about the credentials): worth a diagnosis. */
const CONNECTION_CODES = new Set([
  "unreachable",
  "timeout",
  "tls",
  "tls_untrusted",
  "not_abs",
  "redirected",
  "http_error",
  "bad_reply",
  "reply_too_large",
  "bad_url",
  "invalid_url",
  "invalid_server_url",
]);

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

/** Whether a failed sign-in is worth a diagnosis. */
export function isConnectionError(error) {
  return CONNECTION_CODES.has(error.code);
}

/** Wires the form; `onSignedIn` runs after a successful sign-in or demo start. */
export function setupSignin({ onSignedIn, onCancel }) {
  const form = $("signin-form");
  const useKey = $("use-api-key");

  const syncMode = () => {
    show($("password-fields"), !useKey.checked);
    show($("api-key-fields"), useKey.checked);
  };
  useKey.addEventListener("change", syncMode);
  syncMode();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const server = $("server").value.trim();
    const errorArea = $("signin-error");
    $("doctor").replaceChildren();
    if (!server) {
      showError(errorArea, "Enter the address of your Audiobookshelf server.");
      $("server").focus();
      return;
    }
    const apiKey = useKey.checked;
    const formData = {
      server,
      username: apiKey ? null : $("username").value.trim(),
      password: apiKey ? null : $("password").value,
      apiKey: apiKey ? $("api-key").value.trim() : null,
    };
    if (apiKey ? !formData.apiKey : !formData.username) {
      showError(errorArea, apiKey ? "Paste an API key." : "Enter your user name.");
      (apiKey ? $("api-key") : $("username")).focus();
      return;
    }
    setBusy(true);
    const result = await run($("signin-submit"), errorArea, "sign_in", { form: formData });
    setBusy(false);
    if (result.ok) {
      $("password").value = "";
      $("api-key").value = "";
      onSignedIn();
    } else if (isConnectionError(result.error)) {
      await diagnose(server);
    }
  });

  $("try-demo").addEventListener("click", async () => {
    const button = $("try-demo");
    const label = button.textContent;
    $("doctor").replaceChildren();
    button.textContent = "Starting the demo server…";
    setBusy(true);
    const result = await run(button, $("signin-error"), "try_demo");
    setBusy(false);
    button.textContent = label;
    if (result.ok) onSignedIn();
  });

  $("signin-cancel").addEventListener("click", onCancel);
}

/** Disables the whole form while a sign-in is in flight. */
function setBusy(busy) {
  for (const control of $("signin-form").querySelectorAll("input, button")) control.disabled = busy;
  $("signin-form").setAttribute("aria-busy", String(busy));
}

/** Fills what is known about the saved account without overwriting what the user typed. */
export function prefillSignin(account, reSignIn) {
  show($("signin-cancel"), reSignIn);
  if (!account) return;
  if (!$("server").value) $("server").value = account.server_url || "";
  if (!$("username").value) $("username").value = account.username || "";
}

/** Asks the doctor about `server` and shows the verdict under the form. */
async function diagnose(server) {
  const doctor = $("doctor");
  doctor.replaceChildren(h("p", { class: "muted", text: "Checking the connection to the server…" }));
  doctor.setAttribute("aria-busy", "true");
  try {
    const report = await invoke("diagnose", { server });
    renderReport(doctor, report);
    doctor.querySelector(".summary")?.scrollIntoView({ block: "nearest" });
  } catch (err) {
    doctor.replaceChildren(h("p", { class: "error", text: `The check failed too: ${asError(err).message}` }));
  } finally {
    doctor.removeAttribute("aria-busy");
  }
}

/** Renders a doctor Report (doctor/report.rs) as a list of steps. */
export function renderReport(container, report) {
  const checks = Array.isArray(report?.checks) ? report.checks : [];
  const verdicts = checks.map((c) => c.verdict);
  const worst = verdicts.includes("fail") ? "fail" : verdicts.includes("warn") ? "warn" : "ok";
  const summary = {
    fail: "The server could not be used. Fix the first failed step:",
    warn: "The server works, with warnings:",
    ok: "Every check passed; the problem may be the sign-in itself.",
  }[worst];
  const list = h(
    "ol",
    { class: "checks" },
    checks.map((check) => {
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
    }),
  );
  container.replaceChildren(
    h("h2", { text: "Connection check" }),
    report?.server ? h("p", { class: "muted small", text: report.server }) : null,
    h("p", { class: `summary verdict-${worst}`, text: summary }),
    list,
  );
  container.dataset.verdict = worst;
}
