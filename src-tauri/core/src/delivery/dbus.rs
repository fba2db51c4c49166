//! Popups over ONE long-lived session-bus connection, and one listener thread for their clicks.
//!
//! The connection must outlive every popup: dunst sends `ActionInvoked` only to the connection that
//! sent `Notify`, and GNOME removes a popup when its sender's connection closes. One connection
//! held by the delivery thread satisfies both, where a connection per popup (notify-rust's
//! `show()`) cost a connection, a waiting thread and tens of milliseconds for each popup.
//!
//! zbus's blocking API runs its own executor and must never run on a tokio worker thread, so
//! everything here runs on the delivery's own std threads: the delivery thread calls `Notify`, the
//! listener thread reads the `ActionInvoked` and `NotificationClosed` signals of the same
//! connection. When no notification service answers, popups are dropped with one warning per
//! outage; capabilities are asked once per server, and while none answers at most once per retry
//! step. A broken bus connection is reopened, with a capped backoff while that fails.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError, Weak, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use zbus::blocking::{Connection, MessageIterator};
use zbus::message::{Message, Type};
use zbus::zvariant::Value;

use super::clicks::{Click, Clicks, Signal};
use super::{AppIdentity, OPEN_WINDOW_ACTION, Opener, Popup, Urgency, act, escape_markup};
use crate::backoff::{Backoff, Failure};

/// The notification service's bus name, and its interface's name.
const SERVICE: &str = "org.freedesktop.Notifications";
/// The notification service's object.
const PATH: &str = "/org/freedesktop/Notifications";
/// The notification service's signals. The bus resolves the well-known sender to its current
/// owner, so a restarted server's signals match too; the listener checks the sender again.
const SIGNALS: &str = "type='signal',sender='org.freedesktop.Notifications',\
                       interface='org.freedesktop.Notifications',\
                       path='/org/freedesktop/Notifications'";
/// The first wait before asking again after a failure.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest wait before asking again.
const LAST_RETRY: Duration = Duration::from_secs(60);
/// How long one call may take: a hung server must not stall the popup queue forever.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The arguments of `Notify`: app name, replaces id, icon, summary, body, actions, hints, timeout.
type NotifyArgs<'a> = (
    &'a str,
    u32,
    &'a str,
    &'a str,
    &'a str,
    Vec<&'a str>,
    HashMap<&'a str, Value<'a>>,
    i32,
);

/// When to try something again that failed: doubling waits from [`FIRST_RETRY`], capped.
fn retry_gate() -> Backoff {
    Backoff::new(FIRST_RETRY, LAST_RETRY)
}

/// Records a failure at `now` on `gate`: wait one step, and twice as long after the next one.
/// No jitter: the session bus is local, nobody else competes for it.
fn failed(gate: &mut Backoff, now: Instant) {
    gate.next_delay(now, Failure::Answered, 1.0);
}

/// What the notification server supports, as it told us.
#[derive(Debug, Clone, Copy)]
struct Features {
    /// Interprets markup in the body (so text must be escaped).
    markup: bool,
    /// Supports clickable actions.
    actions: bool,
}

impl Features {
    /// Assumed while the server has not told: escaping is harmless, an unsupported action is not.
    const UNKNOWN: Self = Self {
        markup: true,
        actions: false,
    };
}

/// The features of one server instance.
#[derive(Debug, Clone)]
struct Capabilities {
    /// What it supports.
    features: Features,
    /// Its unique bus name: a different one means the server was restarted or replaced.
    server: String,
}

/// The delivery thread's state.
struct Deliverer<'a> {
    /// How popups present the app.
    identity: &'a AppIdentity,
    /// Carries out clicks that arrived before their popup was recorded.
    opener: &'a Arc<dyn Opener>,
    /// The open connection, if any.
    link: Option<Link>,
    /// When to try opening a connection again.
    connect: Backoff,
    /// Whether the current outage was reported, so it is reported once.
    outage_logged: bool,
}

/// One session-bus connection and what was learnt over it.
struct Link {
    /// The connection; its listener thread holds a clone.
    connection: Connection,
    /// What the server supports, once known.
    caps: Option<Capabilities>,
    /// When to ask the server for its capabilities again.
    ask: Backoff,
    /// Our clickable popups, shared with the listener; `None` without a click subscription.
    clicks: Option<Arc<Mutex<Clicks>>>,
}

/// The delivery thread's loop: shows popups in order until every [`super::Delivery`] is gone.
pub(super) fn deliver_all(
    identity: &AppIdentity,
    opener: &Arc<dyn Opener>,
    queue: &mpsc::Receiver<Popup>,
) {
    let mut deliverer = Deliverer {
        identity,
        opener,
        link: None,
        connect: retry_gate(),
        outage_logged: false,
    };
    while let Ok(popup) = queue.recv() {
        deliverer.show(&popup);
    }
    // Closing ends the listener thread too; nothing is left running once delivery is gone.
    if let Some(link) = deliverer.link.take() {
        link.close();
    }
}

