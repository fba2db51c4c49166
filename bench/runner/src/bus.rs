//! The desktop's side of the session bus: a StatusNotifierWatcher that tray items register
//! with (as a panel would serve), and a monitor that sees every `Notify` call an app makes.

use std::collections::HashMap;

use abs_tray_e2e::sni;
use anyhow::{Context, Result};
use futures_lite::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use zbus::message::Type as MessageType;
use zbus::zvariant::OwnedValue;
use zbus::{Connection, MatchRule, MessageStream};

/// A tray item that registered.
#[derive(Debug)]
pub struct Registration {
    /// When the watcher got the call.
    pub at: Instant,
}

/// The served watcher ([`abs_tray_e2e::sni`]); registrations arrive on [`TrayWatcher::next_from`].
pub struct TrayWatcher {
    /// The connection that owns the watcher name.
    conn: Connection,
    /// Registrations as they come.
    registrations: mpsc::UnboundedReceiver<sni::Registration>,
}

impl TrayWatcher {
    /// Serves the watcher on the session bus.
    pub async fn serve() -> Result<Self> {
        let (conn, registrations) = sni::serve()
            .await
            .context("serve org.kde.StatusNotifierWatcher (is another watcher running?)")?;
        Ok(Self {
            conn,
            registrations,
        })
    }

    /// The next registration by process `pid`; others' (an app registering again after a
    /// change) are skipped.
    pub async fn next_from(&mut self, pid: u32) -> Option<Registration> {
        loop {
            let registration = self.registrations.recv().await?;
            let from = async {
                let dbus = zbus::fdo::DBusProxy::new(&self.conn).await.ok()?;
                let name = zbus::names::BusName::try_from(registration.sender.as_str()).ok()?;
                dbus.get_connection_unix_process_id(name).await.ok()
            }
            .await;
            if from == Some(pid) {
                return Some(Registration {
                    at: registration.at,
                });
            }
        }
    }
}

/// One `Notify` call seen on the bus.
#[derive(Debug, Clone)]
pub struct Notify {
    /// When the monitor received it.
    pub at: Instant,
    /// The popup's title.
    pub summary: String,
    /// The popup's text.
    pub body: String,
}

impl Notify {
    /// Title and text together, to look for a marker in.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.summary, self.body)
    }
}

/// The body of `org.freedesktop.Notifications.Notify`.
type NotifyBody = (
    String,
    u32,
    String,
    String,
    String,
    Vec<String>,
    HashMap<String, OwnedValue>,
    i32,
);

/// Watches the session bus for `Notify` method calls (from anyone) until the bus goes away.
/// Each call is timestamped as the monitor receives it, on the runner's own clock.
pub async fn monitor_notify() -> Result<mpsc::UnboundedReceiver<Notify>> {
    let conn = zbus::connection::Builder::session()?
        .build()
        .await
        .context("connect a monitor to the session bus")?;
    let rule = MatchRule::builder()
        .msg_type(MessageType::MethodCall)
        .interface("org.freedesktop.Notifications")?
        .member("Notify")?
        .build();
    zbus::fdo::MonitoringProxy::new(&conn)
        .await?
        .become_monitor(&[rule], 0)
        .await
        .context("BecomeMonitor")?;
    let (tx, rx) = mpsc::unbounded_channel();
    let mut stream = MessageStream::from(&conn);
    tokio::spawn(async move {
        // The connection must live as long as the stream reads from it.
        let _conn = conn;
        while let Some(Ok(msg)) = stream.next().await {
            let at = Instant::now();
            if msg.header().member().map(|m| m.as_str()) != Some("Notify") {
                continue;
            }
            if let Ok((_, _, _, summary, body, _, _, _)) = msg.body().deserialize::<NotifyBody>()
                && tx.send(Notify { at, summary, body }).is_err()
            {
                break;
            }
        }
    });
    Ok(rx)
}
