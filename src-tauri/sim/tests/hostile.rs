//! The hostile modes on the wire: each lie is told as documented, and the server behaves
//! normally again once it is switched off. `--scenario hostile` runs its rounds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use abs_sim::hostile::{HOSTILE_NAMES, synthetic_user_id};
use abs_sim::{Scenario, SimConfig, Witness};
use common::*;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn ignore_auth_connects_but_never_answers_auth() {
    let sim = start_default().await;
    let token = sim.tokens("root").unwrap().access_token;
    sim.ignore_auth(true);
    let mut s = Sio::connect(&sim).await;
    s.emit("auth", &[json!(token)]);
    // The socket is alive (the ping is answered) but auth got no answer at all.
    assert!(s.barrier().await.is_empty());
    sim.ignore_auth(false);
    let init = s.auth(&token).await;
    assert_eq!(init["username"], "root");
}

#[tokio::test]
async fn reject_auth_refuses_in_its_own_words() {
    let sim = start_default().await;
    let token = sim.tokens("root").unwrap().access_token;
    sim.reject_auth(Some("<b>no</b>\u{202E}"));
    let mut s = Sio::connect(&sim).await;
    s.emit("auth", &[json!(token)]);
    assert_eq!(
        s.wait_arg("auth_failed").await,
        json!({"message": "<b>no</b>\u{202E}"})
    );
    sim.reject_auth(None);
    assert_eq!(s.auth(&token).await["username"], "root");
}

#[tokio::test]
async fn init_as_names_another_user_than_the_token() {
    let sim = start(SimConfig::default().with_user("alice", "pw", false)).await;
    let alice = sim.user_id("alice").unwrap();
    let root_token = sim.tokens("root").unwrap().access_token;
    assert!(sim.init_as(Some("nobody")).is_err());
    sim.init_as(Some("alice")).unwrap();
    let mut s = Sio::connect(&sim).await;
    let init = s.auth(&root_token).await;
    assert_eq!(init["userId"], alice.as_str());
    assert_eq!(init["username"], "alice");
    sim.init_as(None).unwrap();
    let mut s = Sio::connect(&sim).await;
    assert_eq!(s.auth(&root_token).await["username"], "root");
}

#[tokio::test]
async fn redirect_login_sends_sign_ins_to_the_witness() {
    let sim = start_default().await;
    let witness = Witness::start().await.unwrap();
    sim.redirect_login(Some(&witness.base_url()));
    // A client that does not follow redirects sees the 307 and where it points.
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_follow
        .post(format!("{}/login", sim.base_url()))
        .json(&json!({"username": "root", "password": "root"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 307);
    assert_eq!(
        resp.headers()["location"],
        format!("{}/login", witness.base_url()).as_str()
    );
    assert!(witness.requests().is_empty());
    // A naive client follows a 307 with the same body: the password lands on the other host.
    let r = login(&sim, "root", "secret-password", true).await;
    assert_eq!(r.status, 200);
    let got = witness.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].method.as_str(), got[0].uri.as_str()),
        ("POST", "/login")
    );
    assert!(got[0].contains("secret-password"));
    sim.redirect_login(None);
    assert!(login(&sim, "root", "root", true).await.body["user"]["accessToken"].is_string());
}

#[tokio::test]
async fn invalid_utf8_spoils_status_me_and_users_online() {
    let sim = start_default().await;
    let token = sim.tokens("root").unwrap().access_token;
    sim.invalid_utf8(true);
    for path in ["/status", "/api/me", "/api/users/online"] {
        let resp = client()
            .get(format!("{}{path}", sim.base_url()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let bytes = resp.bytes().await.unwrap();
        assert!(std::str::from_utf8(&bytes).is_err(), "{path}");
        assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_err());
    }
    sim.invalid_utf8(false);
    assert_eq!(get(&sim, "/status", "").await.body["app"], "audiobookshelf");
}

#[tokio::test]
async fn fake_users_online_fill_init_and_the_rest_list() {
    let sim = start_default().await;
    let token = sim.tokens("root").unwrap().access_token;
    sim.fake_users_online(1_000);
    let mut s = Sio::connect(&sim).await;
    let init = s.auth(&token).await;
    let online = init["usersOnline"].as_array().unwrap();
    assert_eq!(online.len(), 1_001, "root and the synthetic users");
    assert!(
        online
            .iter()
            .any(|u| u["id"] == synthetic_user_id(999).as_str())
    );
    let list = get(&sim, "/api/users/online", &token).await.body;
    assert_eq!(list["usersOnline"].as_array().unwrap().len(), 1_001);
}

#[tokio::test]
async fn the_hostile_scenario_creates_hostile_users_and_floods() {
    let sim = abs_sim::start(SimConfig {
        scenario: "hostile".parse::<Scenario>().unwrap(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let token = sim.tokens("root").unwrap().access_token;
    let mut events = sim.events();
    let mut s = Sio::connect(&sim).await;
    s.auth(&token).await;
    // The first round: sessions of users with hostile names, the huge message, the flood.
    let started = events.wait_named("user_stream_update", WAIT).await.unwrap();
    let name = started.payload.unwrap()["username"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(HOSTILE_NAMES.contains(&name.as_str()) || name.starts_with("long "));
    let huge = events
        .wait_for(WAIT, "the 10 MB admin message", |e| {
            e.name == "admin_message"
                && e.payload
                    .as_ref()
                    .and_then(|p| p.as_str())
                    .is_some_and(|t| t.len() >= 10 * 1024 * 1024)
        })
        .await
        .unwrap();
    assert!(!huge.socket_ids.is_empty());
    events
        .wait_for(WAIT, "the flood", |e| {
            e.name == "user_online"
                && e.payload.as_ref().is_some_and(|p| {
                    p["id"]
                        .as_str()
                        .is_some_and(|id| id.starts_with("hostile-user-"))
                })
        })
        .await
        .unwrap();
    sim.shutdown().await;
}
