//! The status window: created on demand, hidden on close, and destroyed after a while hidden
//! so the WebKit processes exit and a tray-only ABS Tray costs little memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tauri::{AppHandle, Manager, Runtime, WebviewWindowBuilder, Window, WindowEvent};

use crate::Shell;

/// Label of the one status window, as declared in `tauri.conf.json` and the capability file.
pub const MAIN_WINDOW: &str = "main";
/// How long a hidden window keeps its webview: reopening soon after is instant, and a
/// forgotten one stops costing memory.
const DESTROY_AFTER: Duration = Duration::from_secs(120);

/// Counts hides, so a destroy timer knows whether the window was shown again meanwhile.
static HIDES: AtomicU64 = AtomicU64::new(0);

/// Shows and focuses the status window, creating it (from its configuration) when needed.
pub fn show<R: Runtime>(app: &AppHandle<R>) {
    HIDES.fetch_add(1, Ordering::Relaxed);
    let window = match app.get_webview_window(MAIN_WINDOW) {
        Some(window) => window,
        None => match create(app) {
            Ok(window) => window,
            Err(err) => {
                tracing::error!(%err, "could not create the window");
                return;
            }
        },
    };
    let shown = window
        .show()
        .and_then(|()| window.unminimize())
        .and_then(|()| window.set_focus());
    if let Err(err) = shown {
        tracing::warn!(%err, "could not show the window");
    }
    if let Some(shell) = app.try_state::<Shell>() {
        shell.app.set_watching(true);
    }
}

/// Builds the window from `tauri.conf.json` (where `create` is false so nothing opens at start).
fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<tauri::WebviewWindow<R>> {
    let config = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN_WINDOW)
        .cloned()
        .ok_or_else(|| tauri::Error::WindowNotFound)?;
    WebviewWindowBuilder::from_config(app, &config)?.build()
}

/// Closing the window hides it to the tray (Quit lives in the tray menu) and starts the timer
/// that destroys its webview.
pub fn on_event<R: Runtime>(window: &Window<R>, event: &WindowEvent) {
    if window.label() != MAIN_WINDOW {
        return;
    }
    if let WindowEvent::CloseRequested { api, .. } = event {
        api.prevent_close();
        if let Err(err) = window.hide() {
            tracing::warn!(%err, "could not hide the window");
        }
        let app = window.app_handle().clone();
        if let Some(shell) = app.try_state::<Shell>() {
            shell.app.set_watching(false);
        }
        let hide = HIDES.fetch_add(1, Ordering::Relaxed) + 1;
        tauri::async_runtime::spawn(async move {
            tokio::time::sleep(DESTROY_AFTER).await;
            destroy_if_still_hidden(&app, hide);
        });
    }
}

/// Destroys the window when nothing showed it since hide number `hide`.
fn destroy_if_still_hidden<R: Runtime>(app: &AppHandle<R>, hide: u64) {
    if HIDES.load(Ordering::Relaxed) != hide {
        return;
    }
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        if window.is_visible().unwrap_or(true) {
            return;
        }
        tracing::info!("destroying the hidden window's webview");
        if let Err(err) = window.destroy() {
            tracing::warn!(%err, "could not destroy the hidden window");
        }
    }
}
