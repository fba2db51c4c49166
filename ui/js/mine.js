// Your own listening on the first tab, for accounts that are not admins: the book playing now,
// recent sessions and finished books (MyListening in live/snapshot.rs). Never a dead end: with
// nothing to show it says what will appear, and how.

import { $, h, show, replaceChildrenKeepingFocus } from "./dom.js";
import { ago, clock, span } from "./format.js";
import { coverTile, progressBar } from "./book.js";

/** "Pixel 8" as "on Pixel 8"; nothing when the device is unknown. */
function onDevice(device) {
  return device ? `on ${device}` : null;
}

/** The book playing now (a NowListening whose user is you). */
function currentRow(current, now) {
  const position = current.duration_s > 0
    ? `${clock(current.position_s)} / ${clock(current.duration_s)}`
    : clock(current.position_s);
  const percent = Number.isFinite(current.progress) ? `${Math.round(current.progress * 100)} %` : null;
  return h(
    "li",
    { class: `mine-current session${current.stale ? " stale" : ""}`, dataset: { key: String(current.session_id) } },
    coverTile(current.title),
    h(
      "div",
      { class: "row-body" },
      h("div", { class: "title", text: current.title || "Untitled" }),
      h("div", { class: "author muted", text: current.author || "" }),
      h("div", { class: "meta" }, h("span", { class: "device", text: current.device ? `Playing on ${current.device}` : "Playing" })),
      progressBar(current.progress, current.title),
      h(
        "div",
        { class: "time muted small" },
        h("span", { class: "position", text: position }),
        percent ? ` · ${percent}` : null,
        current.stale ? ` · paused or stopped, last sync ${ago(current.updated_at_ms, now)}` : null,
      ),
    ),
  );
}

/** One of your recent sessions (PastSession). */
function recentRow(session, now) {
  const percent = Number.isFinite(session.progress) ? `${Math.round(session.progress * 100)} %` : null;
  return h(
    "li",
    { class: "mine-recent", dataset: { key: String(session.session_id) } },
    coverTile(session.title),
    h(
      "div",
      { class: "row-body" },
      h("div", { class: "title", text: session.title || "Untitled" }),
      h("div", { class: "author muted", text: session.author || "" }),
      h(
        "div",
        { class: "meta muted small" },
        h("span", { class: "when", text: ago(session.updated_at_ms, now) }),
        h("span", { class: "device", text: session.device ? ` · ${onDevice(session.device)}` : "" }),
        h("span", { class: "listened", text: ` · listened ${span(session.listened_s)}` }),
        percent ? h("span", { class: "reached", text: ` · reached ${percent}` }) : null,
      ),
    ),
  );
}

/** A book you finished (FinishedBook). */
function finishedRow(book, now) {
  return h(
    "li",
    { class: "mine-finished", dataset: { key: String(book.item_id) } },
    coverTile(book.title),
    h(
      "div",
      { class: "row-body" },
      h("div", { class: "title", text: book.title || "Untitled" }),
      h("div", { class: "author muted", text: book.author || "" }),
      h("div", {
        class: "meta muted small",
        text: Number.isFinite(book.finished_at_ms) ? `Finished ${ago(book.finished_at_ms, now)}` : "Finished",
      }),
    ),
  );
}

/** Renders your own listening; `shown` is false while another layout has the tab. */
export function renderMine(view, shown, now = Date.now()) {
  const mine = view.snapshot?.mine ?? {};
  const current = mine.current && typeof mine.current === "object" ? mine.current : null;
  const recent = Array.isArray(mine.recent) ? mine.recent : [];
  const finished = Array.isArray(mine.finished) ? mine.finished : [];
  const loaded = mine.loaded === true;
  const nothing = loaded && !current && recent.length === 0 && finished.length === 0;

  replaceChildrenKeepingFocus($("my-current"), current ? [currentRow(current, now)] : []);
  replaceChildrenKeepingFocus($("my-recent"), recent.map((s) => recentRow(s, now)));
  replaceChildrenKeepingFocus($("my-finished"), finished.map((b) => finishedRow(b, now)));
  show($("my-current-empty"), !current);
  for (const [id, list] of [["my-recent", recent], ["my-finished", finished]]) {
    show($(`${id}-title`), list.length > 0);
    show($(id), list.length > 0);
  }

  // Something to show (or the book playing before the lists are read): the lists. Nothing at
  // all: what will appear, and how. Not read yet: a neutral line.
  show($("my-listening"), shown && (Boolean(current) || (loaded && !nothing)));
  show($("my-empty"), shown && nothing);
  return shown && !current && !loaded;
}