impl Deliverer<'_> {
    /// Shows one popup, or drops it with a log line; never panics, never retries it.
    fn show(&mut self, popup: &Popup) {
        let now = Instant::now();
        if self
            .link
            .as_ref()
            .is_some_and(|link| link.connection.is_closed())
        {
            tracing::debug!("session bus connection closed; opening a new one");
            self.drop_link();
        }
        if self.link.is_none() {
            if !self.connect.ready(now) {
                tracing::debug!("no session bus connection until the next retry; popup dropped");
                return;
            }
            match Link::open(self.opener) {
                Ok(link) => {
                    self.connect.reset();
                    self.link = Some(link);
                }
                Err(err) => {
                    failed(&mut self.connect, now);
                    self.report(&err);
                    return;
                }
            }
        }
        let Some(link) = self.link.as_mut() else {
            return;
        };
        match link.show(self.identity, self.opener, popup, now) {
            Ok(()) => {
                if self.outage_logged {
                    tracing::info!("a notification service answered again; popups are shown");
                    self.outage_logged = false;
                }
            }
            Err(err) => {
                if link.broken(&err) {
                    self.drop_link();
                }
                self.report(&err);
            }
        }
    }

    /// Reports a failed popup: a warning for the first of an outage, the rest at debug level.
    fn report(&mut self, err: &zbus::Error) {
        // Without a notification service every popup fails the same way: say it once.
        if self.outage_logged {
            tracing::debug!(%err, "popup not shown");
        } else {
            tracing::warn!(%err, "no notification service answered; popups are not shown");
            self.outage_logged = true;
        }
    }

    /// Closes and forgets the connection; the next popup opens a new one.
    fn drop_link(&mut self) {
        if let Some(link) = self.link.take() {
            link.close();
        }
    }
}

impl Link {
    /// Opens a session-bus connection and subscribes to the notification signals on it.
    fn open(opener: &Arc<dyn Opener>) -> zbus::Result<Self> {
        let connection = zbus::blocking::connection::Builder::session()?
            .method_timeout(CALL_TIMEOUT)
            .build()?;
        let clicks = match listen(&connection, opener) {
            Ok(clicks) => Some(clicks),
            Err(err) => {
                // Popups still work without the subscription, they just cannot be clicked.
                tracing::debug!(%err, "no subscription to popup clicks; popups are not clickable");
                None
            }
        };
        Ok(Self {
            connection,
            caps: None,
            ask: retry_gate(),
            clicks,
        })
    }

    /// Closes the connection, which ends its listener thread.
    fn close(self) {
        if let Err(err) = self.connection.close() {
            tracing::debug!(%err, "closing the session bus connection failed");
        }
    }

    /// Whether `err` means the connection itself is unusable (rather than the server answering
    /// with an error or too slowly).
    fn broken(&self, err: &zbus::Error) -> bool {
        self.connection.is_closed()
            || matches!(err, zbus::Error::InputOutput(io) if io.kind() != io::ErrorKind::TimedOut)
    }

    /// Sends one popup; an error means it was not shown.
    fn show(
        &mut self,
        identity: &AppIdentity,
        opener: &Arc<dyn Opener>,
        popup: &Popup,
        now: Instant,
    ) -> zbus::Result<()> {
        let asked = self.caps.is_none() && self.ask.ready(now);
        if asked {
            self.ask_capabilities(now)?;
        }
        let features = self
            .caps
            .as_ref()
            .map_or(Features::UNKNOWN, |caps| caps.features);
        let clickable = features.actions && self.clicks.is_some();
        // The summary is plain text by the spec (dunst escapes it itself); only the body is markup.
        let body = if features.markup {
            escape_markup(&popup.body)
        } else {
            popup.body.clone()
        };
        let reply = self
            .connection
            .call_method(
                Some(SERVICE),
                PATH,
                Some(SERVICE),
                "Notify",
                &notify_args(identity, popup, &body, clickable),
            )
            .inspect_err(|_| {
                // The server may be gone: ask the one that answers next what it supports.
                self.caps = None;
            })?;
        let server = sender(&reply);
        match reply.body().deserialize::<u32>() {
            Ok(id) => {
                if let Some(clicks) = self.clicks.as_ref().filter(|_| clickable) {
                    let early = lock(clicks).shown(&server, id, popup.open_url.clone());
                    for click in early {
                        perform(opener.as_ref(), &click);
                    }
                }
            }
            Err(err) => tracing::debug!(%err, "Notify answered without an id; popup not clickable"),
        }
        if !asked && self.caps.as_ref().is_none_or(|caps| caps.server != server) {
            // A server came (back) or replaced the old one: learn what it supports, once. Not
            // when it was just asked: a failed answer waits for its retry step.
            self.ask.reset();
            self.ask_capabilities(now)?;
        }
        Ok(())
    }

