//! The pure core of live state: server events, connection status and REST results go in (with
//! the time passed in), a snapshot and the facts each change implies come out. No I/O here, so
//! every rule is unit-tested.
//!
//! Rules the events alone cannot get right:
//! - Presence and session events are ignored between a lost connection and the next `init`
//!   (the admin's own `user_online` comes right before `init`, and `init.usersOnline` already
//!   counts everything that happened before it).
//! - After every `init` a reconcile (`GET /api/users/online`, `GET /api/tasks`) learns the state
//!   silently. After a reconnect, the difference between the state before the outage and after
//!   that reconcile is one [`Happening::Resynced`]; presence and session facts from events in
//!   between are part of that difference rather than facts of their own. A connection lost again
//!   before that reconcile keeps the first "before", so repeated restarts lose nothing.
//! - A freeze of the app (or the machine asleep, [`LiveState::resumed`]) is an outage too, even
//!   when the socket survives it: frames the kernel kept meanwhile arrive late, and a start among
//!   them is no news. The same re-read and one difference tell what changed.
//! - The outage starts when the state was last known true: the loss of the connection, or the
//!   moment the app stopped running; while it lasts the lists are shown "as of" then.
//! - A reconcile's list may predate an event that arrived while it was in flight: what an event
//!   touched after the request was made is left alone (the reconcile the event asked for
//!   follows). Conversely a reply can beat the event it already reflects, so presence events
//!   ask for a reconcile as well, and a session that leaves the list without an announced close
//!   waits a short grace for that announcement (see `sessions`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use super::label::{clean, label, message as plain_message};
use super::mine::Mine;
use super::presence::{Offline, Presence};
use super::progress::{OwnProgress, ProgressFact, key};
use super::rest::{Fetch, MineRead, Reconciled};
use super::ring::Ring;
use super::scans::Scans;
use super::sessions::{Sessions, Tracked};
use super::{
    Activity, LiveSettings, LogLine, MAX_ACTIVITY, MAX_ITEMS, MAX_LOG_LINES, MAX_SCANS,
    MAX_SESSIONS, MAX_USERS, Me, Snapshot, millis,
};
use crate::connection::ConnectionStatus;
use crate::happening::{Happening, Who};
use crate::protocol::{Init, LibraryItem, LogEvent, PlaybackSession, ServerEvent};

/// Name shown for a session owner the server never named.
const UNKNOWN_USER: &str = "unknown user";
/// Title shown for an item whose title could not be learned.
const UNKNOWN_TITLE: &str = "Untitled";
/// Most `ItemsAdded` facts from one `items_added` (one per library).
const MAX_ITEM_GROUPS: usize = 16;

/// What the next reconcile must read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Need {
    /// Presence and sessions (`GET /api/users/online`).
    users: bool,
    /// Tasks (`GET /api/tasks`).
    tasks: bool,
    /// It is the one after a connect, which learns silently and ends the resync.
    post_connect: bool,
    /// Your own listening (users who are not admins).
    mine: bool,
}

/// The state before an outage, to tell what changed during it.
#[derive(Debug, Clone)]
struct Before {
    /// Users online.
    online: BTreeMap<String, Who>,
    /// Open sessions.
    sessions: BTreeMap<String, Tracked>,
    /// When the connection was lost.
    down_at_ms: u64,
}

/// The learning phase after an `init`, ended by the post-connect reconcile.
#[derive(Debug, Clone)]
struct Resync {
    /// The state before the outage; `None` on the first connect (nothing to compare with).
    before: Option<Before>,
    /// How long the app was disconnected.
    outage: Duration,
}

/// What one reconcile reads; made by [`LiveState::take_reconcile`], given back with the results
/// to [`LiveState::apply_reconcile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileTicket {
    /// Event sequence number when the reads were decided.
    seq: u64,
    /// The connection (`init`) the reads belong to.
    epoch: u64,
    /// Read presence and sessions.
    users: bool,
    /// Read tasks.
    tasks: bool,
    /// The reconcile after a connect.
    post_connect: bool,
    /// Users whose names are known (sessions of others need `GET /api/sessions/open`).
    known_users: HashSet<String>,
    /// Read your own listening.
    mine: bool,
    /// Items whose titles are known (finished books among them need no item read).
    known_items: HashSet<String>,
}

