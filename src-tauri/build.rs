//! Generates Tauri's context (config, capabilities, embedded ui/) at build time.

/// The window's commands: each gets an `allow-<name>` permission that the capability file must
/// grant, so a command nobody listed cannot be called.
const COMMANDS: &[&str] = &[
    "view",
    "sign_in",
    "try_demo",
    "diagnose",
    "sign_out",
    "reconnect",
    "open_server",
    "pause",
    "save_settings",
    "set_autostart",
    "cancel_scan",
    "broadcast",
    "set_log_level",
    "set_watching",
];

fn main() {
    let attributes = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(err) = tauri_build::try_build(attributes) {
        panic!("tauri build step failed: {err:#}");
    }
}
