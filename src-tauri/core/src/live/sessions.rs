//! Who is listening to what: open playback sessions, and when one has really stopped.
//!
//! `user_stream_update` comes on start and on close, and on close it still carries the closing
//! session (it is sent before the server removes it). So an update about a known session only
//! marks it "closing"; the stop is a fact once the server's list no longer has it. Sessions
//! whose `updatedAt` has not moved for long are stale (a client that went away without closing;
//! the server drops them after ~36 h without a word) and vanish without a happening.
//!
//! The socket and REST race: the server announces a close *before* removing the session, but a
//! reconcile's reply can still be applied before that announcement arrives, and a start can be
//! listed before its announcement arrives. So a session that leaves the list without an announced
//! close is kept as "vanished" for a short grace: its (late) close announcement then gives the
//! stop with its final numbers, and without one the stop is told when the grace ends (a silent
//! removal). Recently gone sessions are remembered so a late announcement never resurrects one as
//! a new start, and an announcement of a listed session that never synced is its late start.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::label::{device_label, label, play_method};
use super::{NowListening, server_ms};
use crate::happening::{Happening, Listening, Who};
use crate::protocol::{PlayMethod, PlaybackSession};

/// Title shown when the server sent none.
const NO_TITLE: &str = "Untitled";
/// How long a session that left the server's list without an announced close waits for that
/// announcement (normally milliseconds behind the REST reply) before its stop is told anyway.
pub(crate) const VANISH_GRACE_MS: u64 = 3_000;
/// How many gone sessions are remembered, to recognise their late announcements.
const GONE_MEMORY: usize = 256;

/// One open session as tracked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tracked {
    /// What the happenings carry.
    pub(crate) listening: Listening,
    /// How the audio reaches the client.
    play_method: PlayMethod,
    /// Seconds listened in this session, as of the last report.
    listened_s: f64,
    /// Progress where the session started.
    start_progress: Option<f64>,
    /// The server's last sync time.
    updated_at_ms: u64,
    /// Last sign of life: the server's `updatedAt`, or when the app saw it change or start.
    active_at_ms: u64,
    /// A close was announced and awaits confirmation by the server's list.
    pub(crate) closing: bool,
    /// Event sequence number of the last event about this session.
    touched: u64,
    /// A `user_stream_update` about it arrived (else it is known from a list only).
    announced: bool,
    /// The numbers are the final ones a close announcement carried; otherwise they are only the
    /// last seen (the server pushes no syncs to admins), and a stop does not state them.
    final_numbers: bool,
}

impl Tracked {
    /// A session first seen in `s`, alive at `active_at_ms`.
    fn new(s: &PlaybackSession, who: Who, active_at_ms: u64, seq: u64) -> Self {
        let duration = finite(s.duration.unwrap_or(0.0));
        let listening = Listening {
            session_id: s.id.clone(),
            user: who,
            item_id: s.library_item_id.clone().unwrap_or_default(),
            episode_id: s.episode_id.clone(),
            title: text(s.display_title.as_deref()).unwrap_or_else(|| NO_TITLE.to_owned()),
            author: text(s.display_author.as_deref()),
            device: device_label(s.device_info.as_ref()),
            started_at_ms: server_ms(s.started_at),
            position_s: finite(s.current_time),
            duration_s: duration,
        };
        let start_progress = (duration > 0.0).then(|| (finite(s.start_time) / duration).min(1.0));
        let updated_at_ms = server_ms(s.updated_at);
        Self {
            listening,
            play_method: s.play_method,
            listened_s: finite(s.time_listening),
            start_progress,
            updated_at_ms,
            active_at_ms: active_at_ms.max(updated_at_ms),
            closing: false,
            touched: seq,
            announced: false,
            final_numbers: false,
        }
    }

