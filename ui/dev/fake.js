// A fake Rust shell for looking at the window without the app: a rich sample View, commands that
// change it, and the `view` event. Every call is recorded in `window.fakeCalls`.

const params = new URLSearchParams(location.search);
const now = Date.now();
const min = 60_000;
const HOSTILE = "<img src=x onerror=alert(1)>";

/** A sample View like the shell sends (snake_case, see src-tauri/core/src/live/snapshot.rs). */
function sampleView() {
  const admin = !params.has("user");
  const me = admin
    ? { user_id: "u-root", username: "root", is_admin: true }
    : { user_id: "u-ann", username: "ann", is_admin: false };
  const connection = params.has("offline")
    ? { state: "offline", reason: "the server closed the connection", retry_at_ms: now + 25_000 }
    : { state: "connected", user_id: me.user_id, username: me.username, is_admin: admin, server_version: "2.36.0", latency_ms: 38 };
  const who = (user_id, username) => ({ user_id, username });
  const listening = (n) => ({
    session_id: `s-${n.id}`, user: n.user, item_id: `li-${n.id}`, episode_id: null,
    title: n.title, author: n.author, device: n.device, play_method: "direct_play",
    started_at_ms: now - n.started * min, updated_at_ms: now - n.synced * min,
    position_s: n.pos, duration_s: n.dur, progress: n.dur ? n.pos / n.dur : null,
    listened_s: n.listened, stale: n.synced > 20, closing: false,
  });
  const empty = params.has("empty");
  return {
    account: { server_url: "https://abs.example.com", username: me.username },
    demo: false,
    paused_until_ms: null,
    autostart: true,
    notifications: {
      admin_message: true, presence: true, sessions: true, progress: true, server_activity: false,
      milestones: false, online_debounce_s: 5, offline_debounce_s: 30, merge_window_s: 180,
      quiet_hours: { start: "22:00", end: "07:00" }, paused_until_ms: null, muted_users: ["u-bob"],
      rate_limit: 5, rate_window_s: 30, dedupe_window_s: 60,
    },
    problem: null,
    snapshot: {
      connection,
      me,
      users: empty || !admin ? [] : [
        { user_id: "u-root", username: "root", connections: 2, last_seen_ms: now, online_since_ms: now - 95 * min },
        { user_id: "u-ann", username: "ann", connections: 1, last_seen_ms: now, online_since_ms: now - 12 * min },
        { user_id: "u-evil", username: HOSTILE, connections: 0, last_seen_ms: now - 190 * min, online_since_ms: null },
        { user_id: "u-bob", username: "bob", connections: 0, last_seen_ms: now - 3 * 86_400_000, online_since_ms: null },
      ],
      listening: empty || !admin ? [] : [
        listening({ id: 1, user: who("u-ann", "ann"), title: "The Left Hand of Darkness", author: "Ursula K. Le Guin",
          device: "Pixel 8", started: 14, synced: 0.2, pos: 21_980, dur: 40_320, listened: 840 }),
        listening({ id: 2, user: who("u-evil", HOSTILE), title: `${HOSTILE} Podcast`, author: "<b>bold</b>",
          device: "Firefox on Linux", started: 200, synced: 95, pos: 1_200, dur: 3_600, listened: 1_190 }),
      ],
      scans: empty || !admin ? [] : [
        { task_id: "t-1", library_id: "lib-books", library_name: "Audiobooks", started_at_ms: now - 3 * min },
      ],
      activity: empty ? [] : [
        { at_ms: now - 50 * min, happening: { kind: "user_online", user: who("u-root", "root") } },
        { at_ms: now - 40 * min, happening: { kind: "scan_finished", library_id: "lib-pods", library_name: "Podcasts", added: 3, updated: 1, missing: 0, failed: false } },
        { at_ms: now - 30 * min, happening: { kind: "resynced", outage: { secs: 312, nanos: 0 }, changes: [
          { kind: "user_offline", user: who("u-bob", "bob") },
          { kind: "items_added", library_id: "lib-books", count: 2, first_title: "Dune", first_item_id: "li-9" },
        ] } },
        { at_ms: now - 14 * min, happening: { kind: "session_started", listening: {
          session_id: "s-1", user: who("u-ann", "ann"), item_id: "li-1", episode_id: null, title: "The Left Hand of Darkness",
          author: "Ursula K. Le Guin", device: "Pixel 8", started_at_ms: now - 14 * min, position_s: 21_140, duration_s: 40_320 } } },
        { at_ms: now - 6 * min, happening: { kind: "milestone", item_id: "li-3", title: "Piranesi", percent: 50 } },
        { at_ms: now - 2 * min, happening: { kind: "admin_message", text: `Maintenance at 23:00 ${HOSTILE}` } },
        { at_ms: now - 1 * min, happening: { kind: "user_offline", user: who("u-evil", HOSTILE) } },
      ],
      logs: empty || !admin ? [] : [
        { timestamp: "2025-11-29 10:01:02.120", source: "Server.js:212", level: 2, level_name: "INFO", message: "Listening on port :13378" },
        { timestamp: "2025-11-29 10:02:40.003", source: "LibraryScanner.js:88", level: 2, level_name: "INFO", message: "[LibraryScanner] Library scan started \"Audiobooks\"" },
        { timestamp: "2025-11-29 10:03:11.554", source: "SocketAuthority.js:301", level: 3, level_name: "WARN", message: `Socket auth failed for ${HOSTILE}` },
        { timestamp: "2025-11-29 10:04:00.000", source: null, level: 4, level_name: "ERROR", message: "Failed to probe /audiobooks/broken.m4b: moov atom not found" },
      ],
      latency_ms: 38,
      taken_at_ms: now,
    },
  };
}

