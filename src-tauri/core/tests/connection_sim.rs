//! The connection task against the simulator over real sockets: sign-in, delivery, restarts,
//! stalls, rejected credentials and resource leaks.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use abs_sim::front::{Front, FrontConfig};
use abs_sim::{Sim, SimConfig};
use abs_tray_core::backoff::Backoff;
use abs_tray_core::connection::{
    self, ConnectionConfig, ConnectionHandle, ConnectionStatus, CredentialError, Credentials,
    Timings,
};
use abs_tray_core::protocol::{DailyLogs, ServerEvent};
use abs_tray_core::secret::Secret;
use tokio::sync::mpsc;

/// Mints tokens straight from the simulator, counting how often the connection asks.
#[derive(Clone)]
struct SimCredentials {
    sim: Sim,
    user: String,
    /// Hand out a token the server rejects until this many refreshes happened.
    bad_until_refresh: usize,
    /// Refreshing fails as if the refresh token had been revoked.
    refresh_rejected: bool,
    requests: Arc<AtomicUsize>,
    refreshes: Arc<AtomicUsize>,
}

impl SimCredentials {
    fn new(sim: &Sim, user: &str) -> Self {
        Self {
            sim: sim.clone(),
            user: user.into(),
            bad_until_refresh: 0,
            refresh_rejected: false,
            requests: Arc::default(),
            refreshes: Arc::default(),
        }
    }
}

impl Credentials for SimCredentials {
    async fn access_token(&self, refresh: bool) -> Result<Secret, CredentialError> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        if refresh {
            if self.refresh_rejected {
                return Err(CredentialError::SignInRequired(
                    "Invalid refresh token".into(),
                ));
            }
            self.refreshes.fetch_add(1, Ordering::SeqCst);
        }
        if self.refreshes.load(Ordering::SeqCst) < self.bad_until_refresh {
            return Ok(Secret::new("not-a-token"));
        }
        let tokens = self
            .sim
            .tokens(&self.user)
            .map_err(|e| CredentialError::Unavailable(e.to_string()))?;
        Ok(Secret::new(tokens.access_token))
    }

    async fn daily_logs(&self) -> Result<DailyLogs, CredentialError> {
        Err(CredentialError::Unavailable("not used here".into()))
    }
}

/// Short intervals so that failures are detected in a fraction of a second.
fn fast_timings() -> Timings {
    Timings {
        ping_interval: Duration::from_millis(300),
        pong_timeout: Duration::from_millis(300),
        connect_timeout: Duration::from_millis(1000),
        auth_timeout: Duration::from_millis(1000),
        ..Timings::default()
    }
}

fn config(sim: &Sim, timings: Timings) -> ConnectionConfig {
    ConnectionConfig {
        socket_url: format!("{}/socket.io/", sim.base_url()),
        tls: None,
        server_version: Some("2.36.0".into()),
        socket_daily_logs: false,
        timings,
    }
}

async fn wait_status(
    handle: &ConnectionHandle,
    within: Duration,
    what: &str,
    pred: impl Fn(&ConnectionStatus) -> bool,
) -> ConnectionStatus {
    let mut status = handle.status();
    let waited = tokio::time::timeout(within, async {
        status.wait_for(|s| pred(s)).await.map(|s| s.clone())
    })
    .await;
    match waited {
        Ok(found) => found.unwrap(),
        Err(_) => panic!(
            "no {what} within {within:?}; last: {:?}",
            *handle.status().borrow()
        ),
    }
}

async fn wait_connected(handle: &ConnectionHandle, within: Duration) -> ConnectionStatus {
    wait_status(handle, within, "connected", |s| {
        matches!(s, ConnectionStatus::Connected { .. })
    })
    .await
}

async fn wait_not_connected(handle: &ConnectionHandle, within: Duration) -> ConnectionStatus {
    wait_status(handle, within, "disconnect", |s| {
        !matches!(s, ConnectionStatus::Connected { .. })
    })
    .await
}

/// Admin messages from the event stream, skipping everything else.
async fn next_admin_message(events: &mut mpsc::Receiver<ServerEvent>) -> String {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("an admin message within 5 s")
            .expect("the event stream is open");
        if let ServerEvent::AdminMessage { message } = event {
            return message;
        }
    }
}

async fn start_sim() -> Sim {
    abs_sim::start(SimConfig::default().with_user("alice", "alice-pw", false))
        .await
        .unwrap()
}

