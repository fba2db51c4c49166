// The one door to the Rust shell. Everything goes through `window.__TAURI__`, looked up at call
// time, so a test page can install a fake before (or after) this module loads.

/** The Tauri globals (withGlobalTauri), or a clear error when the page runs outside the app. */
function tauri() {
  const api = window.__TAURI__;
  if (!api || !api.core || !api.event) {
    throw { code: "no_shell", message: "ABS Tray's window needs the app around it (no Tauri API found)." };
  }
  return api;
}

/**
 * A rejection as `{code, message, detail, diagnose}` (the core's `Problem`), whatever shape it came
 * in: Tauri rejects bad arguments with a bare string, which becomes the detail of a plain message.
 */
export function asError(err) {
  if (err && typeof err === "object" && typeof err.message === "string") {
    return {
      code: typeof err.code === "string" ? err.code : "error",
      message: err.message,
      detail: typeof err.detail === "string" ? err.detail : null,
      diagnose: err.diagnose === true,
    };
  }
  const detail = typeof err === "string" ? err : null;
  return { code: "error", message: "Something went wrong inside ABS Tray; please report it.", detail, diagnose: false };
}

/** Calls a command; rejects with `{code, message}`. */
export async function invoke(name, args) {
  try {
    return await tauri().core.invoke(name, args);
  } catch (err) {
    throw asError(err);
  }
}

/** Calls `handler(view)` for every View the shell pushes; resolves to an unlisten function. */
export async function onView(handler) {
  return tauri().event.listen("view", (event) => handler(event.payload));
}
