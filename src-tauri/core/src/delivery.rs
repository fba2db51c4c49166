//! Native popups on a thread of their own; server text never becomes markup.
//!
//! On Linux one delivery thread talks to the notification server over ONE long-lived session-bus
//! connection ([`dbus`]), and one listener thread reads the clicks from it; elsewhere notify-rust
//! shows the popups ([`portable`]). Callers only queue popups, so a slow or missing notification
//! server never blocks them.

use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::thread;

#[cfg(target_os = "linux")]
mod clicks;
#[cfg(target_os = "linux")]
mod dbus;
#[cfg(not(target_os = "linux"))]
mod portable;

#[cfg(target_os = "linux")]
use dbus as backend;
#[cfg(not(target_os = "linux"))]
use portable as backend;

/// How urgent a popup is; desktops use it for sound, colour and do-not-disturb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// Background information.
    Low,
    /// The usual.
    Normal,
    /// Admin broadcasts: shown even in do-not-disturb on some desktops.
    Critical,
}

/// One popup, in plain text; markup is escaped here, never trusted.
#[derive(Debug, Clone, PartialEq)]
pub struct Popup {
    /// The first line.
    pub title: String,
    /// The text below it.
    pub body: String,
    /// How urgent.
    pub urgency: Urgency,
    /// The ABS page a click on the popup opens (a plain address, never one carrying a token).
    pub open_url: Option<String>,
    /// A local image file (a cached cover) to show with it.
    pub image: Option<PathBuf>,
}

/// Opens what a click asks for; the desktop opens a browser, tests record.
pub trait Opener: Send + Sync + 'static {
    /// Opens an ABS page in the browser.
    fn open_url(&self, url: &str);
    /// Shows the ABS Tray window.
    fn open_window(&self);
}

/// How the app presents itself to the notification server.
#[derive(Debug, Clone)]
pub struct AppIdentity {
    /// The name desktops show as the sender.
    pub app_name: String,
    /// The `.desktop` file name without extension, so desktops attribute popups to the app.
    pub desktop_entry: String,
    /// An icon name or path.
    pub icon: String,
}

impl Default for AppIdentity {
    fn default() -> Self {
        Self {
            app_name: "ABS Tray".into(),
            desktop_entry: "abs-tray".into(),
            icon: "abs-tray".into(),
        }
    }
}

/// The action id of "Open ABS Tray".
const OPEN_WINDOW_ACTION: &str = "open-window";

/// Hands popups to the delivery thread; cheap to clone, never blocks the caller.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Popups to show, in order.
    popups: mpsc::Sender<Popup>,
}

impl Delivery {
    /// Starts the delivery thread.
    pub fn start(identity: AppIdentity, opener: Arc<dyn Opener>) -> Self {
        let (popups, queue) = mpsc::channel::<Popup>();
        let spawned = thread::Builder::new()
            .name("abs-tray-notify".into())
            .spawn(move || backend::deliver_all(&identity, &opener, &queue));
        if let Err(err) = spawned {
            tracing::error!(%err, "could not start the notification thread; popups are off");
        }
        Self { popups }
    }

    /// Queues a popup.
    pub fn show(&self, popup: Popup) {
        if self.popups.send(popup).is_err() {
            tracing::debug!("notification thread gone; popup dropped");
        }
    }
}

/// Opens what a popup's action asks for: its page, else the window; unknown actions do nothing.
#[cfg_attr(
    any(target_os = "macos", windows),
    allow(dead_code, reason = "popups there have no actions to answer")
)]
fn act(opener: &dyn Opener, action: &str, open_url: Option<&str>) {
    match (action, open_url) {
        ("default", Some(url)) => opener.open_url(url),
        ("default", None) | (OPEN_WINDOW_ACTION, _) => opener.open_window(),
        _ => {}
    }
}

/// Escapes text for the freedesktop body markup, so server strings show literally.
pub fn escape_markup(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped_not_interpreted() {
        assert_eq!(escape_markup("<b>x</b>&"), "&lt;b&gt;x&lt;/b&gt;&amp;");
        assert_eq!(
            escape_markup(r#"<img src=x onerror="alert(1)">"#),
            "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
        );
        assert_eq!(escape_markup("plain é"), "plain é");
    }

    /// Records the opener calls.
    #[derive(Default)]
    struct Calls(std::sync::Mutex<Vec<String>>);

    impl Opener for Calls {
        fn open_url(&self, url: &str) {
            self.0.lock().unwrap().push(url.to_owned());
        }
        fn open_window(&self) {
            self.0.lock().unwrap().push("window".to_owned());
        }
    }

    #[test]
    fn actions_open_the_page_else_the_window() {
        let calls = Calls::default();
        act(&calls, "default", Some("https://abs.example/item/1"));
        act(&calls, "default", None);
        act(
            &calls,
            OPEN_WINDOW_ACTION,
            Some("https://abs.example/item/2"),
        );
        act(&calls, "something-else", Some("https://abs.example/item/3"));
        assert_eq!(
            *calls.0.lock().unwrap(),
            ["https://abs.example/item/1", "window", "window"]
        );
    }
}
