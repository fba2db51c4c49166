//! Your own listening, for users the server does not show everyone's: what you are listening to
//! now, your recent sessions and the books you finished.
//!
//! A non-admin gets no `user_stream_update`; what reaches them is their own progress writes
//! (`user_item_progress_updated`, with the session and device) and `user_session_closed`. The
//! current book follows those events; `GET /api/me/listening-sessions`, `GET /api/session/{id}`
//! and `GET /api/me` fill in the rest, after each connect and whenever the events say the
//! picture changed (a new session, a closed one, progress edited elsewhere). Events win over a
//! read that was asked for before them.

use std::collections::{HashMap, VecDeque};

use super::label::{device_label, label, play_method, progress_device};
use super::rest::MineRead;
use super::snapshot::{FinishedBook, MyListening, NowListening, PastSession};
use super::{MAX_ITEMS, server_ms};
use crate::happening::Who;
use crate::protocol::{LibraryItem, MAX_FINISHED, PlaybackSession, ProgressUpdate};

/// Recent sessions shown (the page read holds a few more, the current one among them).
pub const MAX_RECENT: usize = 5;
/// Closed session ids remembered, so a read that predates a close cannot bring it back.
const CLOSED_MEMORY: usize = 64;
/// Shown for a book whose title nobody could learn.
const NO_TITLE: &str = "Untitled";

/// What is known about a book, from sessions and item reads.
#[derive(Debug, Clone, PartialEq)]
struct Book {
    /// Its title.
    title: String,
    /// Its author.
    author: Option<String>,
}

/// The session playing now.
#[derive(Debug, Clone, PartialEq)]
struct Current {
    /// Playback session id.
    session_id: String,
    /// The item.
    item_id: String,
    /// The podcast episode, when it is one.
    episode_id: Option<String>,
    /// The device label.
    device: Option<String>,
    /// How the audio reaches the client, when a read said.
    play_method: &'static str,
    /// Session start (Unix ms): the server's, or when the app first heard of it.
    started_at_ms: u64,
    /// The last sign of life (Unix ms).
    updated_at_ms: u64,
    /// Position in seconds.
    position_s: f64,
    /// Length in seconds (0 when unknown).
    duration_s: f64,
    /// Seconds listened in this session, as of the last read.
    listened_s: f64,
    /// Event sequence number of the last event about it.
    touched: u64,
}

impl Current {
    /// The session as a read saw it.
    fn of(session: &PlaybackSession, touched: u64) -> Self {
        Self {
            session_id: session.id.clone(),
            item_id: session.library_item_id.clone().unwrap_or_default(),
            episode_id: session.episode_id.clone(),
            device: device_label(session.device_info.as_ref()),
            play_method: play_method(session.play_method),
            started_at_ms: server_ms(session.started_at),
            updated_at_ms: server_ms(session.updated_at),
            position_s: finite(session.current_time),
            duration_s: finite(session.duration.unwrap_or(0.0)),
            listened_s: finite(session.time_listening),
            touched,
        }
    }
}

/// Your own listening; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Mine {
    /// The session playing now.
    current: Option<Current>,
    /// Recent sessions, newest first, without the current one.
    recent: Vec<PastSession>,
    /// Finished books, most recently finished first.
    finished: Vec<FinishedBook>,
    /// Titles and authors by item id.
    books: HashMap<String, Book>,
    /// Sessions announced closed, oldest first.
    closed: VecDeque<String>,
    /// A read answered since the account connected.
    loaded: bool,
    /// A current session without a sign of life for this long is shown as stale.
    stale_after_ms: u64,
}

impl Mine {
    /// Nothing known; a current session is stale after `stale_after_ms` without news.
    pub(crate) fn new(stale_after_ms: u64) -> Self {
        Self {
            current: None,
            recent: Vec::new(),
            finished: Vec::new(),
            books: HashMap::new(),
            closed: VecDeque::new(),
            loaded: false,
            stale_after_ms,
        }
    }

    /// One of your progress writes; returns whether it names a session not seen before (read
    /// the lists again: the previous one may have ended).
    pub(crate) fn progress(&mut self, update: &ProgressUpdate, now_ms: u64, seq: u64) -> bool {
        let Some(session_id) = &update.session_id else {
            // Offline playback synced later (`/api/session/local`): nothing is playing.
            return false;
        };
        if self.closed.contains(session_id) {
            return false;
        }
        let data = &update.data;
        let device = progress_device(update.device_description.as_deref());
        let duration = finite(data.duration.unwrap_or(0.0));
        let position = finite(data.current_time);
        if let Some(current) = self
            .current
            .as_mut()
            .filter(|c| &c.session_id == session_id)
        {
            current.position_s = position;
            if duration > 0.0 {
                current.duration_s = duration;
            }
            if device.is_some() && current.device.is_none() {
                current.device = device;
            }
            current.updated_at_ms = now_ms;
            current.touched = seq;
            return false;
        }
        self.current = Some(Current {
            session_id: session_id.clone(),
            item_id: data.library_item_id.clone(),
            episode_id: data.episode_id.clone(),
            device,
            play_method: "unknown",
            started_at_ms: now_ms,
            updated_at_ms: now_ms,
            position_s: position,
            duration_s: duration,
            listened_s: 0.0,
            touched: seq,
        });
        true
    }

