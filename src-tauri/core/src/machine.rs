//! The machine's own word that the server is worth trying at once: the network came back
//! (NetworkManager reached a connected state) or the machine woke from sleep (logind's
//! `PrepareForSleep(false)`).
//!
//! Waiting out the retry schedule after a laptop wakes or its Wi-Fi returns wastes seconds the
//! system already told us about. The watcher listens on the system bus and hands each such
//! moment to a closure; the caller decides what to do (the app asks its connection to attempt
//! now). It is a hint, never a requirement: without a system bus, logind or NetworkManager it
//! logs one line and does nothing, and the connection's own checks (the clock-jump check, the
//! heartbeats, the retry schedule) still hold. Only Linux has it; elsewhere it does nothing.

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::connection::ConnectionHandle;

/// Why the machine suggests trying at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nudge {
    /// The machine resumed from sleep (logind's `PrepareForSleep(false)`).
    Resumed,
    /// NetworkManager reached a connected state (local, site or global).
    NetworkUp,
}

/// Which bus to watch.
#[derive(Debug, Clone, Default)]
pub enum Bus {
    /// The system bus (`DBUS_SYSTEM_BUS_ADDRESS`, else the standard socket).
    #[default]
    System,
    /// A bus at this D-Bus address (tests run a private one).
    Address(String),
}

/// A running watcher; dropping it stops it.
#[derive(Debug)]
pub struct MachineWatch {
    /// The task reading the bus, while it runs.
    task: Option<JoinHandle<()>>,
    /// `None` while starting, then whether it listens.
    listening: watch::Receiver<Option<bool>>,
}

impl MachineWatch {
    /// Starts watching `bus`, calling `on_nudge` for each nudge; must run inside a tokio runtime.
    pub fn spawn(bus: Bus, on_nudge: impl FnMut(Nudge) + Send + 'static) -> Self {
        let (ready, listening) = watch::channel(None);
        #[cfg(target_os = "linux")]
        let task = Some(tokio::spawn(linux::run(bus, on_nudge, ready)));
        #[cfg(not(target_os = "linux"))]
        let task = {
            let _ = (bus, on_nudge);
            ready.send_replace(Some(false));
            None
        };
        Self { task, listening }
    }

    /// Starts watching the system bus and asks `connection` to attempt at once on every nudge
    /// (it does nothing while connected); must run inside a tokio runtime.
    pub fn nudging(connection: ConnectionHandle) -> Self {
        Self::spawn(Bus::System, move |nudge| {
            let connection = connection.clone();
            tokio::spawn(async move {
                if connection.attempt_now().await.is_err() {
                    tracing::debug!(?nudge, "the connection has stopped; nudge ignored");
                }
            });
        })
    }

    /// Waits until the watcher is subscribed (`true`) or has given up (`false`: no bus).
    pub async fn listening(&mut self) -> bool {
        match self.listening.wait_for(Option::is_some).await {
            Ok(state) => *state == Some(true),
            Err(_) => false,
        }
    }
}

impl Drop for MachineWatch {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The nudge for a NetworkManager state (`NMState`), if it is a connected one: local (50) and
/// site (60) count too, because a server on the LAN is reachable without the internet.
pub fn network_state(state: u32) -> Option<Nudge> {
    (state >= 50).then_some(Nudge::NetworkUp)
}

/// The nudge for logind's `PrepareForSleep(start)`: only the wake-up is one.
pub fn prepare_for_sleep(start: bool) -> Option<Nudge> {
    (!start).then_some(Nudge::Resumed)
}

#[cfg(target_os = "linux")]
mod linux {
    //! The system-bus side: one connection, two match rules, one ordered stream of messages.

    use std::time::Duration;

    use futures_util::StreamExt;
    use tokio::sync::watch;
    use zbus::fdo::DBusProxy;
    use zbus::message::{Message, Type};
    use zbus::{MatchRule, MessageStream, connection};

    use super::{Bus, Nudge, network_state, prepare_for_sleep};

    /// logind's bus name.
    const LOGIND: &str = "org.freedesktop.login1";
    /// logind's manager object.
    const LOGIND_PATH: &str = "/org/freedesktop/login1";
    /// logind's manager interface.
    const LOGIND_MANAGER: &str = "org.freedesktop.login1.Manager";
    /// NetworkManager's bus name, also its interface's.
    const NM: &str = "org.freedesktop.NetworkManager";
    /// NetworkManager's object.
    const NM_PATH: &str = "/org/freedesktop/NetworkManager";
    /// Connecting and subscribing may take this long; a hung bus must not keep a task waiting.
    const START_TIMEOUT: Duration = Duration::from_secs(5);