impl ReconcileTicket {
    /// Whether to read `GET /api/users/online`.
    pub fn wants_users(&self) -> bool {
        self.users
    }

    /// Whether to read `GET /api/tasks`.
    pub fn wants_tasks(&self) -> bool {
        self.tasks
    }

    /// Whether a user's name is known already (else `GET /api/sessions/open` names them).
    pub fn knows_user(&self, user_id: &str) -> bool {
        self.known_users.contains(user_id)
    }

    /// Whether to read your own listening (`GET /api/me/listening-sessions`, `GET /api/me`).
    pub fn wants_mine(&self) -> bool {
        self.mine
    }

    /// Whether an item's title is known already (else a finished book needs an item read).
    pub fn knows_item(&self, item_id: &str) -> bool {
        self.known_items.contains(item_id)
    }
}

/// Everything live, built from events and REST reads; see the module docs for the rules.
#[derive(Debug, Clone)]
pub struct LiveState {
    /// The connection as last reported.
    status: ConnectionStatus,
    /// Last measured ping round trip.
    latency_ms: Option<u64>,
    /// The signed-in user, from `init`.
    me: Option<Me>,
    /// Users online.
    presence: Presence,
    /// Open sessions.
    sessions: Sessions,
    /// Own progress per item.
    progress: OwnProgress,
    /// Your own listening, for users who are not admins.
    mine: Mine,
    /// Running scans.
    scans: Scans,
    /// Item titles by item (or item/episode) key; `None`: looked up, not found.
    titles: HashMap<String, Option<String>>,
    /// Recent happenings.
    activity: Ring<Activity>,
    /// Server log lines.
    logs: Ring<LogLine>,
    /// Events applied so far.
    seq: u64,
    /// `init`s seen so far: each is a new socket.
    epoch: u64,
    /// `init` arrived on the current socket and the connection was not lost since.
    authenticated: bool,
    /// A `Connected` status was seen since the last `init`.
    connected_seen: bool,
    /// When the connection was lost, while it is.
    down_since_ms: Option<u64>,
    /// The learning phase after an `init` or a freeze.
    resync: Option<Resync>,
    /// What the next reconcile must read.
    pending: Need,
    /// The admin endpoints answered 403/404 on this connection: stop asking.
    admin_forbidden: bool,
}

impl LiveState {
    /// Nothing known yet.
    pub fn new(settings: &LiveSettings) -> Self {
        Self {
            status: ConnectionStatus::Connecting,
            latency_ms: None,
            me: None,
            presence: Presence::new(MAX_USERS),
            sessions: Sessions::new(MAX_SESSIONS, millis(settings.stale_after)),
            progress: OwnProgress::new(MAX_ITEMS, millis(settings.elsewhere_window)),
            mine: Mine::new(millis(settings.stale_after)),
            scans: Scans::new(MAX_SCANS),
            titles: HashMap::new(),
            activity: Ring::new(MAX_ACTIVITY),
            logs: Ring::new(MAX_LOG_LINES),
            seq: 0,
            epoch: 0,
            authenticated: false,
            connected_seen: false,
            down_since_ms: None,
            resync: None,
            pending: Need::default(),
            admin_forbidden: false,
        }
    }

    /// A new connection status; losing the connection starts an outage. Call it again right
    /// after applying an `init` with the status as it is then: the status is a watch and `init`
    /// comes through the event channel, so only a drop from a `Connected` seen after the `init`
    /// counts as losing that socket.
    pub fn apply_status(&mut self, status: &ConnectionStatus, now_ms: u64) {
        if let ConnectionStatus::Connected {
            latency_ms: Some(latency),
            ..
        } = status
        {
            self.latency_ms = Some(*latency);
        }
        // Right after an `init` the status may still show that very socket's authenticating step.
        if matches!(status, ConnectionStatus::Connected { .. }) {
            self.connected_seen = self.authenticated;
        } else if self.authenticated && self.connected_seen {
            self.authenticated = false;
            self.connected_seen = false;
            self.down_since_ms.get_or_insert(now_ms);
            self.pending = Need::default();
        }
        self.status = status.clone();
    }

