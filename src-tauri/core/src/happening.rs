//! What happened on the server, in people's terms: the contract between live state and the
//! notification policy.
//!
//! ABS's events are noisy and partly misleading (presence per socket, a "closing" session that
//! still looks open, progress ticks every few seconds). Live state turns them into these facts,
//! each true once: a user's first connection, a session confirmed gone, a book's finish flip. The
//! policy then decides which facts become popups.

use std::time::Duration;

use serde::Serialize;

/// A user as the app shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Who {
    /// The server's user id.
    pub user_id: String,
    /// The user's name (hostile input: render as text only).
    pub username: String,
}

/// One listening session as the app shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Listening {
    /// The playback session id.
    pub session_id: String,
    /// Who listens.
    pub user: Who,
    /// The library item (book or podcast).
    pub item_id: String,
    /// The podcast episode, when it is one.
    pub episode_id: Option<String>,
    /// Book or episode title.
    pub title: String,
    /// Author or podcast author.
    pub author: Option<String>,
    /// "iPhone", "Chrome on Linux", ...; `None` when the client did not say.
    pub device: Option<String>,
    /// When the session started, Unix ms.
    pub started_at_ms: u64,
    /// Position in seconds.
    pub position_s: f64,
    /// Length in seconds.
    pub duration_s: f64,
}

impl Listening {
    /// Position as a fraction of the length, when the length is known.
    pub fn progress(&self) -> Option<f64> {
        (self.duration_s > 0.0).then(|| (self.position_s / self.duration_s).clamp(0.0, 1.0))
    }
}

/// Notification categories, each switchable on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Broadcasts from an admin.
    AdminMessage,
    /// Users coming online and going offline (admins only).
    Presence,
    /// Listening sessions starting and stopping (admins only).
    Sessions,
    /// Your own progress: finished books, milestones, playing elsewhere.
    Progress,
    /// Scans, downloads, backups, new items, users added or removed.
    ServerActivity,
}

/// One fact worth considering for a popup.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Happening {
    /// An admin broadcast a message.
    AdminMessage {
        /// The message (hostile input).
        text: String,
    },
    /// A user's first connection appeared (not yet debounced).
    UserOnline {
        /// Who.
        user: Who,
    },
    /// A user's last connection went away (not yet debounced).
    UserOffline {
        /// Who.
        user: Who,
    },
    /// A listening session started.
    SessionStarted {
        /// The session as it started.
        listening: Listening,
    },
    /// A session is confirmed gone (closed and no longer listed by the server).
    SessionStopped {
        /// The session as last seen.
        listening: Listening,
        /// Time listened in this session, in seconds; `None` when its final numbers were never
        /// seen (it ended while the app was away, or without a close announcement): the last
        /// numbers seen would understate it, down to "0 s" for a session only seen starting.
        listened_s: Option<f64>,
        /// Progress when it started, 0..=1.
        progress_before: Option<f64>,
        /// Progress when it stopped, 0..=1; `None` when unknown (as `listened_s`).
        progress_after: Option<f64>,
    },
    /// One of your books or episodes flipped to finished.
    Finished {
        /// The item.
        item_id: String,
        /// Its title.
        title: String,
    },
    /// Your progress crossed a milestone (e.g. 25 %, 50 %, 75 %).
    Milestone {
        /// The item.
        item_id: String,
        /// Its title.
        title: String,
        /// The milestone crossed, in percent.
        percent: u8,
    },
    /// Something you are listening to is now playing on another of your devices.
    PlayingElsewhere {
        /// The item.
        item_id: String,
        /// Its title.
        title: String,
        /// The other device, as the server describes it.
        device: Option<String>,
    },
    /// A library scan finished.
    ScanFinished {
        /// The library.
        library_id: String,
        /// Its name.
        library_name: Option<String>,
        /// Items added.
        added: u64,
        /// Items updated.
        updated: u64,
        /// Items missing.
        missing: u64,
        /// True when the scan was cancelled or failed.
        failed: bool,
    },
    /// The server's file watcher saw files change in a library and scanned them. Nobody
    /// started it (not a [`Happening::ScanFinished`]), and its new items are already told one
    /// by one ([`Happening::ItemsAdded`]), so it is a fact only when it updated or removed some.
    FilesChanged {
        /// The library.
        library_id: String,
        /// Its name.
        library_name: Option<String>,
        /// Items added.
        added: u64,
        /// Items updated.
        updated: u64,
        /// Items whose files are gone (ABS marks them missing).
        removed: u64,
    },
    /// A podcast episode finished downloading.
    EpisodeDownloaded {
        /// The podcast's library item.
        item_id: String,
        /// The podcast.
        podcast_title: Option<String>,
        /// The episode.
        episode_title: Option<String>,
    },
    /// A backup was restored on the server.
    BackupApplied,
    /// Items were added to a library outside a scan summary.
    ItemsAdded {
        /// The library.
        library_id: String,
        /// How many.
        count: usize,
        /// The first item's title, to name in the popup.
        first_title: Option<String>,
        /// The first item's id, to link to.
        first_item_id: Option<String>,
    },
    /// An admin created a user.
    UserAdded {
        /// Who.
        user: Who,
    },
    /// An admin deleted a user.
    UserRemoved {
        /// Who.
        user: Who,
    },
    /// The app is back after an outage or a freeze (asleep, stopped); `changes` is what differs
    /// from before it, learned from the server's lists rather than from events (missed, or kept
    /// by the kernel and now too old to tell as news). The policy makes it one summary.
    Resynced {
        /// How long the app was away: from when the state was last known true (the connection
        /// lost, or the app stopped running) to its return.
        outage: Duration,
        /// The differences, as the facts above.
        changes: Vec<Happening>,
    },
}

impl Happening {
    /// The category that switches this kind of popup on or off; `None` for [`Happening::Resynced`],
    /// whose changes carry their own.
    pub fn category(&self) -> Option<Category> {
        Some(match self {
            Self::AdminMessage { .. } => Category::AdminMessage,
            Self::UserOnline { .. } | Self::UserOffline { .. } => Category::Presence,
            Self::SessionStarted { .. } | Self::SessionStopped { .. } => Category::Sessions,
            Self::Finished { .. } | Self::Milestone { .. } | Self::PlayingElsewhere { .. } => {
                Category::Progress
            }
            Self::ScanFinished { .. }
            | Self::FilesChanged { .. }
            | Self::EpisodeDownloaded { .. }
            | Self::BackupApplied
            | Self::ItemsAdded { .. }
            | Self::UserAdded { .. }
            | Self::UserRemoved { .. } => Category::ServerActivity,
            Self::Resynced { .. } => return None,
        })
    }
}
