//! Listening progress of the authenticated user (`user_item_progress_updated`).

use serde::Deserialize;

use super::bounded;

/// `user_item_progress_updated`: one progress write by one of this user's sessions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressUpdate {
    /// Media progress id (same as `data.id`).
    #[serde(deserialize_with = "bounded::ident")]
    pub id: String,
    /// The playback session that synced.
    #[serde(default, deserialize_with = "bounded::opt_ident")]
    pub session_id: Option<String>,
    /// Server-built device label; literally `"null null / null"` for unknown clients.
    #[serde(default, deserialize_with = "bounded::opt_text")]
    pub device_description: Option<String>,
    /// The progress after the write.
    pub data: MediaProgress,
}

/// `MediaProgress.getOldMediaProgress()`: where the user is in one book or episode.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaProgress {
    /// Media progress id.
    #[serde(deserialize_with = "bounded::ident")]
    pub id: String,
    /// Owner.
    #[serde(default, deserialize_with = "bounded::opt_ident")]
    pub user_id: Option<String>,
    /// The item.
    #[serde(deserialize_with = "bounded::ident")]
    pub library_item_id: String,
    /// Podcast episode id; `None` for books.
    #[serde(default, deserialize_with = "bounded::opt_ident")]
    pub episode_id: Option<String>,
    /// `book` or `podcastEpisode`.
    #[serde(default, deserialize_with = "bounded::opt_ident")]
    pub media_item_type: Option<String>,
    /// Length in seconds, when known.
    #[serde(default)]
    pub duration: Option<f64>,
    /// 0.0 ..= 1.0.
    #[serde(default, deserialize_with = "bounded::seconds")]
    pub progress: f64,
    /// Position in seconds.
    #[serde(default, deserialize_with = "bounded::seconds")]
    pub current_time: f64,
    /// Flips to `true` within `markAsFinishedTimeRemaining` of the end.
    pub is_finished: bool,
    /// Last write (ms).
    #[serde(default, deserialize_with = "bounded::opt_ms")]
    pub last_update: Option<i64>,
    /// First listen (ms).
    #[serde(default, deserialize_with = "bounded::opt_ms")]
    pub started_at: Option<i64>,
    /// When it was finished (ms).
    #[serde(default, deserialize_with = "bounded::opt_ms")]
    pub finished_at: Option<i64>,
}
