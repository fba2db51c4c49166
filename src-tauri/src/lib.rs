//! The ABS Tray desktop shell: tray icon, status window and the glue to `abs-tray-core`.
//!
//! The shell stays thin: it renders what the core publishes and forwards what the user asks for.

mod tray;

use tauri::{Manager, RunEvent, Runtime, WindowEvent};

/// Label of the one status window, as declared in `tauri.conf.json` and the capability file.
pub const MAIN_WINDOW: &str = "main";

/// Adds ABS Tray's plugins, state and handlers to any builder, so tests can use the mock runtime.
pub fn app_builder<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .setup(|app| {
            tray::create(app.handle())?;
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window keeps the app in the tray; Quit lives in the tray menu.
            if let WindowEvent::CloseRequested { api, .. } = event {
                api.prevent_close();
                if let Err(err) = window.hide() {
                    tracing::warn!(%err, "could not hide the window");
                }
            }
        })
}

/// Shows and focuses the status window.
pub fn show_main_window<R: Runtime>(app: &tauri::AppHandle<R>) {
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        let shown = window
            .show()
            .and_then(|()| window.unminimize())
            .and_then(|()| window.set_focus());
        if let Err(err) = shown {
            tracing::warn!(%err, "could not show the window");
        }
    }
}

/// Starts ABS Tray and blocks until the user quits.
pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ABS_TRAY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let app = match app_builder(tauri::Builder::default()).build(tauri::generate_context!()) {
        Ok(app) => app,
        Err(err) => {
            tracing::error!(%err, "ABS Tray could not start");
            std::process::exit(1);
        }
    };
    app.run(|_app, event| {
        // The last window closing must not end a tray app; only the Quit item (an explicit code) does.
        if let RunEvent::ExitRequested {
            code: None, api, ..
        } = event
        {
            api.prevent_exit();
        }
    });
}
