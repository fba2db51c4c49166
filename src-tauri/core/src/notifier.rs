//! Turns happenings into popups: the policy decides, delivery shows, every decision is reported
//! (for history, the window and `abs-tray-cli watch --json`).

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::sleep_until;

use crate::connection::ConnectionStatus;
use crate::covers::{CoverCache, is_safe_id};
use crate::credentials::SignedIn;
use crate::delivery::{Delivery, Popup};
use crate::happening::Happening;
use crate::policy::{Decision, Link, Moment, Notification, Policy, PolicyContext, PolicySettings};
use crate::server_url::ServerUrl;

/// Where shown popups go; `None` pieces are simply skipped (a headless `watch --json`).
pub struct Outputs {
    /// Native popups.
    pub delivery: Option<Delivery>,
    /// Covers for popups about an item: the cache and the sign-in whose token fetches them.
    pub covers: Option<(CoverCache, Arc<SignedIn>)>,
    /// Every decision, shown or not, in order.
    pub decisions: Option<mpsc::Sender<Decision>>,
}

/// The app's side of the running notifier.
#[derive(Debug, Clone)]
pub struct NotifierHandle {
    /// The settings in force; sending new ones (a toggle, a pause) takes effect at once.
    settings: Arc<watch::Sender<PolicySettings>>,
}

impl NotifierHandle {
    /// Changes the notification settings.
    pub fn set_settings(&self, settings: PolicySettings) {
        self.settings.send_replace(settings);
    }

    /// The settings in force.
    pub fn settings(&self) -> PolicySettings {
        self.settings.borrow().clone()
    }
}

/// Starts the notifier; it ends when the happenings stream ends.
pub fn spawn(
    happenings: mpsc::Receiver<Happening>,
    status: watch::Receiver<ConnectionStatus>,
    settings: PolicySettings,
    server: ServerUrl,
    outputs: Outputs,
) -> (NotifierHandle, JoinHandle<()>) {
    let (settings_tx, settings_rx) = watch::channel(settings);
    let task = tokio::spawn(run(happenings, status, settings_rx, server, outputs));
    (
        NotifierHandle {
            settings: Arc::new(settings_tx),
        },
        task,
    )
}

/// The notifier loop: wakes for a happening, a due deadline, a new user or new settings.
async fn run(
    mut happenings: mpsc::Receiver<Happening>,
    mut status: watch::Receiver<ConnectionStatus>,
    mut settings: watch::Receiver<PolicySettings>,
    server: ServerUrl,
    outputs: Outputs,
) {
    let origin = Instant::now();
    let now = move || Moment::new(origin.elapsed());
    let initial = settings.borrow_and_update().clone();
    let mut policy = Policy::new(
        initial,
        context_of(&status.borrow_and_update()).unwrap_or(PolicyContext {
            self_user_id: String::new(),
            is_admin: false,
        }),
    );
    loop {
        let deadline = policy
            .next_deadline()
            .map(|due| tokio::time::Instant::from_std(origin + due.since_origin()));
        let decisions = tokio::select! {
            happening = happenings.recv() => match happening {
                Some(happening) => policy.handle(happening, now(), &chrono::Local::now()),
                None => break,
            },
            () = sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => {
                policy.tick(now(), &chrono::Local::now())
            }
            changed = status.changed() => {
                if changed.is_err() {
                    break;
                }
                if let Some(context) = context_of(&status.borrow_and_update()) {
                    policy.set_context(context);
                }
                continue;
            }
            changed = settings.changed() => {
                if changed.is_ok() {
                    policy.set_settings(settings.borrow_and_update().clone());
                }
                continue;
            }
        };
        for decision in decisions {
            if let Some(notification) = decision.popup() {
                show(&outputs, &server, notification).await;
            }
            if let Some(sink) = &outputs.decisions
                && sink.send(decision).await.is_err()
            {
                tracing::debug!("nobody records decisions any more");
            }
        }
    }
}

/// Who is watching, from a connected status.
fn context_of(status: &ConnectionStatus) -> Option<PolicyContext> {
    match status {
        ConnectionStatus::Connected {
            user_id, is_admin, ..
        } => Some(PolicyContext {
            self_user_id: user_id.clone(),
            is_admin: *is_admin,
        }),
        _ => None,
    }
}

/// Hands one popup to the desktop, with its cover when one is cheap to get.
async fn show(outputs: &Outputs, server: &ServerUrl, notification: &Notification) {
    let Some(delivery) = &outputs.delivery else {
        return;
    };
    let image = match (&outputs.covers, &notification.image_item_id) {
        (Some((cache, signed_in)), Some(item_id)) => match signed_in.session(false).await {
            Ok(session) => {
                cache
                    .cover(signed_in.manager().client(), &session.access, item_id)
                    .await
            }
            Err(_) => None,
        },
        _ => None,
    };
    delivery.show(Popup {
        title: notification.title.clone(),
        body: notification.body.clone(),
        urgency: notification.urgency,
        open_url: notification
            .link
            .as_ref()
            .and_then(|link| page_url(server, link)),
        image,
    });
}

/// The ABS page a link opens; `None` for the window or an id that could not be a real one.
pub fn page_url(server: &ServerUrl, link: &Link) -> Option<String> {
    let path = match link {
        Link::Item(id) if is_safe_id(id) => format!("/item/{id}"),
        Link::User(id) if is_safe_id(id) => format!("/config/users/{id}"),
        Link::Sessions => "/config/sessions".to_owned(),
        Link::Item(_) | Link::User(_) | Link::Window => return None,
    };
    Some(server.rest(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_open_the_right_pages_and_never_odd_ids() {
        let server = ServerUrl::parse("https://abs.example.com/audiobookshelf/").unwrap();
        assert_eq!(
            page_url(&server, &Link::Item("li_1".into())).as_deref(),
            Some("https://abs.example.com/audiobookshelf/item/li_1")
        );
        assert_eq!(
            page_url(&server, &Link::User("u-1".into())).as_deref(),
            Some("https://abs.example.com/audiobookshelf/config/users/u-1")
        );
        assert_eq!(
            page_url(&server, &Link::Sessions).as_deref(),
            Some("https://abs.example.com/audiobookshelf/config/sessions")
        );
        assert_eq!(page_url(&server, &Link::Item("../../logout".into())), None);
        assert_eq!(page_url(&server, &Link::Window), None);
    }
}
