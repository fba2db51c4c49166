//! What the window and the tray render: one immutable picture of the live state.
//!
//! It holds no secrets (user ids and names, titles, log lines) and is cheap to clone: every
//! list is behind an `Arc`, and the long rings share their entries with the state.

use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::connection::ConnectionStatus;
use crate::happening::{Happening, Who};

/// The live state at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// The connection, as the connection task last reported it.
    pub connection: ConnectionStatus,
    /// Who the app is signed in as, once the server accepted the token.
    pub me: Option<Me>,
    /// Users online (connections > 0) first, then users seen offline since the app started;
    /// admins only (others are not told about presence).
    #[serde(serialize_with = "slice")]
    pub users: Arc<[UserPresence]>,
    /// Open listening sessions, most recently started first; admins only.
    #[serde(serialize_with = "slice")]
    pub listening: Arc<[NowListening]>,
    /// Your own listening; filled for users who are not admins (admins see everyone's above).
    pub mine: MyListening,
    /// Library scans in progress.
    #[serde(serialize_with = "slice")]
    pub scans: Arc<[ScanInProgress]>,
    /// Recent happenings, oldest first.
    #[serde(serialize_with = "shared")]
    pub activity: Arc<[Arc<Activity>]>,
    /// Server log lines received, oldest first.
    #[serde(serialize_with = "shared")]
    pub logs: Arc<[Arc<LogLine>]>,
    /// Round trip of the last application ping.
    pub latency_ms: Option<u64>,
    /// While the lists may be out of date (offline, or back but not yet re-read after an outage
    /// or a freeze), when they were last known true (Unix ms): the window marks them "as of"
    /// then. `None` while they are live.
    pub as_of_ms: Option<u64>,
    /// When this picture was taken (Unix ms); "stale" and "last seen" are relative to it.
    pub taken_at_ms: u64,
}

impl Snapshot {
    /// The picture before anything is known.
    pub fn empty(connection: ConnectionStatus) -> Self {
        Self {
            connection,
            me: None,
            users: Arc::new([]),
            listening: Arc::new([]),
            mine: MyListening::default(),
            scans: Arc::new([]),
            activity: Arc::new([]),
            logs: Arc::new([]),
            latency_ms: None,
            as_of_ms: None,
            taken_at_ms: 0,
        }
    }

    /// How many users have at least one connection, for the tray's tooltip.
    pub fn users_online(&self) -> usize {
        self.users.iter().filter(|u| u.connections > 0).count()
    }
}

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Me {
    /// User id.
    pub user_id: String,
    /// User name.
    pub username: String,
    /// Admins see everyone's presence and sessions and can broadcast and cancel scans.
    pub is_admin: bool,
}

/// One user's presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserPresence {
    /// User id.
    pub user_id: String,
    /// User name (hostile input: render as text).
    pub username: String,
    /// Authenticated sockets of this user (0: offline).
    pub connections: u32,
    /// When the user was last known online (Unix ms): now-ish while online, the moment the last
    /// connection went away when offline, or the server's last login when that is all we know.
    pub last_seen_ms: Option<u64>,
    /// When the current online stretch began, as far as the app saw it.
    pub online_since_ms: Option<u64>,
}

/// One open listening session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NowListening {
    /// Playback session id.
    pub session_id: String,
    /// Who listens.
    pub user: Who,
    /// The library item (cover: `/api/items/{item_id}/cover`).
    pub item_id: String,
    /// The podcast episode, when it is one.
    pub episode_id: Option<String>,
    /// Book or episode title.
    pub title: String,
    /// Author or podcast author.
    pub author: Option<String>,
    /// Short device label ("Pixel 8", "Firefox on Linux").
    pub device: Option<String>,
    /// `direct_play`, `direct_stream`, `transcode`, `local` or `unknown`.
    pub play_method: &'static str,
    /// Session start (Unix ms).
    pub started_at_ms: u64,
    /// Last sync the server reported (Unix ms).
    pub updated_at_ms: u64,
    /// Position in seconds, as of `updated_at_ms`.
    pub position_s: f64,
    /// Length in seconds (0 when unknown).
    pub duration_s: f64,
    /// Position as a fraction of the length.
    pub progress: Option<f64>,
    /// Time listened in this session, in seconds.
    pub listened_s: f64,
    /// No sync for longer than the stale limit: probably a client that went away without
    /// closing; shown apart from live sessions.
    pub stale: bool,
    /// The server announced a close that is not confirmed yet.
    pub closing: bool,
}

/// The signed-in user's own listening, for users who cannot see everyone's.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MyListening {
    /// The server answered the first read since connecting (until then the lists are unknown,
    /// not empty).
    pub loaded: bool,
    /// The session playing now (its `user` is you).
    pub current: Option<NowListening>,
    /// Recent sessions, newest first, without the current one.
    #[serde(serialize_with = "slice")]
    pub recent: Arc<[PastSession]>,
    /// Finished books, most recently finished first.
    #[serde(serialize_with = "slice")]
    pub finished: Arc<[FinishedBook]>,
}

/// One of your recent listening sessions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PastSession {
    /// Playback session id.
    pub session_id: String,
    /// The library item (the window shows a tile for it, never a network image).
    pub item_id: String,
    /// The podcast episode, when it is one.
    pub episode_id: Option<String>,
    /// Book or episode title.
    pub title: String,
    /// Author or podcast author.
    pub author: Option<String>,
    /// Short device label.
    pub device: Option<String>,
    /// Session start (Unix ms).
    pub started_at_ms: u64,
    /// Its last sync (Unix ms).
    pub updated_at_ms: u64,
    /// Position in seconds at the last sync.
    pub position_s: f64,
    /// Length in seconds (0 when unknown).
    pub duration_s: f64,
    /// Position as a fraction of the length.
    pub progress: Option<f64>,
    /// Time listened in the session, in seconds.
    pub listened_s: f64,
}

/// A book you finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FinishedBook {
    /// The library item.
    pub item_id: String,
    /// Its title.
    pub title: String,
    /// Its author.
    pub author: Option<String>,
    /// When it was finished (Unix ms), when the server said.
    pub finished_at_ms: Option<u64>,
}

/// A library scan in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanInProgress {
    /// The server task id (cancel the scan by its library id).
    pub task_id: String,
    /// The library.
    pub library_id: Option<String>,
    /// Its name.
    pub library_name: Option<String>,
    /// When the scan started (Unix ms).
    pub started_at_ms: Option<u64>,
}

/// One entry of the recent-activity list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Activity {
    /// When the app learned it (Unix ms).
    pub at_ms: u64,
    /// What happened.
    pub happening: Happening,
}

/// One server log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Server local time, as the server wrote it.
    pub timestamp: String,
    /// `File.js:line`, when sent.
    pub source: Option<String>,
    /// Severity 0 (trace) to 6 (note).
    pub level: u8,
    /// `INFO`, `WARN`, ...
    pub level_name: Option<String>,
    /// The message (capped by the decoder; hostile input: render as text).
    pub message: String,
}

/// Serializes a shared slice as a JSON array (serde's `rc` feature is not needed for this).
fn slice<S: Serializer, T: Serialize>(items: &Arc<[T]>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(items.iter())
}

/// Serializes a shared slice of shared entries as a JSON array of the entries.
fn shared<S: Serializer, T: Serialize>(
    items: &Arc<[Arc<T>]>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(items.iter().map(|item| &**item))
}
