//! Live state against the simulator over real sockets and real REST: presence per user, sessions
//! started once and stopped once confirmed, silent syncs, scans with counts, the file watcher's
//! removals, and an outage told as one summary that tells the truth.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use abs_sim::{DeviceSpec, Sim, SimConfig};
use abs_tray_core::auth::{AbsClient, TokenManager};
use abs_tray_core::connection::{
    self, ConnectionConfig, ConnectionHandle, ConnectionStatus, Timings,
};
use abs_tray_core::credentials::SignedIn;
use abs_tray_core::happening::Happening;
use abs_tray_core::live::{self, LiveHandle, LiveSettings, Snapshot};
use abs_tray_core::policy::{Decision, Moment, Policy, PolicyContext, PolicySettings};
use abs_tray_core::protocol::ServerEvent;
use abs_tray_core::secret::Secret;
use abs_tray_core::server_url::ServerUrl;
use abs_tray_core::tls::TlsConfig;
use abs_tray_core::token_store::{Account, AsyncTokenStore, MemoryStore};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

/// One signed-in connection with live state on top.
struct Running {
    connection: ConnectionHandle,
    live: LiveHandle,
    happenings: mpsc::Receiver<Happening>,
}

async fn start_sim() -> Sim {
    abs_sim::start(
        SimConfig::default()
            .with_user("alice", "alice-pw", false)
            .with_user("bob", "bob-pw", false),
    )
    .await
    .unwrap()
}

/// Signs in for real (password, memory keyring), as the app does.
async fn signed_in(sim: &Sim, user: &str, password: &str) -> Arc<SignedIn> {
    let url = ServerUrl::parse(&sim.base_url()).unwrap();
    let manager = TokenManager::new(
        AbsClient::new(url.clone(), &TlsConfig::system().unwrap()).unwrap(),
        AsyncTokenStore::new(Arc::new(MemoryStore::new())),
        Account::new(&url, user),
    );
    let session = manager.sign_in(&Secret::new(password)).await.unwrap();
    Arc::new(SignedIn::new(manager, Some(session)))
}

/// Short intervals so a restart is bridged quickly.
fn config(sim: &Sim) -> ConnectionConfig {
    ConnectionConfig {
        socket_url: format!("{}/socket.io/", sim.base_url()),
        tls: None,
        server_version: Some("2.36.0".into()),
        socket_daily_logs: false,
        timings: Timings {
            ping_interval: Duration::from_millis(500),
            pong_timeout: Duration::from_millis(500),
            connect_timeout: Duration::from_millis(1000),
            auth_timeout: Duration::from_millis(1000),
            ..Timings::default()
        },
    }
}

/// A connection with live state for `user`, waited on until the state knows who it is.
async fn start_live(sim: &Sim, user: &str, password: &str) -> Running {
    start_live_with(sim, user, password, LiveSettings::default()).await
}

/// [`start_live`] with other settings.
async fn start_live_with(sim: &Sim, user: &str, password: &str, settings: LiveSettings) -> Running {
    let credentials = signed_in(sim, user, password).await;
    let (connection, events, _task) = connection::spawn(config(sim), credentials.clone());
    let (live, happenings, _live_task) =
        live::spawn(events, connection.status(), credentials, settings);
    let running = Running {
        connection,
        live,
        happenings,
    };
    running
        .snapshot_where("signed in", |s| {
            s.me.is_some() && matches!(s.connection, ConnectionStatus::Connected { .. })
        })
        .await;
    running
}

/// A second client of a user: a plain connection whose events are kept (else it would stop).
async fn connect_client(
    sim: &Sim,
    user: &str,
    password: &str,
) -> (ConnectionHandle, mpsc::Receiver<ServerEvent>) {
    let (handle, events, _task) =
        connection::spawn(config(sim), signed_in(sim, user, password).await);
    let mut status = handle.status();
    tokio::time::timeout(
        WAIT,
        status.wait_for(|s| matches!(s, ConnectionStatus::Connected { .. })),
    )
    .await
    .expect("the client connects")
    .unwrap();
    (handle, events)
}

