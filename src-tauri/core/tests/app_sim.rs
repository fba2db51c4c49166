//! The desktop app's core façade ([`App`]) against the simulator: sign-in saves the account but
//! never a secret, the view follows the server (sessions, broadcasts, scans), admin actions are
//! refused to others, sign-out forgets the credential, a saved account resumes from the store,
//! the demo saves nothing, a broken settings file is shown and kept, and pauses persist.
#![allow(
    clippy::unwrap_used,
    missing_docs,
    reason = "helpers outside #[test] fns are test code too: a panic is a test failure"
)]

use std::sync::Arc;

use abs_sim::front::{Front, FrontConfig, self_signed};
use abs_sim::{DeviceSpec, Sim};
use abs_tray_core::app::{Pause, SignInForm};
use abs_tray_core::auth::is_refresh_token;
use abs_tray_core::config::SettingsFile;
use abs_tray_core::connection::ConnectionStatus;
use abs_tray_core::doctor::{Step, Verdict};
use abs_tray_core::happening::Happening;
use abs_tray_core::token_store::{MemoryStore, StoreError};
use serde_json::json;

mod app_harness;

use app_harness::*;

#[tokio::test]
async fn a_password_sign_in_saves_the_account_and_never_a_secret() {
    let sim = sim().await;
    let h = Harness::new();
    assert!(h.app.view().borrow().account.is_none());

    let view = h.sign_in(&sim, "admin", ADMIN_PW).await;
    let account = view.account.clone().unwrap();
    assert_eq!(account.username, "admin");
    assert_eq!(account.server_url, sim.base_url());
    assert!(!view.demo);
    assert!(view.snapshot.me.as_ref().unwrap().is_admin);
    assert_eq!(view.problem, None);
    assert_eq!(h.app.server_page(), Some(format!("{}/", sim.base_url())));

    let saved = h.saved();
    assert_eq!(saved.server_url.unwrap().to_string(), sim.base_url());
    assert_eq!(saved.username.as_deref(), Some("admin"));
    let refresh = h.stored(&sim, "admin").unwrap();
    assert!(is_refresh_token(&abs_tray_core::secret::Secret::new(
        refresh.clone()
    )));
    assert_eq!(h.store.len(), 1);

    // Neither the file nor the view holds a token (access and refresh tokens are JWTs) or the password.
    let text = h.settings_text();
    let json = serde_json::to_string(&*h.app.view().borrow()).unwrap();
    for (name, haystack) in [("settings.toml", &text), ("the view", &json)] {
        for secret in [refresh.as_str(), "eyJ", ADMIN_PW] {
            assert!(!haystack.contains(secret), "{name} contains {secret:?}");
        }
    }
    h.app.shutdown().await;
}

#[tokio::test]
async fn a_session_started_on_the_server_shows_in_the_view() {
    let sim = sim().await;
    let h = Harness::new();
    h.sign_in(&sim, "admin", ADMIN_PW).await;
    h.app.set_watching(true);
    let item = sim.item_ids()[0].clone();
    let session = sim
        .start_session("alice", &item, DeviceSpec::id("phone"))
        .unwrap();

    let view = wait_view(&h.app, "alice listening", |v| {
        v.snapshot.listening.iter().any(|l| l.session_id == session)
    })
    .await;
    let listening = &view.snapshot.listening[0];
    assert_eq!(listening.user.username, "alice");
    assert_eq!(listening.item_id, item);
    h.app.shutdown().await;
}

#[tokio::test]
async fn an_admin_broadcast_comes_back_as_an_admin_message() {
    let sim = sim().await;
    let h = Harness::new();
    h.sign_in(&sim, "admin", ADMIN_PW).await;

    let empty = h.app.broadcast("  \n ".into()).await.unwrap_err();
    assert_eq!(empty.code(), "empty_message");
    h.app
        .broadcast("  The server restarts at noon ".into())
        .await
        .unwrap();
    wait_view(&h.app, "the admin message in the activity", |v| {
        v.snapshot.activity.iter().any(|a| {
            matches!(&a.happening, Happening::AdminMessage { text } if text == "The server restarts at noon")
        })
    })
    .await;
    h.app.shutdown().await;
}

