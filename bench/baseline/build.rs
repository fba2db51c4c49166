//! Generates Tauri's context (config, embedded ui/) at build time, as the app does.

fn main() {
    if let Err(err) = tauri_build::try_build(tauri_build::Attributes::new()) {
        panic!("tauri build step failed: {err:#}");
    }
}
