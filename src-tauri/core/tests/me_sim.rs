//! Your own listening against the simulator, as a user who is not an admin (who gets no
//! `user_stream_update` and may not read `GET /api/users/online`): the book playing now follows
//! your progress events, a closed session moves to the recent ones, a finished book is listed,
//! and a fresh connect reads it all back over REST (`GET /api/me/listening-sessions`,
//! `GET /api/session/{id}`, `GET /api/me`). An admin's state reads none of it.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use abs_sim::{DeviceSpec, Sim, SimConfig};
use abs_tray_core::auth::{AbsClient, TokenManager};
use abs_tray_core::connection::{self, ConnectionConfig, ConnectionHandle, ConnectionStatus};
use abs_tray_core::credentials::SignedIn;
use abs_tray_core::live::{self, LiveHandle, LiveSettings, Snapshot};
use abs_tray_core::secret::Secret;
use abs_tray_core::server_url::ServerUrl;
use abs_tray_core::tls::TlsConfig;
use abs_tray_core::token_store::{Account, AsyncTokenStore, MemoryStore};

const WAIT: Duration = Duration::from_secs(10);
const PHONE: &str = "Pixel 8";

/// A connection with live state on top, signed in as one user.
struct Running {
    connection: ConnectionHandle,
    live: LiveHandle,
}

impl Running {
    /// Signs `user` in for real (password, memory keyring) and waits until the state knows who
    /// it is.
    async fn start(sim: &Sim, user: &str, password: &str) -> Self {
        let url = ServerUrl::parse(&sim.base_url()).unwrap();
        let manager = TokenManager::new(
            AbsClient::new(url.clone(), &TlsConfig::system().unwrap()).unwrap(),
            AsyncTokenStore::new(Arc::new(MemoryStore::new())),
            Account::new(&url, user),
        );
        let session = manager.sign_in(&Secret::new(password)).await.unwrap();
        let credentials = Arc::new(SignedIn::new(manager, Some(session)));
        let config = ConnectionConfig {
            socket_url: url.socket_url(),
            tls: None,
            server_version: Some("2.36.0".into()),
            socket_daily_logs: false,
            timings: Default::default(),
        };
        let (connection, events, _task) = connection::spawn(config, credentials.clone());
        let (live, _happenings, _live_task) = live::spawn(
            events,
            connection.status(),
            credentials,
            LiveSettings::default(),
        );
        let running = Self { connection, live };
        running
            .snapshot_where("signed in", |s| {
                s.me.is_some() && matches!(s.connection, ConnectionStatus::Connected { .. })
            })
            .await;
        running
    }

    /// The first snapshot satisfying `pred`.
    async fn snapshot_where(&self, what: &str, pred: impl Fn(&Snapshot) -> bool) -> Snapshot {
        let mut snapshots = self.live.snapshot();
        match tokio::time::timeout(WAIT, snapshots.wait_for(|s| pred(s))).await {
            Ok(found) => found.unwrap().clone(),
            Err(_) => panic!(
                "no snapshot with {what}; last: {:#?}",
                self.live.latest().mine
            ),
        }
    }

    /// Closes the socket.
    async fn stop(self) {
        let _ = self.connection.shutdown().await;
    }
}

/// A simulator with a listener who is not an admin, and three titled books.
async fn simulator() -> (Sim, [String; 3]) {
    let sim = abs_sim::start(SimConfig::default().with_user("alice", "alice-pw", false))
        .await
        .unwrap();
    let ids = sim.item_ids();
    let books = [ids[0].clone(), ids[1].clone(), ids[2].clone()];
    for (id, title) in books.iter().zip(["Dune", "Emma", "Ulysses"]) {
        sim.set_item_title(id, title).unwrap();
    }
    (sim, books)
}