#[tokio::test]
async fn connects_and_reports_who_signed_in() {
    let sim = start_sim().await;
    let (handle, mut events, _task) = connection::spawn(
        config(&sim, fast_timings()),
        SimCredentials::new(&sim, "root"),
    );
    let status = wait_connected(&handle, Duration::from_secs(5)).await;
    let ConnectionStatus::Connected {
        username, is_admin, ..
    } = status
    else {
        unreachable!()
    };
    assert_eq!(username, "root");
    assert!(is_admin);

    // The admin's own user_online may come before init: both are delivered.
    let mut saw_init = false;
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(200), events.recv()).await
    {
        if let ServerEvent::Init(init) = event {
            assert_eq!(init.username, "root");
            assert!(init.users_online.is_some());
            saw_init = true;
            break;
        }
    }
    assert!(saw_init, "init is forwarded");

    let (alice, _alice_events, _alice_task) = connection::spawn(
        config(&sim, fast_timings()),
        SimCredentials::new(&sim, "alice"),
    );
    let ConnectionStatus::Connected { is_admin, .. } =
        wait_connected(&alice, Duration::from_secs(5)).await
    else {
        unreachable!()
    };
    assert!(!is_admin, "a plain user is not reported as admin");
    handle.shutdown().await.unwrap();
    wait_status(&handle, Duration::from_secs(2), "stopped", |s| {
        *s == ConnectionStatus::Stopped
    })
    .await;
}

#[tokio::test]
async fn pings_measure_latency_and_commands_reach_the_server() {
    let sim = start_sim().await;
    let mut sim_events = sim.events();
    let (handle, mut events, _task) = connection::spawn(
        config(&sim, fast_timings()),
        SimCredentials::new(&sim, "root"),
    );
    wait_connected(&handle, Duration::from_secs(5)).await;
    wait_status(&handle, Duration::from_secs(3), "a latency", |s| {
        matches!(
            s,
            ConnectionStatus::Connected {
                latency_ms: Some(_),
                ..
            }
        )
    })
    .await;

    handle
        .message_all_users("hello from the tray".into())
        .await
        .unwrap();
    assert_eq!(next_admin_message(&mut events).await, "hello from the tray");
    sim_events
        .wait_named("admin_message", Duration::from_secs(2))
        .await
        .unwrap();
}

#[tokio::test]
async fn events_arrive_once_and_in_order_across_reconnects() {
    let sim = start_sim().await;
    let (handle, mut events, _task) = connection::spawn(
        config(&sim, fast_timings()),
        SimCredentials::new(&sim, "root"),
    );
    let mut expected = Vec::new();
    for round in 0..4 {
        wait_connected(&handle, Duration::from_secs(5)).await;
        for n in 0..5 {
            let text = format!("round {round} message {n}");
            sim.admin_message(&text);
            expected.push(text);
        }
        let mut received = Vec::new();
        for _ in 0..5 {
            received.push(next_admin_message(&mut events).await);
        }
        assert_eq!(received, expected[expected.len() - 5..], "round {round}");
        sim.drop_sockets();
        wait_not_connected(&handle, Duration::from_secs(5)).await;
    }
    wait_connected(&handle, Duration::from_secs(5)).await;
    sim.admin_message("last");
    assert_eq!(
        next_admin_message(&mut events).await,
        "last",
        "nothing duplicated before it"
    );
}

#[tokio::test]
async fn a_restart_is_bridged_within_a_second_of_the_servers_return() {
    let sim = start_sim().await;
    // Default (production) timings: the quick reconnect phase must do this, not a short ping.
    let (handle, _events, _task) = connection::spawn(
        config(&sim, Timings::default()),
        SimCredentials::new(&sim, "root"),
    );
    wait_connected(&handle, Duration::from_secs(5)).await;

    sim.restart_after(Duration::from_secs(5)).await.unwrap();
    wait_status(&handle, Duration::from_secs(3), "offline", |s| {
        matches!(s, ConnectionStatus::Offline { .. })
    })
    .await;
    let back = wait_until_listening(&sim, Duration::from_secs(10)).await;
    wait_connected(&handle, Duration::from_secs(3)).await;
    let bridged = back.elapsed();
    assert!(
        bridged < Duration::from_secs(1),
        "reconnected {bridged:?} after the server returned"
    );
}

