//! Watches the notification daemon's D-Bus traffic: every `Notify` call on the session bus, as
//! `dbus-monitor` sees it, so a test can prove a popup really went out (not just that the app
//! meant to send one).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One `Notify` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Popup {
    /// The sender's application name (`ABS Tray` for the app).
    pub app_name: String,
    /// The title.
    pub summary: String,
    /// The body (one line of it; dbus-monitor prints embedded newlines raw).
    pub body: String,
}

/// Why watching could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// `dbus-monitor` is missing or could not start.
    #[error("cannot run dbus-monitor (package dbus): {0}")]
    Spawn(std::io::Error),
    /// The monitor never saw the warm-up popup, so it would miss the real ones too.
    #[error("dbus-monitor never saw a warm-up Notify call (is a notification daemon running?)")]
    NotWatching,
}

/// A running `dbus-monitor` filtered to `Notify` calls; stops when dropped.
#[derive(Debug)]
pub struct PopupWatch {
    child: Child,
    popups: mpsc::Receiver<Popup>,
}

/// The app name the warm-up popups are sent with, so they are easy to tell apart.
const WARM_UP_APP: &str = "abs-tray-e2e-warm-up";

impl PopupWatch {
    /// Starts watching and returns once the monitor demonstrably sees `Notify` calls: the match
    /// rule is installed asynchronously, so warm-up popups are sent (with `notify-send`) until
    /// one comes through. The warm-ups are then closed and drained.
    pub fn start() -> Result<Self, WatchError> {
        let mut child = Command::new("dbus-monitor")
            .arg("interface='org.freedesktop.Notifications',member='Notify'")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(WatchError::Spawn)?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err(WatchError::NotWatching);
        };
        let (tx, popups) = mpsc::channel();
        std::thread::spawn(move || parse(BufReader::new(stdout), &tx));
        let watch = Self { child, popups };

        let mut seen = false;
        for _ in 0..20 {
            let _ = Command::new("notify-send")
                .args(["--app-name", WARM_UP_APP, "--expire-time", "1", "warm-up"])
                .status();
            if watch
                .wait(Duration::from_millis(500), |p| p.app_name == WARM_UP_APP)
                .is_some()
            {
                seen = true;
                break;
            }
        }
        if !seen {
            return Err(WatchError::NotWatching);
        }
        let _ = Command::new("dunstctl").arg("close-all").status();
        while watch
            .popups
            .recv_timeout(Duration::from_millis(200))
            .is_ok()
        {}
        Ok(watch)
    }

    /// The next popup matching `pred` within `timeout`, skipping (and dropping) others.
    pub fn wait(&self, timeout: Duration, mut pred: impl FnMut(&Popup) -> bool) -> Option<Popup> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.popups.recv_timeout(left) {
                Ok(popup) if pred(&popup) => return Some(popup),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// Every popup up to and including the first one matching `pred`, within `timeout`; `None`
    /// when none matched in time. With a popup that must come last (a barrier sent after the
    /// others), this is also every popup the events before it raised: they go out in order.
    pub fn collect_until(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&Popup) -> bool,
    ) -> Option<Vec<Popup>> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let popup = self.popups.recv_timeout(left).ok()?;
            let done = pred(&popup);
            seen.push(popup);
            if done {
                return Some(seen);
            }
        }
    }

    /// Every popup already seen, without waiting.
    pub fn drain(&self) -> Vec<Popup> {
        self.popups.try_iter().collect()
    }
}

impl Drop for PopupWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Turns dbus-monitor's text into popups: a `Notify` call's string arguments are the app name,
/// the icon, the summary and the body, in that order.
fn parse(out: impl BufRead, tx: &mpsc::Sender<Popup>) {
    let mut strings: Vec<String> = Vec::new();
    let mut in_call = false;
    for line in out.lines().map_while(Result::ok) {
        if line.starts_with("method call") {
            in_call = line.contains("member=Notify");
            strings.clear();
            continue;
        }
        let Some(text) = line.trim_start().strip_prefix("string \"") else {
            continue;
        };
        if !in_call {
            continue;
        }
        strings.push(text.strip_suffix('"').unwrap_or(text).to_owned());
        if let [app_name, _icon, summary, body] = strings.as_slice() {
            in_call = false;
            let popup = Popup {
                app_name: app_name.clone(),
                summary: summary.clone(),
                body: body.clone(),
            };
            if tx.send(popup).is_err() {
                break;
            }
        }
    }
}
