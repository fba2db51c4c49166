//! The tray icon and its menu: on Linux (AppIndicator) the menu is the only way in, so it holds every action.

use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Runtime};

/// Id of the tray icon, to find it again when the state changes.
const TRAY_ID: &str = "abs-tray";

/// Menu item ids, matched in the menu event handler.
const OPEN_WINDOW: &str = "open-window";
/// Menu item id of Quit.
const QUIT: &str = "quit";

/// The icon shown before the first connection attempt.
const OFFLINE_ICON: &[u8] = include_bytes!("../../icons/tray-offline.png");

/// Builds the tray icon with its menu and wires the menu's actions.
pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let status = MenuItem::with_id(app, "status", "Not connected", false, None::<&str>)?;
    let open = MenuItem::with_id(app, OPEN_WINDOW, "Open ABS Tray", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, QUIT, "Quit", true, None::<&str>)?;
    let separator = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(app, &[&status, &separator, &open, &quit])?;

    TrayIconBuilder::with_id(TRAY_ID)
        .icon(Image::from_bytes(OFFLINE_ICON)?)
        .tooltip("ABS Tray")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| match event.id().as_ref() {
            OPEN_WINDOW => crate::show_main_window(app),
            QUIT => app.exit(0),
            other => tracing::debug!(item = other, "unhandled tray menu item"),
        })
        .build(app)?;
    Ok(())
}