    /// Takes the latest numbers of a report about this session.
    fn update(&mut self, s: &PlaybackSession, now_ms: u64) {
        let updated_at_ms = server_ms(s.updated_at);
        // A list asked for before the last announcement can arrive after it: never go back.
        if updated_at_ms < self.updated_at_ms {
            return;
        }
        let position = finite(s.current_time);
        if updated_at_ms != self.updated_at_ms || position != self.listening.position_s {
            self.active_at_ms = self.active_at_ms.max(now_ms).max(updated_at_ms);
        }
        self.updated_at_ms = updated_at_ms;
        self.listening.position_s = position;
        if let Some(duration) = s.duration {
            self.listening.duration_s = finite(duration);
        }
        self.listened_s = finite(s.time_listening);
        if let Some(device) = device_label(s.device_info.as_ref()) {
            self.listening.device = Some(device);
        }
    }

    /// The fact that this session stopped, with its numbers only when they are the final ones.
    pub(crate) fn stopped(&self) -> Happening {
        let known = self.final_numbers;
        Happening::SessionStopped {
            listening: self.listening.clone(),
            listened_s: known.then_some(self.listened_s),
            progress_before: self.start_progress,
            progress_after: self.listening.progress().filter(|_| known),
        }
    }
}

/// A session no longer listed by the server.
#[derive(Debug, Clone)]
struct Gone {
    /// The session as last seen.
    tracked: Tracked,
    /// When its stop is told if no close announcement comes first.
    deadline_ms: u64,
    /// Its stop was told (or deliberately not: stale, or learned while resyncing).
    reported: bool,
}

/// Open sessions by id, at most `cap`.
#[derive(Debug, Clone)]
pub(crate) struct Sessions {
    /// Open sessions by id.
    map: HashMap<String, Tracked>,
    /// Sessions recently gone from the server's list, by id.
    gone: HashMap<String, Gone>,
    /// The ids in `gone`, oldest first, to forget the oldest.
    gone_order: VecDeque<String>,
    /// Most sessions kept.
    cap: usize,
    /// Idle time after which a session is stale.
    stale_after_ms: u64,
}

impl Sessions {
    /// No sessions; at most `cap` kept; stale after `stale_after_ms` without a sign of life.
    pub(crate) fn new(cap: usize, stale_after_ms: u64) -> Self {
        Self {
            map: HashMap::new(),
            gone: HashMap::new(),
            gone_order: VecDeque::new(),
            cap,
            stale_after_ms,
        }
    }

    /// A `user_stream_update` carrying `s`: a new session has started (`SessionStarted`), a
    /// known one is closing (marked; confirmed by a reconcile), or one that already left the
    /// list was closed (`SessionStopped`, with the final numbers the announcement carries).
    pub(crate) fn announced(
        &mut self,
        s: &PlaybackSession,
        who: Who,
        now_ms: u64,
        seq: u64,
    ) -> Option<Happening> {
        if let Some(known) = self.map.get_mut(&s.id) {
            // Listed before its start was announced: the announcement is the start, not a close.
            let late_start = !known.announced && s.updated_at <= s.started_at;
            known.update(s, now_ms);
            known.listening.user = who;
            known.closing |= !late_start;
            known.final_numbers |= !late_start;
            known.announced = true;
            known.touched = seq;
            return None;
        }
        if let Some(gone) = self.gone.get_mut(&s.id) {
            if gone.reported {
                return None;
            }
            gone.tracked.update(s, now_ms);
            gone.tracked.listening.user = who;
            gone.tracked.final_numbers = true;
            gone.reported = true;
            return Some(gone.tracked.stopped());
        }
        if self.map.len() >= self.cap {
            tracing::debug!("session table full; a session is not tracked");
            return None;
        }
        let mut tracked = Tracked::new(s, who, now_ms, seq);
        tracked.announced = true;
        let listening = tracked.listening.clone();
        self.map.insert(s.id.clone(), tracked);
        Some(Happening::SessionStarted { listening })
    }