    /// The app did not run from `since_ms` to `now_ms` (frozen, or the machine asleep). Events
    /// arriving now may be that old and others may be lost, whether or not the socket survived:
    /// like after a reconnect, the lists are re-read and the difference since `since_ms` is one
    /// [`Happening::Resynced`]. An outage already running began no later than the freeze.
    pub fn resumed(&mut self, since_ms: u64, now_ms: u64) {
        if !self.authenticated {
            if let Some(down) = &mut self.down_since_ms {
                *down = (*down).min(since_ms);
            }
            return;
        }
        if self.resync.is_some() || self.me.is_none() {
            // Already learning: that resync's difference covers the freeze.
            return;
        }
        let before = self.before(since_ms);
        self.resync = Some(Resync {
            before: Some(before),
            outage: Duration::from_millis(now_ms.saturating_sub(since_ms)),
        });
        let is_admin = self.is_admin();
        self.pending = Need {
            users: is_admin && !self.admin_forbidden,
            tasks: true,
            post_connect: true,
            mine: !is_admin,
        };
    }

    /// One server event; returns the facts it implies.
    pub fn apply_event(&mut self, event: &ServerEvent, now_ms: u64) -> Vec<Happening> {
        self.seq += 1;
        let seq = self.seq;
        let mut out = Vec::new();
        match event {
            ServerEvent::Init(init) => self.on_init(init, now_ms),
            ServerEvent::UserOnline(user) if self.tracks_others() => {
                let first = self.presence.socket_up(user, now_ms, seq);
                if first && !self.is_me(&user.id) {
                    out.push(Happening::UserOnline {
                        user: self.who(&user.id, &user.username),
                    });
                }
                // A reply already applied may have counted this socket (REST beat the socket).
                self.pending.users = true;
            }
            ServerEvent::UserOffline(user) if self.tracks_others() => {
                match self.presence.socket_down(user, now_ms, seq) {
                    Offline::Gone(who) if !self.is_me(&who.user_id) => {
                        out.push(Happening::UserOffline { user: who });
                    }
                    Offline::Gone(_) | Offline::StillOnline | Offline::Inconsistent => {}
                }
                // Counts may be off (a missed `user_online`, a reply that beat this event).
                self.pending.users = true;
            }
            ServerEvent::UserStreamUpdate(user) if self.tracks_others() => {
                self.presence.learn(&user.id, &user.username);
                let who = self.who(&user.id, &user.username);
                match &user.session {
                    Some(session) => {
                        self.remember_session_title(session);
                        out.extend(self.sessions.announced(session, who, now_ms, seq));
                    }
                    None => self.sessions.maybe_closing(Some(&user.id), None, seq),
                }
                self.pending.users = true;
            }
            ServerEvent::UserSessionClosed { session_id } => {
                self.progress.session_closed(session_id);
                if self.tracks_mine() {
                    self.mine.closed(session_id, now_ms);
                    self.pending.mine = true;
                }
                if self.tracks_others() {
                    self.sessions.maybe_closing(None, Some(session_id), seq);
                    self.pending.users = true;
                }
            }
            ServerEvent::UserItemProgressUpdated(update) => {
                let data = &update.data;
                if self.tracks_mine() && self.mine.progress(update, now_ms, seq) {
                    self.pending.mine = true;
                }
                for fact in self.progress.apply(update, now_ms) {
                    let item_id = data.library_item_id.clone();
                    let title = self.title(&item_id, data.episode_id.as_deref());
                    if fact == ProgressFact::Finished && self.tracks_mine() {
                        let episode = data.episode_id.as_deref();
                        self.mine.finished(&item_id, episode, &title, now_ms);
                    }
                    out.push(match fact {
                        ProgressFact::Finished => Happening::Finished { item_id, title },
                        ProgressFact::Milestone(percent) => Happening::Milestone {
                            item_id,
                            title,
                            percent,
                        },
                        ProgressFact::Elsewhere(device) => Happening::PlayingElsewhere {
                            item_id,
                            title,
                            device,
                        },
                    });
                }
            }
            ServerEvent::AdminMessage { message } => out.push(Happening::AdminMessage {
                text: plain_message(message),
            }),
            ServerEvent::Log(line) => self.logs.push(log_line(line)),
            ServerEvent::DailyLogs(daily) => {
                self.logs.clear();
                let skip = daily.logs.len().saturating_sub(MAX_LOG_LINES);
                for line in daily.logs.iter().skip(skip) {
                    self.logs.push(log_line(line));
                }
            }
            ServerEvent::TaskStarted(task) => out.extend(self.scans.started(task, seq)),
            ServerEvent::TaskFinished(task) => out.extend(self.scans.finished(task)),
            ServerEvent::ItemAdded(item) => {
                self.remember_item_title(item);
                out.push(Happening::ItemsAdded {
                    library_id: item.library_id.clone().unwrap_or_default(),
                    count: 1,
                    first_title: item.title.as_deref().map(label),
                    first_item_id: Some(item.id.clone()),
                });
            }
            ServerEvent::ItemsAdded(items) => out.extend(self.items_added(items)),
            ServerEvent::EpisodeDownloadFinished(download) if !download.failed => {
                out.push(Happening::EpisodeDownloaded {
                    item_id: download.library_item_id.clone().unwrap_or_default(),
                    podcast_title: download.podcast_title.as_deref().map(label),
                    episode_title: download.episode_display_title.as_deref().map(label),
                });
            }
            ServerEvent::BackupApplied => {
                out.push(Happening::BackupApplied);
                if self.authenticated {
                    self.pending.users |= self.is_admin();
                    self.pending.tasks = true;
                    self.pending.mine |= self.tracks_mine();
                }
            }
            // Progress changed outside a session (marked finished, reset) in another client.
            ServerEvent::UserUpdated(user) if self.tracks_mine() && self.is_me(&user.id) => {
                self.pending.mine = true;
            }
            ServerEvent::UserAdded(user) => {
                self.presence.learn(&user.id, &user.username);
                out.push(Happening::UserAdded {
                    user: self.who(&user.id, &user.username),
                });
            }
            ServerEvent::UserRemoved(user) => out.push(Happening::UserRemoved {
                user: self.who(&user.id, &user.username),
            }),
            ServerEvent::LibraryRemoved(library) => self.scans.library_removed(&library.id),
            _ => {}
        }
        if self.resyncing() {
            // The outage summary reports these, from the difference.
            out.retain(|h| !is_presence_or_session(h));
        }
        self.record(&out, now_ms);
        out
    }

