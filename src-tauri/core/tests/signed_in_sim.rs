//! The app's real sign-in ([`SignedIn`] over a [`TokenManager`], tokens in a [`MemoryStore`])
//! driving the real connection task against the simulator: an expiring token is refreshed
//! before the socket signs in, the rotated refresh token is stored, a revoked sign-in ends in
//! "sign-in required" without a storm of sign-in requests, and legacy servers and API keys
//! connect. Requests are counted on the simulator's side.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns are test code too: a panic is a test failure"
)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use abs_sim::{ServerVersion as SimVersion, Sim, SimConfig};
use abs_tray_core::auth::{AbsClient, TokenManager, is_refresh_token};
use abs_tray_core::backoff::Backoff;
use abs_tray_core::connection::{
    self, ConnectionConfig, ConnectionHandle, ConnectionStatus, Timings,
};
use abs_tray_core::credentials::SignedIn;
use abs_tray_core::secret::Secret;
use abs_tray_core::server_url::ServerUrl;
use abs_tray_core::tls::TlsConfig;
use abs_tray_core::token_store::{Account, AsyncTokenStore, MemoryStore, TokenStore};

const PASSWORD: &str = "alice's password";
/// Generous limit for anything that should take milliseconds.
const WAIT: Duration = Duration::from_secs(5);

async fn sim_with(config: SimConfig) -> (Sim, ServerUrl) {
    let sim = abs_sim::start(config.with_user("alice", PASSWORD, false))
        .await
        .unwrap();
    let url = ServerUrl::parse(&sim.base_url()).unwrap();
    (sim, url)
}

fn manager(url: &ServerUrl, store: &Arc<MemoryStore>) -> TokenManager {
    TokenManager::new(
        AbsClient::new(url.clone(), &TlsConfig::system().unwrap()).unwrap(),
        AsyncTokenStore::new(store.clone()),
        Account::new(url, "alice"),
    )
}

fn stored(store: &MemoryStore, url: &ServerUrl) -> Option<Secret> {
    store.get(&Account::new(url, "alice")).unwrap()
}

/// The app's connection settings with short liveness limits, so failures show in a fraction of a second.
fn config(url: &ServerUrl, version: &str) -> ConnectionConfig {
    ConnectionConfig {
        socket_url: url.socket_url(),
        tls: Some(TlsConfig::system().unwrap().connector()),
        server_version: Some(version.into()),
        socket_daily_logs: false,
        timings: Timings {
            ping_interval: Duration::from_millis(300),
            pong_timeout: Duration::from_millis(300),
            connect_timeout: Duration::from_secs(1),
            auth_timeout: Duration::from_secs(1),
            ..Timings::default()
        },
    }
}

async fn wait_status(
    handle: &ConnectionHandle,
    what: &str,
    pred: impl Fn(&ConnectionStatus) -> bool,
) -> ConnectionStatus {
    let mut status = handle.status();
    let found = tokio::time::timeout(WAIT, async {
        status.wait_for(|s| pred(s)).await.map(|s| s.clone())
    })
    .await;
    match found {
        Ok(found) => found.unwrap(),
        Err(_) => panic!(
            "no {what} within {WAIT:?}; last: {:?}",
            *handle.status().borrow()
        ),
    }
}

