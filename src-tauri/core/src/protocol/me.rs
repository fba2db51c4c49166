//! The signed-in user's own listening, as any user (not only admins) may read it:
//! `GET /api/me/listening-sessions` and the `mediaProgress` of `GET /api/me`.

use std::fmt;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, de};

use super::bounded;
use super::progress::MediaProgress;
use super::session::PlaybackSession;

/// Most finished books kept from `GET /api/me`: the newest ones.
pub const MAX_FINISHED: usize = 10;

/// `GET /api/me/listening-sessions?itemsPerPage=N&page=P`: one page of the user's saved
/// sessions, most recently updated first. The server saves a session once it has listening
/// time, so an open session that synced is here too (find out with `GET /api/session/{id}`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListeningSessions {
    /// The page's sessions, at most [`MAX_LIST_LEN`](super::MAX_LIST_LEN) (the page counts,
    /// `total`, `numPages`, `page` and `itemsPerPage`, are not needed).
    #[serde(deserialize_with = "bounded::list")]
    pub sessions: Vec<PlaybackSession>,
}

/// `GET /api/me` (`User.toOldJSONForBrowser()`), reduced to the books the user finished: the
/// legacy token and everything else in the reply are skipped unread.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MyProgress {
    /// User id.
    #[serde(deserialize_with = "bounded::ident")]
    pub id: String,
    /// Finished books (not podcast episodes), most recently finished first, at most
    /// [`MAX_FINISHED`]. Every entry of `mediaProgress` is read, whatever its length, and only
    /// the newest finished ones are kept.
    #[serde(rename = "mediaProgress", default, deserialize_with = "finished")]
    pub finished: Vec<MediaProgress>,
}

/// When a progress entry was finished, for ordering (old servers leave `finishedAt` null).
fn finished_at(progress: &MediaProgress) -> i64 {
    progress.finished_at.or(progress.last_update).unwrap_or(0)
}

/// Reads `mediaProgress`, keeping the [`MAX_FINISHED`] newest finished books.
fn finished<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<MediaProgress>, D::Error> {
    d.deserialize_option(NewestFinished)
}

/// The visitor behind [`finished`]; `null` is an empty list.
struct NewestFinished;

impl<'de> Visitor<'de> for NewestFinished {
    type Value = Vec<MediaProgress>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of media progress or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut kept: Vec<MediaProgress> = Vec::new();
        while let Some(entry) = seq.next_element::<Entry>()? {
            let Entry::Progress(progress) = entry else {
                continue;
            };
            if !progress.is_finished || progress.episode_id.is_some() {
                continue;
            }
            // Newest first; never more than MAX_FINISHED held, however long the list.
            let at = kept
                .iter()
                .position(|k| finished_at(k) < finished_at(&progress))
                .unwrap_or(kept.len());
            if at < MAX_FINISHED {
                kept.insert(at, *progress);
                kept.truncate(MAX_FINISHED);
            }
        }
        Ok(kept)
    }
}

/// One `mediaProgress` entry: a progress the app understands, or one it skips (an ebook-only
/// entry of a newer server, say) rather than losing the whole list over it.
enum Entry {
    /// A well-formed entry.
    Progress(Box<MediaProgress>),
    /// Anything else, checked as JSON only.
    Skipped,
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Buffering one entry is bounded by the REST body cap; a bad entry costs only itself.
        let value = serde_json::Value::deserialize(d)?;
        Ok(match MediaProgress::deserialize(value) {
            Ok(progress) => Self::Progress(Box::new(progress)),
            Err(_) => Self::Skipped,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn progress(item: &str, finished: bool, finished_at: Option<i64>) -> serde_json::Value {
        json!({"id": format!("p-{item}"), "userId": "u1", "libraryItemId": item, "episodeId": null,
            "mediaItemId": format!("m-{item}"), "mediaItemType": "book", "duration": 600,
            "progress": if finished { 1.0 } else { 0.5 }, "currentTime": 300, "isFinished": finished,
            "hideFromContinueListening": false, "ebookLocation": null, "ebookProgress": 0,
            "lastUpdate": finished_at.unwrap_or(5), "startedAt": 1, "finishedAt": finished_at})
    }

    #[test]
    fn listening_sessions_read_the_real_page_shape() {
        let session = json!({"id": "s1", "userId": "u1", "libraryId": "l1", "libraryItemId": "i1",
            "bookId": "b1", "episodeId": null, "mediaType": "book",
            "mediaMetadata": {"title": "Dune", "authors": [{"id": "a1", "name": "Frank Herbert"}]},
            "chapters": [], "displayTitle": "Dune", "displayAuthor": "Frank Herbert",
            "coverPath": "/metadata/items/i1/cover.jpg", "duration": 600.5, "playMethod": 0,
            "mediaPlayer": "html5", "deviceInfo": {"id": "d1", "clientName": "Abs Android",
            "model": "Pixel 8", "sdkVersion": 34}, "serverVersion": "2.36.0", "date": "2026-11-28",
            "dayOfWeek": "Saturday", "timeListening": 120, "startTime": 0, "currentTime": 120,
            "startedAt": 1_795_851_167_177_i64, "updatedAt": 1_795_851_287_177_i64});
        let page: ListeningSessions = serde_json::from_value(json!({"total": 11, "numPages": 2,
            "page": 0, "itemsPerPage": 10, "sessions": [session]}))
        .unwrap();
        assert_eq!(page.sessions[0].display_title.as_deref(), Some("Dune"));
        assert_eq!(page.sessions[0].time_listening, 120.0);
        let empty: ListeningSessions =
            serde_json::from_value(json!({"total": 0, "numPages": 0, "page": 0,
                "itemsPerPage": 10, "sessions": []}))
            .unwrap();
        assert!(empty.sessions.is_empty());
    }

    #[test]
    fn only_the_newest_finished_books_are_kept() {
        let mut entries: Vec<_> = (0..5_000)
            .map(|n| progress(&format!("i{n}"), n % 2 == 0, (n % 2 == 0).then_some(n)))
            .collect();
        entries.push(json!({"id": "odd", "surprise": true}));
        let mut episode = progress("pod", true, Some(1_000_000));
        episode["episodeId"] = json!("ep1");
        entries.push(episode);
        let me: MyProgress = serde_json::from_value(json!({"id": "u1", "username": "alice",
            "token": "legacy-jwt", "mediaProgress": entries}))
        .unwrap();
        let items: Vec<_> = me
            .finished
            .iter()
            .map(|p| p.library_item_id.as_str())
            .collect();
        assert_eq!(
            items,
            [
                "i4998", "i4996", "i4994", "i4992", "i4990", "i4988", "i4986", "i4984", "i4982",
                "i4980"
            ]
        );
    }

    #[test]
    fn no_progress_is_no_finished_books() {
        for progress in [json!(null), json!([])] {
            let me: MyProgress =
                serde_json::from_value(json!({"id": "u1", "mediaProgress": progress})).unwrap();
            assert!(me.finished.is_empty());
        }
        let me: MyProgress = serde_json::from_value(json!({"id": "u1"})).unwrap();
        assert!(me.finished.is_empty());
        assert!(
            serde_json::from_value::<MyProgress>(json!({"id": "u1", "mediaProgress": {}})).is_err()
        );
    }
}
