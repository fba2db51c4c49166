//! End-to-end tests of ABS Tray against real parts: the simulator, the official Socket.IO client,
//! a private desktop session with D-Bus, gnome-keyring, dunst and Xvfb, and the real window driven
//! through WebDriver. The tests live in `tests/tests/`; this library holds what they share.

pub mod desktop;
pub mod opener;
pub mod popups;
pub mod sni;
pub mod tauri_driver;
pub mod webdriver;
pub mod window;
