//! Libraries and library items, reduced to what a "new in your library" notification shows.

use serde::Deserialize;

use super::bounded;

/// What a library, item or session holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MediaType {
    /// Audiobooks and ebooks.
    Book,
    /// Podcasts.
    Podcast,
    /// Missing, or a type this client does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

/// `Library.toOldJSON()` (`library_added` / `library_updated` / `library_removed`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Library {
    /// Library id.
    #[serde(deserialize_with = "bounded::ident")]
    pub id: String,
    /// Display name.
    #[serde(deserialize_with = "bounded::text")]
    pub name: String,
    /// Book or podcast library.
    #[serde(default)]
    pub media_type: MediaType,
}

/// `LibraryItem.toOldJSONExpanded()` (`item_added`, `items_added`), flattened: the server's
/// `media.metadata` fields a notification needs are lifted to the top, the rest is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "RawLibraryItem")]
pub struct LibraryItem {
    /// Item id (cover: `/api/items/{id}/cover`).
    pub id: String,
    /// Owning library.
    pub library_id: Option<String>,
    /// Book or podcast.
    pub media_type: MediaType,
    /// `media.metadata.title`.
    pub title: Option<String>,
    /// `media.metadata.subtitle`.
    pub subtitle: Option<String>,
    /// `media.metadata.authorName` (books) or `author` (podcasts).
    pub author: Option<String>,
    /// `media.metadata.narratorName` (books).
    pub narrator: Option<String>,
    /// `media.metadata.seriesName` (books).
    pub series: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLibraryItem {
    #[serde(deserialize_with = "bounded::ident")]
    id: String,
    #[serde(default, deserialize_with = "bounded::opt_ident")]
    library_id: Option<String>,
    #[serde(default)]
    media_type: MediaType,
    #[serde(default)]
    media: Option<RawMedia>,
}

#[derive(Deserialize)]
struct RawMedia {
    #[serde(default)]
    metadata: Option<RawMetadata>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMetadata {
    #[serde(default, deserialize_with = "bounded::opt_text")]
    title: Option<String>,
    #[serde(default, deserialize_with = "bounded::opt_text")]
    subtitle: Option<String>,
    #[serde(default, deserialize_with = "bounded::opt_text")]
    author_name: Option<String>,
    #[serde(default, deserialize_with = "bounded::opt_text")]
    author: Option<String>,
    #[serde(default, deserialize_with = "bounded::opt_text")]
    narrator_name: Option<String>,
    #[serde(default, deserialize_with = "bounded::opt_text")]
    series_name: Option<String>,
}

/// The server sends `""` for "no narrator/series"; a notifier wants `None`.
fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

impl From<RawLibraryItem> for LibraryItem {
    fn from(raw: RawLibraryItem) -> Self {
        let meta = raw.media.and_then(|m| m.metadata).unwrap_or_default();
        Self {
            id: raw.id,
            library_id: raw.library_id,
            media_type: raw.media_type,
            title: non_empty(meta.title),
            subtitle: non_empty(meta.subtitle),
            author: non_empty(meta.author_name).or(non_empty(meta.author)),
            narrator: non_empty(meta.narrator_name),
            series: non_empty(meta.series_name),
        }
    }
}
