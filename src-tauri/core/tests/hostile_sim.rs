//! The app against a hostile server (abs-sim's hostile modes): wrong types in every field of
//! every event, a 10 MB admin message, 100,000 users online and a flood of them, markup,
//! control characters and right-to-left overrides in names and titles, a socket whose `auth` is
//! never answered, an `init` for another user, a sign-in redirected to another host, invalid
//! UTF-8. Each test asserts what the protection is for: the app stays connected (or fails
//! clearly), its lists and strings stay bounded, its view carries inert text, its log stays short.
#![allow(
    clippy::unwrap_used,
    missing_docs,
    reason = "helpers outside #[test] fns are test code too: a panic is a test failure"
)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use abs_sim::hostile::{HOSTILE_NAMES, synthetic_user, wrong_types};
use abs_sim::{DeviceSpec, Sim, SimEvent, Witness};
use abs_tray_core::app::{App, View};
use abs_tray_core::auth::{AbsClient, TokenManager};
use abs_tray_core::connection::{self, ConnectionConfig, ConnectionStatus, Timings};
use abs_tray_core::credentials::SignedIn;
use abs_tray_core::glance::{AccountLabel, Glance};
use abs_tray_core::happening::Happening;
use abs_tray_core::live::{MAX_ACTIVITY, MAX_USERS};
use abs_tray_core::protocol::MAX_MESSAGE_BYTES;
use abs_tray_core::secret::Secret;
use abs_tray_core::server_url::ServerUrl;
use abs_tray_core::tls::TlsConfig;
use abs_tray_core::token_store::{Account, AsyncTokenStore, MemoryStore};
use serde_json::{Value, json};

mod app_harness;

use app_harness::*;

/// Longest name or title live state keeps (`live::label`).
const MAX_LABEL_BYTES: usize = 512;

/// Emits to every authenticated socket, waiting while the socket's send buffer is full (the
/// simulator then drops the event), so that every event of a flood really goes out.
async fn emit(sim: &Sim, name: &str, payload: &Value) {
    for _ in 0..1_000_000 {
        if sim.emit_raw(name, payload) > 0 {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{name} could not be sent: no authenticated socket reads");
}

/// An admin message after everything sent before it; once it shows, the app has read (and
/// survived) all of that.
async fn barrier(sim: &Sim, app: &App, text: &str) -> View {
    emit(sim, "admin_message", &json!(text)).await;
    wait_view(app, text, |v| {
        v.snapshot
            .activity
            .iter()
            .any(|a| matches!(&a.happening, Happening::AdminMessage { text: t } if t == text))
    })
    .await
}

/// Every string the webview gets is inert: no bidi controls, no control characters but line
/// breaks, and bounded (names and titles by the label cap, messages by the message cap).
fn assert_inert(view: &View) {
    fn walk(v: &Value, path: &str) {
        match v {
            Value::String(s) => {
                assert!(
                    !s.chars()
                        .any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')),
                    "bidi control at {path}: {s:?}"
                );
                assert!(
                    !s.chars().any(|c| c.is_control() && c != '\n'),
                    "control character at {path}: {:?}",
                    s.chars().take(80).collect::<String>()
                );
                assert!(s.len() <= MAX_MESSAGE_BYTES, "{} bytes at {path}", s.len());
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{path}[{i}]"));
                }
            }
            Value::Object(map) => {
                for (k, item) in map {
                    walk(item, &format!("{path}.{k}"));
                }
            }
            _ => {}
        }
    }
    let snapshot = &view.snapshot;
    assert!(snapshot.users.len() <= MAX_USERS);
    assert!(snapshot.activity.len() <= MAX_ACTIVITY);
    for u in snapshot.users.iter() {
        assert!(u.username.len() <= MAX_LABEL_BYTES);
    }
    for l in snapshot.listening.iter() {
        assert!(l.title.len() <= MAX_LABEL_BYTES && l.user.username.len() <= MAX_LABEL_BYTES);
    }
    walk(&serde_json::to_value(view).unwrap(), "view");
}

/// Log lines written while the guard lives (this thread only: `#[tokio::test]` runs the app,
/// the simulator and the test on one thread).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let captured = Self::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

    /// The app's warning lines (not the simulator's).
    fn app_lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains("abs_tray_core"))
            .map(str::to_owned)
            .collect()
    }
}

/// The socket ids the simulator saw disconnect among `events`.
fn disconnects(events: &[SimEvent]) -> usize {
    events.iter().filter(|e| e.name == "(disconnect)").count()
}

