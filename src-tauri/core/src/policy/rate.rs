//! The last gate before the screen: identical popups are dropped, and past the rate limit the
//! surplus waits to fold into one "And N more" when the window frees.

use std::collections::{BTreeMap, VecDeque};

use super::{Moment, Notification, PolicySettings};

/// Recent popups and those waiting for a free slot.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    /// When each popup within the rate window was shown, oldest first.
    shown: VecDeque<Moment>,
    /// The last popup let through per key: when, and its text, to spot duplicates.
    recent: BTreeMap<String, (Moment, String, String)>,
    /// Popups past the rate limit, in arrival order, waiting for the window to free.
    folded: Vec<Notification>,
}

/// What the gate does with a popup.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Show it now.
    Show,
    /// Identical to one let through within the dedupe window.
    Duplicate,
    /// Past the rate limit: it waits until this moment, then shows alone or folded.
    Wait(Moment),
}

impl Gate {
    /// Decides on one popup at `now`; `exempt` popups (admin broadcasts) skip the rate limit but
    /// still count against it.
    pub(crate) fn admit(
        &mut self,
        notification: &Notification,
        now: Moment,
        settings: &PolicySettings,
        exempt: bool,
    ) -> Admission {
        self.forget_old(now, settings);
        if self.is_duplicate(notification, now, settings) {
            return Admission::Duplicate;
        }
        self.recent.insert(
            notification.key.clone(),
            (now, notification.title.clone(), notification.body.clone()),
        );
        // Waiting popups keep their turn: a new one never overtakes them.
        if exempt || (self.folded.is_empty() && self.shown.len() < limit(settings)) {
            self.shown.push_back(now);
            return Admission::Show;
        }
        self.folded.push(notification.clone());
        Admission::Wait(self.next_due(settings).unwrap_or(now))
    }

    /// When the window frees for the waiting popups; `None` when none wait.
    pub(crate) fn next_due(&self, settings: &PolicySettings) -> Option<Moment> {
        if self.folded.is_empty() {
            return None;
        }
        // The slot frees when the `limit`-th most recent popup leaves the window.
        let index = self.shown.len().checked_sub(limit(settings));
        Some(
            index
                .and_then(|i| self.shown.get(i))
                .map_or(Moment::ZERO, |t| *t + settings.rate_window()),
        )
    }

    /// Hands over the waiting popups (the window has a slot again).
    pub(crate) fn take_folded(&mut self) -> Vec<Notification> {
        std::mem::take(&mut self.folded)
    }

    /// Counts a popup shown outside [`Self::admit`] (the "And N more" itself).
    pub(crate) fn count_shown(&mut self, now: Moment) {
        self.shown.push_back(now);
    }

    /// Whether the same key with the same text went through within the dedupe window.
    fn is_duplicate(&self, n: &Notification, now: Moment, settings: &PolicySettings) -> bool {
        self.recent.get(&n.key).is_some_and(|(at, title, body)| {
            now.saturating_since(*at) < settings.dedupe_window()
                && *title == n.title
                && *body == n.body
        })
    }

    /// Drops what no window looks at any more, so memory stays bounded.
    fn forget_old(&mut self, now: Moment, settings: &PolicySettings) {
        while self
            .shown
            .front()
            .is_some_and(|t| now.saturating_since(*t) >= settings.rate_window())
        {
            self.shown.pop_front();
        }
        self.recent
            .retain(|_, (at, _, _)| now.saturating_since(*at) < settings.dedupe_window());
    }
}

/// The rate limit, at least one popup (zero would hold everything forever).
fn limit(settings: &PolicySettings) -> usize {
    usize::try_from(settings.rate_limit.max(1)).unwrap_or(usize::MAX)
}