impl Running {
    /// The first snapshot satisfying `pred`.
    async fn snapshot_where(&self, what: &str, pred: impl Fn(&Snapshot) -> bool) -> Snapshot {
        let mut snapshots = self.live.snapshot();
        match tokio::time::timeout(WAIT, snapshots.wait_for(|s| pred(s))).await {
            Ok(found) => found.unwrap().clone(),
            Err(_) => panic!("no snapshot with {what}; last: {:?}", self.live.latest()),
        }
    }

    /// The next happening.
    async fn next(&mut self, within: Duration) -> Happening {
        tokio::time::timeout(within, self.happenings.recv())
            .await
            .unwrap_or_else(|_| panic!("no happening within {within:?}"))
            .expect("live state is running")
    }

    /// Everything that happens before an admin message sent now arrives (events are delivered
    /// in order, so that proves nothing else came first).
    async fn until_barrier(&mut self, sim: &Sim, name: &str) -> Vec<Happening> {
        sim.admin_message(name);
        let mut seen = Vec::new();
        loop {
            match self.next(WAIT).await {
                Happening::AdminMessage { text } if text == name => return seen,
                other => seen.push(other),
            }
        }
    }
}

fn connections(snapshot: &Snapshot, username: &str) -> u32 {
    snapshot
        .users
        .iter()
        .find(|u| u.username == username)
        .map_or(0, |u| u.connections)
}

