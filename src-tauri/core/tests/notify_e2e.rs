//! The whole notifier with real parts: the simulator, the connection, live state, the policy and
//! delivery talking to dunst on a private D-Bus session. A ten-minute listening session synced
//! every 10 s pops up twice (start, stop), not sixty times, and a click opens the right page.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::time::Duration;

use abs_sim::SimConfig;
use abs_tray_core::auth::{AbsClient, TokenManager};
use abs_tray_core::connection::{self, ConnectionConfig, ConnectionStatus, Timings};
use abs_tray_core::credentials::SignedIn;
use abs_tray_core::delivery::{AppIdentity, Delivery, Opener};
use abs_tray_core::live::{self, LiveSettings};
use abs_tray_core::notifier::{self, Outputs};
use abs_tray_core::policy::{Decision, PolicySettings};
use abs_tray_core::secret::Secret;
use abs_tray_core::server_url::ServerUrl;
use abs_tray_core::tls::TlsConfig;
use abs_tray_core::token_store::{Account, AsyncTokenStore, MemoryStore};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

/// Records what a click asked to open.
struct Recorder(Mutex<std_mpsc::Sender<String>>);

impl Opener for Recorder {
    fn open_url(&self, url: &str) {
        let _ = self.0.lock().unwrap().send(url.to_owned());
    }
    fn open_window(&self) {
        let _ = self.0.lock().unwrap().send("window".to_owned());
    }
}

/// Summaries of the Notify calls dbus-monitor sees from our app name, in order.
fn monitor_summaries(app_name: &'static str) -> (std::process::Child, std_mpsc::Receiver<String>) {
    let mut child = Command::new("dbus-monitor")
        .arg("interface='org.freedesktop.Notifications',member='Notify'")
        .stdout(Stdio::piped())
        .spawn()
        .expect("dbus-monitor is installed");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std_mpsc::channel();
    std::thread::spawn(move || {
        // A Notify call's string arguments: app name, icon, summary, body.
        let mut strings: Vec<String> = Vec::new();
        let mut in_call = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("method call") {
                in_call = true;
                strings.clear();
                continue;
            }
            let trimmed = line.trim_start();
            if in_call && let Some(text) = trimmed.strip_prefix("string \"") {
                strings.push(text.trim_end_matches('"').to_owned());
                if strings.len() == 3 {
                    in_call = false;
                    if strings[0] == app_name && tx.send(strings[2].clone()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    (child, rx)
}

async fn next_shown(decisions: &mut mpsc::Receiver<Decision>) -> Decision {
    loop {
        let decision = tokio::time::timeout(WAIT, decisions.recv())
            .await
            .expect("a popup in time")
            .expect("the notifier runs");
        if decision.popup().is_some() {
            return decision;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_minute_session_pops_up_twice_and_a_click_opens_the_sessions_page() {
    assert!(
        std::env::var_os("ABS_TRAY_DESKTOP_SESSION").is_some(),
        "run through scripts/desktop-session.sh (make test does)"
    );
    let sim = abs_sim::start(SimConfig::default().with_user("alice", "alice-pw", false))
        .await
        .unwrap();
    let url = ServerUrl::parse(&sim.base_url()).unwrap();
    let tls = TlsConfig::system().unwrap();
    let manager = TokenManager::new(
        AbsClient::new(url.clone(), &tls).unwrap(),
        AsyncTokenStore::new(Arc::new(MemoryStore::default())),
        Account::new(&url, "root"),
    );
    let session = manager.sign_in(&Secret::new("root")).await.unwrap();
    let signed_in = Arc::new(SignedIn::new(manager, Some(session)));

    let config = ConnectionConfig {
        socket_url: url.socket_url(),
        tls: Some(tls.connector()),
        server_version: Some("2.36.0".into()),
        socket_daily_logs: false,
        timings: Timings::default(),
    };
    let (handle, events, _connection) = connection::spawn(config, signed_in.clone());
    let (_live, happenings, _live_task) = live::spawn(
        events,
        handle.status(),
        signed_in.clone(),
        LiveSettings::default(),
    );

    const APP: &str = "ABS Tray e2e";
    let (mut monitor, summaries) = monitor_summaries(APP);
    let (clicks_tx, clicks) = std_mpsc::channel();
    let delivery = Delivery::start(
        AppIdentity {
            app_name: APP.into(),
            ..AppIdentity::default()
        },
        Arc::new(Recorder(Mutex::new(clicks_tx))),
    );
    // A merge window of one second instead of three minutes keeps the test short.
    let settings = PolicySettings {
        merge_window_s: 1,
        ..PolicySettings::default()
    };
    let (decision_tx, mut decisions) = mpsc::channel(64);
    // dbus-monitor installs its match rule asynchronously: repeat a warm-up popup until it is seen.
    let mut warmed = false;
    for _ in 0..20 {
        delivery.show(abs_tray_core::delivery::Popup {
            title: "warm-up".into(),
            body: String::new(),
            urgency: abs_tray_core::delivery::Urgency::Low,
            open_url: None,
            image: None,
        });
        if summaries.recv_timeout(Duration::from_millis(500)).is_ok() {
            warmed = true;
            break;
        }
    }
    assert!(warmed, "dbus-monitor never saw a Notify call");
    while summaries.recv_timeout(Duration::from_millis(300)).is_ok() {}
    let _ = Command::new("dunstctl").arg("close-all").status();
    let outputs = Outputs {
        delivery: Some(delivery),
        covers: None,
        decisions: Some(decision_tx),
    };
    let _notifier = notifier::spawn(happenings, handle.status(), settings, url.clone(), outputs);

    let mut status = handle.status();
    tokio::time::timeout(
        WAIT,
        status.wait_for(|s| matches!(s, ConnectionStatus::Connected { .. })),
    )
    .await
    .expect("connected")
    .unwrap();

    let item = sim.item_ids()[0].clone();
    let playback = sim.start_session("alice", &item, "phone-1").unwrap();
    let started = next_shown(&mut decisions).await;
    assert!(
        started.notification.title.starts_with("alice started "),
        "{:?}",
        started.notification
    );

    // Ten minutes of listening, synced every 10 s: sixty progress writes on the server.
    for tick in 1..=60 {
        sim.sync_session(&playback, f64::from(tick) * 10.0).unwrap();
    }
    sim.close_session(&playback).unwrap();
    let stopped = next_shown(&mut decisions).await;
    assert!(
        stopped.notification.title.starts_with("alice stopped "),
        "{:?}",
        stopped.notification
    );
    assert!(
        stopped.notification.title.contains("10 min"),
        "{:?}",
        stopped.notification
    );

    // Exactly those two reached the notification daemon, in order.
    let seen: Vec<String> = (0..2)
        .map(|_| summaries.recv_timeout(WAIT).expect("a Notify call"))
        .collect();
    assert_eq!(
        seen,
        [
            started.notification.title.clone(),
            stopped.notification.title.clone()
        ]
    );
    assert!(
        summaries.recv_timeout(Duration::from_millis(500)).is_err(),
        "no third popup"
    );

    let out = Command::new("dunstctl")
        .args(["action", "0"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let opened = clicks
        .recv_timeout(WAIT)
        .expect("the click reaches the opener");
    assert_eq!(opened, format!("{}/config/sessions", sim.base_url()));
    let _ = monitor.kill();
}
