//! A bare Tauri 2 tray app: a tray icon with a one-item menu (Quit), no window and no logic.
//! `make bench` measures ABS Tray next to it, so what ABS Tray costs above Tauri itself shows.

use tauri::RunEvent;
use tauri::image::Image;
use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;

/// The same tray icon ABS Tray starts with, so both hand the panel an image of the same size.
const ICON: &[u8] = include_bytes!("../../../icons/tray-connected.png");

/// Builds the tray and runs until Quit.
fn main() {
    let app = tauri::Builder::default()
        .setup(|app| {
            let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
            let menu = Menu::with_items(app, &[&quit])?;
            TrayIconBuilder::with_id("abs-tray-baseline")
                .icon(Image::from_bytes(ICON)?)
                .menu(&menu)
                .on_menu_event(|app, _event| app.exit(0))
                .build(app)?;
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(err) => {
            eprintln!("abs-tray-baseline could not start: {err}");
            std::process::exit(1);
        }
    };
    // Like ABS Tray: no window must not end a tray app; only Quit (an explicit code) does.
    app.run(|_, event| {
        if let RunEvent::ExitRequested {
            code: None, api, ..
        } = event
        {
            api.prevent_exit();
        }
    });
}
