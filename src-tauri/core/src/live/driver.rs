//! The live-state task: owns a [`LiveState`], feeds it the connection's events and status and
//! the REST reconciles, and publishes snapshots (coalesced) and happenings (each once).
//!
//! Reconciles run one at a time; what is asked for meanwhile becomes exactly one more, so a
//! burst of `user_stream_update`s costs two reads, not one per event. Positions are polled only
//! while someone looks ([`LiveHandle::set_watching`]). The only timers are that poll, the retry
//! of a failed read, the trailing edge of the snapshot coalescing, and the moment the state
//! changes by itself (a session turns stale, a vanished session's grace ends), plus a watchdog
//! that notices the app itself was frozen.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use super::rest::{Fetch, LiveRest, MineRead, Reconciled};
use super::state::{LiveState, ReconcileTicket};
use super::{LiveSettings, Snapshot, millis};
use crate::backoff::{Backoff, Failure};
use crate::connection::ConnectionStatus;
use crate::happening::Happening;
use crate::protocol::ServerEvent;

/// First wait before a failed reconcile is tried again.
const RETRY_MIN: Duration = Duration::from_secs(1);
/// Longest wait between retries.
const RETRY_MAX: Duration = Duration::from_secs(60);
/// Longest wait for an item title; the progress fact goes out without it after that.
const TITLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Happenings waiting for the policy; a policy that stops reading slows the state down rather
/// than growing memory.
const HAPPENINGS_QUEUE: usize = 256;

/// The app's side of the live-state task; cheap to clone.
#[derive(Debug, Clone)]
pub struct LiveHandle {
    /// The latest picture.
    snapshot: watch::Receiver<Snapshot>,
    /// Whether someone looks (window open, tooltip shown).
    watching: Arc<watch::Sender<bool>>,
}

impl LiveHandle {
    /// The latest snapshot, to render or to `changed().await` on (at most a few per second).
    pub fn snapshot(&self) -> watch::Receiver<Snapshot> {
        self.snapshot.clone()
    }

    /// A copy of the latest snapshot (cheap: its lists are shared).
    pub fn latest(&self) -> Snapshot {
        self.snapshot.borrow().clone()
    }

    /// Someone started or stopped looking; while they look, an admin's positions are polled.
    /// Turning it on refreshes at once. The caller combines its sources (window, tooltip).
    pub fn set_watching(&self, watching: bool) {
        self.watching.send_if_modified(|current| {
            let changed = *current != watching;
            *current = watching;
            changed
        });
    }
}

/// Starts the task. It ends when the connection's event stream ends. Happenings come out of
/// the returned receiver in order; drop it if nobody wants them (keeping it unread stalls the
/// task once its queue is full).
pub fn spawn<R: LiveRest>(
    events: mpsc::Receiver<ServerEvent>,
    status: watch::Receiver<ConnectionStatus>,
    rest: R,
    settings: LiveSettings,
) -> (LiveHandle, mpsc::Receiver<Happening>, JoinHandle<()>) {
    let initial = Snapshot::empty(status.borrow().clone());
    let (snapshot_tx, snapshot) = watch::channel(initial);
    let (watching_tx, watching) = watch::channel(false);
    let (happenings_tx, happenings) = mpsc::channel(HAPPENINGS_QUEUE);
    let driver = Driver {
        state: LiveState::new(&settings),
        settings,
        rest,
        events,
        status,
        watching,
        snapshot: snapshot_tx,
        happenings: happenings_tx,
    };
    let task = tokio::spawn(driver.run());
    let handle = LiveHandle {
        snapshot,
        watching: Arc::new(watching_tx),
    };
    (handle, happenings, task)
}

/// What one reconcile read: the admin lists, and your own listening when the ticket asked.
type Read = (ReconcileTicket, Reconciled, Option<MineRead>);
/// A reconcile in progress.
type InFlight<'a> = Pin<Box<dyn Future<Output = Read> + Send + 'a>>;