let view = sampleView();
if (params.has("signedout")) view.account = null;
const listeners = [];
const calls = [];
window.fakeCalls = calls;
let logTimer = null;

/** Sends the View to every listener, as the shell's `view` event does. */
function emit() {
  const copy = structuredClone(view);
  for (const listener of listeners) listener({ event: "view", payload: copy });
}

/** Resolves after `ms`. */
const later = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The fake commands; each rejects like the shell: `{code, message}`. */
const commands = {
  view: () => structuredClone(view),
  async sign_in({ form }) {
    await later(400);
    if (/bad|unreachable|invalid/.test(form.server)) {
      throw { code: "unreachable", message: "cannot reach the server: connection refused" };
    }
    if (form.password === "wrong") throw { code: "bad_credentials", message: "wrong user name or password" };
    const fresh = sampleView();
    view = { ...fresh, account: { server_url: form.server, username: form.username || "root" } };
    emit();
  },
  async try_demo() {
    await later(900);
    view = { ...sampleView(), demo: true, account: { server_url: "http://127.0.0.1:47123", username: "demo" } };
    emit();
  },
  async diagnose({ server }) {
    await later(500);
    const step = (name, verdict, detail, fix = null) => ({ name, verdict, detail, fix });
    return {
      server,
      checks: [
        step("address", "ok", `${server} parses as an http(s) address`),
        step("dns", "ok", "resolves to 192.0.2.10"),
        step("tcp", "fail", "connection refused on port 443", "Check that Audiobookshelf runs and the port is right (often 13378)."),
        ...["tls", "status", "base_path", "socket_polling", "websocket", "socket_auth", "clock"].map((n) =>
          step(n, "skipped", "needs a TCP connection")),
      ],
    };
  },
  async sign_out() {
    view = { ...view, account: null, demo: false };
    emit();
  },
  async reconnect() {
    const connected = view.snapshot.connection;
    view.snapshot = { ...view.snapshot, connection: { state: "connecting" } };
    emit();
    await later(300);
    view.snapshot = { ...view.snapshot, connection: { state: "authenticating" } };
    emit();
    await later(300);
    view.snapshot = { ...view.snapshot, connection: connected.state === "connected" ? connected : sampleView().snapshot.connection };
    emit();
  },
  open_server: () => undefined,
  pause({ choice }) {
    const until = { hour: Date.now() + 3_600_000, tomorrow: new Date().setHours(32, 0, 0, 0), resume: null }[choice];
    if (until === undefined) throw { code: "invalid_choice", message: "Pause for an hour, until tomorrow, or resume." };
    view = { ...view, paused_until_ms: until, notifications: { ...view.notifications, paused_until_ms: until } };
    emit();
  },
  save_settings({ settings }) {
    if (settings.rate_limit > 100) throw { code: "invalid_settings", message: "rate_limit: at most 100 popups per window" };
    view = { ...view, notifications: settings };
    emit();
  },
  set_autostart({ enabled }) {
    view = { ...view, autostart: enabled };
    emit();
  },
  cancel_scan({ libraryId }) {
    const scan = view.snapshot.scans.find((s) => s.library_id === libraryId);
    if (!scan) throw { code: "not_found", message: "no scan of that library is running" };
    view.snapshot = {
      ...view.snapshot,
      scans: view.snapshot.scans.filter((s) => s !== scan),
      activity: [...view.snapshot.activity, { at_ms: Date.now(), happening: {
        kind: "scan_finished", library_id: libraryId, library_name: scan.library_name, added: 0, updated: 0, missing: 0, failed: true } }],
    };
    emit();
  },
  broadcast({ message }) {
    if (message.includes("fail")) throw { code: "not_connected", message: "not connected to the server" };
    view.snapshot = { ...view.snapshot, activity: [...view.snapshot.activity, { at_ms: Date.now(), happening: { kind: "admin_message", text: message } }] };
    emit();
  },
  set_log_level({ level }) {
    clearInterval(logTimer);
    logTimer = null;
    if (level === null) return;
    let n = 0;
    logTimer = setInterval(() => {
      n += 1;
      const line = { timestamp: new Date().toISOString().replace("T", " ").slice(0, 23), source: "Fake.js:1",
        level, level_name: ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"][level], message: `fake log line ${n}` };
      view.snapshot = { ...view.snapshot, logs: [...view.snapshot.logs, line].slice(-500) };
      emit();
    }, 2000);
  },
  set_watching: () => undefined,
};

window.__TAURI__ = {
  core: {
    async invoke(name, args = {}) {
      calls.push({ name, args: structuredClone(args) });
      const command = commands[name];
      if (!command) throw `command ${name} not found`;
      return command(args);
    },
  },
  event: {
    async listen(name, handler) {
      if (name === "view") listeners.push(handler);
      return () => listeners.splice(listeners.indexOf(handler), 1);
    },
  },
};

// The real markup, so this page never drifts from index.html.
const html = await (await fetch("../index.html")).text();
const page = new DOMParser().parseFromString(html, "text/html");
document.body.replaceChildren(...[...page.body.childNodes].map((node) => document.importNode(node, true)));
if (params.get("theme")) document.documentElement.dataset.theme = params.get("theme");

await import("../main.js");

if (params.get("tab")) {
  const tab = document.querySelector(`button.tab[data-view="${CSS.escape(params.get("tab"))}"]`);
  tab?.click();
}
