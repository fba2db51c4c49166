//! Popups through notify-rust where there is no session bus of our own to hold (macOS, Windows,
//! the BSDs).
//!
//! notify-rust's D-Bus calls block, so the delivery thread shows popups and, on the BSDs, a small,
//! capped set of waiter threads keeps each handle alive: GNOME removes a popup when its sender's
//! connection closes, and dunst sends `ActionInvoked` only to the connection that sent `Notify`.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, mpsc};

use super::{AppIdentity, OPEN_WINDOW_ACTION, Opener, Popup, escape_markup};

/// How many popups may wait for a click at once; each holds a thread and a D-Bus connection.
#[cfg(all(unix, not(target_os = "macos")))]
const MAX_WAITING: usize = 16;

/// What the notification server can do, asked once.
#[derive(Debug, Clone, Copy, Default)]
struct Capabilities {
    /// Interprets markup in the body (so text must be escaped).
    markup: bool,
    /// Supports clickable actions.
    actions: bool,
}

/// The delivery thread's loop.
pub(super) fn deliver_all(
    identity: &AppIdentity,
    opener: &Arc<dyn Opener>,
    queue: &mpsc::Receiver<Popup>,
) {
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
                super::Urgency::Low => notify_rust::Urgency::Low,
                super::Urgency::Normal => notify_rust::Urgency::Normal,
                super::Urgency::Critical => notify_rust::Urgency::Critical,
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
    use std::sync::atomic::Ordering;
    use std::thread;

    if waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
        waiting.fetch_sub(1, Ordering::SeqCst);
        tracing::debug!("too many popups waiting for a click; this one is not clickable");
        return;
    }
    let waiter = waiting.clone();
    let spawned = thread::Builder::new()
        .name("abs-tray-popup".into())
        .spawn(move || {
            handle
                .wait_for_action(|action| super::act(opener.as_ref(), action, open_url.as_deref()));
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