/// Everything the task owns.
struct Driver<R> {
    /// The pure state.
    state: LiveState,
    /// Intervals.
    settings: LiveSettings,
    /// REST reads.
    rest: R,
    /// Server events from the connection.
    events: mpsc::Receiver<ServerEvent>,
    /// The connection's status.
    status: watch::Receiver<ConnectionStatus>,
    /// Whether someone looks.
    watching: watch::Receiver<bool>,
    /// Snapshots out.
    snapshot: watch::Sender<Snapshot>,
    /// Happenings out.
    happenings: mpsc::Sender<Happening>,
}

impl<R: LiveRest> Driver<R> {
    /// The task's loop.
    async fn run(self) {
        let Driver {
            mut state,
            settings,
            rest,
            mut events,
            mut status,
            mut watching,
            snapshot,
            happenings,
        } = self;
        let rest = &rest;
        let clock = Clock::start();
        state.apply_status(&status.borrow_and_update(), clock.now_ms());
        snapshot.send_replace(state.snapshot(clock.now_ms()));
        let mut last_publish = Instant::now();
        let mut dirty = false;
        let mut in_flight: Option<InFlight<'_>> = None;
        let mut retry_at: Option<Instant> = None;
        let mut retry = Backoff::new(RETRY_MIN, RETRY_MAX);
        let mut next_poll: Option<Instant> = None;
        let mut status_open = true;
        let mut watching_open = true;
        // The task wakes at least this often, so a freeze of the app (SIGSTOP, a machine asleep)
        // shows as a wake far later than due.
        let watchdog = settings.frozen_after / 3;
        let mut awake = Awake::new(clock.now_ms(), millis(settings.frozen_after));
        loop {
            dirty |= awake.check(&mut state, clock.now_ms());
            if in_flight.is_none()
                && retry_at.is_none()
                && let Some(ticket) = state.take_reconcile()
            {
                in_flight = Some(Box::pin(fetch(rest, ticket)));
            }
            if *watching.borrow() && state.can_poll() {
                next_poll.get_or_insert_with(|| Instant::now() + settings.poll_interval);
            } else {
                next_poll = None;
            }
            let now = Instant::now();
            if dirty && now >= last_publish + settings.publish_every {
                snapshot.send_replace(state.snapshot(clock.now_ms()));
                last_publish = now;
                dirty = false;
            }
            let now_ms = clock.now_ms();
            let wake_at = state
                .next_wake_at(now_ms)
                .map(|at| now + Duration::from_millis(at.saturating_sub(now_ms)));
            tokio::select! {
                // Events first: when an event and a REST reply are both ready, the event is
                // usually the older news (the server announces before it changes its lists).
                biased;
                event = events.recv() => {
                    let Some(event) = event else { break };
                    // Before the event: after a freeze it may be one the kernel kept meanwhile.
                    awake.check(&mut state, clock.now_ms());
                    if matches!(event, ServerEvent::Init(_)) {
                        // A new socket: reads for the old one are moot, and the first reconcile
                        // of the new one should not wait out an old retry.
                        in_flight = None;
                        retry_at = None;
                        retry.reset();
                    }
                    if let Some(item) = state.title_wanted(&event) {
                        let found = tokio::time::timeout(TITLE_TIMEOUT, rest.item(&item)).await;
                        state.learn_item(&item, found.ok().and_then(Result::ok).as_ref());
                    }
                    let facts = state.apply_event(&event, clock.now_ms());
                    if matches!(event, ServerEvent::Init(_)) {
                        // The status this socket reached so far (see `LiveState::apply_status`).
                        let current = status.borrow_and_update().clone();
                        state.apply_status(&current, clock.now_ms());
                    }
                    send(&happenings, facts).await;
                    dirty = true;
                }
                changed = status.changed(), if status_open => {
                    if changed.is_err() {
                        status_open = false;
                    } else {
                        let current = status.borrow_and_update().clone();
                        state.apply_status(&current, clock.now_ms());
                        dirty = true;
                    }
                }
                changed = watching.changed(), if watching_open => {
                    if changed.is_err() {
                        watching_open = false;
                    } else if *watching.borrow_and_update() {
                        state.request_poll();
                        state.request_mine();
                        next_poll = Some(Instant::now() + settings.poll_interval);
                    }
                }
                (ticket, result, mine) = wait(&mut in_flight), if in_flight.is_some() => {
                    in_flight = None;
                    let failed = result.any_failed() || mine.as_ref().is_some_and(MineRead::any_failed);
                    if let Some(read) = &mine {
                        state.apply_mine(&ticket, read);
                    }
                    let facts = state.apply_reconcile(ticket, result, clock.now_ms());
                    send(&happenings, facts).await;
                    dirty = true;
                    if failed {
                        // No jitter: the socket's `init` that started these reads already
                        // came at a jittered moment.
                        let now = Instant::now();
                        let wait = retry.next_delay(now.into_std(), Failure::Answered, 1.0);
                        retry_at = Some(now + wait);
                    } else {
                        retry.reset();
                    }
                }
                () = sleep_until(retry_at.unwrap_or(now)), if retry_at.is_some() => {
                    retry_at = None;
                }
                () = sleep_until(next_poll.unwrap_or(now)), if next_poll.is_some() => {
                    state.request_poll();
                    next_poll = Some(Instant::now() + settings.poll_interval);
                }
                () = sleep_until(last_publish + settings.publish_every), if dirty => {}
                () = sleep_until(wake_at.unwrap_or(now)), if wake_at.is_some() => {
                    let facts = state.tick(clock.now_ms());
                    send(&happenings, facts).await;
                    dirty = true;
                }
                () = sleep_until(now + watchdog) => {}
            }
        }
        let current = status.borrow_and_update().clone();
        state.apply_status(&current, clock.now_ms());
        snapshot.send_replace(state.snapshot(clock.now_ms()));
    }
}