    /// One of your sessions closed: the current one becomes the newest recent one.
    pub(crate) fn closed(&mut self, session_id: &str, now_ms: u64) {
        if self.closed.len() >= CLOSED_MEMORY {
            self.closed.pop_front();
        }
        self.closed.push_back(session_id.to_owned());
        if let Some(current) = self.current.take_if(|c| c.session_id == session_id) {
            let mut past = self.past_of(&current);
            past.updated_at_ms = past.updated_at_ms.max(now_ms);
            self.recent.retain(|r| r.session_id != session_id);
            self.recent.insert(0, past);
            self.recent.truncate(MAX_RECENT);
        }
    }

    /// A book you just finished (`title` as the happening named it).
    pub(crate) fn finished(
        &mut self,
        item_id: &str,
        episode_id: Option<&str>,
        title: &str,
        now_ms: u64,
    ) {
        if episode_id.is_some() {
            return;
        }
        self.finished.retain(|f| f.item_id != item_id);
        let author = self.books.get(item_id).and_then(|b| b.author.clone());
        self.finished.insert(
            0,
            FinishedBook {
                item_id: item_id.to_owned(),
                title: title.to_owned(),
                author,
                finished_at_ms: Some(now_ms),
            },
        );
        self.finished.truncate(MAX_FINISHED);
    }

    /// What an item read says about a book.
    pub(crate) fn learn_item(&mut self, item: &LibraryItem) {
        if let Some(title) = item.title.as_deref().map(label).filter(|t| !t.is_empty()) {
            let author = item.author.as_deref().map(label).filter(|a| !a.is_empty());
            self.remember(&item.id, title, author);
        }
    }

    /// Items whose titles are known (finished books among them need no item read).
    pub(crate) fn known_items(&self) -> impl Iterator<Item = &String> {
        self.books.keys()
    }

    /// A read of your lists, asked for at event `guard`: what an event touched after that stays.
    pub(crate) fn apply(&mut self, read: &MineRead, guard: u64) {
        for item in &read.items {
            self.learn_item(item);
        }
        if let Some(page) = read.sessions.got() {
            for session in &page.sessions {
                self.learn_session(session);
            }
        }
        let untouched = self.current.as_ref().is_none_or(|c| c.touched <= guard);
        if let (Some(page), Some(open)) = (read.sessions.got(), read.open.got()) {
            let newest = page.sessions.first().map(|s| s.id.as_str());
            match open {
                Some(session) if !self.closed.contains(&session.id) => {
                    let same = self
                        .current
                        .as_ref()
                        .is_some_and(|c| c.session_id == session.id);
                    if same || untouched {
                        let touched = self.current.as_ref().map_or(0, |c| c.touched);
                        let mut fresh = Current::of(session, touched);
                        if let Some(before) = self.current.as_ref().filter(|_| same) {
                            // Events are newer than the server's last save between syncs.
                            if before.updated_at_ms > fresh.updated_at_ms {
                                fresh.position_s = before.position_s;
                                fresh.updated_at_ms = before.updated_at_ms;
                            }
                            fresh.device = fresh.device.or_else(|| before.device.clone());
                        }
                        self.current = Some(fresh);
                    }
                }
                _ => {
                    // The newest session is closed: so is the current one, if it is that one.
                    if untouched && self.current.as_ref().map(|c| c.session_id.as_str()) == newest {
                        self.current = None;
                    }
                }
            }
        }
        if let Some(page) = read.sessions.got() {
            let current = self.current.as_ref().map(|c| c.session_id.clone());
            self.recent = page
                .sessions
                .iter()
                .filter(|s| Some(&s.id) != current.as_ref())
                .take(MAX_RECENT)
                .map(|s| self.past_of(&Current::of(s, 0)))
                .collect();
        }
        if let Some(progress) = read.progress.got() {
            self.finished = progress
                .finished
                .iter()
                .map(|p| {
                    let book = self.books.get(&p.library_item_id);
                    FinishedBook {
                        item_id: p.library_item_id.clone(),
                        title: book.map_or_else(|| NO_TITLE.to_owned(), |b| b.title.clone()),
                        author: book.and_then(|b| b.author.clone()),
                        finished_at_ms: p.finished_at.or(p.last_update).map(server_ms),
                    }
                })
                .collect();
        }
        // A server that refuses the reads (403/404) has nothing to show: known, and empty.
        if !read.sessions.failed() || !read.progress.failed() {
            self.loaded = true;
        }
    }

