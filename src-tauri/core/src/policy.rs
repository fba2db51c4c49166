//! The notification policy: which facts become popups, and when. A pure, deterministic state
//! machine: no I/O and no clock reads. The caller passes the time in (a monotonic [`Moment`] for
//! debounces and windows, the local wall clock for quiet hours and pause), shows the popups it is
//! handed, records every [`Decision`] in history, and sleeps until [`Policy::next_deadline`].
//!
//! A happening goes through, in order: eligibility (category switched on, admin-only kinds, own
//! user, muted users), its own timing (presence debounce, the session merge window), then the
//! gate (pause and quiet hours, duplicates, the rate limit). Admin broadcasts skip pause, quiet
//! hours and the rate limit: the issue calls them "always, urgent", and an admin warning of a
//! restart tonight matters most exactly when popups are otherwise hushed.

mod presence;
mod rate;
mod render;
mod sessions;
mod settings;
pub(crate) mod text;

use std::ops::Add;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, TimeZone};
use serde::Serialize;

use self::presence::{Presence, Seen};
use self::rate::{Admission, Gate};
use self::sessions::Sessions;
pub use self::settings::{
    BadClockTime, ClockTime, PolicySettings, QuietHours, pause_for, pause_until_tomorrow,
};
pub use crate::delivery::Urgency;
use crate::happening::{Category, Happening, Who};

/// A reading of the caller's monotonic clock, as time since an origin it chose (app start), so
/// tests build any timeline and suspend or wall-clock changes cannot bend debounces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Moment(Duration);

impl Moment {
    /// The origin.
    pub const ZERO: Self = Self(Duration::ZERO);

    /// The moment `since_origin` after the origin.
    pub const fn new(since_origin: Duration) -> Self {
        Self(since_origin)
    }

    /// Whole seconds after the origin, for tables of test cases.
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    /// Milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }

    /// Time since the origin, to turn a deadline back into the caller's clock.
    pub const fn since_origin(self) -> Duration {
        self.0
    }

    /// Time from `earlier` to this moment; zero when `earlier` is later.
    pub fn saturating_since(self, earlier: Self) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Moment {
    type Output = Self;

    fn add(self, rhs: Duration) -> Self {
        Self(self.0.saturating_add(rhs))
    }
}

/// Who is watching: decides the own-user and admin-only rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyContext {
    /// The signed-in user's id; their own presence and sessions never pop up.
    pub self_user_id: String,
    /// Whether they are an admin (root or admin); only admins see others' presence and sessions.
    pub is_admin: bool,
}

/// What a click on a popup opens; delivery maps these to ABS pages or the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Link {
    /// `/item/{id}`.
    Item(String),
    /// `/config/users/{id}`.
    User(String),
    /// `/config/sessions`.
    Sessions,
    /// The ABS Tray window (summaries, broadcasts).
    Window,
}

/// One popup, in safe plain text: no control characters or bidi overrides, capped in length.
/// Markup is not escaped here; delivery does that for the desktop that needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// What it is about ("presence:{user}", "session:{id}", ...): duplicates share it, and
    /// delivery may replace an older popup with the same key.
    pub key: String,
    /// The category whose switch governs it.
    pub category: Category,
    /// How urgent.
    pub urgency: Urgency,
    /// The one-line sentence ("Alice started Project Hail Mary — Andy Weir on iPhone").
    pub title: String,
    /// Details: the broadcast text, a device, the lines of a summary; often empty.
    pub body: String,
    /// What a click opens.
    pub link: Option<Link>,
    /// The item whose cover illustrates it.
    pub image_item_id: Option<String>,
}

/// Why a notification did not pop up, for history and the tray.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Its category is switched off.
    CategoryOff,
    /// Milestones are switched off (the default).
    MilestonesOff,
    /// Presence, sessions and account changes are for admins only.
    NotAdmin,
    /// About the signed-in user themselves.
    OwnUser,
    /// About a muted user.
    Muted,
    /// Undone within the debounce (online then offline, or back again).
    Flap,
    /// A stop and a restart of the same listen merged into one continuing session.
    Merged,
    /// Identical to one shown moments ago, or no change at all.
    Duplicate,
    /// Notifications are paused.
    Paused,
    /// Within quiet hours.
    QuietHours,
    /// Past the rate limit; shown within an "And N more" popup.
    Folded,
    /// Part of a "While you were away" summary.
    Summarised,
}

