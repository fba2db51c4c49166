//! Native popups through notify-rust, on threads of their own; server text never becomes markup.
//!
//! notify-rust's D-Bus calls block (and panic on tokio worker threads once zbus's tokio feature
//! is on), so one delivery thread shows popups and a small, capped set of waiter threads keeps
//! each handle alive: GNOME removes a popup when its sender's connection closes, and dunst sends
//! `ActionInvoked` only to the connection that sent `Notify`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;

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
/// How many popups may wait for a click at once; each holds a thread and a D-Bus connection.
const MAX_WAITING: usize = 16;

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
            .spawn(move || deliver_all(&identity, &opener, &queue));
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

/// What the notification server can do, asked once.
#[derive(Debug, Clone, Copy, Default)]
struct Capabilities {
    /// Interprets markup in the body (so text must be escaped).
    markup: bool,
    /// Supports clickable actions.
    actions: bool,
}

/// The delivery thread's loop.
fn deliver_all(identity: &AppIdentity, opener: &Arc<dyn Opener>, queue: &mpsc::Receiver<Popup>) {
    let waiting = Arc::new(AtomicUsize::new(0));
    let mut capabilities: Option<Capabilities> = None;
    let mut daemon_missing_logged = false;
    while let Ok(popup) = queue.recv() {
        let caps = *capabilities.get_or_insert_with(query_capabilities);
        match build(identity, &popup, caps).show() {
            Ok(handle) => {
                daemon_missing_logged = false;
                if caps.actions {
                    wait_for_click(handle, popup.open_url, opener.clone(), waiting.clone());
                }
            }
            Err(err) => {
                // Without a notification daemon every popup fails the same way: say it once.
                if !daemon_missing_logged {
                    tracing::warn!(%err, "no notification service answered; popups are not shown");
                    daemon_missing_logged = true;
                }
                capabilities = None;
            }
        }
    }
}

/// Asks the notification server what it supports; assumes the least when it cannot tell.
fn query_capabilities() -> Capabilities {
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        match notify_rust::get_capabilities() {
            Ok(list) => Capabilities {
                markup: list.iter().any(|c| c == "body-markup"),
                actions: list.iter().any(|c| c == "actions"),
            },
            Err(_) => Capabilities {
                markup: true,
                actions: false,
            },
        }
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    {
        Capabilities {
            markup: false,
            actions: true,
        }
    }
}

/// Builds the notify-rust notification for a popup.
fn build(identity: &AppIdentity, popup: &Popup, caps: Capabilities) -> notify_rust::Notification {
    // The summary is plain text by the spec (dunst escapes it itself); only the body is markup.
    let body = if caps.markup {
        escape_markup(&popup.body)
    } else {
        popup.body.clone()
    };
    let mut notification = notify_rust::Notification::new();
    notification
        .appname(&identity.app_name)
        .summary(&popup.title)
        .body(&body)
        .icon(&identity.icon);
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        notification
            .hint(notify_rust::Hint::DesktopEntry(
                identity.desktop_entry.clone(),
            ))
            .urgency(match popup.urgency {
                Urgency::Low => notify_rust::Urgency::Low,
                Urgency::Normal => notify_rust::Urgency::Normal,
                Urgency::Critical => notify_rust::Urgency::Critical,
            });
        if let Some(image) = popup.image.as_ref().and_then(|p| p.to_str()) {
            notification.hint(notify_rust::Hint::ImagePath(image.to_owned()));
        }
    }
    if caps.actions {
        notification.action("default", "Open");
        notification.action(OPEN_WINDOW_ACTION, "Open ABS Tray");
    }
    notification
}

/// Keeps the popup's handle alive on a thread until it is clicked or closed.
#[cfg(all(unix, not(target_os = "macos")))]
fn wait_for_click(
    handle: notify_rust::NotificationHandle,
    open_url: Option<String>,
    opener: Arc<dyn Opener>,
    waiting: Arc<AtomicUsize>,
) {
    if waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
        waiting.fetch_sub(1, Ordering::SeqCst);
        tracing::debug!("too many popups waiting for a click; this one is not clickable");
        return;
    }
    let waiter = waiting.clone();
    let spawned = thread::Builder::new()
        .name("abs-tray-popup".into())
        .spawn(move || {
            handle.wait_for_action(|action| match (action, open_url.as_deref()) {
                ("default", Some(url)) => opener.open_url(url),
                ("default", None) | (OPEN_WINDOW_ACTION, _) => opener.open_window(),
                _ => {}
            });
            waiter.fetch_sub(1, Ordering::SeqCst);
        });
    if spawned.is_err() {
        waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Platforms without D-Bus actions get plain popups.
#[cfg(not(all(unix, not(target_os = "macos"))))]
fn wait_for_click(
    _handle: notify_rust::NotificationHandle,
    _open_url: Option<String>,
    _opener: Arc<dyn Opener>,
    _waiting: Arc<AtomicUsize>,
) {
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
}
