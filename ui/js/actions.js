// Running a command from a control: busy while it runs, its error shown next to it.

import { asError, invoke } from "./ipc.js";
import { $, showError } from "./dom.js";

/**
 * Invokes `name` with `args` on behalf of `button`: disables it while pending and shows a
 * rejection's message in `errorArea` (the global `#error` when none). Resolves to
 * `{ok: true, value}` or `{ok: false, error}`; never rejects.
 */
export async function run(button, errorArea, name, args) {
  const area = errorArea || $("error");
  showError(area, "");
  if (button) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
  }
  try {
    return { ok: true, value: await invoke(name, args) };
  } catch (err) {
    const error = asError(err);
    showError(area, error.message);
    return { ok: false, error };
  } finally {
    if (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }
}