    /// The reads of the next reconcile, when one is wanted; `None` while disconnected. Taking
    /// it clears the wish, so requests made meanwhile queue up as exactly one more.
    pub fn take_reconcile(&mut self) -> Option<ReconcileTicket> {
        if !self.authenticated {
            return None;
        }
        let need = std::mem::take(&mut self.pending);
        let users = need.users && self.is_admin() && !self.admin_forbidden;
        let mine = need.mine && self.tracks_mine();
        if !users && !need.tasks && !need.post_connect && !mine {
            return None;
        }
        Some(ReconcileTicket {
            seq: self.seq,
            epoch: self.epoch,
            users,
            tasks: need.tasks || need.post_connect,
            post_connect: need.post_connect,
            known_users: if users {
                self.presence.known_ids()
            } else {
                HashSet::new()
            },
            mine,
            known_items: if mine {
                self.known_items()
            } else {
                HashSet::new()
            },
        })
    }

    /// Asks for a reconcile of presence and sessions (positions) if this user may read them.
    pub fn request_poll(&mut self) {
        if self.can_poll() {
            self.pending.users = true;
        }
    }

    /// Asks for a read of your own listening (someone started looking), if you are not an admin.
    pub fn request_mine(&mut self) {
        if self.tracks_mine() {
            self.pending.mine = true;
        }
    }

