//! What the delivery tests share: a recording opener and dunstctl against a chosen bus.
#![allow(dead_code, reason = "each test binary uses its own part of this")]

use std::process::Command;
use std::sync::{Mutex, mpsc};

use abs_tray_core::delivery::Opener;

/// Records what each click asked to open: the page, or `window`.
pub struct Recorder(pub Mutex<mpsc::Sender<String>>);

impl Opener for Recorder {
    fn open_url(&self, url: &str) {
        let _ = self.0.lock().unwrap().send(url.to_owned());
    }
    fn open_window(&self) {
        let _ = self.0.lock().unwrap().send("window".to_owned());
    }
}

/// Fails (never skips) outside the private session of `scripts/desktop-session.sh`.
pub fn require_session() {
    assert!(
        std::env::var_os("ABS_TRAY_DESKTOP_SESSION").is_some(),
        "run through scripts/desktop-session.sh (make test does)"
    );
}

/// Runs dunstctl on the session bus; returns its trimmed output and fails the test if it fails.
pub fn dunstctl(args: &[&str]) -> String {
    dunstctl_on(None, args)
}

/// Runs dunstctl on the bus at `address` (the session bus when `None`).
pub fn dunstctl_on(address: Option<&str>, args: &[&str]) -> String {
    let mut command = Command::new("dunstctl");
    if let Some(address) = address {
        command.env("DBUS_SESSION_BUS_ADDRESS", address);
    }
    let out = command.args(args).output().expect("dunstctl runs");
    assert!(
        out.status.success(),
        "dunstctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