    /// The picture for the window, as `me` at `now_ms`; `title_of` names items the lists did not.
    pub(crate) fn snapshot(
        &self,
        me: &Who,
        now_ms: u64,
        title_of: impl Fn(&str, Option<&str>) -> Option<String>,
    ) -> MyListening {
        let current = self.current.as_ref().map(|c| {
            let book = self.books.get(&c.item_id);
            let title = book
                .map(|b| b.title.clone())
                .or_else(|| title_of(&c.item_id, c.episode_id.as_deref()))
                .unwrap_or_else(|| NO_TITLE.to_owned());
            NowListening {
                session_id: c.session_id.clone(),
                user: me.clone(),
                item_id: c.item_id.clone(),
                episode_id: c.episode_id.clone(),
                title,
                author: book.and_then(|b| b.author.clone()),
                device: c.device.clone(),
                play_method: c.play_method,
                started_at_ms: c.started_at_ms,
                updated_at_ms: c.updated_at_ms,
                position_s: c.position_s,
                duration_s: c.duration_s,
                progress: progress(c.position_s, c.duration_s),
                listened_s: c.listened_s,
                stale: self.is_stale(c, now_ms),
                closing: false,
            }
        });
        let finished = self
            .finished
            .iter()
            .map(|f| {
                let mut f = f.clone();
                if f.title == NO_TITLE
                    && let Some(title) = title_of(&f.item_id, None)
                {
                    f.title = title;
                }
                f
            })
            .collect();
        MyListening {
            loaded: self.loaded,
            current,
            recent: self.recent.clone().into(),
            finished,
        }
    }

    /// When the current session turns stale, to show it then.
    pub(crate) fn next_stale_at(&self, now_ms: u64) -> Option<u64> {
        let current = self
            .current
            .as_ref()
            .filter(|c| !self.is_stale(c, now_ms))?;
        Some(
            current
                .updated_at_ms
                .saturating_add(self.stale_after_ms)
                .saturating_add(1),
        )
    }

    /// Forgets everything (another account signed in).
    pub(crate) fn clear(&mut self) {
        *self = Self::new(self.stale_after_ms);
    }

    /// No sign of life for longer than the stale limit (a paused web player stops syncing).
    fn is_stale(&self, current: &Current, now_ms: u64) -> bool {
        now_ms.saturating_sub(current.updated_at_ms) > self.stale_after_ms
    }

    /// A session's book, remembered for the rows that lack it.
    fn learn_session(&mut self, session: &PlaybackSession) {
        let (Some(item), Some(title)) = (&session.library_item_id, &session.display_title) else {
            return;
        };
        let title = label(title);
        if title.is_empty() || session.episode_id.is_some() {
            return;
        }
        let author = session
            .display_author
            .as_deref()
            .map(label)
            .filter(|a| !a.is_empty());
        self.remember(item, title, author);
    }

    /// Stores a book, forgetting an arbitrary other one when the table is full.
    fn remember(&mut self, item_id: &str, title: String, author: Option<String>) {
        if !self.books.contains_key(item_id) && self.books.len() >= MAX_ITEMS {
            let evict = self.books.keys().next().cloned();
            if let Some(evict) = evict {
                self.books.remove(&evict);
            }
        }
        self.books
            .insert(item_id.to_owned(), Book { title, author });
    }

    /// A session as a past one, titled from what is known.
    fn past_of(&self, session: &Current) -> PastSession {
        let book = self.books.get(&session.item_id);
        PastSession {
            session_id: session.session_id.clone(),
            item_id: session.item_id.clone(),
            episode_id: session.episode_id.clone(),
            title: book.map_or_else(|| NO_TITLE.to_owned(), |b| b.title.clone()),
            author: book.and_then(|b| b.author.clone()),
            device: session.device.clone(),
            started_at_ms: session.started_at_ms,
            updated_at_ms: session.updated_at_ms,
            position_s: session.position_s,
            duration_s: session.duration_s,
            progress: progress(session.position_s, session.duration_s),
            listened_s: session.listened_s,
        }
    }
}

/// Position as a fraction of the length, when the length is known.
fn progress(position_s: f64, duration_s: f64) -> Option<f64> {
    (duration_s > 0.0).then(|| (position_s / duration_s).clamp(0.0, 1.0))
}

/// A number from the server that may be negative or not finite.
fn finite(value: f64) -> f64 {
    if value.is_finite() {
        value.max(0.0)
    } else {
        0.0
    }
}