    /// Asks the server what it supports; an error means the connection broke.
    fn ask_capabilities(&mut self, now: Instant) -> zbus::Result<()> {
        let answer = self
            .connection
            .call_method(Some(SERVICE), PATH, Some(SERVICE), "GetCapabilities", &())
            .and_then(|reply| {
                let list: Vec<String> = reply.body().deserialize()?;
                Ok((list, sender(&reply)))
            });
        match answer {
            Ok((list, server)) => {
                self.caps = Some(Capabilities {
                    features: Features {
                        markup: list.iter().any(|c| c == "body-markup"),
                        actions: list.iter().any(|c| c == "actions"),
                    },
                    server,
                });
                self.ask.reset();
                Ok(())
            }
            Err(err) if self.broken(&err) => Err(err),
            Err(err) => {
                // Not asked again before the next retry step; `Notify` reports the outage.
                tracing::debug!(%err, "the notification service did not say what it supports");
                failed(&mut self.ask, now);
                Ok(())
            }
        }
    }
}

/// Builds the arguments of `Notify` for a popup whose body is already escaped as needed.
fn notify_args<'a>(
    identity: &'a AppIdentity,
    popup: &'a Popup,
    body: &'a str,
    clickable: bool,
) -> NotifyArgs<'a> {
    let actions = if clickable {
        vec!["default", "Open", OPEN_WINDOW_ACTION, "Open ABS Tray"]
    } else {
        Vec::new()
    };
    let urgency: u8 = match popup.urgency {
        Urgency::Low => 0,
        Urgency::Normal => 1,
        Urgency::Critical => 2,
    };
    let mut hints = HashMap::new();
    hints.insert(
        "desktop-entry",
        Value::from(identity.desktop_entry.as_str()),
    );
    hints.insert("urgency", Value::from(urgency));
    if let Some(image) = popup.image.as_ref().and_then(|p| p.to_str()) {
        hints.insert("image-path", Value::from(image));
    }
    (
        &identity.app_name,
        0,
        &identity.icon,
        &popup.title,
        body,
        actions,
        hints,
        -1,
    )
}

/// The unique bus name a message came from (empty if the bus did not say).
fn sender(message: &Message) -> String {
    message
        .header()
        .sender()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// Subscribes to the notification signals and starts the thread that reads them.
fn listen(connection: &Connection, opener: &Arc<dyn Opener>) -> zbus::Result<Arc<Mutex<Clicks>>> {
    // The iterator queues from now on, so no signal is lost between the subscription and the
    // thread's start. It reads every message rather than one match rule's: a rule's stream asks
    // the bus to remove the rule when dropped, which fails (and warns) on a closed connection.
    let messages = MessageIterator::from(connection);
    connection.call_method(
        Some("org.freedesktop.DBus"),
        "/org/freedesktop/DBus",
        Some("org.freedesktop.DBus"),
        "AddMatch",
        &(SIGNALS,),
    )?;
    let clicks = Arc::new(Mutex::new(Clicks::default()));
    let shared = clicks.clone();
    // Weak, so the opener goes when delivery does, whenever this thread notices.
    let opener = Arc::downgrade(opener);
    thread::Builder::new()
        .name("abs-tray-clicks".into())
        .spawn(move || read_clicks(messages, &shared, &opener))?;
    Ok(clicks)
}

/// The listener thread: carries out clicks until the connection ends.
fn read_clicks(messages: MessageIterator, clicks: &Mutex<Clicks>, opener: &Weak<dyn Opener>) {
    for message in messages {
        let message = match message {
            Ok(message) => message,
            Err(err) => {
                tracing::debug!(%err, "session bus connection ended; no more clicks read on it");
                break;
            }
        };
        let Some((server, id, signal)) = notification_signal(&message) else {
            continue;
        };
        let click = lock(clicks).signal(&server, id, signal);
        if let (Some(click), Some(opener)) = (click, opener.upgrade()) {
            perform(opener.as_ref(), &click);
        }
    }
}

/// The sender, notification id and meaning of a notification server's signal; `None` for any
/// other message.
fn notification_signal(message: &Message) -> Option<(String, u32, Signal)> {
    let header = message.header();
    if header.message_type() != Type::Signal
        || header.interface().map(|name| name.as_str()) != Some(SERVICE)
        || header.path().map(|path| path.as_str()) != Some(PATH)
    {
        return None;
    }
    let server = header.sender()?.to_string();
    let body = message.body();
    match header.member()?.as_str() {
        "ActionInvoked" => {
            let (id, action): (u32, String) = body.deserialize().ok()?;
            Some((server, id, Signal::Action(action)))
        }
        "NotificationClosed" => {
            let (id, _reason): (u32, u32) = body.deserialize().ok()?;
            Some((server, id, Signal::Closed))
        }
        _ => None,
    }
}

/// Carries out a click.
fn perform(opener: &dyn Opener, click: &Click) {
    act(opener, &click.action, click.open_url.as_deref());
}

/// Locks the click map; a panic elsewhere while holding it leaves it usable (it stays consistent).
fn lock(clicks: &Mutex<Clicks>) -> std::sync::MutexGuard<'_, Clicks> {
    clicks.lock().unwrap_or_else(PoisonError::into_inner)
}
