// The Now listening, Users and Activity views: lists rebuilt from each View.

import { $, h, show, replaceChildrenKeepingFocus } from "./dom.js";
import { ago, clock, durationSeconds, plural, span } from "./format.js";
import { coverTile, progressBar } from "./book.js";
import { renderMine } from "./mine.js";
import { markAsOf } from "./header.js";

/** One listening session (NowListening in live/snapshot.rs). */
function sessionRow(session, now) {
  const progress = Number.isFinite(session.progress) ? Math.min(1, Math.max(0, session.progress)) : null;
  const bar = progressBar(progress, session.title);
  const percent = progress === null ? null : `${Math.round(progress * 100)} %`;
  const position = session.duration_s > 0
    ? `${clock(session.position_s)} / ${clock(session.duration_s)}`
    : clock(session.position_s);
  const classes = ["session"];
  if (session.stale) classes.push("stale");
  if (session.closing) classes.push("closing");
  return h(
    "li",
    { class: classes.join(" "), dataset: { key: String(session.session_id), sessionId: String(session.session_id) } },
    coverTile(session.title),
    h(
      "div",
      { class: "row-body" },
      h("div", { class: "title", text: session.title || "Untitled" }),
      h("div", { class: "author muted", text: session.author || "" }),
      h(
        "div",
        { class: "meta" },
        h("span", { class: "user", text: session.user?.username ?? "" }),
        h("span", { class: "sep", attrs: { "aria-hidden": "true" }, text: " · " }),
        h("span", { class: "device", text: session.device || "Unknown device" }),
      ),
      bar,
      h(
        "div",
        { class: "time muted small" },
        h("span", { class: "position", text: position }),
        percent ? ` · ${percent}` : null,
        h("span", { class: "listened", text: ` · listened ${span(session.listened_s)}` }),
        session.closing ? " · closing" : null,
        session.stale ? ` · last sync ${ago(session.updated_at_ms, now)}` : null,
      ),
    ),
  );
}

/** The account the first tab last knew the user type of, and that type. */
let knownType = { account: null, admin: null };

/**
 * Which first tab to show: "admin" (everyone's listening), "user" (your own), or "loading"
 * while nothing has said which kind of account this is yet (right after start or sign-in), so
 * an admin never sees the other layout on the way.
 */
export function listeningLayout(view) {
  const account = view.account ? `${view.account.server_url}\n${view.account.username}` : null;
  const me = view.snapshot?.me;
  const connection = view.snapshot?.connection;
  let admin = null;
  if (me && typeof me.is_admin === "boolean") admin = me.is_admin;
  else if (connection?.state === "connected" && typeof connection.is_admin === "boolean") admin = connection.is_admin;
  if (admin !== null) knownType = { account, admin };
  else if (knownType.account === account) admin = knownType.admin;
  if (admin === null) return "loading";
  return admin ? "admin" : "user";
}

/**
 * Renders the first tab: everyone's listening for admins, your own for everyone else. The
 * caller's admin flag is not used: it cannot tell "not known yet" from "not an admin".
 */
export function renderListening(view, _isAdmin, now = Date.now()) {
  const layout = listeningLayout(view);
  $("view-listening").dataset.layout = layout;

  const sessions = layout === "admin" && Array.isArray(view.snapshot?.listening) ? view.snapshot.listening : [];
  const live = sessions.filter((s) => !s.stale);
  const stale = sessions.filter((s) => s.stale);
  const rows = live.map((s) => sessionRow(s, now));
  if (stale.length) {
    rows.push(h("li", { class: "group-label", text: "Possibly gone (no sync for a while)" }));
    rows.push(...stale.map((s) => sessionRow(s, now)));
  }
  replaceChildrenKeepingFocus($("listening-list"), rows);
  show($("listening-list"), layout === "admin");
  show($("listening-empty"), layout === "admin" && sessions.length === 0);

  const reading = renderMine(view, layout === "user", now);
  const loading = $("listening-loading");
  loading.textContent = reading ? "Loading your listening…" : "Connecting…";
  show(loading, layout === "loading" || reading);
  // Everyone's listening for admins, your own for everyone else: last known while offline.
  const shown = layout === "admin" ? [$("listening-list")] : layout === "user" ? [$("my-listening")] : [];
  markAsOf($("listening-as-of"), shown, layout === "loading" ? {} : view, now);
}

/** Renders Users (UserPresence in live/snapshot.rs). */
export function renderUsers(view, now = Date.now()) {
  const users = Array.isArray(view.snapshot?.users) ? view.snapshot.users : [];
  const rows = users.map((user) => {
    const online = user.connections > 0;
    const when = online
      ? Number.isFinite(user.online_since_ms) ? `online for ${span((now - user.online_since_ms) / 1000)}` : ""
      : Number.isFinite(user.last_seen_ms) ? `last seen ${ago(user.last_seen_ms, now)}` : "not seen yet";
    return h(
      "li",
      { class: `user ${online ? "is-online" : "is-offline"}`, dataset: { key: String(user.user_id), userId: String(user.user_id) } },
      h("span", { class: `dot ${online ? "state-connected" : "state-idle"}`, attrs: { "aria-hidden": "true" } }),
      h(
        "div",
        { class: "row-body" },
        h("div", { class: "name", text: user.username ?? "" }),
        h(
          "div",
          { class: "meta muted small" },
          h("span", { class: "state", text: online ? "online" : "offline" }),
          " · ",
          h("span", { class: "connections", text: String(user.connections ?? 0) }),
          user.connections === 1 ? " connection" : " connections",
          when ? h("span", { class: "seen", text: ` · ${when}` }) : null,
        ),
      ),
    );
  });
  replaceChildrenKeepingFocus($("users-list"), rows);
  show($("users-empty"), users.length === 0);
  markAsOf($("users-as-of"), [$("users-list")], view, now);
}