#[tokio::test]
async fn cancelling_a_scan_ends_it() {
    let sim = sim().await;
    let h = Harness::new();
    h.sign_in(&sim, "admin", ADMIN_PW).await;
    let library = sim.library_id();
    sim.start_scan(&library).unwrap();
    wait_view(&h.app, "the scan", |v| {
        v.snapshot
            .scans
            .iter()
            .any(|s| s.library_id.as_deref() == Some(library.as_str()))
    })
    .await;

    h.app.cancel_scan(library.clone()).await.unwrap();
    // ABS ends a cancelled scan as finished (not failed), with nothing added.
    let view = wait_view(&h.app, "no scan and its end in the activity", |v| {
        v.snapshot.scans.is_empty()
            && v.snapshot.activity.iter().any(|a| {
                matches!(&a.happening, Happening::ScanFinished { library_id, added: 0, .. } if *library_id == library)
            })
    })
    .await;
    assert!(view.snapshot.scans.is_empty());
    assert_eq!(
        h.app.cancel_scan(String::new()).await.map_err(|e| e.code()),
        Ok(()),
        "a scan that does not run is nothing to refuse"
    );
    h.app.shutdown().await;
}

#[tokio::test]
async fn admin_actions_are_refused_to_other_users() {
    let sim = sim().await;
    let h = Harness::new();
    let view = h.sign_in(&sim, "alice", ALICE_PW).await;
    assert!(!view.snapshot.me.as_ref().unwrap().is_admin);

    let refused = h.app.broadcast("hello".into()).await.unwrap_err();
    assert_eq!(refused.code(), "not_admin");
    let json = serde_json::to_value(&refused).unwrap();
    assert_eq!(json["code"], "not_admin");
    assert_eq!(json["message"], "Only an admin of the server can do this.");
    assert_eq!(
        h.app
            .cancel_scan(sim.library_id())
            .await
            .unwrap_err()
            .code(),
        "not_admin"
    );
    assert_eq!(
        h.app.set_log_level(Some(2)).await.unwrap_err().code(),
        "not_admin"
    );
    h.app.shutdown().await;
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_nothing_is_saved() {
    let sim = sim().await;
    let h = Harness::new();
    let err = h
        .app
        .sign_in(form(&sim, "alice", "not her password"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "bad_credentials");
    let empty = h.app.sign_in(form(&sim, "alice", "")).await.unwrap_err();
    assert_eq!(empty.code(), "missing_credentials");
    let nowhere = h
        .app
        .sign_in(form(&sim, "alice", ALICE_PW).with_server("ftp://example.com"))
        .await
        .unwrap_err();
    assert_eq!(nowhere.code(), "invalid_address");

    assert!(h.app.view().borrow().account.is_none());
    assert!(h.store.is_empty());
    assert!(!h.dir.path().join("settings.toml").exists());
    assert_eq!(h.app.reconnect().await.unwrap_err().code(), "not_signed_in");
    assert_eq!(h.app.server_page(), None);
}

/// Changes the form's server (the tests' only other form).
trait WithServer {
    fn with_server(self, server: &str) -> Self;
}

impl WithServer for SignInForm {
    fn with_server(mut self, server: &str) -> Self {
        self.server = server.into();
        self
    }
}

#[tokio::test]
async fn signing_out_deletes_the_credential_and_forgets_the_user() {
    let sim = sim().await;
    let h = Harness::new();
    h.sign_in(&sim, "alice", ALICE_PW).await;
    assert_eq!(h.store.len(), 1);

    h.app.sign_out().await.unwrap();
    let view = h.app.view().borrow().clone();
    assert!(view.account.is_none());
    assert!(matches!(
        view.snapshot.connection,
        ConnectionStatus::Stopped
    ));
    assert!(h.store.is_empty());
    assert_eq!(sim.request_count("/logout"), 1);
    let saved = h.saved();
    assert_eq!(saved.username, None);
    assert_eq!(saved.server_url.unwrap().to_string(), sim.base_url());
    assert_eq!(h.app.server_page(), None);
    // The form gets the last address back, now and after a restart.
    assert_eq!(view.last_server.as_deref(), Some(sim.base_url().as_str()));
    h.app.shutdown().await;
    let restarted = start(h.dir.path(), &h.store);
    let view = restarted.view().borrow().clone();
    assert!(view.account.is_none());
    assert_eq!(view.last_server.as_deref(), Some(sim.base_url().as_str()));
}

#[tokio::test]
async fn an_address_without_a_scheme_finds_plain_http_and_says_so() {
    let sim = sim().await;
    let h = Harness::new();
    let bare = sim.base_url().trim_start_matches("http://").to_owned();
    h.app
        .sign_in(form(&sim, "alice", ALICE_PW).with_server(&bare))
        .await
        .unwrap();
    let view = wait_view(&h.app, "connected", connected).await;
    let account = view.account.unwrap();
    assert_eq!(account.server_url, sim.base_url());
    assert_eq!(
        account.transport_note.as_deref(),
        Some("Connected over http: not encrypted.")
    );
    assert_eq!(h.saved().server_url.unwrap().to_string(), sim.base_url());
    h.app.shutdown().await;
}

#[tokio::test]
async fn an_explicit_https_never_falls_back_to_http() {
    let sim = sim().await;
    let h = Harness::new();
    let https = sim.base_url().replace("http://", "https://");
    let err = h
        .app
        .sign_in(form(&sim, "alice", ALICE_PW).with_server(&https))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "tls", "{err:?}");
    assert!(err.diagnose());
    assert!(h.app.view().borrow().account.is_none());
    assert_eq!(sim.request_count("/login"), 0);
}

#[tokio::test]
async fn a_saved_account_resumes_from_the_store() {
    let sim = sim().await;
    let h = Harness::new();
    h.sign_in(&sim, "alice", ALICE_PW).await;
    h.app.shutdown().await;
    let refreshes = sim.request_count("/auth/refresh");

    let again = start(h.dir.path(), &h.store);
    assert_eq!(
        again
            .view()
            .borrow()
            .account
            .as_ref()
            .map(|a| a.username.clone()),
        Some("alice".into())
    );
    let view = wait_view(&again, "connected", connected).await;
    assert_eq!(view.snapshot.me.as_ref().unwrap().username, "alice");
    assert_eq!(sim.request_count("/auth/refresh"), refreshes + 1);
    // The rotated refresh token was stored.
    assert_eq!(h.store.len(), 1);
    again.shutdown().await;
}

#[tokio::test]
async fn a_locked_keyring_is_named_and_the_account_connects_once_it_opens() {
    let sim = sim().await;
    let h = Harness::new();
    h.sign_in(&sim, "alice", ALICE_PW).await;
    h.app.shutdown().await;

    h.store.fail_with(Some(StoreError::Locked {
        detail: "test".into(),
    }));
    let again = start(h.dir.path(), &h.store);
    let view = wait_view(&again, "the keyring problem", |v| v.problem.is_some()).await;
    assert_eq!(view.problem.unwrap().code, "keyring_locked");
    assert!(view.account.is_some());

    h.store.fail_with(None);
    again.reconnect().await.unwrap();
    let view = wait_view(&again, "connected", connected).await;
    assert_eq!(view.problem, None);
    again.shutdown().await;
}

#[tokio::test]
async fn the_demo_saves_nothing() {
    let sim = sim().await;
    let h = Harness::new();
    h.app
        .sign_in_demo(&sim.base_url(), "admin", ADMIN_PW)
        .await
        .unwrap();
    let view = wait_view(&h.app, "connected", connected).await;
    assert!(view.demo);
    assert_eq!(view.account.unwrap().username, "admin");

    // Pausing in the demo works, but is not saved either.
    h.app.pause(Pause::Hour).unwrap();
    assert!(h.app.view().borrow().paused_until_ms.is_some());
    assert!(!h.dir.path().join("settings.toml").exists());
    assert!(h.store.is_empty());

    h.app.sign_out().await.unwrap();
    let view = h.app.view().borrow().clone();
    assert!(view.account.is_none() && !view.demo);
    assert!(!h.dir.path().join("settings.toml").exists());
    assert!(h.store.is_empty());
}

#[tokio::test]
async fn a_real_sign_in_replaces_the_demo() {
    let sim = sim().await;
    let h = Harness::new();
    h.app
        .sign_in_demo(&sim.base_url(), "admin", ADMIN_PW)
        .await
        .unwrap();
    wait_view(&h.app, "connected", connected).await;

    let view = h.sign_in(&sim, "alice", ALICE_PW).await;
    assert!(!view.demo);
    assert_eq!(view.snapshot.me.unwrap().username, "alice");
    assert_eq!(h.saved().username.as_deref(), Some("alice"));
    assert_eq!(h.store.len(), 1);
    // The demo's session was ended on the server.
    assert_eq!(sim.request_count("/logout"), 1);
    h.app.shutdown().await;
}

#[tokio::test]
async fn a_broken_settings_file_is_shown_and_kept_until_fixed() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.toml");
    let broken = "server_url = \"http://127.0.0.1:1\"\nusername = [\n";
    std::fs::write(&path, broken).unwrap();
    let store = Arc::new(MemoryStore::new());
    let app = start(dir.path(), &store);

    let view = app.view().borrow().clone();
    let problem = view.problem.unwrap();
    assert_eq!(problem.code, "config_invalid");
    assert!(
        problem.message.contains("settings.toml"),
        "{}",
        problem.message
    );
    assert!(view.account.is_none());

    assert_eq!(
        app.pause(Pause::Hour).unwrap_err().code(),
        "config_broken_kept"
    );
    assert_eq!(
        app.save_notification_settings(json!({"milestones": true}))
            .unwrap_err()
            .code(),
        "config_broken_kept"
    );
    let refused = app
        .sign_in(form(&sim, "alice", ALICE_PW))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "config_invalid");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
    assert!(store.is_empty());

    // Fixed by hand, the file is loaded again at the next sign-in.
    std::fs::write(&path, "[notifications]\nmilestones = true\n").unwrap();
    app.sign_in(form(&sim, "alice", ALICE_PW)).await.unwrap();
    let view = wait_view(&app, "connected", connected).await;
    assert_eq!(view.problem, None);
    assert_eq!(view.notifications["milestones"], true);
    let saved = SettingsFile::in_dir(dir.path()).load().unwrap();
    assert_eq!(saved.username.as_deref(), Some("alice"));
    assert_eq!(saved.notifications["milestones"].as_bool(), Some(true));
    app.shutdown().await;
}