/// Peak resident memory of this process (Linux), for the record only.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test]
async fn wrong_types_in_every_field_of_every_event_are_ignored_with_a_few_log_lines() {
    let (log, _guard) = Captured::start();
    let sim = sim().await;
    let h = Harness::new();
    let before = h.sign_in(&sim, "admin", ADMIN_PW).await;
    let mut events = sim.events();

    let all = wrong_types();
    let started = Instant::now();
    for (name, payload) in &all {
        emit(&sim, name, payload).await;
    }
    let view = barrier(&sim, &h.app, "after the wrong types").await;
    eprintln!(
        "{} wrong-typed events read in {:?}",
        all.len(),
        started.elapsed()
    );

    // Still the same connection, signed in as the same user: nothing was fatal.
    assert!(connected(&view), "{:?}", view.snapshot.connection);
    assert_eq!(view.snapshot.me, before.snapshot.me);
    assert_eq!(disconnects(&events.drain()), 0);
    assert_inert(&view);
    // Thousands of malformed events, a handful of lines: per kind a few in full plus a count.
    let lines = log.app_lines();
    assert!(
        lines.iter().any(|l| l.contains("malformed event")),
        "{lines:#?}"
    );
    assert!(lines.len() <= 12, "{} lines: {lines:#?}", lines.len());
    h.app.shutdown().await;
}

#[tokio::test]
async fn a_10_mb_admin_message_arrives_as_bounded_plain_text() {
    let sim = sim().await;
    let h = Harness::new();
    h.sign_in(&sim, "admin", ADMIN_PW).await;
    let mut events = sim.events();
    let head = "<img src=x onerror=alert(1)>\u{202E}\u{7} ";
    let huge = format!("{head}{}", "x".repeat(10 * 1024 * 1024));

    let started = Instant::now();
    sim.admin_message(&huge);
    let view = wait_view(&h.app, "the huge message", |v| {
        v.snapshot.activity.iter().any(
            |a| matches!(&a.happening, Happening::AdminMessage { text } if text.starts_with("<img")),
        )
    })
    .await;
    eprintln!(
        "10 MB admin message shown after {:?}; peak RSS {:?} KiB",
        started.elapsed(),
        peak_rss_kib()
    );
    let text = view
        .snapshot
        .activity
        .iter()
        .find_map(|a| match &a.happening {
            Happening::AdminMessage { text } => Some(text.clone()),
            _ => None,
        })
        .unwrap();
    assert!(text.len() <= MAX_MESSAGE_BYTES, "{} bytes", text.len());
    assert!(text.ends_with('…'));
    // The markup is kept as text (the window sets textContent); the override and bell are gone.
    assert!(
        text.starts_with("<img src=x onerror=alert(1)>  x"),
        "{:?}",
        &text[..40]
    );
    assert!(connected(&view));
    assert_eq!(disconnects(&events.drain()), 0);
    assert_inert(&view);
    h.app.shutdown().await;
}

#[tokio::test]
async fn a_hundred_thousand_users_online_and_a_flood_stay_capped_and_the_app_answers() {
    let sim = sim().await;
    sim.fake_users_online(100_000);
    let h = Harness::new();
    let started = Instant::now();
    let view = h.sign_in(&sim, "admin", ADMIN_PW).await;
    eprintln!(
        "signed in with 100,000 users in init after {:?}",
        started.elapsed()
    );
    assert_eq!(view.snapshot.users.len(), MAX_USERS);

    // The app asks GET /api/users/online (11 MB here): refused as too large, retried later,
    // and the app stays connected meanwhile.
    h.app.set_watching(true);
    let asked = sim.request_count("/api/users/online");
    sim.wait_requests("/api/users/online", asked.max(1) + 1, WAIT)
        .await
        .unwrap();

    // A flood: 20,000 more users coming online as fast as the socket takes them, while the
    // window keeps asking for the view.
    let mut slowest = Duration::ZERO;
    let flood = Instant::now();
    for i in 100_000..120_000 {
        emit(&sim, "user_online", &synthetic_user(i)).await;
        if i % 1_000 == 0 {
            let asked = Instant::now();
            h.app.set_watching(true);
            let _ = h.app.view().borrow().clone();
            slowest = slowest.max(asked.elapsed());
        }
    }
    let view = barrier(&sim, &h.app, "after the flood").await;
    eprintln!(
        "20,000 user_online read in {:?}; slowest view()/set_watching during it {slowest:?}; peak RSS {:?} KiB",
        flood.elapsed(),
        peak_rss_kib()
    );
    assert!(connected(&view));
    assert!(view.snapshot.users.len() <= MAX_USERS);
    assert!(view.snapshot.activity.len() <= MAX_ACTIVITY);
    assert_inert(&view);
    h.app.shutdown().await;
}