/// The reads of one reconcile. `GET /api/sessions/open` is read only when a session belongs to
/// a user whose name is unknown (offline, never seen) or the users list could not be read.
async fn fetch<R: LiveRest>(rest: &R, ticket: ReconcileTicket) -> Read {
    let (ticket, result) = fetch_lists(rest, ticket).await;
    let mine = if ticket.wants_mine() {
        Some(fetch_mine(rest, &ticket).await)
    } else {
        None
    };
    (ticket, result, mine)
}

/// Your own listening: the newest saved sessions and finished books, whether the newest
/// session is still open, and the titles of finished books nobody has named yet.
async fn fetch_mine<R: LiveRest>(rest: &R, ticket: &ReconcileTicket) -> MineRead {
    let (sessions, progress) = tokio::join!(rest.my_sessions(), rest.my_progress());
    let sessions = Fetch::from(sessions);
    let progress = Fetch::from(progress);
    let open = match sessions.got().and_then(|page| page.sessions.first()) {
        Some(newest) => Fetch::from(rest.open_session(&newest.id).await),
        None => Fetch::NotAsked,
    };
    let mut items = Vec::new();
    if let Some(finished) = progress.got() {
        let named: HashSet<&str> = sessions
            .got()
            .iter()
            .flat_map(|page| &page.sessions)
            .filter(|s| s.display_title.is_some())
            .filter_map(|s| s.library_item_id.as_deref())
            .collect();
        for book in &finished.finished {
            let id = book.library_item_id.as_str();
            if named.contains(id) || ticket.knows_item(id) {
                continue;
            }
            match tokio::time::timeout(TITLE_TIMEOUT, rest.item(id)).await {
                Ok(Ok(item)) => items.push(item),
                _ => tracing::debug!("a finished book has no title"),
            }
        }
    }
    MineRead {
        sessions,
        open,
        progress,
        items,
    }
}