#[tokio::test]
async fn users_online_are_counted_per_user_and_our_own_socket_is_no_news() {
    let sim = start_sim().await;
    let mut root = start_live(&sim, "root", "root").await;
    let snapshot = root
        .snapshot_where("our own connection", |s| connections(s, "root") == 1)
        .await;
    assert!(snapshot.me.as_ref().unwrap().is_admin);
    assert_eq!(root.until_barrier(&sim, "b1").await, []);

    let (first, _first_events) = connect_client(&sim, "alice", "alice-pw").await;
    match root.next(WAIT).await {
        Happening::UserOnline { user } => assert_eq!(user.username, "alice"),
        other => panic!("{other:?}"),
    }
    root.snapshot_where("alice online", |s| connections(s, "alice") == 1)
        .await;

    let (second, _second_events) = connect_client(&sim, "alice", "alice-pw").await;
    root.snapshot_where("alice twice", |s| connections(s, "alice") == 2)
        .await;
    second.shutdown().await.unwrap();
    root.snapshot_where("alice once", |s| connections(s, "alice") == 1)
        .await;
    assert_eq!(
        root.until_barrier(&sim, "b2").await,
        [],
        "a second socket coming and going is no news"
    );

    first.shutdown().await.unwrap();
    match root.next(WAIT).await {
        Happening::UserOffline { user } => assert_eq!(user.username, "alice"),
        other => panic!("{other:?}"),
    }
    let snapshot = root
        .snapshot_where("alice offline", |s| connections(s, "alice") == 0)
        .await;
    let alice = snapshot
        .users
        .iter()
        .find(|u| u.username == "alice")
        .unwrap();
    assert!(alice.last_seen_ms.is_some());
    assert_eq!(root.until_barrier(&sim, "b3").await, []);
    root.connection.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_session_starts_once_syncs_silently_and_stops_once_confirmed() {
    let sim = start_sim().await;
    let mut root = start_live(&sim, "root", "root").await;
    let item = sim.item_ids()[0].clone();
    let phone = DeviceSpec {
        model: Some("Pixel 8".into()),
        client_name: Some("Abs Android".into()),
        ..DeviceSpec::id("phone-1")
    };
    // Several rounds: the close announcement and the reconcile race differently each time.
    for round in 0..5 {
        let started_at = Instant::now();
        let id = sim.start_session("alice", &item, phone.clone()).unwrap();
        let shown = root
            .snapshot_where("the session listed", |s| {
                s.listening.iter().any(|l| l.session_id == id)
            })
            .await;
        assert!(
            started_at.elapsed() < Duration::from_secs(1),
            "listed within 1 s"
        );
        let row = shown.listening.iter().find(|l| l.session_id == id).unwrap();
        assert_eq!(row.user.username, "alice");
        assert_eq!(row.device.as_deref(), Some("Pixel 8"));
        assert!(!row.stale);
        // Each round resumes where the last one stopped.
        let from = row.position_s;
        match root.next(Duration::from_secs(1)).await {
            Happening::SessionStarted { listening } => assert_eq!(listening.session_id, id),
            other => panic!("round {round}: {other:?}"),
        }

        for tick in 1..=60 {
            sim.sync_session(&id, from + f64::from(tick) * 10.0)
                .unwrap();
        }
        assert_eq!(
            root.until_barrier(&sim, &format!("synced {round}")).await,
            [],
            "syncs are no news"
        );

        let reads_before = sim.request_count("/api/users/online");
        sim.close_session(&id).unwrap();
        match root.next(WAIT).await {
            Happening::SessionStopped {
                listening,
                listened_s,
                progress_before,
                progress_after,
            } => {
                assert_eq!(listening.session_id, id);
                assert_eq!(listened_s, Some(600.0), "round {round}");
                let (before, after) = (progress_before.unwrap(), progress_after.unwrap());
                assert!(after > before, "round {round}: {before} → {after}");
            }
            other => panic!("round {round}: {other:?}"),
        }
        assert!(!sim.open_session_ids().contains(&id));
        assert!(
            sim.request_count("/api/users/online") > reads_before,
            "confirmed by a reconcile"
        );
        root.snapshot_where("the session gone", |s| s.listening.is_empty())
            .await;
        assert_eq!(
            root.until_barrier(&sim, &format!("closed {round}")).await,
            [],
            "one stop, no second start"
        );
    }
    root.connection.shutdown().await.unwrap();
}

#[tokio::test]
async fn closes_racing_a_busy_poll_are_still_one_stop_each() {
    let sim = start_sim().await;
    // Someone looks and polls run back to back, so a reply often beats a close announcement.
    let settings = LiveSettings {
        poll_interval: Duration::from_millis(5),
        ..LiveSettings::default()
    };
    let mut root = start_live_with(&sim, "root", "root", settings).await;
    root.live.set_watching(true);
    let item = sim.item_ids()[3].clone();
    for round in 0..20 {
        let id = sim.start_session("bob", &item, "laptop").unwrap();
        sim.sync_session(&id, f64::from(round) * 100.0 + 50.0)
            .unwrap();
        sim.close_session(&id).unwrap();
        let mut facts = Vec::new();
        while facts.len() < 2 {
            facts.push(root.next(WAIT).await);
        }
        let ids: Vec<(&str, &str)> = facts
            .iter()
            .map(|h| match h {
                Happening::SessionStarted { listening } => {
                    ("started", listening.session_id.as_str())
                }
                Happening::SessionStopped { listening, .. } => {
                    ("stopped", listening.session_id.as_str())
                }
                other => panic!("round {round}: {other:?}"),
            })
            .collect();
        assert_eq!(ids, [("started", id.as_str()), ("stopped", id.as_str())]);
    }
    assert_eq!(root.until_barrier(&sim, "raced").await, []);
    root.connection.shutdown().await.unwrap();
}

#[tokio::test]
async fn positions_appear_while_someone_looks() {
    let sim = start_sim().await;
    let mut root = start_live(&sim, "root", "root").await;
    let item = sim.item_ids()[1].clone();
    let id = sim.start_session("bob", &item, "laptop").unwrap();
    assert!(matches!(
        root.next(WAIT).await,
        Happening::SessionStarted { .. }
    ));
    sim.sync_session(&id, 300.0).unwrap();
    root.live.set_watching(true);
    let snapshot = root
        .snapshot_where("the synced position", |s| {
            s.listening.iter().any(|l| l.position_s == 300.0)
        })
        .await;
    assert!(snapshot.listening[0].progress.is_some());
    root.live.set_watching(false);
    root.connection.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_scan_reports_its_counts_and_its_items_are_not_told_twice() {
    let sim = start_sim().await;
    let mut root = start_live(&sim, "root", "root").await;
    let task = sim.start_scan(&sim.library_id()).unwrap();
    let snapshot = root
        .snapshot_where("the scan", |s| s.scans.len() == 1)
        .await;
    assert_eq!(snapshot.scans[0].task_id, task);
    sim.finish_scan(&task, 12, 2, 1).unwrap();
    match root.next(WAIT).await {
        Happening::ScanFinished {
            library_id,
            added,
            updated,
            missing,
            failed,
            ..
        } => {
            assert_eq!(library_id, sim.library_id());
            assert_eq!((added, updated, missing, failed), (12, 2, 1, false));
        }
        other => panic!("{other:?}"),
    }
    root.snapshot_where("no scan", |s| s.scans.is_empty()).await;
    assert_eq!(root.until_barrier(&sim, "after scan").await, []);
    root.connection.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_watcher_scan_that_removed_a_book_says_so_even_to_a_listener() {
    let sim = start_sim().await;
    let mut alice = start_live(&sim, "alice", "alice-pw").await;
    let library = sim.library_id();
    let task = sim.start_watcher_scan(&library).unwrap();
    sim.finish_scan(&task, 0, 0, 1).unwrap();
    let happening = alice.next(WAIT).await;
    assert_eq!(
        happening,
        Happening::FilesChanged {
            library_id: library.clone(),
            library_name: Some("Audiobooks".into()),
            added: 0,
            updated: 0,
            removed: 1,
        }
    );
    assert!(
        alice.live.latest().scans.is_empty(),
        "not a scan anybody started"
    );

    // The popup a listener with server activity switched on gets.
    let mut policy = Policy::new(
        PolicySettings {
            server_activity: true,
            ..PolicySettings::default()
        },
        PolicyContext {
            self_user_id: sim.user_id("alice").unwrap(),
            is_admin: false,
        },
    );
    let decisions = policy.handle(happening, Moment::from_secs(1), &chrono::Utc::now());
    let popup = decisions.iter().find_map(Decision::popup).expect("a popup");
    assert_eq!(popup.title, "Files changed in Audiobooks: 1 removed");

    // A watcher scan that only added is told by its new items, not a second time.
    let task = sim.start_watcher_scan(&library).unwrap();
    sim.finish_scan(&task, 1, 0, 0).unwrap();
    assert!(matches!(
        alice.next(WAIT).await,
        Happening::ItemsAdded { count: 1, .. }
    ));
    assert_eq!(alice.until_barrier(&sim, "after the watcher").await, []);
    alice.connection.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_outage_is_told_as_one_summary() {
    let sim = start_sim().await;
    let mut root = start_live(&sim, "root", "root").await;
    let items = sim.item_ids();
    let before = sim.start_session("alice", &items[0], "phone-1").unwrap();
    assert!(matches!(
        root.next(WAIT).await,
        Happening::SessionStarted { .. }
    ));

    sim.restart_after(Duration::from_millis(1500))
        .await
        .unwrap();
    root.snapshot_where("the outage", |s| {
        !matches!(s.connection, ConnectionStatus::Connected { .. })
    })
    .await;
    // While the app is away (the restart forgot `before`), bob starts listening.
    let during = sim.start_session("bob", &items[1], "tablet").unwrap();

    match root.next(Duration::from_secs(15)).await {
        Happening::Resynced { outage, changes } => {
            assert!(outage >= Duration::from_millis(500), "{outage:?}");
            let started: Vec<&str> = changes
                .iter()
                .filter_map(|h| match h {
                    Happening::SessionStarted { listening } => Some(listening.session_id.as_str()),
                    _ => None,
                })
                .collect();
            let stopped: Vec<&str> = changes
                .iter()
                .filter_map(|h| match h {
                    Happening::SessionStopped { listening, .. } => {
                        Some(listening.session_id.as_str())
                    }
                    _ => None,
                })
                .collect();
            assert_eq!(started, [during.as_str()], "{changes:?}");
            assert_eq!(stopped, [before.as_str()], "{changes:?}");
            assert_eq!(changes.len(), 2, "{changes:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        root.until_barrier(&sim, "after outage").await,
        [],
        "nothing told twice"
    );
    root.snapshot_where("only the session started during the outage", |s| {
        s.listening.len() == 1 && s.listening[0].session_id == during
    })
    .await;
    root.connection.shutdown().await.unwrap();
}

/// What a summary's changes say, in short: "started s1", "stopped s2" (no numbers), or
/// "stopped s2 after 300 s" (the final numbers).
fn told(changes: &[Happening]) -> Vec<String> {
    let mut told: Vec<String> = changes
        .iter()
        .map(|h| match h {
            Happening::UserOnline { user } => format!("online {}", user.username),
            Happening::UserOffline { user } => format!("offline {}", user.username),
            Happening::SessionStarted { listening } => format!("started {}", listening.session_id),
            Happening::SessionStopped {
                listening,
                listened_s: None,
                progress_after: None,
                ..
            } => format!("stopped {}", listening.session_id),
            Happening::SessionStopped {
                listening,
                listened_s,
                ..
            } => format!("stopped {} after {listened_s:?}", listening.session_id),
            other => format!("{other:?}"),
        })
        .collect();
    told.sort();
    told
}

#[tokio::test]
async fn catching_up_after_an_outage_tells_the_truth_once() {
    let sim = start_sim().await;
    let mut root = start_live(&sim, "root", "root").await;
    let items = sim.item_ids();
    // Alice's session is seen starting only (0 s so far); bob's goes on through the outage.
    let ends = sim.start_session("alice", &items[0], "phone-1").unwrap();
    let goes_on = sim.start_session("bob", &items[1], "tablet").unwrap();
    for _ in 0..2 {
        assert!(matches!(
            root.next(WAIT).await,
            Happening::SessionStarted { .. }
        ));
    }
    assert_eq!(root.until_barrier(&sim, "before").await, []);
    let known_at = root.live.latest().taken_at_ms;

    // The server freezes: the app notices (no pong) and shows the lists as last known.
    sim.stall(true);
    let away = root
        .snapshot_where("the lists marked as last known", |s| {
            !matches!(s.connection, ConnectionStatus::Connected { .. }) && s.as_of_ms.is_some()
        })
        .await;
    let as_of = away.as_of_ms.unwrap();
    assert!(as_of >= known_at && as_of <= away.taken_at_ms, "{away:?}");
    assert_eq!(away.listening.len(), 2, "the last known rows stay");
    // While the app is away, alice listens 5 min and stops; she starts another book.
    sim.sync_session(&ends, 300.0).unwrap();
    sim.close_session(&ends).unwrap();
    let began = sim.start_session("alice", &items[2], "phone-1").unwrap();
    let thawed_ms = u64::try_from(
        std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    sim.stall(false);

    let summary = root.next(Duration::from_secs(15)).await;
    let Happening::Resynced { outage, changes } = &summary else {
        panic!("not one summary: {summary:?}");
    };
    assert!(
        *outage >= Duration::from_millis(thawed_ms - as_of),
        "from the loss: {outage:?}"
    );
    assert_eq!(
        told(changes),
        [format!("started {began}"), format!("stopped {ends}")],
        "no numbers never seen, nothing about {goes_on}, which went on"
    );
    assert_eq!(
        root.until_barrier(&sim, "after").await,
        [],
        "nothing told twice, no late start"
    );
    let back = root
        .snapshot_where("live again", |s| s.as_of_ms.is_none())
        .await;
    let mut open: Vec<&str> = back
        .listening
        .iter()
        .map(|l| l.session_id.as_str())
        .collect();
    open.sort_unstable();
    let mut want = [began.as_str(), goes_on.as_str()];
    want.sort_unstable();
    assert_eq!(open, want);

    // The popups: one summary, no "after 0 s (0% → 0%)", nothing popping up as new.
    let mut policy = Policy::new(
        PolicySettings::default(),
        PolicyContext {
            self_user_id: sim.user_id("root").unwrap(),
            is_admin: true,
        },
    );
    let decisions = policy.handle(summary, Moment::from_secs(1), &chrono::Utc::now());
    let popups: Vec<String> = decisions
        .iter()
        .filter_map(Decision::popup)
        .map(|n| format!("{} | {}", n.title, n.body))
        .collect();
    assert_eq!(popups.len(), 1, "{popups:?}");
    assert!(
        popups[0].starts_with("While you were away | "),
        "{popups:?}"
    );
    let said = popups[0].to_lowercase();
    assert!(said.contains("alice stopped"), "{popups:?}");
    assert!(said.contains("alice started"), "{popups:?}");
    assert!(!popups[0].contains("0 s"), "{popups:?}");
    root.connection.shutdown().await.unwrap();
}

/// The app frozen (its whole runtime blocked, as SIGSTOP or a machine asleep would) while a
/// session starts: the start the kernel kept meanwhile is no late news but part of one summary.
#[test]
fn a_frozen_app_tells_what_it_missed_as_one_summary() {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sim = server.block_on(start_sim());
    let items = sim.item_ids();
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    client.block_on(async {
        let settings = LiveSettings {
            // Well above what a busy machine starves a runtime for, well below the freeze.
            frozen_after: Duration::from_millis(1500),
            ..LiveSettings::default()
        };
        let mut root = start_live_with(&sim, "root", "root", settings).await;
        let (sim2, item) = (sim.clone(), items[0].clone());
        let goes_on = server
            .spawn(async move { sim2.start_session("alice", &item, "phone-1").unwrap() })
            .await
            .unwrap();
        assert!(matches!(
            root.next(WAIT).await,
            Happening::SessionStarted { .. }
        ));
        let (sim2, item) = (sim.clone(), items[1].clone());
        let mut sim_events = sim.events();

        // Frozen: this thread, the app's whole runtime, waits while bob starts listening (the
        // announcement waits in the kernel's buffer) and for three seconds more.
        let began = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    server.block_on(async {
                        let id = sim2.start_session("bob", &item, "tablet").unwrap();
                        sim_events
                            .wait_named("user_stream_update", WAIT)
                            .await
                            .unwrap();
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        id
                    })
                })
                .join()
                .unwrap()
        });

        let summary = root.next(WAIT).await;
        let Happening::Resynced { outage, changes } = &summary else {
            panic!("a late start instead of one summary: {summary:?}");
        };
        assert!(*outage >= Duration::from_secs(3), "{outage:?}");
        assert_eq!(
            told(changes),
            [format!("started {began}")],
            "nothing about {goes_on}, which went on"
        );
        let (sim2, barrier) = (sim.clone(), "after the freeze");
        server.spawn(async move { sim2.admin_message(barrier) });
        let mut between = Vec::new();
        loop {
            match root.next(WAIT).await {
                Happening::AdminMessage { text } if text == barrier => break,
                other => between.push(other),
            }
        }
        assert_eq!(between, [], "nothing told twice");
        root.connection.shutdown().await.unwrap();
    });
    server.block_on(sim.shutdown());
}

#[tokio::test]
async fn a_listener_hears_about_their_own_finished_book_by_title() {
    let sim = start_sim().await;
    let mut alice = start_live(&sim, "alice", "alice-pw").await;
    let snapshot = alice.live.latest();
    assert!(!snapshot.me.as_ref().unwrap().is_admin);
    let item = sim.item_ids()[2].clone();
    let id = sim.start_session("alice", &item, "phone-1").unwrap();
    sim.sync_session(&id, 30.0).unwrap();
    sim.finish_book("alice", &item).unwrap();
    match alice.next(WAIT).await {
        Happening::Finished { item_id, title } => {
            assert_eq!(item_id, item);
            assert_ne!(title, "Untitled", "the title is fetched");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(alice.until_barrier(&sim, "after finish").await, []);
    assert!(
        alice.live.latest().users.is_empty(),
        "no presence for non-admins"
    );
    alice.connection.shutdown().await.unwrap();
}