    /// The read of your own listening that `ticket` asked for (apply it before the rest of the
    /// reconcile, which takes the ticket). A failed read is asked for again.
    pub fn apply_mine(&mut self, ticket: &ReconcileTicket, read: &MineRead) {
        if ticket.epoch != self.epoch || !self.authenticated || !ticket.mine {
            return;
        }
        for item in &read.items {
            if let Some(title) = &item.title {
                self.learn_title(&item.id, Some(title));
            }
        }
        if let Some(page) = read.sessions.got() {
            for session in &page.sessions {
                self.remember_session_title(session);
            }
        }
        self.mine.apply(read, ticket.seq);
        if read.any_failed() {
            self.pending.mine = true;
        }
    }

    /// An item read for a progress event: its title for the facts, its author for your rows.
    pub fn learn_item(&mut self, item_id: &str, item: Option<&LibraryItem>) {
        self.learn_title(item_id, item.and_then(|i| i.title.as_deref()));
        if let Some(item) = item.filter(|i| i.id == item_id) {
            self.mine.learn_item(item);
        }
    }

    /// Whether polling positions makes sense: connected as an admin the server lets read them.
    pub fn can_poll(&self) -> bool {
        self.authenticated && self.is_admin() && !self.admin_forbidden
    }

    /// The results of a reconcile; returns the facts they imply (none while learning after a
    /// connect, then the outage summary after a reconnect). Failed reads are asked for again.
    pub fn apply_reconcile(
        &mut self,
        ticket: ReconcileTicket,
        result: Reconciled,
        now_ms: u64,
    ) -> Vec<Happening> {
        if ticket.epoch != self.epoch || !self.authenticated {
            return Vec::new();
        }
        let guard = ticket.seq;
        // Until the resync's own reconcile, changes belong to the difference (a read from before
        // a freeze can land after it).
        let emit = !ticket.post_connect && !self.resyncing();
        let mut out = Vec::new();
        let users = result.users_online.got();
        let open = result.open_sessions.got();
        if matches!(result.users_online, Fetch::Forbidden) {
            self.admin_forbidden = true;
        }
        for session in open.iter().flat_map(|o| &o.sessions) {
            if let Some(owner) = &session.user {
                self.presence.learn(&owner.id, &owner.username);
            }
        }
        if let Some(users) = users {
            let (came, gone) = self.presence.replace(&users.users_online, guard, now_ms);
            if emit {
                for user in came.into_iter().filter(|u| !self.is_me(&u.user_id)) {
                    out.push(Happening::UserOnline { user });
                }
                for user in gone.into_iter().filter(|u| !self.is_me(&u.user_id)) {
                    out.push(Happening::UserOffline { user });
                }
            }
        }
        let listed: Option<Vec<&PlaybackSession>> = users
            .map(|u| u.open_sessions.iter().collect())
            .or_else(|| open.map(|o| o.sessions.iter().collect()));
        if let Some(listed) = listed {
            for session in &listed {
                self.remember_session_title(session);
            }
            let pairs: Vec<(&PlaybackSession, Who)> = listed
                .into_iter()
                .map(|s| {
                    let name = s
                        .user
                        .as_ref()
                        .map(|u| u.username.clone())
                        .or_else(|| self.presence.name(&s.user_id).map(str::to_owned))
                        .unwrap_or_else(|| UNKNOWN_USER.to_owned());
                    (s, self.who(&s.user_id, &name))
                })
                .collect();
            out.extend(self.sessions.reconcile(&pairs, guard, now_ms, emit));
        }
        if let Some(tasks) = result.tasks.got() {
            self.scans.reconcile(&tasks.tasks, guard);
        }
        if ticket.users && users.is_none() && !self.admin_forbidden {
            self.pending.users = true;
        }
        if result.tasks.failed() {
            self.pending.tasks = true;
        }
        if ticket.post_connect
            && let Some(resync) = self.resync.take()
            && let Some(before) = resync.before
        {
            let changes = self.difference(&before, now_ms);
            out.push(Happening::Resynced {
                outage: resync.outage,
                changes,
            });
        }
        self.record(&out, now_ms);
        out
    }

