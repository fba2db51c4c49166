//! Session merging: a stop waits out the merge window, and a start of the same item on the same
//! device by the same user within it turns both into one continuing session (no popups), whose
//! eventual stop reports the whole listen.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::happening::{Happening, Listening};

use super::{Moment, Notification, render};

/// How long a merged session's carried totals are kept for a stop that may never come
/// (ABS keeps stale sessions up to 36 h).
const CARRY_FOR: Duration = Duration::from_secs(48 * 3600);

/// Stops waiting for a possible restart, and totals carried into continuing sessions.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    /// Held stops in the order they were confirmed (and so of their due times).
    held: Vec<HeldStop>,
    /// Totals of earlier parts, by the session id that continues them.
    carried: BTreeMap<String, Carry>,
}

/// A confirmed stop waiting out the merge window.
#[derive(Debug)]
struct HeldStop {
    /// When it pops up unless merged.
    due: Moment,
    /// The session as last seen.
    listening: Listening,
    /// Time listened, including earlier merged parts; `None` when a part's is unknown.
    listened_s: Option<f64>,
    /// Progress when the first merged part started.
    progress_before: Option<f64>,
    /// Its popup.
    notification: Notification,
}

/// What earlier parts of a continuing session add to its stop.
#[derive(Debug)]
struct Carry {
    /// Time listened in the earlier parts; `None` when a part's is unknown.
    listened_s: Option<f64>,
    /// Progress when the first part started.
    progress_before: Option<f64>,
    /// When the merge happened, to forget carries whose stop never comes.
    since: Moment,
}

/// Whether two sessions are the same listen resumed: same user, item, episode and device.
fn same_listen(a: &Listening, b: &Listening) -> bool {
    a.user.user_id == b.user.user_id
        && a.item_id == b.item_id
        && a.episode_id == b.episode_id
        && a.device == b.device
}

impl Sessions {
    /// Takes a start; when it resumes a held stop, returns that stop's popup (both are merged).
    pub(crate) fn started(&mut self, listening: &Listening, now: Moment) -> Option<Notification> {
        self.forget_old(now);
        let index = self
            .held
            .iter()
            .position(|stop| same_listen(&stop.listening, listening))?;
        let stop = self.held.remove(index);
        self.carried.insert(
            listening.session_id.clone(),
            Carry {
                listened_s: stop.listened_s,
                progress_before: stop.progress_before,
                since: now,
            },
        );
        Some(stop.notification)
    }

    /// Takes a confirmed stop and holds it until `due`; returns its popup, which covers every
    /// merged part of the listen.
    pub(crate) fn stopped(
        &mut self,
        listening: Listening,
        listened_s: Option<f64>,
        progress_before: Option<f64>,
        progress_after: Option<f64>,
        due: Moment,
    ) -> Option<Notification> {
        let (listened_s, progress_before) = match self.carried.remove(&listening.session_id) {
            Some(carry) => (
                carry
                    .listened_s
                    .zip(listened_s)
                    .map(|(earlier, this)| earlier + this.max(0.0)),
                carry.progress_before.or(progress_before),
            ),
            None => (listened_s, progress_before),
        };
        let notification = render::notification(&Happening::SessionStopped {
            listening: listening.clone(),
            listened_s,
            progress_before,
            progress_after,
        })?;
        self.held.push(HeldStop {
            due,
            listening,
            listened_s,
            progress_before,
            notification: notification.clone(),
        });
        Some(notification)
    }

    /// When the earliest held stop pops up.
    pub(crate) fn next_due(&self) -> Option<Moment> {
        self.held.iter().map(|stop| stop.due).min()
    }

    /// Releases the earliest stop due by `now`.
    pub(crate) fn take_due(&mut self, now: Moment) -> Option<Notification> {
        let index = self
            .held
            .iter()
            .enumerate()
            .filter(|(_, stop)| stop.due <= now)
            .min_by_key(|(_, stop)| stop.due)
            .map(|(index, _)| index)?;
        Some(self.held.remove(index).notification)
    }

    /// Drops carries whose continuing session never reported a stop.
    fn forget_old(&mut self, now: Moment) {
        self.carried
            .retain(|_, carry| now.saturating_since(carry.since) < CARRY_FOR);
    }
}
