//! Podcast episode downloads (`episode_download_finished`).

use serde::Deserialize;

use super::bounded;

/// `PodcastEpisodeDownload.toJSONForClient()`: a queued/started/finished episode download.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EpisodeDownload {
    /// Download id.
    #[serde(deserialize_with = "bounded::ident")]
    pub id: String,
    /// Episode title as shown by the server.
    #[serde(default, deserialize_with = "bounded::opt_text")]
    pub episode_display_title: Option<String>,
    /// The podcast's library item.
    #[serde(default, deserialize_with = "bounded::opt_ident")]
    pub library_item_id: Option<String>,
    /// The podcast's library.
    #[serde(default, deserialize_with = "bounded::opt_ident")]
    pub library_id: Option<String>,
    /// The podcast's title.
    #[serde(default, deserialize_with = "bounded::opt_text")]
    pub podcast_title: Option<String>,
    /// The download failed.
    #[serde(default)]
    pub failed: bool,
    /// The download is over.
    #[serde(default)]
    pub is_finished: bool,
}