    /// The item whose title a progress update needs and nobody knows yet (fetch it, then
    /// [`LiveState::learn_title`]); `None` when known or already looked up.
    pub fn title_wanted(&self, event: &ServerEvent) -> Option<String> {
        let ServerEvent::UserItemProgressUpdated(update) = event else {
            return None;
        };
        let item = &update.data.library_item_id;
        let episode = update.data.episode_id.as_deref();
        let known = self.titles.contains_key(&key(item, episode))
            || self.titles.contains_key(item)
            || self.sessions.title_of(item).is_some();
        (!known).then(|| item.clone())
    }

    /// An item's title, looked up by the driver (`None`: not found; not asked again).
    pub fn learn_title(&mut self, item_id: &str, title: Option<&str>) {
        let title = title.map(label).filter(|t| !t.is_empty());
        self.remember_title(item_id.to_owned(), title);
    }

    /// The picture to render at `now_ms`.
    pub fn snapshot(&self, now_ms: u64) -> Snapshot {
        let mine = match &self.me {
            Some(me) if !me.is_admin => {
                let who = self.who(&me.user_id, &me.username);
                let title_of = |item: &str, episode: Option<&str>| self.known_title(item, episode);
                self.mine.snapshot(&who, now_ms, title_of)
            }
            _ => Default::default(),
        };
        Snapshot {
            connection: self.status.clone(),
            me: self.me.clone(),
            users: self.presence.rows().into(),
            listening: self.sessions.rows(now_ms).into(),
            mine,
            scans: self.scans.rows().into(),
            activity: self.activity.to_shared(),
            logs: self.logs.to_shared(),
            latency_ms: self.latency_ms,
            as_of_ms: self.as_of_ms(),
            taken_at_ms: now_ms,
        }
    }

    /// When the state changes next without any event (a session turns stale, or a vanished
    /// session's grace ends): call [`LiveState::tick`] then.
    pub fn next_wake_at(&self, now_ms: u64) -> Option<u64> {
        let stale = self.sessions.next_stale_at(now_ms);
        let vanished = self.sessions.next_deadline();
        let mine = self.mine.next_stale_at(now_ms);
        stale.into_iter().chain(vanished).chain(mine).min()
    }

