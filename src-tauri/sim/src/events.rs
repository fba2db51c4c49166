//! What the simulator emitted, for tests to await instead of sleeping.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::error::SimError;

/// Who an emit was addressed to (the real server's emitter helpers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    /// One socket (`socket.emit`), by socket id.
    Socket(String),
    /// Every authenticated socket of one user (`clientEmitter`), by user id.
    User(String),
    /// Every authenticated socket of a root/admin user (`adminEmitter`).
    Admins,
    /// Every authenticated socket (`emitter`), possibly filtered by library access.
    All,
}

/// One emit (or a socket lifecycle marker) as seen by the simulator.
///
/// Lifecycle markers use the capture file's names: `(connect)` and `(disconnect)`, with the
/// socket in [`SimEvent::socket_ids`]; their payload is the socket id resp. the reason.
#[derive(Clone, Debug)]
pub struct SimEvent {
    /// Event name, e.g. `user_online`.
    pub name: String,
    /// The single argument, or `None` for an event sent without arguments (`42["pong"]`).
    pub payload: Option<Value>,
    /// How it was addressed.
    pub audience: Audience,
    /// The sockets it was actually written to, in emit order.
    pub socket_ids: Vec<String>,
    /// The users owning those sockets (deduplicated; unauthenticated sockets add nothing).
    pub user_ids: Vec<String>,
}

impl SimEvent {
    /// True if the event went to that socket.
    pub fn reached_socket(&self, socket_id: &str) -> bool {
        self.socket_ids.iter().any(|s| s == socket_id)
    }

    /// True if the event went to at least one socket of that user.
    pub fn reached_user(&self, user_id: &str) -> bool {
        self.user_ids.iter().any(|u| u == user_id)
    }
}

/// A subscription to [`SimEvent`]s, created by `Sim::events()`; sees events emitted after it was made.
#[derive(Debug)]
pub struct Events {
    rx: broadcast::Receiver<SimEvent>,
}

impl Events {
    pub(crate) fn new(rx: broadcast::Receiver<SimEvent>) -> Self {
        Events { rx }
    }

    /// The next event, or `None` once the simulator is gone. Skips over lag.
    pub async fn next(&mut self) -> Option<SimEvent> {
        loop {
            match self.rx.recv().await {
                Ok(ev) => return Some(ev),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next event if one is already there (for asserting that something did NOT happen
    /// after a barrier).
    pub fn try_next(&mut self) -> Option<SimEvent> {
        loop {
            match self.rx.try_recv() {
                Ok(ev) => return Some(ev),
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => return None,
            }
        }
    }

    /// Every event already there.
    pub fn drain(&mut self) -> Vec<SimEvent> {
        std::iter::from_fn(|| self.try_next()).collect()
    }

    /// Waits for the next event matching `pred`, skipping others.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        what: &str,
        mut pred: impl FnMut(&SimEvent) -> bool,
    ) -> Result<SimEvent, SimError> {
        let fut = async {
            while let Some(ev) = self.next().await {
                if pred(&ev) {
                    return Ok(ev);
                }
            }
            Err(SimError::Shutdown)
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| SimError::Timeout(what.to_string()))?
    }

    /// Waits for the next event with that name.
    pub async fn wait_named(
        &mut self,
        name: &str,
        timeout: Duration,
    ) -> Result<SimEvent, SimError> {
        self.wait_for(timeout, name, |ev| ev.name == name).await
    }

    /// Collects every event up to and including the first one matching `pred`.
    pub async fn collect_until(
        &mut self,
        timeout: Duration,
        what: &str,
        mut pred: impl FnMut(&SimEvent) -> bool,
    ) -> Result<Vec<SimEvent>, SimError> {
        let mut seen = Vec::new();
        let fut = async {
            while let Some(ev) = self.next().await {
                let done = pred(&ev);
                seen.push(ev);
                if done {
                    return Ok(());
                }
            }
            Err(SimError::Shutdown)
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| SimError::Timeout(what.to_string()))??;
        Ok(seen)
    }
}