async fn wait_connected(handle: &ConnectionHandle) -> String {
    match wait_status(handle, "connected", |s| {
        matches!(s, ConnectionStatus::Connected { .. })
    })
    .await
    {
        ConnectionStatus::Connected { username, .. } => username,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn an_expiring_access_token_is_refreshed_before_the_socket_signs_in() {
    // A 60 s token received 50 s ago is in the last quarter of its life: about to expire.
    let (sim, url) = sim_with(SimConfig {
        access_ttl: Duration::from_secs(60),
        ..SimConfig::default()
    })
    .await;
    let store = Arc::new(MemoryStore::new());
    let tokens = manager(&url, &store);
    let mut session = tokens.sign_in(&Secret::new(PASSWORD)).await.unwrap();
    assert!(!session.needs_refresh(SystemTime::now()));
    session.received_at -= Duration::from_secs(50);
    assert!(session.needs_refresh(SystemTime::now()));
    let signed_in_with = stored(&store, &url).unwrap();
    // And the server no longer takes it: a socket `auth` with it would get `auth_failed`.
    sim.expire_access_tokens();
    let mut sim_events = sim.events();
    assert_eq!(sim.request_count("/auth/refresh"), 0);

    let (handle, _events, _task) =
        connection::spawn(config(&url, "2.36.0"), SignedIn::new(tokens, Some(session)));
    assert_eq!(wait_connected(&handle).await, "alice");

    let emitted = sim_events
        .collect_until(WAIT, "init", |e| e.name == "init")
        .await
        .unwrap();
    assert!(
        emitted.iter().all(|e| e.name != "auth_failed"),
        "the socket accepted the first token: {:?}",
        emitted.iter().map(|e| &e.name).collect::<Vec<_>>()
    );
    assert_eq!(
        sim.request_count("/auth/refresh"),
        1,
        "one refresh, before connecting"
    );
    // The rotated refresh token replaced the one the sign-in stored.
    let rotated = stored(&store, &url).unwrap();
    assert_ne!(rotated, signed_in_with);
    assert!(is_refresh_token(&rotated));
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn resuming_from_the_store_persists_the_rotated_refresh_token() {
    let (sim, url) = sim_with(SimConfig::default()).await;
    let store = Arc::new(MemoryStore::new());
    manager(&url, &store)
        .sign_in(&Secret::new(PASSWORD))
        .await
        .unwrap();
    let before = stored(&store, &url).unwrap();

    // As after a restart: nothing in memory, only the stored refresh token.
    let (handle, _events, _task) = connection::spawn(
        config(&url, "2.36.0"),
        SignedIn::new(manager(&url, &store), None),
    );
    wait_connected(&handle).await;
    assert_eq!(sim.request_count("/auth/refresh"), 1);
    let after = stored(&store, &url).unwrap();
    assert_ne!(after, before, "the rotated token is stored");
    // The stored token is the live one: the server refreshes it (old ones only within the grace).
    let client = AbsClient::new(url.clone(), &TlsConfig::system().unwrap()).unwrap();
    let again = client.refresh(&after).await.unwrap();
    assert_eq!(again.username, "alice");
}

#[tokio::test]
async fn a_revoked_sign_in_requires_sign_in_and_stops_asking_the_server() {
    let (sim, url) = sim_with(SimConfig::default()).await;
    let store = Arc::new(MemoryStore::new());
    let tokens = manager(&url, &store);
    let session = tokens.sign_in(&Secret::new(PASSWORD)).await.unwrap();
    let (handle, _events, _task) =
        connection::spawn(config(&url, "2.36.0"), SignedIn::new(tokens, Some(session)));
    wait_connected(&handle).await;
    let logins = sim.request_count("/login");
    let refreshes = sim.request_count("/auth/refresh");

    sim.revoke_tokens("alice").unwrap();
    sim.drop_sockets();
    let status = wait_status(&handle, "sign-in required", |s| {
        matches!(s, ConnectionStatus::SignInRequired { .. })
    })
    .await;
    assert!(
        matches!(&status, ConnectionStatus::SignInRequired { reason } if reason.contains("Invalid refresh token")),
        "{status:?}"
    );
    assert_eq!(
        sim.request_count("/auth/refresh"),
        refreshes + 1,
        "one refresh was tried after auth_failed"
    );

    // Proving absence takes a wait: 2 s, at least four retries had the quick phase (delays of
    // at most half of QUICK_MAX) still been running.
    let mut sim_events = sim.events();
    tokio::time::sleep(Backoff::QUICK_MAX * 2).await;
    assert_eq!(
        sim.request_count("/auth/refresh"),
        refreshes + 1,
        "no more refreshes"
    );
    assert_eq!(
        sim.request_count("/login"),
        logins,
        "never a password sign-in by itself"
    );
    assert!(
        sim_events.drain().iter().all(|e| e.name != "(connect)"),
        "no new socket"
    );
    assert!(matches!(
        *handle.status().borrow(),
        ConnectionStatus::SignInRequired { .. }
    ));
    // The dead token is left for the user's next sign-in to replace; nothing was deleted.
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn a_legacy_server_connects_with_the_legacy_token() {
    let (sim, url) = sim_with(SimConfig::default().with_version(SimVersion::new(2, 25, 0))).await;
    let store = Arc::new(MemoryStore::new());
    let session = manager(&url, &store)
        .sign_in(&Secret::new(PASSWORD))
        .await
        .unwrap();
    assert_eq!(session.refresh, None);
    assert_eq!(session.access_expires_at, None);
    assert_eq!(stored(&store, &url), Some(session.access.clone()));

    let mut sim_events = sim.events();
    let (handle, _events, _task) = connection::spawn(
        config(&url, "2.25.0"),
        SignedIn::new(manager(&url, &store), None),
    );
    assert_eq!(wait_connected(&handle).await, "alice");
    let emitted = sim_events
        .collect_until(WAIT, "init", |e| e.name == "init")
        .await
        .unwrap();
    assert!(emitted.iter().all(|e| e.name != "invalid_token"));
    assert_eq!(sim.request_count("/auth/refresh"), 0);
    assert_eq!(stored(&store, &url), Some(session.access));
}

/// Creates an active API key for alice as root, through the REST API like an admin would.
async fn api_key_for_alice(sim: &Sim, url: &ServerUrl) -> Secret {
    let root = sim.tokens("root").unwrap();
    let body = serde_json::json!({
        "name": "signed_in_sim",
        "userId": sim.user_id("alice").unwrap(),
        "isActive": true,
    });
    let reply = reqwest::Client::new()
        .post(url.rest("/api/api-keys"))
        .bearer_auth(root.access_token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
    Secret::new(reply["apiKey"]["apiKey"].as_str().unwrap())
}

#[tokio::test]
async fn an_api_key_sign_in_connects() {
    let (sim, url) = sim_with(SimConfig::default()).await;
    let key = api_key_for_alice(&sim, &url).await;
    let store = Arc::new(MemoryStore::new());
    manager(&url, &store)
        .sign_in_with_api_key(&key)
        .await
        .unwrap();
    assert_eq!(stored(&store, &url), Some(key.clone()));

    let (handle, _events, _task) = connection::spawn(
        config(&url, "2.36.0"),
        SignedIn::new(manager(&url, &store), None),
    );
    assert_eq!(wait_connected(&handle).await, "alice");
    assert_eq!(sim.request_count("/auth/refresh"), 0);
    assert_eq!(
        sim.request_count("/api/authorize"),
        2,
        "sign-in, then the exchange for the socket's legacy token"
    );
    assert_eq!(
        stored(&store, &url),
        Some(key),
        "the key itself stays stored"
    );
}