/// The admin lists and the tasks of one reconcile.
async fn fetch_lists<R: LiveRest>(
    rest: &R,
    ticket: ReconcileTicket,
) -> (ReconcileTicket, Reconciled) {
    let users = async {
        if ticket.wants_users() {
            Fetch::from(rest.users_online().await)
        } else {
            Fetch::NotAsked
        }
    };
    let tasks = async {
        if ticket.wants_tasks() {
            Fetch::from(rest.tasks().await)
        } else {
            Fetch::NotAsked
        }
    };
    let (users_online, tasks) = tokio::join!(users, tasks);
    let needs_names = match &users_online {
        Fetch::Got(list) => {
            let online: HashSet<&str> = list.users_online.iter().map(|u| u.id.as_str()).collect();
            list.open_sessions
                .iter()
                .any(|s| !ticket.knows_user(&s.user_id) && !online.contains(s.user_id.as_str()))
        }
        Fetch::Failed(_) => true,
        Fetch::NotAsked | Fetch::Forbidden => false,
    };
    let open_sessions = if needs_names {
        Fetch::from(rest.open_sessions().await)
    } else {
        Fetch::NotAsked
    };
    let result = Reconciled {
        users_online,
        open_sessions,
        tasks,
    };
    (ticket, result)
}

/// Waits for the reconcile in flight (the caller only polls this while there is one).
async fn wait(in_flight: &mut Option<InFlight<'_>>) -> Read {
    match in_flight {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

/// Hands happenings to the policy; nobody listening is fine.
async fn send(happenings: &mpsc::Sender<Happening>, facts: Vec<Happening>) {
    for fact in facts {
        if happenings.send(fact).await.is_err() {
            return;
        }
    }
}

/// When the task last ran, to notice that it did not run for a while.
#[derive(Debug, Clone, Copy)]
struct Awake {
    /// The state's clock when the task last ran.
    at_ms: u64,
    /// Not running for longer than this is a freeze ([`LiveSettings::frozen_after`]).
    frozen_after_ms: u64,
}

impl Awake {
    /// Running now.
    fn new(now_ms: u64, frozen_after_ms: u64) -> Self {
        Self {
            at_ms: now_ms,
            frozen_after_ms,
        }
    }

    /// Running again at `now_ms`: a wake far later than the watchdog allows is a freeze, which
    /// the state is told of. True when it was one (the picture changed).
    fn check(&mut self, state: &mut LiveState, now_ms: u64) -> bool {
        let frozen = now_ms > self.at_ms.saturating_add(self.frozen_after_ms);
        if frozen {
            tracing::info!(
                frozen_ms = now_ms.saturating_sub(self.at_ms),
                "the app did not run for a while; re-reading the live state"
            );
            state.resumed(self.at_ms, now_ms);
        }
        self.at_ms = now_ms;
        frozen
    }
}

/// The state's clock: Unix milliseconds that never run behind the timers. The wall clock is
/// what server timestamps compare with; the timer clock (monotonic, virtual in tests) keeps a
/// timer's deadline from being "not yet" once it fired.
#[derive(Debug, Clone, Copy)]
struct Clock {
    /// Wall time at start, Unix ms.
    wall_at_start: u64,
    /// Timer time at start.
    timer_at_start: Instant,
}

impl Clock {
    /// Starts counting now.
    fn start() -> Self {
        Self {
            wall_at_start: wall_ms(),
            timer_at_start: Instant::now(),
        }
    }

    /// Unix ms now: the wall clock, or the timer clock's count where that is ahead.
    fn now_ms(&self) -> u64 {
        let elapsed = u64::try_from(self.timer_at_start.elapsed().as_millis()).unwrap_or(u64::MAX);
        wall_ms().max(self.wall_at_start.saturating_add(elapsed))
    }
}

/// Unix milliseconds by the wall clock.
fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
