// Building DOM from data. Server strings are hostile: they only ever become text nodes.

/**
 * Creates an element. `props`: `class` (string), `text` (set as textContent), `dataset` (object),
 * `attrs` (plain attributes, never event handlers or style), anything else as a property.
 * Children may be nodes, strings (become text nodes), or null/false (skipped).
 */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "attrs") {
      for (const [name, attr] of Object.entries(value)) {
        if (/^on/i.test(name) || name === "style") continue;
        node.setAttribute(name, String(attr));
      }
    } else node[key] = value;
  }
  append(node, children);
  return node;
}

/** Appends children (nodes or text). */
function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Shorthand for getElementById. */
export const $ = (id) => document.getElementById(id);

/**
 * Replaces a list's children, keeping keyboard focus on the element that had it when an element
 * with the same `data-key` (and the same focused sub-control class) is rebuilt.
 */
export function replaceChildrenKeepingFocus(list, children) {
  const active = document.activeElement;
  let key = null;
  let controlClass = null;
  if (active && list.contains(active) && active !== list) {
    const row = active.closest("[data-key]");
    key = row ? row.dataset.key : null;
    controlClass = active === row ? null : active.className;
  }
  list.replaceChildren(...children);
  if (key === null) return;
  const row = [...list.querySelectorAll("[data-key]")].find((r) => r.dataset.key === key);
  if (!row) return;
  const target = controlClass ? row.querySelector(`.${CSS.escape(controlClass.split(" ")[0])}`) : row;
  if (target && !target.disabled) target.focus({ preventScroll: true });
}

/** Shows `message` in an error area (or hides it when empty). */
export function showError(area, message) {
  if (!area) return;
  area.textContent = message || "";
  area.hidden = !message;
}

/** Shows or hides an element. */
export function show(node, visible) {
  if (node) node.hidden = !visible;
}