/// What became of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Pop it up now.
    Shown,
    /// Waiting (debounce, merge window, rate limit) until this moment; a later decision with
    /// the same key settles it.
    Held {
        /// When it is settled at the latest.
        until: Moment,
    },
    /// Not popped up, for this reason.
    Suppressed(Reason),
}

/// One decision on one notification: what would pop up and whether it does, so history can
/// record what the policy hushed as well as what it showed.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The notification in question.
    pub notification: Notification,
    /// What became of it.
    pub outcome: Outcome,
}

impl Decision {
    /// The popup to show, when this decision shows one.
    pub fn popup(&self) -> Option<&Notification> {
        (self.outcome == Outcome::Shown).then_some(&self.notification)
    }
}

/// The wall clock as the rules need it, read once per call.
#[derive(Debug, Clone, Copy)]
struct Wall {
    /// Unix ms, for the pause.
    unix_ms: i64,
    /// Local time of day, for quiet hours.
    time: NaiveTime,
}

impl Wall {
    /// Splits a local date-time.
    fn of<Tz: TimeZone>(local: &DateTime<Tz>) -> Self {
        Self {
            unix_ms: local.timestamp_millis(),
            time: local.time(),
        }
    }
}

/// The notification policy for one signed-in user.
#[derive(Debug)]
pub struct Policy {
    /// The user's choices.
    settings: PolicySettings,
    /// Who is watching.
    context: PolicyContext,
    /// Presence debounce.
    presence: Presence,
    /// Stops held for merging.
    sessions: Sessions,
    /// Dedupe and rate limit.
    gate: Gate,
}