#[tokio::test]
async fn a_pause_is_saved_and_survives_a_restart() {
    let h = Harness::new();
    let before = chrono::Utc::now().timestamp_millis();
    h.app.pause(Pause::Hour).unwrap();
    let until = h.app.view().borrow().paused_until_ms.unwrap();
    assert!(
        (before + 3_599_000..=before + 3_700_000).contains(&until),
        "{until}"
    );
    assert_eq!(
        h.saved().notifications["paused_until_ms"].as_integer(),
        Some(until)
    );
    assert_eq!(
        h.app.view().borrow().notifications["paused_until_ms"],
        until
    );

    let again = start(h.dir.path(), &h.store);
    assert_eq!(again.view().borrow().paused_until_ms, Some(until));
    again.pause(Pause::UntilTomorrow).unwrap();
    assert!(again.view().borrow().paused_until_ms.unwrap() > before);
    again.pause(Pause::Resume).unwrap();
    assert_eq!(again.view().borrow().paused_until_ms, None);
    assert!(!h.saved().notifications.contains_key("paused_until_ms"));
}

#[tokio::test]
async fn notification_settings_are_checked_saved_and_kept_with_the_pause() {
    let h = Harness::new();
    h.app.pause(Pause::Hour).unwrap();
    let paused = h.app.view().borrow().paused_until_ms;
    let mut views = h.app.view();
    views.borrow_and_update();

    let bad = h
        .app
        .save_notification_settings(json!({"presence": "yes"}))
        .unwrap_err();
    assert_eq!(bad.code(), "invalid_settings");
    assert_eq!(
        h.app
            .save_notification_settings(json!(["not", "an", "object"]))
            .unwrap_err()
            .code(),
        "invalid_settings"
    );
    assert!(!views.has_changed().unwrap());

    let mut form = h.app.view().borrow().notifications.clone();
    form["milestones"] = json!(true);
    form["quiet_hours"] = json!({"start": "22:00", "end": "07:00"});
    form.as_object_mut().unwrap().remove("paused_until_ms");
    h.app.save_notification_settings(form).unwrap();
    assert!(views.has_changed().unwrap());
    let view = h.app.view().borrow().clone();
    assert_eq!(view.notifications["milestones"], true);
    assert_eq!(view.notifications["quiet_hours"]["start"], "22:00");
    assert_eq!(view.paused_until_ms, paused);
    let saved = h.saved();
    assert_eq!(saved.notifications["milestones"].as_bool(), Some(true));
    assert_eq!(saved.notifications["paused_until_ms"].as_integer(), paused);
}