    /// A `user_stream_update` without a session, or `user_session_closed`: the user's sessions
    /// (or the one named) may be closing.
    pub(crate) fn maybe_closing(
        &mut self,
        user_id: Option<&str>,
        session_id: Option<&str>,
        seq: u64,
    ) {
        for (id, tracked) in &mut self.map {
            let matches = session_id.is_some_and(|s| s == id)
                || user_id.is_some_and(|u| u == tracked.listening.user.user_id);
            if matches {
                tracked.closing = true;
                tracked.touched = seq;
            }
        }
    }

    /// Takes the server's list of open sessions as the truth, except for sessions an event
    /// touched after sequence number `guard`. `emit` says whether changes are facts (false while
    /// learning the state after a connect). Returns the happenings, started ones first. A live
    /// session gone without an announced close waits [`VANISH_GRACE_MS`] (see [`Self::tick`]).
    pub(crate) fn reconcile(
        &mut self,
        list: &[(&PlaybackSession, Who)],
        guard: u64,
        now_ms: u64,
        emit: bool,
    ) -> Vec<Happening> {
        let listed: HashSet<&str> = list.iter().map(|(s, _)| s.id.as_str()).collect();
        let mut happenings = Vec::new();
        let missing: Vec<String> = self
            .map
            .iter()
            .filter(|(id, t)| t.touched <= guard && !listed.contains(id.as_str()))
            .map(|(id, _)| id.clone())
            .collect();
        let mut stopped = Vec::new();
        for id in missing {
            let Some(tracked) = self.map.remove(&id) else {
                continue;
            };
            let stale = self.is_stale(&tracked, now_ms);
            let reported = !emit || tracked.closing || stale;
            if emit && tracked.closing {
                stopped.push((id.clone(), tracked.stopped()));
            }
            self.remember_gone(
                id,
                Gone {
                    tracked,
                    deadline_ms: now_ms.saturating_add(VANISH_GRACE_MS),
                    reported,
                },
            );
        }
        for (s, who) in list {
            if let Some(known) = self.map.get_mut(&s.id) {
                known.update(s, now_ms);
                known.listening.user = who.clone();
                if known.touched <= guard {
                    known.closing = false;
                    known.final_numbers = false;
                }
                continue;
            }
            if self.map.len() >= self.cap {
                continue;
            }
            if let Some(gone) = self.gone.remove(&s.id) {
                self.gone_order.retain(|id| *id != s.id);
                // Listed again (an older list was applied in between): it never stopped.
                let mut tracked = gone.tracked;
                tracked.update(s, now_ms);
                tracked.closing = false;
                tracked.final_numbers = false;
                self.map.insert(s.id.clone(), tracked);
                continue;
            }
            let tracked = Tracked::new(s, who.clone(), 0, 0);
            if emit && !self.is_stale(&tracked, now_ms) {
                happenings.push(Happening::SessionStarted {
                    listening: tracked.listening.clone(),
                });
            }
            self.map.insert(s.id.clone(), tracked);
        }
        stopped.sort_by(|a, b| a.0.cmp(&b.0));
        happenings.extend(stopped.into_iter().map(|(_, h)| h));
        happenings
    }

    /// Tells the stops of vanished sessions whose grace ended by `now_ms` without a close
    /// announcement (a silent removal: an admin's DELETE, or a crashed client's session).
    pub(crate) fn tick(&mut self, now_ms: u64) -> Vec<Happening> {
        let mut due: Vec<(&String, &mut Gone)> = self
            .gone
            .iter_mut()
            .filter(|(_, g)| !g.reported && g.deadline_ms <= now_ms)
            .collect();
        due.sort_by(|a, b| a.0.cmp(b.0));
        due.into_iter()
            .map(|(_, gone)| {
                gone.reported = true;
                gone.tracked.stopped()
            })
            .collect()
    }

