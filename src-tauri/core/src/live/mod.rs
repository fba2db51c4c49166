//! Live state: what is happening on the server right now, and the facts that changed it.
//!
//! ABS's socket events are noisy and partly misleading (presence arrives per socket, a closing
//! session still looks open, sessions linger for a day and a half, only your own progress
//! reaches you). [`LiveState`] is the pure core that turns them, together with the REST lists
//! that tell the truth (`GET /api/users/online`, `GET /api/tasks`), into a [`Snapshot`] to
//! render and into [`Happening`](crate::happening::Happening)s, each fact once. [`spawn`] runs
//! it as one task between the connection and the app: it owns the state, reconciles with REST
//! when the events cannot be trusted, polls positions only while someone looks, and publishes
//! snapshots at most a few times a second.
//!
//! Users who are not admins see none of that; for them the state follows their own listening
//! instead (`mine`): the book playing now from their progress events, recent sessions and
//! finished books from `GET /api/me/listening-sessions` and `GET /api/me`.

mod driver;
pub(crate) mod label;
mod mine;
#[cfg(test)]
mod mine_tests;
mod presence;
mod progress;
mod rest;
mod ring;
mod scans;
mod sessions;
mod snapshot;
mod state;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use driver::{LiveHandle, spawn};
pub use mine::MAX_RECENT;
pub use rest::{Fetch, LiveRest, MY_SESSIONS_PAGE, MineRead, Reconciled, RestError};
pub use snapshot::{
    Activity, FinishedBook, LogLine, Me, MyListening, NowListening, PastSession, ScanInProgress,
    Snapshot, UserPresence,
};
pub use state::{LiveState, ReconcileTicket};

/// Most users tracked (online or recently seen); a hostile server listing more is cut here.
pub const MAX_USERS: usize = 1_000;
/// Most open sessions tracked.
pub const MAX_SESSIONS: usize = 500;
/// Most library scans shown as running.
pub const MAX_SCANS: usize = 64;
/// Length of the recent-activity ring.
pub const MAX_ACTIVITY: usize = 200;
/// Length of the server-log ring.
pub const MAX_LOG_LINES: usize = 1_000;
/// Most items whose own progress (and title) is remembered.
pub const MAX_ITEMS: usize = 500;
/// Progress milestones, in percent, reported when crossed.
pub const MILESTONES: [u8; 3] = [25, 50, 75];

/// How live state behaves; the defaults suit the tray.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSettings {
    /// How often positions are polled (`GET /api/users/online`) while someone looks.
    pub poll_interval: Duration,
    /// A session whose server `updatedAt` has not moved for this long is shown as stale.
    pub stale_after: Duration,
    /// Snapshots are published at most this often (the last change is always published).
    pub publish_every: Duration,
    /// A progress write from another session within this long of the last one means the item is
    /// "playing on another device"; longer gaps are an ordinary hand-over.
    pub elsewhere_window: Duration,
    /// The live task not running for longer than this means the app was frozen or the machine
    /// asleep: what arrives next may be old, so the lists are read again and the difference is
    /// one summary (see [`LiveState::resumed`]). The task wakes three times as often to notice.
    pub frozen_after: Duration,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(5),
            stale_after: Duration::from_secs(30 * 60),
            publish_every: Duration::from_millis(250),
            elsewhere_window: Duration::from_secs(3 * 60),
            // Above the connection's 10 s clock-jump check; a busy machine or a slow title read
            // (up to 5 s) is no freeze.
            frozen_after: Duration::from_secs(15),
        }
    }
}

/// Milliseconds in a duration, saturating, as the state counts time in Unix milliseconds.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A server timestamp (ms, possibly negative or absurd) as Unix ms.
fn server_ms(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0)
}