impl Policy {
    /// A policy with nothing seen yet.
    pub fn new(settings: PolicySettings, context: PolicyContext) -> Self {
        Self {
            settings,
            context,
            presence: Presence::default(),
            sessions: Sessions::default(),
            gate: Gate::default(),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &PolicySettings {
        &self.settings
    }

    /// Who is watching, once the connection knows (the user can change on a new sign-in).
    pub fn set_context(&mut self, context: PolicyContext) {
        self.context = context;
    }

    /// Applies changed settings (a toggle, a pause). Pause and quiet hours also judge what is
    /// still held when it comes due; switches and mutes apply to happenings from now on.
    pub fn set_settings(&mut self, settings: PolicySettings) {
        self.settings = settings;
    }

    /// Decides on one happening at `now` (local time `local`); also settles whatever came due
    /// since the last call. The popups to show are the decisions' [`Decision::popup`]s.
    pub fn handle<Tz: TimeZone>(
        &mut self,
        happening: Happening,
        now: Moment,
        local: &DateTime<Tz>,
    ) -> Vec<Decision> {
        let wall = Wall::of(local);
        let mut out = Vec::new();
        self.release_due(now, wall, &mut out);
        self.consider(happening, now, wall, &mut out);
        // Zero-length debounces and windows settle at once.
        self.release_due(now, wall, &mut out);
        out
    }

    /// Settles what came due by `now`: debounced presence, stops past the merge window, and
    /// popups waiting for the rate window. Call it at [`Self::next_deadline`].
    pub fn tick<Tz: TimeZone>(&mut self, now: Moment, local: &DateTime<Tz>) -> Vec<Decision> {
        let mut out = Vec::new();
        self.release_due(now, Wall::of(local), &mut out);
        out
    }

    /// When [`Self::tick`] next has something to do; `None` when nothing waits.
    pub fn next_deadline(&self) -> Option<Moment> {
        [
            self.presence.next_due(),
            self.sessions.next_due(),
            self.gate.next_due(&self.settings),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Routes one happening through eligibility and its own timing.
    fn consider(&mut self, happening: Happening, now: Moment, wall: Wall, out: &mut Vec<Decision>) {
        if let Happening::Resynced { changes, .. } = happening {
            return self.resynced(changes, now, wall, out);
        }
        let Some(notification) = render::notification(&happening) else {
            return;
        };
        if let Some(reason) = self.ineligible(&happening) {
            return out.push(suppressed(notification, reason));
        }
        match happening {
            Happening::UserOnline { user } => {
                let due = now + self.settings.online_debounce();
                self.presence_seen(&user, true, due, notification, out);
            }
            Happening::UserOffline { user } => {
                let due = now + self.settings.offline_debounce();
                self.presence_seen(&user, false, due, notification, out);
            }
            Happening::SessionStarted { listening } => {
                match self.sessions.started(&listening, now) {
                    Some(stop) => {
                        out.push(suppressed(stop, Reason::Merged));
                        out.push(suppressed(notification, Reason::Merged));
                    }
                    None => self.pass(notification, now, wall, out),
                }
            }
            Happening::SessionStopped {
                listening,
                listened_s,
                progress_before,
                progress_after,
            } => {
                let until = now + self.settings.merge_window();
                let stop = self.sessions.stopped(
                    listening,
                    listened_s,
                    progress_before,
                    progress_after,
                    until,
                );
                if let Some(stop) = stop {
                    out.push(Decision {
                        notification: stop,
                        outcome: Outcome::Held { until },
                    });
                }
            }
            _ => self.pass(notification, now, wall, out),
        }
    }

    /// Feeds a reported presence change to the debounce.
    fn presence_seen(
        &mut self,
        user: &Who,
        online: bool,
        due: Moment,
        notification: Notification,
        out: &mut Vec<Decision>,
    ) {
        match self
            .presence
            .seen(&user.user_id, online, due, notification.clone())
        {
            Seen::Held(until) => out.push(Decision {
                notification,
                outcome: Outcome::Held { until },
            }),
            Seen::Flap(cancelled) => {
                out.push(suppressed(cancelled, Reason::Flap));
                out.push(suppressed(notification, Reason::Flap));
            }
            Seen::Repeat => out.push(suppressed(notification, Reason::Duplicate)),
        }
    }

    /// After a reconnect (or a freeze), whatever its length: one summary of the difference. The
    /// changes happened at some unknown moment while the app was away, so none pops up on its own
    /// as if it had just happened, and a stop carries no numbers it never saw.
    fn resynced(
        &mut self,
        changes: Vec<Happening>,
        now: Moment,
        wall: Wall,
        out: &mut Vec<Decision>,
    ) {
        let mut summarised = Vec::new();
        for change in changes {
            match change {
                // Nested resyncs are not a thing live state sends; flatten them all the same.
                Happening::Resynced { changes, .. } => {
                    summarised.extend(changes);
                }
                other => summarised.push(other),
            }
        }
        let mut included = Vec::new();
        for change in summarised {
            // Broadcasts are never summarised away: they are "always, urgent".
            if matches!(change, Happening::AdminMessage { .. }) {
                self.consider(change, now, wall, out);
                continue;
            }
            let Some(notification) = render::notification(&change) else {
                continue;
            };
            let reason = self
                .ineligible(&change)
                .or_else(|| self.stale_presence(&change));
            out.push(suppressed(
                notification,
                reason.unwrap_or(Reason::Summarised),
            ));
            if reason.is_none() {
                included.push(change);
            }
        }
        if !included.is_empty() {
            let refs: Vec<&Happening> = included.iter().collect();
            self.pass(render::away(&refs), now, wall, out);
        }
    }

    /// For a summarised presence change: records it as confirmed (the server's list is the
    /// truth) and says `Duplicate` when it was already the confirmed state.
    fn stale_presence(&mut self, change: &Happening) -> Option<Reason> {
        let (user, online) = match change {
            Happening::UserOnline { user } => (user, true),
            Happening::UserOffline { user } => (user, false),
            _ => return None,
        };
        (!self.presence.settle(&user.user_id, online)).then_some(Reason::Duplicate)
    }

    /// Why a happening can never pop up for this user with these settings; `None` when it may.
    fn ineligible(&self, happening: &Happening) -> Option<Reason> {
        let category = happening.category()?;
        if !self.settings.enabled(category) {
            return Some(Reason::CategoryOff);
        }
        if matches!(happening, Happening::Milestone { .. }) && !self.settings.milestones {
            return Some(Reason::MilestonesOff);
        }
        let about_users = matches!(category, Category::Presence | Category::Sessions);
        let accounts = matches!(
            happening,
            Happening::UserAdded { .. } | Happening::UserRemoved { .. }
        );
        if (about_users || accounts) && !self.context.is_admin {
            return Some(Reason::NotAdmin);
        }
        let user = subject(happening)?;
        if about_users && user.user_id == self.context.self_user_id {
            return Some(Reason::OwnUser);
        }
        self.settings
            .muted_users
            .contains(&user.user_id)
            .then_some(Reason::Muted)
    }

    /// The last gate: pause and quiet hours, duplicates, the rate limit.
    fn pass(
        &mut self,
        notification: Notification,
        now: Moment,
        wall: Wall,
        out: &mut Vec<Decision>,
    ) {
        let always = notification.category == Category::AdminMessage;
        if !always && let Some(reason) = self.settings.silenced(wall.unix_ms, wall.time) {
            return out.push(suppressed(notification, reason));
        }
        let outcome = match self.gate.admit(&notification, now, &self.settings, always) {
            Admission::Show => Outcome::Shown,
            Admission::Duplicate => Outcome::Suppressed(Reason::Duplicate),
            Admission::Wait(until) => Outcome::Held { until },
        };
        out.push(Decision {
            notification,
            outcome,
        });
    }

    /// Settles everything due by `now`, earliest first.
    fn release_due(&mut self, now: Moment, wall: Wall, out: &mut Vec<Decision>) {
        loop {
            let presence = self.presence.next_due().filter(|due| *due <= now);
            let stops = self.sessions.next_due().filter(|due| *due <= now);
            let folded = self.gate.next_due(&self.settings).filter(|due| *due <= now);
            let earliest = [presence, stops, folded].into_iter().flatten().min();
            let Some(earliest) = earliest else {
                return;
            };
            // Each branch removes what it settles, so the loop ends.
            if folded == Some(earliest) {
                self.release_folded(now, wall, out);
            } else if presence == Some(earliest) {
                if let Some(n) = self.presence.take_due(earliest) {
                    self.pass(n, now, wall, out);
                }
            } else if let Some(n) = self.sessions.take_due(earliest) {
                self.pass(n, now, wall, out);
            }
        }
    }

    /// The rate window has a slot again: the waiting popups show, one alone or several as one
    /// "And N more" (unless pause or quiet hours began meanwhile).
    fn release_folded(&mut self, now: Moment, wall: Wall, out: &mut Vec<Decision>) {
        let silenced = self.settings.silenced(wall.unix_ms, wall.time);
        let waiting = self.gate.take_folded();
        if let Some(reason) = silenced {
            out.extend(waiting.into_iter().map(|n| suppressed(n, reason)));
            return;
        }
        self.gate.count_shown(now);
        if let [single] = waiting.as_slice() {
            out.push(Decision {
                notification: single.clone(),
                outcome: Outcome::Shown,
            });
            return;
        }
        let more = render::more(&waiting);
        out.extend(waiting.into_iter().map(|n| suppressed(n, Reason::Folded)));
        out.push(Decision {
            notification: more,
            outcome: Outcome::Shown,
        });
    }
}

/// A decision not to show.
fn suppressed(notification: Notification, reason: Reason) -> Decision {
    Decision {
        notification,
        outcome: Outcome::Suppressed(reason),
    }
}

/// The user a happening is about, for muting and the own-user rule.
fn subject(happening: &Happening) -> Option<&Who> {
    match happening {
        Happening::UserOnline { user }
        | Happening::UserOffline { user }
        | Happening::UserAdded { user }
        | Happening::UserRemoved { user } => Some(user),
        Happening::SessionStarted { listening } | Happening::SessionStopped { listening, .. } => {
            Some(&listening.user)
        }
        _ => None,
    }
}

/// A one-line, plain-text headline for a happening (the popup title it would get), for places
/// such as the tray's tooltip that show the latest one.
pub fn headline(happening: &Happening) -> Option<String> {
    render::notification(happening).map(|n| n.title)
}