    /// Hands over the vanished sessions whose stop is not told yet (the connection was lost
    /// and came back: the outage summary tells them), marking them told.
    pub(crate) fn take_vanished(&mut self) -> Vec<(String, Tracked)> {
        self.gone
            .iter_mut()
            .filter(|(_, g)| !g.reported)
            .map(|(id, g)| {
                g.reported = true;
                (id.clone(), g.tracked.clone())
            })
            .collect()
    }

    /// A recently gone session as it was last seen.
    pub(crate) fn gone_copy(&self, id: &str) -> Option<&Tracked> {
        self.gone.get(id).map(|g| &g.tracked)
    }

    /// When the next vanished session's grace ends.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.gone
            .values()
            .filter(|g| !g.reported)
            .map(|g| g.deadline_ms)
            .min()
    }

    /// Remembers a gone session, forgetting the oldest beyond [`GONE_MEMORY`].
    fn remember_gone(&mut self, id: String, gone: Gone) {
        if self.gone.insert(id.clone(), gone).is_none() {
            self.gone_order.push_back(id);
        }
        while self.gone_order.len() > GONE_MEMORY {
            if let Some(oldest) = self.gone_order.pop_front() {
                self.gone.remove(&oldest);
            }
        }
    }

    /// True when `tracked` showed no sign of life for the stale limit at `at_ms`.
    pub(crate) fn is_stale(&self, tracked: &Tracked, at_ms: u64) -> bool {
        at_ms.saturating_sub(tracked.active_at_ms) > self.stale_after_ms
    }

    /// Every open session by id: the "before" and "after" of an outage.
    pub(crate) fn all(&self) -> BTreeMap<String, Tracked> {
        self.map
            .iter()
            .map(|(id, t)| (id.clone(), t.clone()))
            .collect()
    }

    /// A title the sessions know for an item (own progress carries none).
    pub(crate) fn title_of(&self, item_id: &str) -> Option<String> {
        self.map
            .values()
            .find(|t| t.listening.item_id == item_id)
            .map(|t| t.listening.title.clone())
    }

    /// When the next live session turns stale, to refresh the picture then.
    pub(crate) fn next_stale_at(&self, now_ms: u64) -> Option<u64> {
        self.map
            .values()
            .filter(|t| !self.is_stale(t, now_ms))
            .map(|t| {
                t.active_at_ms
                    .saturating_add(self.stale_after_ms)
                    .saturating_add(1)
            })
            .min()
    }

    /// The rows the window shows, most recently started first.
    pub(crate) fn rows(&self, now_ms: u64) -> Vec<NowListening> {
        let mut rows: Vec<NowListening> = self
            .map
            .values()
            .map(|t| NowListening {
                session_id: t.listening.session_id.clone(),
                user: t.listening.user.clone(),
                item_id: t.listening.item_id.clone(),
                episode_id: t.listening.episode_id.clone(),
                title: t.listening.title.clone(),
                author: t.listening.author.clone(),
                device: t.listening.device.clone(),
                play_method: play_method(t.play_method),
                started_at_ms: t.listening.started_at_ms,
                updated_at_ms: t.updated_at_ms,
                position_s: t.listening.position_s,
                duration_s: t.listening.duration_s,
                progress: t.listening.progress(),
                listened_s: t.listened_s,
                stale: self.is_stale(t, now_ms),
                closing: t.closing,
            })
            .collect();
        rows.sort_by(|a, b| {
            b.started_at_ms
                .cmp(&a.started_at_ms)
                .then_with(|| a.session_id.cmp(&b.session_id))
        });
        rows
    }

    /// How many sessions are tracked.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Forgets every session (another account signed in).
    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.gone.clear();
        self.gone_order.clear();
    }
}

/// A number from the server that may be negative (or, from a broken client, not finite).
fn finite(value: f64) -> f64 {
    if value.is_finite() {
        value.max(0.0)
    } else {
        0.0
    }
}

/// Optional server text as a label; empty text is none.
fn text(value: Option<&str>) -> Option<String> {
    value.map(label).filter(|t| !t.is_empty())
}