#[tokio::test]
async fn attempt_now_ends_the_wait_at_once_and_leaves_a_working_connection_alone() {
    let sim = start_sim().await;
    let mut sim_events = sim.events();
    // Unanswered sign-ins are answered failures: past the (here empty) quick phase they wait
    // 1.5-2 s, far longer than a reconnect takes.
    sim.ignore_auth(true);
    let timings = Timings {
        auth_timeout: Duration::from_millis(300),
        quick_phase: Duration::ZERO,
        ..fast_timings()
    };
    let (handle, mut events, _task) =
        connection::spawn(config(&sim, timings), SimCredentials::new(&sim, "root"));
    let ConnectionStatus::Offline {
        retry_at_ms: Some(retry_at),
        ..
    } = wait_status(&handle, Duration::from_secs(5), "offline", |s| {
        matches!(s, ConnectionStatus::Offline { .. })
    })
    .await
    else {
        unreachable!()
    };
    sim.ignore_auth(false);
    handle.attempt_now().await.unwrap();
    wait_connected(&handle, Duration::from_secs(5)).await;
    let connected_at = unix_ms_now();
    assert!(
        connected_at < retry_at,
        "connected {} ms before the retry was due",
        retry_at.saturating_sub(connected_at)
    );

    // While connected it changes nothing: the socket stays, and so does the server's view.
    sim_events.drain();
    handle.attempt_now().await.unwrap();
    handle.message_all_users("still here".into()).await.unwrap();
    assert_eq!(next_admin_message(&mut events).await, "still here");
    assert!(matches!(
        *handle.status().borrow(),
        ConnectionStatus::Connected { .. }
    ));
    let seen: Vec<_> = sim_events.drain().into_iter().map(|e| e.name).collect();
    assert!(
        !seen.iter().any(|name| name.starts_with('(')),
        "no socket came or went: {seen:?}"
    );
}