    /// The facts that became due by `now_ms` without an event: stops of sessions that left the
    /// server's list without an announced close, once their grace ended.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Happening> {
        let out = self.sessions.tick(now_ms);
        self.record(&out, now_ms);
        out
    }

    /// Whether the signed-in user is an admin (sees presence and sessions).
    pub fn is_admin(&self) -> bool {
        self.me.as_ref().is_some_and(|m| m.is_admin)
    }

    /// How many sessions are tracked (bounded by [`MAX_SESSIONS`]).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// A new socket is authenticated: learn who we are and start learning the state.
    fn on_init(&mut self, init: &Init, now_ms: u64) {
        self.epoch += 1;
        let is_admin = init.users_online.is_some();
        let same_user = self.me.as_ref().is_some_and(|m| m.user_id == init.user_id);
        let down_at_ms = self.down_since_ms.take().unwrap_or(now_ms);
        // A resync not finished (the connection dropped again before its reconcile, or a freeze)
        // keeps its "before": what was learned since came from the server silently.
        let unfinished = self.resync.take().and_then(|r| r.before);
        let before = same_user.then(|| unfinished.unwrap_or_else(|| self.before(down_at_ms)));
        if !same_user {
            self.presence.clear();
            self.sessions.clear();
            self.progress.clear();
            self.mine.clear();
        }
        self.me = Some(Me {
            user_id: init.user_id.clone(),
            username: label(&init.username),
            is_admin,
        });
        self.authenticated = true;
        self.connected_seen = false;
        self.admin_forbidden = false;
        if let Some(list) = &init.users_online {
            // Everything up to this event is in the list.
            let _ = self.presence.replace(list, self.seq, now_ms);
        }
        if let Some(libraries) = &init.libraries_scanning {
            self.scans.legacy(libraries, self.seq);
        }
        let since_ms = before.as_ref().map_or(down_at_ms, |b| b.down_at_ms);
        self.resync = Some(Resync {
            before,
            outage: Duration::from_millis(now_ms.saturating_sub(since_ms)),
        });
        self.pending = Need {
            users: is_admin,
            tasks: true,
            post_connect: true,
            mine: !is_admin,
        };
    }

    /// The state as it stands, to compare with after an outage that began at `down_at_ms`.
    fn before(&mut self, down_at_ms: u64) -> Before {
        // Sessions that left the list just before the outage, stop not yet told: the summary
        // tells them.
        let mut sessions = self.sessions.all();
        sessions.extend(self.sessions.take_vanished());
        Before {
            online: self.presence.online_users(),
            sessions,
            down_at_ms,
        }
    }

    /// When the lists were last known true, while they may be out of date: offline, or back
    /// but not yet re-read after an outage or a freeze. `None` while they are live (or nothing
    /// was ever known).
    fn as_of_ms(&self) -> Option<u64> {
        let resyncing = self
            .resync
            .as_ref()
            .and_then(|r| r.before.as_ref())
            .map(|b| b.down_at_ms);
        let down = self.down_since_ms.filter(|_| !self.authenticated);
        resyncing.into_iter().chain(down).min()
    }

    /// Whether presence and session facts wait for the difference after an outage.
    fn resyncing(&self) -> bool {
        self.resync.as_ref().is_some_and(|r| r.before.is_some())
    }

    /// The facts that tell what changed between `before` and now.
    fn difference(&self, before: &Before, now_ms: u64) -> Vec<Happening> {
        let mut changes = Vec::new();
        let online = self.presence.online_users();
        for (id, who) in &online {
            if !before.online.contains_key(id) && !self.is_me(id) {
                changes.push(Happening::UserOnline { user: who.clone() });
            }
        }
        for (id, who) in &before.online {
            if !online.contains_key(id) && !self.is_me(id) {
                changes.push(Happening::UserOffline { user: who.clone() });
            }
        }
        let sessions = self.sessions.all();
        for (id, tracked) in &before.sessions {
            // A close announced meanwhile (a frame kept during a freeze) has the final numbers.
            let latest = self.sessions.gone_copy(id).unwrap_or(tracked);
            let live = latest.closing || !self.sessions.is_stale(tracked, before.down_at_ms);
            if !sessions.contains_key(id) && live {
                changes.push(latest.stopped());
            }
        }
        for (id, tracked) in &sessions {
            if !before.sessions.contains_key(id) && !self.sessions.is_stale(tracked, now_ms) {
                changes.push(Happening::SessionStarted {
                    listening: tracked.listening.clone(),
                });
            }
        }
        changes
    }

    /// `items_added`: one fact per library, except libraries being scanned (the scan's
    /// `ScanFinished` counts them).
    fn items_added(&mut self, items: &[LibraryItem]) -> Vec<Happening> {
        let mut groups: Vec<Happening> = Vec::new();
        for item in items {
            self.remember_item_title(item);
            let library_id = item.library_id.clone().unwrap_or_default();
            if self.scans.scanning(&library_id) {
                continue;
            }
            let room = groups.len() < MAX_ITEM_GROUPS;
            let existing = groups.iter_mut().find_map(|h| match h {
                Happening::ItemsAdded {
                    library_id: l,
                    count,
                    ..
                } if *l == library_id => Some(count),
                _ => None,
            });
            match existing {
                Some(count) => *count += 1,
                None if room => groups.push(Happening::ItemsAdded {
                    library_id,
                    count: 1,
                    first_title: item.title.as_deref().map(label),
                    first_item_id: Some(item.id.clone()),
                }),
                None => {}
            }
        }
        groups
    }

    /// Adds facts to the recent-activity ring.
    fn record(&mut self, happenings: &[Happening], now_ms: u64) {
        for happening in happenings {
            self.activity.push(Activity {
                at_ms: now_ms,
                happening: happening.clone(),
            });
        }
    }

    /// Connected as an admin: presence and session events are meaningful.
    fn tracks_others(&self) -> bool {
        self.authenticated && self.is_admin()
    }

    /// Connected as a user who is not an admin: your own listening is followed.
    fn tracks_mine(&self) -> bool {
        self.authenticated && self.me.as_ref().is_some_and(|m| !m.is_admin)
    }

    /// Items whose titles are known, from any source.
    fn known_items(&self) -> HashSet<String> {
        self.mine
            .known_items()
            .chain(
                self.titles
                    .iter()
                    .filter(|(_, t)| t.is_some())
                    .map(|(k, _)| k),
            )
            .cloned()
            .collect()
    }

    /// Whether a user id is the signed-in user.
    fn is_me(&self, user_id: &str) -> bool {
        self.me.as_ref().is_some_and(|m| m.user_id == user_id)
    }

    /// A user as happenings carry them.
    fn who(&self, user_id: &str, username: &str) -> Who {
        Who {
            user_id: user_id.to_owned(),
            username: label(username),
        }
    }

    /// The title of an item (or episode) from what is known.
    fn title(&self, item_id: &str, episode_id: Option<&str>) -> String {
        self.known_title(item_id, episode_id)
            .unwrap_or_else(|| UNKNOWN_TITLE.to_owned())
    }

    /// The title of an item (or episode), when anything named it.
    fn known_title(&self, item_id: &str, episode_id: Option<&str>) -> Option<String> {
        self.titles
            .get(&key(item_id, episode_id))
            .or_else(|| self.titles.get(item_id))
            .cloned()
            .flatten()
            .or_else(|| self.sessions.title_of(item_id))
    }

    /// Keeps a session's title for progress facts after the session is gone.
    fn remember_session_title(&mut self, session: &PlaybackSession) {
        if let (Some(item), Some(title)) = (&session.library_item_id, &session.display_title) {
            let title = label(title);
            if !title.is_empty() {
                self.remember_title(key(item, session.episode_id.as_deref()), Some(title));
            }
        }
    }

    /// Keeps an item's title from an item event.
    fn remember_item_title(&mut self, item: &LibraryItem) {
        if let Some(title) = item.title.as_deref().map(label).filter(|t| !t.is_empty()) {
            self.remember_title(item.id.clone(), Some(title));
        }
    }

    /// Stores a title, forgetting an arbitrary other one when the table is full.
    fn remember_title(&mut self, key: String, title: Option<String>) {
        if !self.titles.contains_key(&key) && self.titles.len() >= MAX_ITEMS {
            let evict = self.titles.keys().next().cloned();
            if let Some(evict) = evict {
                self.titles.remove(&evict);
            }
        }
        self.titles.insert(key, title);
    }
}

/// Presence and session facts, which an outage summary replaces.
fn is_presence_or_session(happening: &Happening) -> bool {
    matches!(
        happening,
        Happening::UserOnline { .. }
            | Happening::UserOffline { .. }
            | Happening::SessionStarted { .. }
            | Happening::SessionStopped { .. }
    )
}

/// A server log line as the window shows it.
fn log_line(line: &LogEvent) -> LogLine {
    LogLine {
        timestamp: clean(&line.timestamp, 64),
        source: line.source.as_deref().map(|s| clean(s, 256)),
        level: line.level.code(),
        level_name: line.level_name.clone(),
        message: plain_message(&line.message),
    }
}
