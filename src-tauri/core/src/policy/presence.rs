//! Presence debounce: a user's first connection must last, and their last one must stay gone,
//! before a popup says so; a flap (back within the debounce) says nothing at all.

use std::collections::BTreeMap;

use super::{Moment, Notification};

/// Confirmed presence per user and the transitions still waiting out their debounce.
#[derive(Debug, Default)]
pub(crate) struct Presence {
    /// Each user's last confirmed state (true: online), whether or not it popped up.
    confirmed: BTreeMap<String, bool>,
    /// Transitions waiting for their debounce to pass, by user id.
    pending: BTreeMap<String, Pending>,
}

/// A transition waiting for its debounce.
#[derive(Debug)]
struct Pending {
    /// Online or offline.
    online: bool,
    /// When it becomes real.
    due: Moment,
    /// What pops up then.
    notification: Notification,
}

/// What a reported transition amounts to now.
#[derive(Debug)]
pub(crate) enum Seen {
    /// Waits until the given moment.
    Held(Moment),
    /// Undid a pending opposite transition: neither pops up. Carries the cancelled one.
    Flap(Notification),
    /// Nothing changed: already pending or already confirmed (a duplicate report).
    Repeat,
}

impl Presence {
    /// Takes a reported transition of `user_id` that would become real at `due`.
    pub(crate) fn seen(
        &mut self,
        user_id: &str,
        online: bool,
        due: Moment,
        notification: Notification,
    ) -> Seen {
        if let Some(pending) = self.pending.get(user_id) {
            if pending.online == online {
                return Seen::Repeat;
            }
            return match self.pending.remove(user_id) {
                Some(cancelled) => Seen::Flap(cancelled.notification),
                None => Seen::Repeat,
            };
        }
        if self.confirmed.get(user_id) == Some(&online) {
            return Seen::Repeat;
        }
        self.pending.insert(
            user_id.to_owned(),
            Pending {
                online,
                due,
                notification,
            },
        );
        Seen::Held(due)
    }

    /// Records a state learned without debounce (an outage summary); drops what was pending.
    /// Returns false when it was already the confirmed state.
    pub(crate) fn settle(&mut self, user_id: &str, online: bool) -> bool {
        self.pending.remove(user_id);
        self.confirmed.insert(user_id.to_owned(), online) != Some(online)
    }

    /// When the earliest pending transition becomes real.
    pub(crate) fn next_due(&self) -> Option<Moment> {
        self.pending.values().map(|p| p.due).min()
    }

    /// Confirms the earliest transition due by `now` and hands over its popup.
    pub(crate) fn take_due(&mut self, now: Moment) -> Option<Notification> {
        let user_id = self
            .pending
            .iter()
            .filter(|(_, p)| p.due <= now)
            .min_by_key(|(_, p)| p.due)
            .map(|(id, _)| id.clone())?;
        let pending = self.pending.remove(&user_id)?;
        self.confirmed.insert(user_id, pending.online);
        Some(pending.notification)
    }
}