/// Creates an active API key for alice as root, through the REST API like an admin would.
async fn api_key_for_alice(sim: &Sim) -> String {
    let root = sim.tokens("root").unwrap();
    let body = json!({
        "name": "app_sim",
        "userId": sim.user_id("alice").unwrap(),
        "isActive": true,
    });
    let reply = reqwest::Client::new()
        .post(format!("{}/api/api-keys", sim.base_url()))
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
    reply["apiKey"]["apiKey"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_api_key_names_its_user_and_stays_in_the_store_only() {
    let sim = sim().await;
    let h = Harness::new();
    let key = api_key_for_alice(&sim).await;
    // Exactly what the window's form sends in API-key mode (ui/js/signin.js).
    let form: SignInForm = serde_json::from_value(json!({
        "server": sim.base_url(),
        "username": null,
        "password": null,
        "apiKey": key,
    }))
    .unwrap();
    assert!(!format!("{form:?}").contains(&key));
    h.app.sign_in(form).await.unwrap();
    let view = wait_view(&h.app, "connected", connected).await;
    assert_eq!(view.account.unwrap().username, "alice");
    assert_eq!(h.stored(&sim, "alice"), Some(key.clone()));
    let saved = h.saved();
    assert_eq!(saved.username.as_deref(), Some("alice"));
    assert_eq!(saved.auth_kind, abs_tray_core::config::AuthKind::ApiKey);
    assert!(!h.settings_text().contains(&key));
    let json = serde_json::to_string(&*h.app.view().borrow()).unwrap();
    assert!(!json.contains(&key) && !json.contains("eyJ"));
    h.app.shutdown().await;
}

#[tokio::test]
async fn a_revoked_sign_in_shows_as_a_problem() {
    let sim = sim().await;
    let h = Harness::new();
    h.sign_in(&sim, "alice", ALICE_PW).await;
    sim.revoke_tokens("alice").unwrap();
    sim.drop_sockets();
    let view = wait_view(&h.app, "sign-in required", |v| v.problem.is_some()).await;
    assert_eq!(view.problem.unwrap().code, "sign_in_required");
    assert!(matches!(
        view.snapshot.connection,
        ConnectionStatus::SignInRequired { .. }
    ));
    // Still the saved account: the window offers to sign in again.
    assert_eq!(view.account.unwrap().username, "alice");
    h.app.shutdown().await;
}

/// A form for `server` with the fingerprint the user chose to trust.
fn trusting(sim: &Sim, server: &str, fingerprint: Option<&str>) -> SignInForm {
    let mut form = form(sim, "alice", ALICE_PW).with_server(server);
    form.trust_certificate = fingerprint.map(str::to_owned);
    form
}

#[tokio::test]
async fn a_self_signed_certificate_is_trusted_only_as_it_was_shown() {
    let sim = sim().await;
    let identity = self_signed("abs.home").unwrap();
    let fingerprint = abs_tray_core::tls::fingerprint(&identity.cert_der);
    let front = Front::start(
        sim.addr(),
        FrontConfig {
            tls: Some(identity),
            ..FrontConfig::default()
        },
    )
    .await
    .unwrap();
    let https = format!("https://127.0.0.1:{}", front.port());
    let h = Harness::new();

    // Not trusted: the doctor can say why, and offers exactly the certificate presented.
    let err = h
        .app
        .sign_in(trusting(&sim, &https, None))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "tls_untrusted", "{err:?}");
    assert!(err.diagnose());
    let report = h.app.diagnose(&https).await;
    assert_eq!(report.certificate.as_deref(), Some(fingerprint.as_str()));
    let tls = report.check(Step::Tls).unwrap();
    assert_eq!(tls.verdict, Verdict::Fail);
    assert!(tls.headline.as_deref().unwrap().contains("self-signed"));

    // Another certificate than the one shown (it changed in between): refused, nothing saved.
    let other = abs_tray_core::tls::fingerprint(&self_signed("other").unwrap().cert_der);
    let err = h
        .app
        .sign_in(trusting(&sim, &https, Some(&other)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "tls_certificate_changed");
    assert!(!h.dir.path().join("settings.toml").exists());

    // The one shown: pinned, signed in, kept for the next start.
    h.app
        .sign_in(trusting(&sim, &https, Some(&fingerprint)))
        .await
        .unwrap();
    wait_view(&h.app, "connected", connected).await;
    let saved = h.saved();
    assert!(
        abs_tray_core::tls::same_fingerprint(
            saved.tls.pinned_cert_sha256.as_deref().unwrap(),
            &fingerprint
        ),
        "{saved:?}"
    );
    h.app.shutdown().await;
    let restarted = start(h.dir.path(), &h.store);
    wait_view(&restarted, "connected after a restart", connected).await;
    restarted.shutdown().await;
}

#[tokio::test]
async fn the_doctor_checks_a_bare_address_as_sign_in_would() {
    let sim = sim().await;
    let h = Harness::new();
    let bare = sim.base_url().trim_start_matches("http://").to_owned();
    let report = h.app.diagnose(&bare).await;
    assert_eq!(report.server.as_deref(), Some(sim.base_url().as_str()));
    let address = report.check(Step::Address).unwrap();
    assert!(
        address.detail.contains("only plain http answers"),
        "{}",
        address.detail
    );
    assert_eq!(report.check(Step::Status).unwrap().verdict, Verdict::Ok);
    assert_eq!(report.first_failure(), None, "{report:?}");

    // Nothing there: https is what it checks, and the first failure says it in words.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let report = h.app.diagnose(&format!("127.0.0.1:{closed}")).await;
    assert_eq!(report.first_failure().unwrap().name, Step::Tcp);
    assert!(
        report
            .headline()
            .unwrap()
            .starts_with(&format!("Nothing answers at 127.0.0.1:{closed}"))
    );
}