    /// Reads the bus until it closes (or the task is aborted), calling `on_nudge` for each nudge.
    pub(super) async fn run(
        bus: Bus,
        mut on_nudge: impl FnMut(Nudge) + Send + 'static,
        ready: watch::Sender<Option<bool>>,
    ) {
        let started = tokio::time::timeout(START_TIMEOUT, subscribe(&bus)).await;
        let (mut messages, present) = match started {
            Ok(Ok(subscribed)) => subscribed,
            Ok(Err(err)) => {
                tracing::info!(
                    %err,
                    "no system bus to watch; network changes and resume are noticed by the connection's own checks"
                );
                ready.send_replace(Some(false));
                return;
            }
            Err(_) => {
                tracing::info!(
                    "the system bus did not answer in time; network changes and resume are noticed by the connection's own checks"
                );
                ready.send_replace(Some(false));
                return;
            }
        };
        tracing::info!(
            logind = present.0,
            network_manager = present.1,
            "watching the system bus for resume and the network coming back"
        );
        ready.send_replace(Some(true));
        while let Some(message) = messages.next().await {
            match message {
                Ok(message) => {
                    if let Some(nudge) = nudge(&message) {
                        tracing::debug!(?nudge, "the machine suggests trying the server now");
                        on_nudge(nudge);
                    }
                }
                Err(err) => tracing::debug!(%err, "unreadable message on the system bus"),
            }
        }
        tracing::info!("the system bus connection closed; no more resume or network hints");
    }

    /// Connects, subscribes to both signals, and says whether logind and NetworkManager are there.
    async fn subscribe(bus: &Bus) -> zbus::Result<(MessageStream, (bool, bool))> {
        let builder = match bus {
            Bus::System => connection::Builder::system()?,
            Bus::Address(address) => connection::Builder::address(address.as_str())?,
        };
        let connection = builder.build().await?;
        // One stream of everything, made before the rules, so nothing is missed and signals of
        // both services stay in the order the bus sent them.
        let messages = MessageStream::from(&connection);
        let proxy = DBusProxy::new(&connection).await?;
        // The bus checks the sender: only the owner of the well-known name gets through.
        let sleep = MatchRule::builder()
            .msg_type(Type::Signal)
            .sender(LOGIND)?
            .path(LOGIND_PATH)?
            .interface(LOGIND_MANAGER)?
            .member("PrepareForSleep")?
            .build();
        let network = MatchRule::builder()
            .msg_type(Type::Signal)
            .sender(NM)?
            .path(NM_PATH)?
            .interface(NM)?
            .member("StateChanged")?
            .build();
        proxy.add_match_rule(sleep).await?;
        proxy.add_match_rule(network).await?;
        let logind = proxy.name_has_owner(LOGIND.try_into()?).await?;
        let nm = proxy.name_has_owner(NM.try_into()?).await?;
        Ok((messages, (logind, nm)))
    }

    /// The nudge a message carries, if any.
    fn nudge(message: &Message) -> Option<Nudge> {
        let header = message.header();
        // A signal sent to us alone skips the bus's sender check; only broadcasts count.
        if message.message_type() != Type::Signal || header.destination().is_some() {
            return None;
        }
        let path = header.path()?.as_str();
        let interface = header.interface()?.as_str();
        let member = header.member()?.as_str();
        match (path, interface, member) {
            (LOGIND_PATH, LOGIND_MANAGER, "PrepareForSleep") => {
                prepare_for_sleep(message.body().deserialize::<(bool,)>().ok()?.0)
            }
            (NM_PATH, NM, "StateChanged") => {
                network_state(message.body().deserialize::<(u32,)>().ok()?.0)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connected_network_states_nudge_and_the_others_do_not() {
        // NMState: unknown, asleep, disconnected, disconnecting, connecting.
        for state in [0, 10, 20, 30, 40] {
            assert_eq!(network_state(state), None, "state {state}");
        }
        // Connected local, site, global.
        for state in [50, 60, 70] {
            assert_eq!(
                network_state(state),
                Some(Nudge::NetworkUp),
                "state {state}"
            );
        }
    }

    #[test]
    fn only_waking_up_nudges() {
        assert_eq!(prepare_for_sleep(true), None);
        assert_eq!(prepare_for_sleep(false), Some(Nudge::Resumed));
    }
}