/** The notification category of a happening kind (`Happening::category` in happening.rs). */
const CATEGORIES = {
  admin_message: "admin_message",
  user_online: "presence",
  user_offline: "presence",
  session_started: "sessions",
  session_stopped: "sessions",
  finished: "progress",
  milestone: "progress",
  playing_elsewhere: "progress",
  scan_finished: "server_activity",
  files_changed: "server_activity",
  episode_downloaded: "server_activity",
  backup_applied: "server_activity",
  items_added: "server_activity",
  user_added: "server_activity",
  user_removed: "server_activity",
};

/** Whether a happening belongs in `filter` ("" = all; a resync matches when any change does). */
function matches(happening, filter) {
  if (!filter) return true;
  if (happening?.kind === "resynced") {
    return (happening.changes || []).some((change) => matches(change, filter));
  }
  return CATEGORIES[happening?.kind] === filter;
}

/** One happening in words (Happening in happening.rs); every server string stays text. */
export function describe(happening) {
  const name = (who) => who?.username ?? "someone";
  const title = (t) => t || "an item";
  const l = happening.listening ?? {};
  switch (happening.kind) {
    case "admin_message":
      return `Message from an admin: ${happening.text ?? ""}`;
    case "user_online":
      return `${name(happening.user)} came online`;
    case "user_offline":
      return `${name(happening.user)} went offline`;
    case "session_started":
      return `${name(l.user)} started ${title(l.title)}${l.device ? ` on ${l.device}` : ""}`;
    case "session_stopped": {
      const listened = Number.isFinite(happening.listened_s) ? ` after ${span(happening.listened_s)}` : "";
      return `${name(l.user)} stopped ${title(l.title)}${listened}`;
    }
    case "finished":
      return `You finished ${title(happening.title)}`;
    case "milestone":
      return `You are ${happening.percent ?? "?"} % through ${title(happening.title)}`;
    case "playing_elsewhere":
      return `${title(happening.title)} is playing on ${happening.device || "another device"}`;
    case "scan_finished": {
      const library = happening.library_name || happening.library_id || "a library";
      if (happening.failed) return `Scan of ${library} was cancelled or failed`;
      return `Scan of ${library} finished: ${happening.added ?? 0} added, ${happening.updated ?? 0} updated, ${happening.missing ?? 0} missing`;
    }
    case "files_changed": {
      const library = happening.library_name || happening.library_id || "a library";
      const counts = [["added", happening.added], ["updated", happening.updated], ["removed", happening.removed]]
        .filter(([, n]) => n > 0).map(([what, n]) => `${n} ${what}`);
      return `Files changed in ${library}${counts.length ? `: ${counts.join(", ")}` : ""}`;
    }
    case "episode_downloaded":
      return `Downloaded ${happening.episode_title || "an episode"}${happening.podcast_title ? ` of ${happening.podcast_title}` : ""}`;
    case "backup_applied":
      return "A backup was restored on the server";
    case "items_added": {
      const count = happening.count ?? 0;
      return `${plural(count, "item")} added${happening.first_title ? `, first ${happening.first_title}` : ""}`;
    }
    case "user_added":
      return `User ${name(happening.user)} was added`;
    case "user_removed":
      return `User ${name(happening.user)} was removed`;
    case "resynced": {
      const changes = happening.changes?.length ?? 0;
      // Away: offline, or the app (or the machine) was frozen or asleep.
      return `Back after ${span(durationSeconds(happening.outage))} away: ${plural(changes, "change")}`;
    }
    default:
      return String(happening.kind ?? "Something happened").replace(/_/g, " ");
  }
}

/** Renders Activity, newest first, through the category filter. */
export function renderActivity(view, now = Date.now()) {
  const entries = Array.isArray(view.snapshot?.activity) ? view.snapshot.activity : [];
  const filter = $("activity-filter").value;
  const shown = entries
    .map((entry, index) => ({ entry, index }))
    .filter(({ entry }) => matches(entry.happening, filter))
    .reverse();
  const rows = shown.map(({ entry, index }) => {
    const happening = entry.happening ?? {};
    const kind = String(happening.kind ?? "unknown");
    const changes = kind === "resynced" && Array.isArray(happening.changes) ? happening.changes : [];
    return h(
      "li",
      { class: `activity kind-${kind.replace(/[^a-z_]/g, "")} cat-${CATEGORIES[kind] ?? "other"}`, dataset: { key: `${entry.at_ms}-${index}`, kind } },
      h("span", { class: "text", text: describe(happening) }),
      Number.isFinite(entry.at_ms)
        ? h("time", { class: "when muted small", dateTime: new Date(entry.at_ms).toISOString(), text: ago(entry.at_ms, now) })
        : null,
      changes.length
        ? h("ul", { class: "changes" }, changes.filter((c) => matches(c, filter)).map((c) => h("li", { text: describe(c) })))
        : null,
    );
  });
  replaceChildrenKeepingFocus($("activity-list"), rows);
  const empty = $("activity-empty");
  empty.textContent = entries.length ? "Nothing in this category yet." : "Nothing has happened yet.";
  show(empty, rows.length === 0);
}
