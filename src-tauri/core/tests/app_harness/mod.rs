//! What the tests of the [`App`] façade share: a simulator with an admin and alice, an app on a
//! fresh settings folder and memory keyring, the sign-in form as the webview sends it, and a wait
//! for a view.
#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "each test binary uses a part of this; a panic in a helper is a test failure"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use abs_sim::{Sim, SimConfig};
use abs_tray_core::app::{App, AppOptions, SignInForm, View};
use abs_tray_core::config::{Settings, SettingsFile};
use abs_tray_core::connection::ConnectionStatus;
use abs_tray_core::server_url::ServerUrl;
use abs_tray_core::token_store::{Account, AsyncTokenStore, MemoryStore, TokenStore};
use serde_json::json;
use tempfile::TempDir;

/// Generous limit for anything that should take milliseconds.
pub const WAIT: Duration = Duration::from_secs(10);
/// The simulator admin's password.
pub const ADMIN_PW: &str = "admin's password";
/// Alice's password (not an admin).
pub const ALICE_PW: &str = "alice's password";

/// A simulator with `admin` (an admin) and `alice`.
pub async fn sim() -> Sim {
    abs_sim::start(
        SimConfig::default()
            .with_user("admin", ADMIN_PW, true)
            .with_user("alice", ALICE_PW, false),
    )
    .await
    .unwrap()
}

/// An app on a fresh settings folder and memory keyring.
pub struct Harness {
    /// The app under test.
    pub app: App,
    /// Its settings folder.
    pub dir: TempDir,
    /// Its keyring.
    pub store: Arc<MemoryStore>,
}

impl Harness {
    /// A fresh app, signed out.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MemoryStore::new());
        let app = start(dir.path(), &store);
        Self { app, dir, store }
    }

    /// The settings file as saved.
    pub fn saved(&self) -> Settings {
        SettingsFile::in_dir(self.dir.path()).load().unwrap()
    }

    /// The settings file's text.
    pub fn settings_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("settings.toml")).unwrap()
    }

    /// What the keyring holds for `user` on the simulator.
    pub fn stored(&self, sim: &Sim, user: &str) -> Option<String> {
        let url = ServerUrl::parse(&sim.base_url()).unwrap();
        self.store
            .get(&Account::new(&url, user))
            .unwrap()
            .map(|s| s.expose().to_owned())
    }

    /// Signs in with a password and waits until the view shows the connection.
    pub async fn sign_in(&self, sim: &Sim, user: &str, password: &str) -> View {
        self.app.sign_in(form(sim, user, password)).await.unwrap();
        wait_view(&self.app, "connected", connected).await
    }
}

/// An app on `dir` and `store` (a second start on the same ones is a restart).
pub fn start(dir: &Path, store: &Arc<MemoryStore>) -> App {
    App::start(AppOptions {
        settings: SettingsFile::in_dir(dir),
        store: AsyncTokenStore::new(store.clone()),
        delivery: None,
    })
}

/// The form as the webview sends it (camelCase JSON), which also proves it deserializes.
pub fn form(sim: &Sim, user: &str, password: &str) -> SignInForm {
    serde_json::from_value(json!({
        "server": sim.base_url(),
        "username": user,
        "password": password,
        "apiKey": null,
    }))
    .unwrap()
}

/// Signed in and connected.
pub fn connected(view: &View) -> bool {
    view.snapshot.me.is_some()
        && matches!(view.snapshot.connection, ConnectionStatus::Connected { .. })
}

/// The server wants a new sign-in.
pub fn sign_in_required(view: &View) -> bool {
    matches!(
        view.snapshot.connection,
        ConnectionStatus::SignInRequired { .. }
    )
}

/// The first view (now or later) for which `pred` holds; panics after [`WAIT`] with the last one.
pub async fn wait_view(app: &App, what: &str, pred: impl Fn(&View) -> bool) -> View {
    let mut views = app.view();
    match tokio::time::timeout(WAIT, views.wait_for(|v| pred(v))).await {
        Ok(Ok(view)) => view.clone(),
        _ => panic!(
            "no view with {what} within {WAIT:?}; last: {:?}",
            *app.view().borrow()
        ),
    }
}