#[tokio::test]
async fn attempt_now_abandons_a_hanging_probe_for_a_fresh_one() {
    let sim = start_sim().await;
    // A frozen server holds every request; the app's first probe may take the whole connect
    // timeout (10 s, for slow links). A network change must not wait that out.
    sim.stall(true);
    let timings = Timings {
        connect_timeout: Duration::from_secs(10),
        quick_phase: Duration::ZERO,
        ..fast_timings()
    };
    let (handle, _events, _task) =
        connection::spawn(config(&sim, timings), SimCredentials::new(&sim, "root"));
    handle.attempt_now().await.unwrap();
    let ConnectionStatus::Offline { detail, .. } =
        wait_status(&handle, Duration::from_secs(3), "a failed probe", |s| {
            matches!(s, ConnectionStatus::Offline { .. })
        })
        .await
    else {
        unreachable!()
    };
    assert!(
        detail.as_deref().is_some_and(|d| d.contains("1s")),
        "the fresh probe has its own 1 s timeout: {detail:?}"
    );
    sim.stall(false);
    wait_connected(&handle, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn five_restarts_a_few_seconds_apart_are_each_bridged_within_a_second() {
    let sim = start_sim().await;
    // A short quick phase stands for the real 10 s: a connection that lasted past
    // `Backoff::STABLE_AFTER` must start each outage afresh, or the later restarts would fall
    // into the slow schedule.
    let timings = Timings {
        quick_phase: Duration::from_secs(1),
        ..Timings::default()
    };
    let (handle, _events, _task) =
        connection::spawn(config(&sim, timings), SimCredentials::new(&sim, "root"));
    wait_connected(&handle, Duration::from_secs(5)).await;
    for round in 0..5 {
        // The server's uptime between restarts is the scenario, not a synchronisation.
        tokio::time::sleep(Backoff::STABLE_AFTER + Duration::from_millis(300)).await;
        sim.restart_after(Duration::from_millis(500)).await.unwrap();
        wait_not_connected(&handle, Duration::from_secs(3)).await;
        let back = wait_until_listening(&sim, Duration::from_secs(5)).await;
        wait_connected(&handle, Duration::from_secs(5)).await;
        let bridged = back.elapsed();
        assert!(
            bridged < Duration::from_secs(1),
            "restart {round}: reconnected {bridged:?} after the server returned"
        );
    }
}

#[tokio::test]
async fn a_server_down_past_the_quick_phase_is_joined_within_two_seconds_of_its_return() {
    let sim = start_sim().await;
    // Without a quick phase the whole outage is probed about every second; doubling waits
    // would be 2, 4, 8 s by the time the server returns.
    let timings = Timings {
        quick_phase: Duration::ZERO,
        ..Timings::default()
    };
    let (handle, _events, _task) =
        connection::spawn(config(&sim, timings), SimCredentials::new(&sim, "root"));
    wait_connected(&handle, Duration::from_secs(5)).await;
    sim.restart_after(Duration::from_secs(6)).await.unwrap();
    wait_not_connected(&handle, Duration::from_secs(3)).await;
    let back = wait_until_listening(&sim, Duration::from_secs(10)).await;
    wait_connected(&handle, Duration::from_secs(10)).await;
    let bridged = back.elapsed();
    assert!(
        bridged < Duration::from_secs(2),
        "reconnected {bridged:?} after the server returned"
    );
}

#[tokio::test]
async fn a_proxy_that_hangs_up_while_the_server_is_down_counts_as_no_answer() {
    let sim = start_sim().await;
    // Like docker-proxy or a TCP-mode proxy: the port accepts, and closes again when the
    // server behind it does not. That is an outage (probed every second), not an answer.
    let front = Front::start(sim.addr(), FrontConfig::default())
        .await
        .unwrap();
    let timings = Timings {
        quick_phase: Duration::ZERO,
        ..Timings::default()
    };
    let config = ConnectionConfig {
        socket_url: format!("http://127.0.0.1:{}/socket.io/", front.port()),
        ..config(&sim, timings)
    };
    let (handle, _events, _task) = connection::spawn(config, SimCredentials::new(&sim, "root"));
    wait_connected(&handle, Duration::from_secs(5)).await;
    sim.restart_after(Duration::from_secs(6)).await.unwrap();
    wait_not_connected(&handle, Duration::from_secs(3)).await;
    let back = wait_until_listening(&sim, Duration::from_secs(10)).await;
    wait_connected(&handle, Duration::from_secs(10)).await;
    let bridged = back.elapsed();
    assert!(
        bridged < Duration::from_secs(2),
        "reconnected {bridged:?} after the server returned"
    );
}

#[tokio::test]
async fn a_frozen_server_is_probed_with_a_short_timeout_and_joined_when_it_thaws() {
    let sim = start_sim().await;
    // A 10 s connect timeout, as in production: only the probes' own 1 s timeout lets the
    // attempts come about every two seconds.
    let timings = Timings {
        connect_timeout: Duration::from_secs(10),
        auth_timeout: Duration::from_secs(10),
        quick_phase: Duration::ZERO,
        ..fast_timings()
    };
    let (handle, _events, _task) =
        connection::spawn(config(&sim, timings), SimCredentials::new(&sim, "root"));
    wait_connected(&handle, Duration::from_secs(5)).await;

    sim.stall(true);
    wait_not_connected(&handle, Duration::from_secs(3)).await;
    let mut status = handle.status();
    let mut offline = Vec::new();
    while offline.len() < 3 {
        tokio::time::timeout(Duration::from_secs(3), status.changed())
            .await
            .expect("another failed probe within 3 s")
            .unwrap();
        if let ConnectionStatus::Offline { retry_at_ms, .. } = &*status.borrow_and_update() {
            offline.push(*retry_at_ms);
        }
        assert!(!matches!(
            *status.borrow(),
            ConnectionStatus::Connected { .. }
        ));
    }

    sim.stall(false);
    let thawed = Instant::now();
    wait_connected(&handle, Duration::from_secs(5)).await;
    let bridged = thawed.elapsed();
    assert!(
        bridged < Duration::from_secs(2),
        "reconnected {bridged:?} after the server thawed"
    );
}

#[tokio::test]
async fn a_stalled_server_is_detected_by_the_ping_watchdog() {
    let sim = start_sim().await;
    let timings = fast_timings();
    let window = timings.ping_interval + timings.pong_timeout;
    let (handle, _events, _task) =
        connection::spawn(config(&sim, timings), SimCredentials::new(&sim, "root"));
    wait_connected(&handle, Duration::from_secs(5)).await;

    sim.stall(true);
    let stalled_at = Instant::now();
    wait_not_connected(&handle, window + Duration::from_millis(500)).await;
    let detected = stalled_at.elapsed();
    assert!(
        detected <= window + Duration::from_millis(200),
        "took {detected:?}"
    );

    // While stalled, attempts time out and are never reported as connected.
    wait_status(&handle, Duration::from_secs(5), "a failed attempt", |s| {
        matches!(s, ConnectionStatus::Offline { .. })
    })
    .await;
    assert!(!matches!(
        *handle.status().borrow(),
        ConnectionStatus::Connected { .. }
    ));

    sim.stall(false);
    wait_connected(&handle, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_rejected_token_is_refreshed_once() {
    let sim = start_sim().await;
    let credentials = SimCredentials {
        bad_until_refresh: 1,
        ..SimCredentials::new(&sim, "root")
    };
    let refreshes = credentials.refreshes.clone();
    let (handle, _events, _task) = connection::spawn(config(&sim, fast_timings()), credentials);
    wait_connected(&handle, Duration::from_secs(5)).await;
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_failed_refresh_requires_sign_in_and_stops_trying() {
    let sim = start_sim().await;
    let credentials = SimCredentials {
        bad_until_refresh: 1,
        refresh_rejected: true,
        ..SimCredentials::new(&sim, "root")
    };
    let requests = credentials.requests.clone();
    let (handle, _events, _task) = connection::spawn(config(&sim, fast_timings()), credentials);
    let status = wait_status(&handle, Duration::from_secs(5), "sign-in required", |s| {
        matches!(s, ConnectionStatus::SignInRequired { .. })
    })
    .await;
    let mut sim_events = sim.events();
    assert!(
        matches!(status, ConnectionStatus::SignInRequired { reason } if reason.contains("Invalid refresh token"))
    );
    let asked = requests.load(Ordering::SeqCst);
    assert_eq!(asked, 2, "one token, one refresh");

    // Absence can only be shown by waiting: three times the quick retry interval, then look.
    let mut connects = 0;
    let quiet = tokio::time::timeout(Duration::from_millis(1500), async {
        while let Some(event) = sim_events.next().await {
            if event.name == "(connect)" {
                connects += 1;
            }
        }
    });
    let _ = quiet.await;
    assert_eq!(connects, 0, "no new socket after sign-in became required");
    assert_eq!(
        requests.load(Ordering::SeqCst),
        asked,
        "no further token requests"
    );

    // The user signs in again: the connection resumes.
    handle.reconnect_now().await.unwrap();
    wait_status(&handle, Duration::from_secs(5), "an attempt", |s| {
        !matches!(s, ConnectionStatus::SignInRequired { .. })
    })
    .await;
}

#[tokio::test]
async fn commands_while_offline_fail_clearly() {
    let sim = start_sim().await;
    let (handle, _events, _task) = connection::spawn(
        config(&sim, fast_timings()),
        SimCredentials::new(&sim, "root"),
    );
    wait_connected(&handle, Duration::from_secs(5)).await;
    sim.shutdown().await;
    wait_not_connected(&handle, Duration::from_secs(3)).await;
    let err = handle.cancel_scan("lib".into()).await.unwrap_err();
    assert_eq!(err, connection::CommandError::NotConnected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_reconnects_leak_no_tasks_threads_or_files() {
    // The server's tasks are not the client's: socketioxide keeps each probe's Engine.IO
    // session's connect timer for 45 s even once it is closed.
    let sim = sim_on_its_own_runtime();
    let (handle, _events, _task) = connection::spawn(
        config(&sim, fast_timings()),
        SimCredentials::new(&sim, "root"),
    );
    // A connection that keeps dropping is backed off more and more (as it should be); asking to
    // reconnect now, as the app does after a network change, skips the wait.
    let cycle = || async {
        wait_connected(&handle, Duration::from_secs(5)).await;
        sim.drop_sockets();
        wait_not_connected(&handle, Duration::from_secs(5)).await;
        handle.reconnect_now().await.unwrap();
    };
    for _ in 0..5 {
        cycle().await;
    }
    wait_connected(&handle, Duration::from_secs(5)).await;
    let before = resources();
    for _ in 0..100 {
        cycle().await;
    }
    wait_connected(&handle, Duration::from_secs(5)).await;
    let after = resources();
    assert!(
        after.tasks <= before.tasks + 3,
        "tasks {before:?} -> {after:?}"
    );
    assert!(
        after.threads <= before.threads + 2,
        "threads {before:?} -> {after:?}"
    );
    assert!(
        after.files <= before.files + 4,
        "open files {before:?} -> {after:?}"
    );
}

#[derive(Debug)]
struct Resources {
    tasks: usize,
    threads: usize,
    files: usize,
}

fn resources() -> Resources {
    Resources {
        tasks: tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        threads: std::fs::read_dir("/proc/self/task").unwrap().count(),
        files: std::fs::read_dir("/proc/self/fd").unwrap().count(),
    }
}

/// Waits until the simulator listens again and returns when that was noticed.
async fn wait_until_listening(sim: &Sim, within: Duration) -> Instant {
    tokio::time::timeout(within, sim.listening())
        .await
        .expect("the simulator comes back");
    Instant::now()
}

/// Now in Unix milliseconds, as `retry_at_ms` counts.
fn unix_ms_now() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    u64::try_from(now.as_millis()).unwrap()
}

/// A simulator on a runtime (and thread) of its own, so the test's runtime counts only the
/// client's tasks. The thread lives as long as the test process.
fn sim_on_its_own_runtime() -> Sim {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            tx.send(start_sim().await).unwrap();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}