/// Alice's phone.
fn phone() -> DeviceSpec {
    DeviceSpec {
        device_id: Some("alice-phone".into()),
        client_name: Some("Abs Android".into()),
        client_version: Some("0.9.80".into()),
        model: Some(PHONE.into()),
        sdk_version: Some("34".into()),
        ..DeviceSpec::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_sees_the_current_book_recent_sessions_and_finished_books() {
    let (sim, [dune, emma, ulysses]) = simulator().await;
    let alice = Running::start(&sim, "alice", "alice-pw").await;

    // Nothing yet: known to be empty, not unknown.
    let empty = alice
        .snapshot_where("the lists read", |s| s.mine.loaded)
        .await;
    assert!(empty.mine.current.is_none());
    assert!(empty.mine.recent.is_empty() && empty.mine.finished.is_empty());
    assert!(empty.listening.is_empty(), "only admins see everyone's");

    // Playing on the phone: the first sync makes it the current book, with title and device.
    let session = sim.start_session("alice", &dune, phone()).unwrap();
    sim.sync_session(&session, 90.0).unwrap();
    let now = alice
        .snapshot_where("Dune playing", |s| {
            s.mine.current.as_ref().is_some_and(|c| {
                c.session_id == session && c.title == "Dune" && c.position_s == 90.0
            })
        })
        .await;
    let current = now.mine.current.unwrap();
    assert_eq!(current.item_id, dune);
    assert_eq!(current.user.username, "alice");
    assert!(
        current.device.as_deref().is_some_and(|d| d.contains(PHONE)),
        "{current:?}"
    );
    assert!(
        current.progress.is_some_and(|p| p > 0.0 && p < 1.0),
        "{current:?}"
    );
    assert!(!current.stale);

    // Stopped: it moves to the recent sessions, with its listening time.
    sim.close_session(&session).unwrap();
    let closed = alice
        .snapshot_where("Dune in the recent sessions", |s| {
            s.mine.current.is_none()
                && s.mine
                    .recent
                    .first()
                    .is_some_and(|r| r.session_id == session)
        })
        .await;
    let recent = &closed.mine.recent[0];
    assert_eq!(recent.title, "Dune");
    assert!(recent.listened_s > 0.0, "{recent:?}");
    assert!(
        recent.device.as_deref().is_some_and(|d| d.contains(PHONE)),
        "{recent:?}"
    );

    // Finished in the player (sync to the end and close), then another marked finished in
    // another client (PATCH /api/me/progress: only `user_updated` says so).
    let second = sim.start_session("alice", &emma, phone()).unwrap();
    sim.sync_session(&second, 30.0).unwrap();
    alice
        .snapshot_where("Emma playing", |s| {
            s.mine
                .current
                .as_ref()
                .is_some_and(|c| c.session_id == second)
        })
        .await;
    sim.finish_book("alice", &emma).unwrap();
    alice
        .snapshot_where("Emma finished", |s| {
            s.mine.current.is_none()
                && s.mine
                    .finished
                    .first()
                    .is_some_and(|f| f.item_id == emma && f.title == "Emma")
        })
        .await;
    sim.finish_book("alice", &ulysses).unwrap();
    let done = alice
        .snapshot_where("Ulysses finished too", |s| {
            s.mine.finished.iter().any(|f| f.item_id == ulysses)
        })
        .await;
    let finished: Vec<&str> = done
        .mine
        .finished
        .iter()
        .map(|f| f.title.as_str())
        .collect();
    assert!(
        finished.contains(&"Ulysses") && finished.contains(&"Emma"),
        "{finished:?}"
    );
    assert!(
        done.mine
            .finished
            .iter()
            .all(|f| f.finished_at_ms.is_some())
    );

    // Playing again, then a fresh start of the app: all of it comes back from REST alone.
    let third = sim.start_session("alice", &dune, phone()).unwrap();
    sim.sync_session(&third, 120.0).unwrap();
    alice
        .snapshot_where("Dune playing again", |s| {
            s.mine
                .current
                .as_ref()
                .is_some_and(|c| c.session_id == third)
        })
        .await;
    alice.stop().await;
    let again = Running::start(&sim, "alice", "alice-pw").await;
    let back = again
        .snapshot_where("everything read back", |s| {
            s.mine.loaded
                && s.mine
                    .current
                    .as_ref()
                    .is_some_and(|c| c.session_id == third)
                && s.mine.recent.iter().any(|r| r.session_id == session)
                && s.mine.finished.len() == 2
        })
        .await;
    let current = back.mine.current.unwrap();
    assert_eq!(current.title, "Dune");
    assert!(current.author.is_some(), "{current:?}");
    assert_eq!(current.device.as_deref(), Some(PHONE));
    assert_eq!(current.position_s, 120.0);
    assert!(
        back.mine.recent.iter().all(|r| r.session_id != third),
        "the current session is not also a recent one"
    );
    let titles: Vec<&str> = back
        .mine
        .finished
        .iter()
        .map(|f| f.title.as_str())
        .collect();
    assert_eq!(
        titles,
        ["Ulysses", "Emma"],
        "newest first, named by item reads"
    );
    again.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_reads_none_of_it() {
    let (sim, [dune, ..]) = simulator().await;
    let root = Running::start(&sim, "root", "root").await;
    let session = sim.start_session("alice", &dune, phone()).unwrap();
    let seen = root
        .snapshot_where("alice's session in the admin list", |s| {
            s.listening.iter().any(|l| l.session_id == session)
        })
        .await;
    assert_eq!(seen.mine, Default::default());
    assert_eq!(sim.request_count("/api/me/listening-sessions"), 0);
    root.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_pages_listening_sessions_like_the_real_server() {
    let (sim, [dune, emma, ulysses]) = simulator().await;
    sim.add_user("bob", "bob-pw", false).unwrap();
    // Three closed sessions and one open that listened; one open that never listened (never
    // saved by the real server); one of bob's.
    for book in [&dune, &emma, &ulysses] {
        let id = sim.start_session("alice", book, phone()).unwrap();
        sim.sync_session(&id, 60.0).unwrap();
        sim.close_session(&id).unwrap();
    }
    let open = sim.start_session("alice", &dune, phone()).unwrap();
    sim.sync_session(&open, 200.0).unwrap();
    sim.start_session("alice", &emma, "tablet").unwrap();
    let bobs = sim.start_session("bob", &dune, "bob-phone").unwrap();
    sim.sync_session(&bobs, 30.0).unwrap();

    let url = ServerUrl::parse(&sim.base_url()).unwrap();
    let client = AbsClient::new(url.clone(), &TlsConfig::system().unwrap()).unwrap();
    let manager = TokenManager::new(
        client.clone(),
        AsyncTokenStore::new(Arc::new(MemoryStore::new())),
        Account::new(&url, "alice"),
    );
    let token = manager
        .sign_in(&Secret::new("alice-pw"))
        .await
        .unwrap()
        .access;
    let page = |query: &'static str| {
        let (client, token) = (client.clone(), token.clone());
        async move {
            let path = format!("/api/me/listening-sessions{query}");
            client
                .get_json::<serde_json::Value>(&path, &token)
                .await
                .unwrap()
        }
    };

    let first = page("?itemsPerPage=3&page=0").await;
    assert_eq!(first["total"], 4);
    assert_eq!(first["numPages"], 2);
    assert_eq!(
        (first["page"].clone(), first["itemsPerPage"].clone()),
        (0.into(), 3.into())
    );
    let sessions = first["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions[0]["id"], open.as_str(), "the open one synced last");
    let updated: Vec<i64> = sessions
        .iter()
        .map(|s| s["updatedAt"].as_i64().unwrap())
        .collect();
    assert!(
        updated.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {updated:?}"
    );
    assert!(
        sessions
            .iter()
            .all(|s| s["userId"] == first_user(&sim, "alice"))
    );
    for key in [
        "displayTitle",
        "deviceInfo",
        "timeListening",
        "currentTime",
        "startedAt",
    ] {
        assert!(
            sessions[0].get(key).is_some(),
            "PlaybackSession.toJSON() has {key}"
        );
    }
    let second = page("?itemsPerPage=3&page=1").await;
    assert_eq!(second["sessions"].as_array().unwrap().len(), 1);
    // express's toNumber: no number is the default (10 per page, page 0); 0 per page is 10.
    for query in ["", "?itemsPerPage=0", "?itemsPerPage=x&page=y"] {
        let all = page(query).await;
        assert_eq!(all["itemsPerPage"], 10, "{query}");
        assert_eq!(all["page"], 0, "{query}");
        assert_eq!(all["sessions"].as_array().unwrap().len(), 4, "{query}");
    }
    sim.shutdown().await;
}

/// A user's id.
fn first_user(sim: &Sim, name: &str) -> serde_json::Value {
    sim.user_id(name).unwrap().into()
}
