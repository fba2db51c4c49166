//! Which shown popup a click belongs to: a bounded map from notification id to the popup's page.
//!
//! The delivery thread records a popup when the `Notify` reply comes back and the listener thread
//! reports the server's signals. The two race: zbus hands the reply and a signal that follows it to
//! different threads, so a click can be read before its popup is recorded. Such early signals wait
//! in a small buffer of their own until the popup is recorded.

use std::collections::VecDeque;

/// How many popups stay clickable; the oldest is forgotten first (desktops expire them anyway).
const MAX_SHOWN: usize = 64;
/// How many signals for not-yet-recorded popups are kept. On GNOME every app's signals arrive
/// here, so this fills with strangers' ids; the few that matter are always the newest.
const MAX_EARLY: usize = 16;

/// A signal from the notification server about one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Signal {
    /// `ActionInvoked`: the user chose this action.
    Action(String),
    /// `NotificationClosed`: it is gone, no click can follow.
    Closed,
}

/// One of our popups the server still shows.
#[derive(Debug)]
struct Shown {
    /// The server's unique bus name: ids are only unique per server instance.
    server: String,
    /// The server's id for it.
    id: u32,
    /// What a click on its body opens.
    open_url: Option<String>,
}

/// A signal that arrived before its popup was recorded.
#[derive(Debug)]
struct Early {
    /// The server's unique bus name.
    server: String,
    /// The server's id for the notification.
    id: u32,
    /// What happened to it.
    signal: Signal,
}

/// A click to carry out: the action and the popup's page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Click {
    /// The action id the user chose.
    pub action: String,
    /// The popup's page, if it has one.
    pub open_url: Option<String>,
}

/// Our clickable popups and the signals that came too early; both bounded.
#[derive(Debug, Default)]
pub(super) struct Clicks {
    /// Popups still on screen, oldest first.
    shown: VecDeque<Shown>,
    /// Signals for ids not recorded yet, oldest first.
    early: VecDeque<Early>,
}

impl Clicks {
    /// Records a popup the server accepted; returns the clicks that already arrived for it.
    pub(super) fn shown(&mut self, server: &str, id: u32, open_url: Option<String>) -> Vec<Click> {
        let mut clicks = Vec::new();
        let mut closed = false;
        self.early.retain(|early| {
            if early.id != id || early.server != server {
                return true;
            }
            match &early.signal {
                Signal::Action(action) => clicks.push(Click {
                    action: action.clone(),
                    open_url: open_url.clone(),
                }),
                Signal::Closed => closed = true,
            }
            false
        });
        if !closed {
            if self.shown.len() >= MAX_SHOWN {
                self.shown.pop_front();
            }
            self.shown.push_back(Shown {
                server: server.to_owned(),
                id,
                open_url,
            });
        }
        clicks
    }

    /// Applies a signal from the server; returns the click to carry out, if it is one of ours.
    pub(super) fn signal(&mut self, server: &str, id: u32, signal: Signal) -> Option<Click> {
        let Some(index) = self
            .shown
            .iter()
            .position(|shown| shown.id == id && shown.server == server)
        else {
            if self.early.len() >= MAX_EARLY {
                self.early.pop_front();
            }
            self.early.push_back(Early {
                server: server.to_owned(),
                id,
                signal,
            });
            return None;
        };
        match signal {
            Signal::Action(action) => Some(Click {
                action,
                open_url: self.shown[index].open_url.clone(),
            }),
            Signal::Closed => {
                self.shown.remove(index);
                None
            }
        }
    }

    /// How many popups are clickable now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shown.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn click(action: &str, url: Option<&str>) -> Click {
        Click {
            action: action.into(),
            open_url: url.map(Into::into),
        }
    }

    #[test]
    fn a_click_finds_its_popup_until_it_closes() {
        let mut clicks = Clicks::default();
        assert!(clicks.shown(":1.5", 7, Some("u7".into())).is_empty());
        assert!(clicks.shown(":1.5", 8, None).is_empty());
        assert_eq!(
            clicks.signal(":1.5", 7, Signal::Action("default".into())),
            Some(click("default", Some("u7")))
        );
        assert_eq!(
            clicks.signal(":1.5", 8, Signal::Action("open-window".into())),
            Some(click("open-window", None))
        );
        assert_eq!(clicks.signal(":1.5", 7, Signal::Closed), None);
        assert_eq!(
            clicks.signal(":1.5", 7, Signal::Action("default".into())),
            None
        );
        assert_eq!(clicks.len(), 1);
    }

    #[test]
    fn ids_of_another_server_instance_do_not_match() {
        let mut clicks = Clicks::default();
        clicks.shown(":1.5", 1, Some("old".into()));
        assert_eq!(
            clicks.signal(":1.9", 1, Signal::Action("default".into())),
            None
        );
    }

    #[test]
    fn a_click_read_before_its_popup_is_recorded_still_counts() {
        let mut clicks = Clicks::default();
        assert_eq!(
            clicks.signal(":1.5", 3, Signal::Action("default".into())),
            None
        );
        assert_eq!(
            clicks.shown(":1.5", 3, Some("u3".into())),
            [click("default", Some("u3"))]
        );
        // Clicked and closed before it was recorded: nothing is left to remember.
        clicks.signal(":1.5", 4, Signal::Action("default".into()));
        clicks.signal(":1.5", 4, Signal::Closed);
        assert_eq!(clicks.shown(":1.5", 4, None), [click("default", None)]);
        assert_eq!(clicks.len(), 1);
    }

    #[test]
    fn both_maps_stay_bounded() {
        let mut clicks = Clicks::default();
        for id in 0..200 {
            clicks.shown(":1.5", id, None);
            clicks.signal(":1.5", 1000 + id, Signal::Closed);
        }
        assert_eq!(clicks.len(), MAX_SHOWN);
        assert_eq!(clicks.early.len(), MAX_EARLY);
        // The oldest were dropped, the newest kept.
        assert_eq!(
            clicks.signal(":1.5", 0, Signal::Action("default".into())),
            None
        );
        assert_eq!(
            clicks.signal(":1.5", 199, Signal::Action("default".into())),
            Some(click("default", None))
        );
    }
}
