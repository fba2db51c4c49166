//! ABS Tray's entry point: everything lives in the library so tests can build the app too.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    abs_tray::run();
}
