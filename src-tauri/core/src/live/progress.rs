//! Your own listening progress (`user_item_progress_updated`, every 10–60 s while playing),
//! reduced to the few moments worth telling: finishing, crossing a milestone, and the item
//! starting to play on another device.
//!
//! "Playing on another device" (the web client's "<title> is playing on another device"): a
//! progress write for an item from a different session (or, without session ids, a different
//! device) than the previous write, while that previous write is recent (within the elsewhere
//! window) and its session was not closed. A later resume on another device is a hand-over,
//! not news.

use std::collections::HashMap;

use super::MILESTONES;
use super::label::progress_device;
use crate::protocol::ProgressUpdate;

/// A write counts as finishing a book already finished when first seen if the server marked
/// it finished at most this long before the write: that write is the one that finished it.
const FINISH_SKEW_MS: i64 = 5_000;
/// Below this progress the milestones start over (the book is being listened to again).
const RESTART_BELOW: f64 = 0.05;

/// What one progress write meant.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ProgressFact {
    /// The item flipped to finished.
    Finished,
    /// A milestone (percent) was crossed.
    Milestone(u8),
    /// Another device took over; its label, when it has one.
    Elsewhere(Option<String>),
}

/// What is remembered per item.
#[derive(Debug, Clone)]
struct Item {
    /// Progress of the last write.
    progress: f64,
    /// Finished as of the last write.
    finished: bool,
    /// Highest milestone reported (0: none).
    milestone: u8,
    /// Session of the last write.
    session: Option<String>,
    /// Device of the last write.
    device: Option<String>,
    /// When the last write arrived (Unix ms); 0 once its session closed.
    last_ms: u64,
}

/// Progress per item (library item + episode), at most `cap` items.
#[derive(Debug, Clone)]
pub(crate) struct OwnProgress {
    /// Items by key.
    items: HashMap<String, Item>,
    /// Most items kept.
    cap: usize,
    /// How recent the previous write must be for a new session to be "elsewhere".
    window_ms: u64,
}

impl OwnProgress {
    /// Nothing known; at most `cap` items; elsewhere within `window_ms`.
    pub(crate) fn new(cap: usize, window_ms: u64) -> Self {
        Self {
            items: HashMap::new(),
            cap,
            window_ms,
        }
    }

    /// One progress write; the facts it implies, in order.
    pub(crate) fn apply(&mut self, update: &ProgressUpdate, now_ms: u64) -> Vec<ProgressFact> {
        let data = &update.data;
        let key = key(&data.library_item_id, data.episode_id.as_deref());
        let progress = if data.progress.is_finite() {
            data.progress.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let session = update.session_id.clone();
        let device = progress_device(update.device_description.as_deref());
        let mut facts = Vec::new();
        if let Some(item) = self.items.get_mut(&key) {
            if !item.finished && data.is_finished {
                facts.push(ProgressFact::Finished);
            } else if !data.is_finished {
                if progress < RESTART_BELOW {
                    item.milestone = 0;
                }
                if let Some(m) = crossed(item.progress, progress, item.milestone) {
                    item.milestone = m;
                    facts.push(ProgressFact::Milestone(m));
                }
            }
            let other = match (&item.session, &session) {
                (Some(before), Some(now)) => before != now,
                _ => item.device != device,
            };
            let recent = item.last_ms > 0 && now_ms.saturating_sub(item.last_ms) <= self.window_ms;
            if other && recent {
                facts.push(ProgressFact::Elsewhere(device.clone()));
            }
            item.progress = progress;
            item.finished = data.is_finished;
            item.session = session;
            item.device = device;
            item.last_ms = now_ms;
            return facts;
        }
        if data.is_finished
            && let (Some(finished), Some(written)) = (data.finished_at, data.last_update)
            && (written - finished).abs() <= FINISH_SKEW_MS
        {
            facts.push(ProgressFact::Finished);
        }
        self.make_room();
        self.items.insert(
            key,
            Item {
                progress,
                finished: data.is_finished,
                milestone: MILESTONES
                    .iter()
                    .copied()
                    .filter(|m| f64::from(*m) / 100.0 <= progress)
                    .max()
                    .unwrap_or(0),
                session,
                device,
                last_ms: now_ms,
            },
        );
        facts
    }

    /// A session of ours closed: its item is no longer playing there.
    pub(crate) fn session_closed(&mut self, session_id: &str) {
        for item in self.items.values_mut() {
            if item.session.as_deref() == Some(session_id) {
                item.last_ms = 0;
            }
        }
    }

    /// Forgets everything (another account signed in).
    pub(crate) fn clear(&mut self) {
        self.items.clear();
    }

    /// Forgets the item written longest ago when full.
    fn make_room(&mut self) {
        if self.items.len() < self.cap {
            return;
        }
        let oldest = self
            .items
            .iter()
            .min_by_key(|(_, item)| item.last_ms)
            .map(|(key, _)| key.clone());
        if let Some(key) = oldest {
            self.items.remove(&key);
        }
    }
}

/// The key of a book or an episode.
pub(crate) fn key(item_id: &str, episode_id: Option<&str>) -> String {
    match episode_id {
        Some(episode) => format!("{item_id}/{episode}"),
        None => item_id.to_owned(),
    }
}

/// The highest milestone above `reached` that the step from `before` to `after` crossed
/// (a jump over several is one fact, not a burst).
fn crossed(before: f64, after: f64, reached: u8) -> Option<u8> {
    MILESTONES
        .iter()
        .copied()
        .filter(|m| *m > reached)
        .filter(|m| {
            let at = f64::from(*m) / 100.0;
            before < at && after >= at
        })
        .max()
}
