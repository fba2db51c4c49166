//! The typed form of every server → client event the tray reacts to.

use super::library::{Library, LibraryItem};
use super::log::{DailyLogs, LogEvent};
use super::podcast::EpisodeDownload;
use super::progress::ProgressUpdate;
use super::raw::RawArg;
use super::task::Task;
use super::user::{AuthFailed, Init, PublicUser, User};

/// A decoded server event; see [`decode`](super::decode). Events the tray does not model are
/// kept raw in [`ServerEvent::Other`] so callers can still log them.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// `init`: the socket is authenticated.
    Init(Init),
    /// `auth_failed` (2.26+): the token was refused.
    AuthFailed(AuthFailed),
    /// `invalid_token` (before 2.26, no payload): the token was refused.
    InvalidToken,
    /// `user_online` (admins): a socket of this user authenticated (also the tray's own).
    UserOnline(PublicUser),
    /// `user_offline` (admins): *one* socket of this user disconnected.
    UserOffline(PublicUser),
    /// `user_added` (admins).
    UserAdded(User),
    /// `user_updated` (the user, or the admin who edited them).
    UserUpdated(User),
    /// `user_removed` (admins).
    UserRemoved(User),
    /// `user_stream_update` (admins): a session started or is closing.
    UserStreamUpdate(PublicUser),
    /// `user_item_progress_updated` (the listening user only).
    UserItemProgressUpdated(ProgressUpdate),
    /// `user_session_closed` (the listening user only).
    UserSessionClosed {
        /// The closed playback session.
        session_id: String,
    },
    /// `admin_message`: a broadcast from an admin (`''` when the admin sent none).
    AdminMessage {
        /// The text, truncated to [`MAX_MESSAGE_BYTES`](super::MAX_MESSAGE_BYTES).
        message: String,
    },
    /// `log` (log listeners): one server log line.
    Log(LogEvent),
    /// `daily_logs` (servers before 2.8): reply to `fetch_daily_logs`.
    DailyLogs(DailyLogs),
    /// `pong`: reply to `ping`.
    Pong,
    /// `task_started`.
    TaskStarted(Task),
    /// `task_finished`.
    TaskFinished(Task),
    /// `item_added`.
    ItemAdded(LibraryItem),
    /// `items_added` (library scans), at most [`MAX_ITEMS_ADDED`](super::MAX_ITEMS_ADDED).
    ItemsAdded(Vec<LibraryItem>),
    /// `library_added`.
    LibraryAdded(Library),
    /// `library_updated`.
    LibraryUpdated(Library),
    /// `library_removed`.
    LibraryRemoved(Library),
    /// `episode_download_finished`.
    EpisodeDownloadFinished(EpisodeDownload),
    /// `backup_applied` (no payload): the server database was replaced; refetch everything.
    BackupApplied,
    /// Any event not modelled above, with its raw Socket.IO arguments.
    Other {
        /// Event name as received.
        name: String,
        /// Socket.IO arguments as received, as JSON text (never parsed into a tree here).
        payload: Vec<RawArg>,
    },
}

impl ServerEvent {
    /// The Socket.IO event name, for logs and dispatch tables.
    pub fn name(&self) -> &str {
        match self {
            Self::Init(_) => "init",
            Self::AuthFailed(_) => "auth_failed",
            Self::InvalidToken => "invalid_token",
            Self::UserOnline(_) => "user_online",
            Self::UserOffline(_) => "user_offline",
            Self::UserAdded(_) => "user_added",
            Self::UserUpdated(_) => "user_updated",
            Self::UserRemoved(_) => "user_removed",
            Self::UserStreamUpdate(_) => "user_stream_update",
            Self::UserItemProgressUpdated(_) => "user_item_progress_updated",
            Self::UserSessionClosed { .. } => "user_session_closed",
            Self::AdminMessage { .. } => "admin_message",
            Self::Log(_) => "log",
            Self::DailyLogs(_) => "daily_logs",
            Self::Pong => "pong",
            Self::TaskStarted(_) => "task_started",
            Self::TaskFinished(_) => "task_finished",
            Self::ItemAdded(_) => "item_added",
            Self::ItemsAdded(_) => "items_added",
            Self::LibraryAdded(_) => "library_added",
            Self::LibraryUpdated(_) => "library_updated",
            Self::LibraryRemoved(_) => "library_removed",
            Self::EpisodeDownloadFinished(_) => "episode_download_finished",
            Self::BackupApplied => "backup_applied",
            Self::Other { name, .. } => name,
        }
    }
}