#[tokio::test]
async fn hostile_names_and_titles_reach_the_view_and_the_tray_as_inert_bounded_text() {
    let sim = sim().await;
    let h = Harness::new();
    h.sign_in(&sim, "admin", ADMIN_PW).await;
    h.app.set_watching(true);
    let long = format!("long {}", "n".repeat(100_000));
    let names: Vec<&str> = HOSTILE_NAMES
        .iter()
        .copied()
        .chain([long.as_str()])
        .collect();
    let items = sim.item_ids();
    let mut sessions = Vec::new();
    for (i, name) in names.iter().enumerate() {
        sim.add_user(name, "pw", false).unwrap();
        let item = &items[i % items.len()];
        sim.set_item_title(item, &format!("{name} \u{202E}title"))
            .unwrap();
        let device = DeviceSpec {
            device_id: Some(format!("hostile-{i}")),
            model: Some((*name).to_owned()),
            ..DeviceSpec::default()
        };
        sessions.push(sim.start_session(name, item, device).unwrap());
        emit(&sim, "user_online", &synthetic_user(i * 10)).await;
        emit(&sim, "admin_message", &json!(name)).await;
    }
    barrier(&sim, &h.app, "after the names").await;
    let view = wait_view(&h.app, "every hostile session", |v| {
        sessions
            .iter()
            .all(|s| v.snapshot.listening.iter().any(|l| &l.session_id == s))
    })
    .await;

    assert_inert(&view);
    // The markup arrives as text, not as something else: the window shows it literally.
    let mallory = view
        .snapshot
        .listening
        .iter()
        .find(|l| l.user.username.starts_with("mallory"))
        .unwrap();
    assert_eq!(mallory.user.username, "mallorygnp.exe");
    assert!(view.snapshot.listening.iter().any(|l| {
        l.title
            .starts_with("<b>bold</b> <img src=x onerror=alert(1)>")
    }));
    // The tray's lines: one short line each, nothing that reorders or controls the text.
    let account = view.account.clone().unwrap();
    let glance = Glance::of(
        Some(AccountLabel {
            server: &account.server_url,
            username: &account.username,
        }),
        false,
        &view.snapshot,
    );
    for line in glance.listening.iter().chain([&glance.tooltip]) {
        assert!(
            !line
                .chars()
                .any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')),
            "{line:?}"
        );
    }
    for line in &glance.listening {
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(line.chars().count() <= 60, "{line:?}");
    }
    h.app.shutdown().await;
}

