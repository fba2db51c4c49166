//! Restarts, persistence, dropped and stalled connections, the control API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use abs_sim::SimConfig;
use common::*;
use serde_json::json;

/// Waits until the simulator listens again (it comes back on a timer).
async fn wait_until_up(sim: &abs_sim::Sim) {
    tokio::time::timeout(WAIT, sim.listening())
        .await
        .expect("server comes back");
}

#[tokio::test]
async fn restart_after_comes_back_on_the_same_port_and_tokens_stay_valid() {
    let sim = start_default().await;
    let root = sim.tokens("root").unwrap();
    let addr = sim.addr();
    let mut s = Sio::connect(&sim).await;
    s.auth(&root.access_token).await;
    let item = sim.item_ids()[0].clone();
    sim.start_session("root", &item, "dev").unwrap();

    let mut events = sim.events();
    sim.restart_after(Duration::from_secs(1)).await.unwrap();
    assert!(!sim.is_listening());
    let refused = client()
        .get(format!("{}/status", sim.base_url()))
        .send()
        .await;
    assert!(refused.is_err(), "port closed");
    s.closed().await;

    wait_until_up(&sim).await;
    assert_eq!(sim.addr(), addr);
    assert!(sim.is_listening());
    // A restart emits nothing to clients (no user_offline), and forgets open sessions.
    let emitted: Vec<_> = events
        .drain()
        .into_iter()
        .filter(|e| !e.name.starts_with('('))
        .map(|e| e.name)
        .collect();
    assert!(emitted.is_empty(), "{emitted:?}");
    assert!(sim.open_session_ids().is_empty());
    let mut s = Sio::connect(&sim).await;
    let init = s.auth(&root.access_token).await;
    assert_eq!(init["username"], "root");
    let url = format!("{}/auth/refresh", sim.base_url());
    let r = send(
        client()
            .post(url)
            .header("x-refresh-token", &root.refresh_token),
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn data_dir_keeps_users_secret_and_refresh_sessions() {
    let dir = std::env::temp_dir().join(format!("abs-sim-test-{}", uuid::Uuid::new_v4()));
    let cfg = SimConfig {
        data_dir: Some(dir.clone()),
        ..SimConfig::default()
    }
    .with_user("alice", "pw", false);
    let sim = start(cfg.clone()).await;
    let r = login(&sim, "alice", "pw", true).await;
    let access = r.body["user"]["accessToken"].as_str().unwrap().to_string();
    let refresh = r.body["user"]["refreshToken"].as_str().unwrap().to_string();
    let legacy = r.body["user"]["token"].as_str().unwrap().to_string();
    let item = sim.item_ids()[0].clone();
    let addr = sim.addr();
    sim.shutdown().await;

    let again = start(SimConfig {
        listen: addr,
        ..cfg
    })
    .await;
    assert_eq!(again.addr(), addr);
    assert_eq!(again.item_ids()[0], item, "same library");
    assert_eq!(get(&again, "/api/me", &access).await.status, 200);
    assert_eq!(get(&again, "/api/me", &legacy).await.status, 200);
    let mut s = Sio::connect(&again).await;
    assert_eq!(s.auth(&access).await["username"], "alice");
    let url = format!("{}/auth/refresh", again.base_url());
    let r = send(client().post(url).header("x-refresh-token", &refresh)).await;
    assert_eq!(r.status, 200);
    again.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn drop_sockets_emits_user_offline_per_socket() {
    let sim = start_default().await;
    sim.add_user("alice", "pw", false).unwrap();
    let alice = sim.tokens("alice").unwrap();
    let mut a1 = Sio::connect(&sim).await;
    a1.auth(&alice.access_token).await;
    let mut a2 = Sio::connect(&sim).await;
    a2.auth(&alice.access_token).await;
    let mut events = sim.events();
    sim.drop_sockets();
    a1.closed().await;
    a2.closed().await;
    for _ in 0..2 {
        let ev = events.wait_named("user_offline", WAIT).await.unwrap();
        assert_eq!(ev.payload.unwrap()["username"], "alice");
    }
    // The server keeps listening.
    let mut s = Sio::connect(&sim).await;
    s.auth(&alice.access_token).await;
}

#[tokio::test]
async fn stall_accepts_but_answers_nothing() {
    let sim = start_default().await;
    sim.stall(true);
    let r = client()
        .get(format!("{}/status", sim.base_url()))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(r.unwrap_err().is_timeout());
    sim.stall(false);
    let r = client()
        .get(format!("{}/status", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn control_api_mirrors_the_rust_api() {
    let sim = start(SimConfig {
        control: true,
        ..SimConfig::default()
    })
    .await;
    let base = sim.base_url();
    let c = client();
    let root = sim.tokens("root").unwrap();
    let mut admin = Sio::connect(&sim).await;
    admin.auth(&root.access_token).await;

    let r = send(
        c.post(format!("{base}/__sim/users"))
            .json(&json!({"username": "zoe", "password": "pw"})),
    )
    .await;
    let zoe = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(admin.wait_arg("user_added").await["id"], json!(zoe));
    let r = send(
        c.post(format!("{base}/__sim/sessions/start"))
            .json(&json!({"user": "zoe"})),
    )
    .await;
    let sid = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        admin.wait_arg("user_stream_update").await["session"]["id"],
        json!(sid)
    );
    let r = send(
        c.post(format!("{base}/__sim/sessions/sync"))
            .json(&json!({"id": sid, "currentTime": 12.5})),
    )
    .await;
    assert_eq!(r.status, 200);
    send(
        c.post(format!("{base}/__sim/sessions/close"))
            .json(&json!({"id": sid})),
    )
    .await;
    admin.wait("user_stream_update").await;
    let r = send(c.post(format!("{base}/__sim/scan/start")).json(&json!({}))).await;
    let task = r.body["taskId"].as_str().unwrap().to_string();
    admin.wait("task_started").await;
    send(
        c.post(format!("{base}/__sim/scan/finish"))
            .json(&json!({"task": task, "added": 2})),
    )
    .await;
    assert_eq!(
        admin.wait_arg("task_finished").await["data"]["scanResults"]["added"],
        2
    );
    let r = send(
        c.post(format!("{base}/__sim/watcher-scan/start"))
            .json(&json!({})),
    )
    .await;
    let task = r.body["taskId"].as_str().unwrap().to_string();
    assert_eq!(
        admin.wait_arg("task_started").await["action"],
        "watcher-scan"
    );
    send(
        c.post(format!("{base}/__sim/scan/finish"))
            .json(&json!({"task": task, "removed": 1})),
    )
    .await;
    assert_eq!(
        admin.wait_arg("task_finished").await["data"]["scanResults"]["removed"],
        1
    );
    send(
        c.post(format!("{base}/__sim/admin-message"))
            .json(&json!({"message": "hi"})),
    )
    .await;
    assert_eq!(admin.wait_arg("admin_message").await, "hi");
    let r = send(
        c.post(format!("{base}/__sim/sessions/sync"))
            .json(&json!({"id": "nope", "currentTime": 1})),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = send(c.post(format!("{base}/__sim/users")).body("not json")).await;
    assert_eq!(r.status, 400);
    let state = send(c.get(format!("{base}/__sim/state"))).await;
    assert!(
        state.body["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == "zoe")
    );

    // Without --control the routes do not exist.
    let plain = start_default().await;
    let r = send(client().get(format!("{}/__sim/state", plain.base_url()))).await;
    assert_eq!(r.status, 404);
}
