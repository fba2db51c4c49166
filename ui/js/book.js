// The parts every book row is made of (everyone's listening, your own): the cover tile and the
// progress bar. Kept apart so the list modules do not import each other.

import { h } from "./dom.js";

/** A stable small number from a string, to pick a tile colour without inline styles. */
function hue(text) {
  let sum = 0;
  for (const ch of String(text)) sum = (sum * 31 + ch.codePointAt(0)) >>> 0;
  return sum % 6;
}

/**
 * The neutral cover tile: the title's first letter on a colour; never a network image (the
 * webview has no token to fetch covers with, and the covers the core caches are for popups).
 */
export function coverTile(title) {
  const letter = [...String(title || "?").trim()][0]?.toUpperCase() || "?";
  return h("span", { class: `cover tile-${hue(title)}`, attrs: { "aria-hidden": "true" }, text: letter });
}

/** A progress bar for a fraction (0 when unknown), labelled with the title. */
export function progressBar(fraction, title) {
  const bar = h("progress", { max: 1, attrs: { "aria-label": `Progress of ${title || "item"}` } });
  bar.value = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  return bar;
}