#[tokio::test]
async fn an_unanswered_auth_gives_up_on_the_socket_and_retries_with_backoff() {
    let sim = sim().await;
    let url = ServerUrl::parse(&sim.base_url()).unwrap();
    let client = AbsClient::new(url.clone(), &TlsConfig::system().unwrap()).unwrap();
    let store = AsyncTokenStore::new(Arc::new(MemoryStore::new()));
    let manager = TokenManager::new(client, store, Account::new(&url, "admin"));
    let session = manager.sign_in(&Secret::new(ADMIN_PW)).await.unwrap();
    let mut events = sim.events();
    sim.ignore_auth(true);
    let config = ConnectionConfig {
        socket_url: url.socket_url(),
        tls: None,
        server_version: Some("2.36.0".into()),
        socket_daily_logs: false,
        timings: Timings {
            auth_timeout: Duration::from_millis(300),
            backoff_cap: Duration::from_millis(400),
            ..Timings::default()
        },
    };
    let credentials = Arc::new(SignedIn::new(manager, Some(session)));
    let (handle, _events, task) = connection::spawn(config, credentials);
    let mut status = handle.status();

    // The socket opens (the server answers the connect), auth goes unanswered...
    let offline = tokio::time::timeout(
        WAIT,
        status.wait_for(|s| matches!(s, ConnectionStatus::Offline { .. })),
    )
    .await
    .unwrap()
    .unwrap()
    .clone();
    let ConnectionStatus::Offline {
        reason,
        retry_at_ms,
        ..
    } = offline
    else {
        unreachable!()
    };
    assert!(reason.contains("did not answer the sign-in"), "{reason}");
    assert!(retry_at_ms.is_some());
    // ...that socket is given up and a new one tried after the backoff: the server sees the
    // first one go and a second one come, and nothing was ever called connected.
    events
        .wait_for(WAIT, "the first socket to go", |e| e.name == "(disconnect)")
        .await
        .unwrap();
    events
        .wait_for(WAIT, "a second socket", |e| e.name == "(connect)")
        .await
        .unwrap();
    assert!(!matches!(
        *handle.status().borrow(),
        ConnectionStatus::Connected { .. }
    ));

    // Once the server answers again, the next attempt gets through.
    sim.ignore_auth(false);
    tokio::time::timeout(
        WAIT,
        status.wait_for(|s| matches!(s, ConnectionStatus::Connected { .. })),
    )
    .await
    .unwrap()
    .unwrap();
    handle.shutdown().await.unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn an_init_for_another_user_is_refused_and_never_shown() {
    let sim = sim().await;
    let alice = sim.user_id("alice").unwrap();
    let shows_alice = |view: &View| {
        let json = serde_json::to_string(view).unwrap();
        json.contains(&alice) || json.contains("\"alice\"")
    };

    // At sign-in: the socket's `init` names alice, the token is admin's.
    sim.init_as(Some("alice")).unwrap();
    let h = Harness::new();
    h.app.sign_in(form(&sim, "admin", ADMIN_PW)).await.unwrap();
    let view = wait_view(&h.app, "sign-in required", sign_in_required).await;
    assert!(view.snapshot.me.is_none());
    assert!(!shows_alice(&view), "{view:?}");
    assert_eq!(view.problem.unwrap().code, "sign_in_required");

    // Mid-connection: connected as admin, then an `init` for alice arrives.
    sim.init_as(None).unwrap();
    h.app.reconnect().await.unwrap();
    let view = wait_view(&h.app, "connected", connected).await;
    assert_eq!(view.snapshot.me.as_ref().unwrap().username, "admin");
    emit(
        &sim,
        "init",
        &json!({"userId": alice, "username": "alice", "usersOnline": []}),
    )
    .await;
    let view = wait_view(&h.app, "sign-in required", sign_in_required).await;
    assert!(!shows_alice(&view), "{view:?}");
    h.app.shutdown().await;
}

#[tokio::test]
async fn a_refusal_in_the_servers_own_hostile_words_is_shown_as_one_short_plain_line() {
    let sim = sim().await;
    let words = format!(
        "<img src=x onerror=alert(1)>\u{202E}\u{1b}[31m\r\n{}",
        "w".repeat(100_000)
    );
    sim.reject_auth(Some(&words));
    let h = Harness::new();
    h.app.sign_in(form(&sim, "admin", ADMIN_PW)).await.unwrap();
    let view = wait_view(&h.app, "sign-in required", sign_in_required).await;
    let problem = view.problem.clone().unwrap();
    assert_eq!(problem.code, "sign_in_required");
    // The markup is there as text (the window sets textContent), the rest is one short line.
    assert!(
        problem
            .message
            .contains("<img src=x onerror=alert(1)> [31m w"),
        "{}",
        problem.message
    );
    assert!(
        problem.message.len() < 700,
        "{} bytes",
        problem.message.len()
    );
    assert!(problem.message.contains('…'), "{}", problem.message);
    assert!(
        problem.message.ends_with("sign in again."),
        "{}",
        problem.message
    );
    assert_inert(&view);
    h.app.shutdown().await;
}

#[tokio::test]
async fn a_sign_in_redirected_to_another_host_fails_and_the_password_stays_home() {
    let sim = sim().await;
    let witness = Witness::start().await.unwrap();
    sim.redirect_login(Some(&witness.base_url()));
    let h = Harness::new();

    let err = h
        .app
        .sign_in(form(&sim, "admin", ADMIN_PW))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "redirected", "{err}");
    assert!(err.to_string().contains(&witness.base_url()), "{err}");
    // The redirect was not followed: the other host got nothing, the password least of all.
    let got = witness.requests();
    assert!(got.is_empty(), "{got:?}");
    assert!(!got.iter().any(|r| r.contains(ADMIN_PW)));
    assert_eq!(sim.request_count("/login"), 1);
    assert!(h.app.view().borrow().account.is_none());
    assert_eq!(h.store.len(), 0);
    assert!(!h.dir.path().join("settings.toml").exists());
}

#[tokio::test]
async fn invalid_utf8_is_a_clear_error_at_sign_in_and_ignored_while_running() {
    let sim = sim().await;
    let h = Harness::new();

    sim.invalid_utf8(true);
    let err = h
        .app
        .sign_in(form(&sim, "admin", ADMIN_PW))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_abs", "{err}");

    sim.invalid_utf8(false);
    let before = h.sign_in(&sim, "admin", ADMIN_PW).await;
    sim.invalid_utf8(true);
    h.app.set_watching(true);
    // The poll's reply is unreadable: it fails, is retried (so the failure was handled), and the
    // app shows what it knew, connected.
    let asked = sim.request_count("/api/users/online");
    sim.wait_requests("/api/users/online", asked + 2, WAIT)
        .await
        .unwrap();
    let view = barrier(&sim, &h.app, "after the invalid UTF-8").await;
    assert!(connected(&view));
    assert_eq!(view.snapshot.me, before.snapshot.me);
    assert_eq!(view.problem, None);
    assert_inert(&view);
    h.app.shutdown().await;
}
