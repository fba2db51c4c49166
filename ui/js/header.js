// The header: connection state, account, demo badge, pause note, the View's problem.

import { $, show } from "./dom.js";
import { moment } from "./format.js";

/** People's words for `ConnectionStatus.state` (connection.rs). */
const STATE_LABELS = {
  offline: "Offline",
  connecting: "Connecting…",
  authenticating: "Authenticating…",
  connected: "Connected",
  signin_required: "Sign-in required",
  stopped: "Stopped",
};

/** The state's label, with the retry countdown while offline. */
export function connectionLabel(connection, now = Date.now()) {
  const state = connection?.state ?? "connecting";
  const label = STATE_LABELS[state] ?? String(state);
  if (state === "offline" && Number.isFinite(connection.retry_at_ms)) {
    const seconds = Math.ceil((connection.retry_at_ms - now) / 1000);
    return seconds > 0 ? `${label} · retrying in ${seconds} s` : `${label} · retrying now`;
  }
  return label;
}

/** Renders the header from a View. */
export function renderHeader(view) {
  const connection = view.snapshot?.connection ?? { state: "connecting" };
  const state = String(connection.state ?? "connecting");
  const stateNode = $("connection-state");
  stateNode.textContent = connectionLabel(connection);
  stateNode.dataset.state = state;
  $("connection-dot").className = `dot state-${state.replace(/[^a-z_]/g, "")}`;

  const reason = state === "offline" || state === "signin_required" ? connection.reason : null;
  const system = state === "offline" ? connection.detail : null;
  $("connection-reason").textContent = reason || "";
  $("connection-system").textContent = system || "";
  show($("connection-more"), Boolean(system));
  show($("connection-detail"), Boolean(reason) && !view.problem);

  const latency = connection.latency_ms ?? view.snapshot?.latency_ms;
  $("latency").textContent = state === "connected" && Number.isFinite(latency) ? `${latency} ms` : "";

  $("account-user").textContent = view.account?.username ?? "";
  $("account-server").textContent = view.account?.server_url ?? "";
  $("account-note").textContent = view.account?.transport_note ?? "";
  show($("account-note"), Boolean(view.account?.transport_note));
  show($("demo-badge"), Boolean(view.demo));

  const paused = pausedUntil(view);
  $("paused-note").textContent = paused ? `Notifications paused until ${moment(paused)}.` : "";
  show($("paused-note"), Boolean(paused));

  const problem = view.problem?.message || (state === "signin_required" ? connection.reason : "");
  $("problem-text").textContent = problem || "";
  show($("problem"), Boolean(problem));
  show($("signin-again"), state === "signin_required" || view.problem?.code === "sign_in_required");
}

/**
 * "As of 14:02 · offline": while the lists may be out of date (Snapshot.as_of_ms, set while
 * offline and until the lists are read again after an outage), when they were last known true.
 * Empty while they are live.
 */
export function asOfText(view, now = Date.now()) {
  const asOf = view.snapshot?.as_of_ms;
  if (!Number.isFinite(asOf)) return "";
  const state = view.snapshot?.connection?.state;
  const why = state === "connected" ? "updating…" : "offline, this may have changed";
  return `As of ${moment(asOf, now)} · ${why}`;
}

/** Shows the "as of" mark in `node` and marks `lists` as last known (dimmed), or clears both. */
export function markAsOf(node, lists, view, now = Date.now()) {
  const text = asOfText(view, now);
  node.textContent = text;
  show(node, Boolean(text));
  for (const list of lists) list.classList.toggle("last-known", Boolean(text));
}

/** When the pause ends (Unix ms), or null when popups are not paused. */
export function pausedUntil(view, now = Date.now()) {
  const until = view.paused_until_ms ?? view.notifications?.paused_until_ms;
  return Number.isFinite(until) && until > now ? until : null;
}
