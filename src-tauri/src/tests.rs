//! The window's commands on Tauri's mock runtime, against the simulator: what the webview can
//! call, what it gets back, and that no token ever reaches it.

use std::sync::Arc;

use abs_sim::{Sim, SimConfig};
use abs_tray_core::app::{App, AppOptions};
use abs_tray_core::config::SettingsFile;
use abs_tray_core::server_url::ServerUrl;
use abs_tray_core::token_store::{Account, AsyncTokenStore, MemoryStore, TokenStore};
use serde_json::{Value, json};
use tauri::test::{INVOKE_KEY, get_ipc_response, mock_builder, mock_context, noop_assets};
use tauri::webview::InvokeRequest;
use tauri::{WebviewWindow, WebviewWindowBuilder};

use crate::{Shell, with_commands};

/// A mock app with the commands, a core on a fresh config dir and memory store, and a window.
struct Harness {
    /// The window the commands are invoked from.
    window: WebviewWindow<tauri::test::MockRuntime>,
    /// Keeps the settings directory alive.
    config: tempfile::TempDir,
    /// The tokens the core stored.
    store: Arc<MemoryStore>,
    /// Keeps the app alive.
    _app: tauri::App<tauri::test::MockRuntime>,
}

impl Harness {
    fn new() -> Self {
        let config = tempfile::tempdir().unwrap();
        let store = Arc::new(MemoryStore::new());
        let options = AppOptions {
            settings: SettingsFile::in_dir(config.path()),
            store: AsyncTokenStore::new(store.clone()),
            delivery: None,
        };
        let core = tauri::async_runtime::block_on(async move { App::start(options) });
        let app = with_commands(mock_builder())
            .manage(Shell::new(core, false))
            .build(mock_context(noop_assets()))
            .unwrap();
        let window = WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .unwrap();
        Self {
            window,
            config,
            store,
            _app: app,
        }
    }

    /// Invokes `cmd` with `args` like the window's `invoke` does.
    fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: tauri::ipc::InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        get_ipc_response(&self.window, request).map(|body| body.deserialize::<Value>().unwrap())
    }
}

/// A simulator with an admin, running on Tauri's runtime like the app's tasks.
fn sim() -> Sim {
    tauri::async_runtime::block_on(abs_sim::start(
        SimConfig::default().with_user("admin", "admin-pw", true),
    ))
    .unwrap()
}

#[test]
fn signed_out_commands_answer_with_a_code_and_a_message() {
    let harness = Harness::new();
    let view = harness.invoke("view", json!({})).unwrap();
    assert_eq!(view["account"], Value::Null);
    assert_eq!(view["autostart"], false);

    let err = harness
        .invoke("broadcast", json!({"message": "hello"}))
        .unwrap_err();
    assert_eq!(err["code"], "not_signed_in", "{err}");
    assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));

    let err = harness
        .invoke("pause", json!({"choice": "forever"}))
        .unwrap_err();
    assert_eq!(err["code"], "invalid_choice");
}

#[test]
fn signing_in_through_the_commands_never_hands_the_webview_a_token() {
    let sim = sim();
    let harness = Harness::new();
    let err = harness
        .invoke(
            "sign_in",
            json!({"form": {"server": sim.base_url(), "username": "admin", "password": "wrong"}}),
        )
        .unwrap_err();
    assert!(err["code"].as_str().is_some(), "{err}");

    harness
        .invoke(
            "sign_in",
            json!({"form": {"server": sim.base_url(), "username": "admin", "password": "admin-pw"}}),
        )
        .unwrap();
    let view = harness.invoke("view", json!({})).unwrap();
    assert_eq!(view["account"]["username"], "admin");

    let url = ServerUrl::parse(&sim.base_url()).unwrap();
    let refresh = harness
        .store
        .get(&Account::new(&url, "admin"))
        .unwrap()
        .expect("the refresh token is stored");
    let text = view.to_string();
    for secret in [refresh.expose(), "admin-pw", "eyJ"] {
        assert!(!text.contains(secret), "a secret in the view");
    }
    let settings = std::fs::read_to_string(harness.config.path().join("settings.toml")).unwrap();
    assert!(!settings.contains("admin-pw") && !settings.contains("eyJ"));
    assert!(!harness.store.is_empty());

    harness.invoke("sign_out", json!({})).unwrap();
    assert_eq!(
        harness.invoke("view", json!({})).unwrap()["account"],
        Value::Null
    );
    assert!(harness.store.is_empty());
}
