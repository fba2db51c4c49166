// The status window: renders each View the shell sends and wires every control.
// Server strings are hostile input: they only ever reach the page as text (see dom.js).

import { invoke, onView, asError } from "./ipc.js";
import { $, show, showError } from "./dom.js";
import { connectionLabel, renderHeader } from "./header.js";
import { Tabs } from "./tabs.js";
import { setupSignin, prefillSignin } from "./signin.js";
import { renderListening, renderUsers, renderActivity } from "./lists.js";
import { setupServer, renderServer, resetServer } from "./server.js";
import { setupSettings, renderSettings, resetSettings } from "./settings.js";
import { run } from "./actions.js";

/** How often relative times ("5 min ago") are refreshed without a new View. */
const RELATIVE_TIME_REFRESH_MS = 20_000;

/** The newest View. */
let current = null;
/** The account the last render showed (to notice sign-in and sign-out). */
let shownAccount = null;
/** Admin status last known for the shown account (the snapshot may not say while offline). */
let knownAdmin = false;
/** The user asked to sign in again while an account is saved. */
let reSignIn = false;
/** The tab bar. */
let tabs = null;
/** The `watching` value last sent, to send only changes. */
let sentWatching = null;
/** The sign-in form is on screen (it is readied each time it appears, not on every View). */
let signinShown = false;

/**
 * Starts the window fresh for another account: the first tab, scrolled to the top, no draft,
 * filter or status left from the account before.
 */
function startFresh() {
  resetServer();
  resetSettings();
  $("broadcast-text").value = "";
  $("broadcast-text").dispatchEvent(new Event("input"));
  showError($("broadcast-error"), "");
  $("activity-filter").value = "";
  showError($("account-error"), "");
  showError($("error"), "");
  for (const view of document.querySelectorAll(".views .view")) view.scrollTop = 0;
  tabs.select("listening", false);
}

/** Whether the signed-in user is an admin, as far as anything in the View says. */
function isAdmin(view) {
  const me = view.snapshot?.me;
  if (me && typeof me.is_admin === "boolean") return me.is_admin;
  const connection = view.snapshot?.connection;
  if (connection?.state === "connected" && typeof connection.is_admin === "boolean") return connection.is_admin;
  return knownAdmin;
}

/** Renders a whole View. */
export function render(view) {
  if (!view || typeof view !== "object") return;
  current = view;
  const accountKey = view.account ? `${view.account.server_url}\n${view.account.username}` : null;
  if (accountKey !== shownAccount) {
    startFresh();
    knownAdmin = false;
    reSignIn = false;
    shownAccount = accountKey;
    sentWatching = null;
    syncWatching();
  }
  const admin = isAdmin(view);
  knownAdmin = admin;

  const signedIn = Boolean(view.account);
  const showSignin = !signedIn || reSignIn;
  show($("signin"), showSignin);
  show($("app"), !showSignin);
  document.body.dataset.signedIn = signedIn ? "1" : "0";
  document.body.dataset.admin = admin ? "1" : "0";
  if (showSignin && !signinShown) prefillSignin(view, reSignIn);
  signinShown = showSignin;

  if (signedIn) {
    renderHeader(view);
    tabs.setAvailable(admin ? ["listening", "users", "activity", "server", "settings"] : ["listening", "activity", "settings"]);
    renderListening(view, admin);
    if (admin) {
      renderUsers(view);
      renderServer(view);
    }
    renderActivity(view);
    renderSettings(view);
  }
  document.body.dataset.ready = "1";
}

/** Tells the shell whether the window is looked at (it polls live positions only then). */
function syncWatching() {
  const watching = document.visibilityState === "visible";
  if (watching === sentWatching) return;
  sentWatching = watching;
  invoke("set_watching", { watching }).catch((err) => {
    sentWatching = null;
    console.warn("set_watching failed:", asError(err).message);
  });
}

/** Asks for the View again (after an action that changes it, in case no event follows). */
async function refresh() {
  try {
    render(await invoke("view"));
  } catch (err) {
    showError($("error"), asError(err).message);
  }
}

/** Wires everything, then renders the first View. */
export async function start() {
  tabs = new Tabs(() => {});
  setupSignin({
    onSignedIn: () => {
      reSignIn = false;
      refresh();
    },
    onCancel: () => {
      reSignIn = false;
      if (current) render(current);
    },
  });
  setupServer();
  setupSettings();

  $("activity-filter").addEventListener("change", () => current && renderActivity(current));
  $("signin-again").addEventListener("click", () => {
    reSignIn = true;
    if (current) render(current);
  });
  $("sign-out").addEventListener("click", async () => {
    const result = await run($("sign-out"), $("account-error"), "sign_out");
    if (result.ok) refresh();
  });

  document.addEventListener("visibilitychange", syncWatching);
  window.addEventListener("focus", () => {
    sentWatching = null; // a tray window can be shown again without a visibilitychange
    syncWatching();
  });

  // Offline countdown every second; relative times now and then. Lists are rebuilt with focus kept.
  setInterval(() => {
    const connection = current?.snapshot?.connection;
    if (current?.account && connection?.state === "offline") {
      $("connection-state").textContent = connectionLabel(connection);
    }
  }, 1000);
  setInterval(() => {
    if (current && document.visibilityState === "visible") render(current);
  }, RELATIVE_TIME_REFRESH_MS);

  try {
    await onView(render);
  } catch (err) {
    showError($("error"), asError(err).message);
  }
  try {
    render(await invoke("view"));
  } catch (err) {
    showError($("error"), `Could not load the status: ${asError(err).message}`);
    document.body.dataset.ready = "1";
    document.body.dataset.signedIn = "0";
    show($("signin"), true);
  }
}
