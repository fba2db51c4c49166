// The tab bar: one view at a time, arrow keys move between tabs (roving tabindex).

import { $ } from "./dom.js";

/** The tab bar's state and wiring. */
export class Tabs {
  /** Wires the buttons; `onShow(name)` runs whenever a view becomes visible. */
  constructor(onShow) {
    this.onShow = onShow;
    this.current = "listening";
    this.buttons = [...document.querySelectorAll("button.tab[data-view]")];
    for (const button of this.buttons) {
      button.addEventListener("click", () => this.select(button.dataset.view, false));
      button.addEventListener("keydown", (event) => this.onKey(event, button));
    }
    this.select(this.current, false);
  }

  /** Tabs that are not hidden, in order. */
  visible() {
    return this.buttons.filter((b) => !b.hidden);
  }

  /** Shows only the tabs in `names`; falls back to the first one if the current is gone. */
  setAvailable(names) {
    const allowed = new Set(names);
    for (const button of this.buttons) button.hidden = !allowed.has(button.dataset.view);
    if (!allowed.has(this.current)) this.select(names[0], false);
  }

  /** Makes `name` the visible view; `focus` moves keyboard focus to its tab. */
  select(name, focus) {
    this.current = name;
    for (const button of this.buttons) {
      const selected = button.dataset.view === name;
      button.setAttribute("aria-selected", String(selected));
      button.tabIndex = selected ? 0 : -1;
      button.classList.toggle("selected", selected);
      if (selected && focus) button.focus();
      const panel = $(`view-${button.dataset.view}`);
      if (panel) panel.hidden = !selected;
    }
    this.onShow(name);
  }

  /** Left/Right/Home/End between tabs. */
  onKey(event, button) {
    const tabs = this.visible();
    const at = tabs.indexOf(button);
    let next = null;
    if (event.key === "ArrowRight") next = tabs[(at + 1) % tabs.length];
    else if (event.key === "ArrowLeft") next = tabs[(at - 1 + tabs.length) % tabs.length];
    else if (event.key === "Home") next = tabs[0];
    else if (event.key === "End") next = tabs[tabs.length - 1];
    if (!next) return;
    event.preventDefault();
    this.select(next.dataset.view, true);
  }
}
