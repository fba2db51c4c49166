//! Every way into ABS Tray through the real window (the `abs-tray` binary under Xvfb, driven by
//! WebDriver) against the simulator: the errors a new user meets (unreachable, unknown host,
//! wrong password, an API key that is wrong, inactive, expired or of a deleted user, a
//! self-signed certificate), each read as one plain sentence under the button and saved as a
//! screenshot in `target/screenshots/`; and the sign-ins that work: the certificate trusted from
//! the window, an address typed without a scheme (plain http, said in the header), a server
//! under a base path behind a proxy, an API key after "Sign in again". Between accounts the
//! window starts fresh and keeps the last address.
//!
//! Needs `scripts/desktop-session.sh` (make test runs it) and tauri-driver; fails, never skips.

use std::time::Duration;

use abs_sim::front::{Front, FrontConfig, self_signed};
use abs_sim::{Sim, SimConfig};
use abs_tray_e2e::desktop::require_desktop_session;
use abs_tray_e2e::window::{Step, Window};
use serde_json::{Value, json};

/// Limit for a sign-in, a diagnosis or a re-render.
const WAIT: Duration = Duration::from_secs(20);

const ROOT_PASSWORD: &str = "root pass word";
const ALICE_PASSWORD: &str = "alice-pw";

/// What a person does with the sign-in form, and what they read back.
trait SignInFlow {
    /// Fills the form in password mode and submits it.
    async fn sign_in(&self, server: &str, username: &str, password: &str);
    /// Fills the form in API-key mode and submits it.
    async fn sign_in_with_key(&self, server: &str, key: &str);
    /// Waits for the error under the button to say `start` (the doctor's sentence may replace
    /// the first one), then checks it reads as a sentence without system text; returns it.
    async fn error_saying(&self, start: &str) -> String;
    /// Waits until the window is signed in and connected to `server` (its header says so).
    async fn wait_connected_to(&self, server: &str);
    /// Signs out from the Settings tab and waits for the form.
    async fn sign_out(&self);
}

impl SignInFlow for Window {
    async fn sign_in(&self, server: &str, username: &str, password: &str) {
        self.set_checked("#use-api-key", false).await;
        self.set_value("#server", server).await;
        self.set_value("#username", username).await;
        self.set_value("#password", password).await;
        self.click("#signin-submit").await;
    }

    async fn sign_in_with_key(&self, server: &str, key: &str) {
        self.set_checked("#use-api-key", true).await;
        self.set_value("#server", server).await;
        self.set_value("#api-key", key).await;
        self.click("#signin-submit").await;
    }

    async fn error_saying(&self, start: &str) -> String {
        self.until(
            &format!("the sign-in error to start with {start:?}"),
            "const e = document.getElementById('signin-error');
             return !e.hidden && e.textContent.startsWith(arguments[0])
                 && document.getElementById('signin-form').getAttribute('aria-busy') !== 'true'
                 && document.getElementById('doctor').getAttribute('aria-busy') !== 'true';",
            vec![json!(start)],
        )
        .await;
        let message = self.text("#signin-error").await;
        assert!(message.ends_with('.'), "not a sentence: {message:?}");
        for system in [
            "os error",
            "error:0A",
            "lookup address",
            "IO error",
            "invalid args",
        ] {
            assert!(!message.contains(system), "system text in {message:?}");
        }
        message
    }

    async fn wait_connected_to(&self, server: &str) {
        let signed_in = self
            .session
            .wait_script(
                WAIT,
                "signed in",
                &format!(
                    "return document.body.dataset.signedIn === '1'
                         && !document.getElementById('app').hidden
                         && document.getElementById('account-server').textContent === {server:?}
                         && document.getElementById('connection-state').dataset.state === 'connected';"
                ),
            )
            .await;
        if let Err(err) = signed_in {
            let state = self
                .js(
                    "return [document.getElementById('signin-error').textContent,
                             document.getElementById('signin-detail').textContent,
                             document.getElementById('account-server').textContent,
                             document.getElementById('connection-state').textContent].join(' | ');",
                    vec![],
                )
                .await;
            panic!("not signed in to {server}: {err}; the window shows {state}");
        }
    }

    async fn sign_out(&self) {
        self.open_tab("settings").await;
        self.click("#sign-out").await;
        self.until(
            "the sign-in form",
            "return document.body.dataset.signedIn === '0'
                 && !document.getElementById('signin').hidden;",
            vec![],
        )
        .await;
    }
}

/// Whether `css` is on screen now.
async fn on_screen(window: &Window, css: &str) -> bool {
    window.shown(css).await.step(css)
}

/// Makes an API key for `user` as root (`POST /api/api-keys`); `expires_in` in seconds.
async fn api_key(
    sim: &Sim,
    root: &str,
    user: &str,
    active: bool,
    expires_in: Option<u64>,
) -> String {
    let mut body = json!({"name": format!("tray-{user}"), "userId": sim.user_id(user).expect("the user exists"),
        "isActive": active});
    if let Some(secs) = expires_in {
        body["expiresIn"] = json!(secs);
    }
    let reply: Value = reqwest::Client::new()
        .post(format!("{}/api/api-keys", sim.base_url()))
        .bearer_auth(root)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST /api/api-keys")
        .bytes()
        .await
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .expect("an API key reply");
    reply["apiKey"]["apiKey"]
        .as_str()
        .unwrap_or_else(|| panic!("no key in {reply}"))
        .to_owned()
}

/// Root's access token, for the admin API.
async fn root_token(sim: &Sim) -> String {
    let reply: Value = reqwest::Client::new()
        .post(format!("{}/login", sim.base_url()))
        .header("x-return-tokens", "true")
        .header("content-type", "application/json")
        .body(json!({"username": "root", "password": ROOT_PASSWORD}).to_string())
        .send()
        .await
        .expect("POST /login")
        .bytes()
        .await
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .expect("a login reply");
    reply["user"]["accessToken"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

/// Waits until `key` is refused by `POST /api/authorize` (an expiring key has expired).
async fn wait_refused(sim: &Sim, key: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let status = reqwest::Client::new()
            .post(format!("{}/api/authorize", sim.base_url()))
            .bearer_auth(key)
            .send()
            .await
            .expect("POST /api/authorize")
            .status();
        if status == 401 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the key still works after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_way_in_works_and_every_failure_reads_as_a_sentence() {
    require_desktop_session();
    let config = tempfile::tempdir().expect("a config dir");

    let sim = abs_sim::start(
        SimConfig::default()
            .with_user("root", ROOT_PASSWORD, true)
            .with_user("alice", ALICE_PASSWORD, false)
            .with_user("bob", "bob-pw", false),
    )
    .await
    .expect("start abs-sim");
    let port = sim.addr().port();
    let root = root_token(&sim).await;
    let alice_key = api_key(&sim, &root, "alice", true, None).await;
    let inactive_key = api_key(&sim, &root, "alice", false, None).await;
    let expiring_key = api_key(&sim, &root, "alice", true, Some(1)).await;
    let bobs_key = api_key(&sim, &root, "bob", true, None).await;
    sim.remove_user("bob").expect("delete bob");
    let identity = self_signed("abs.home").expect("a self-signed certificate");
    let https = Front::start(
        sim.addr(),
        FrontConfig {
            tls: Some(identity),
            ..FrontConfig::default()
        },
    )
    .await
    .expect("a TLS proxy");
    let sub_path = Front::start(
        sim.addr(),
        FrontConfig {
            base_path: Some("/audiobookshelf".into()),
            ..FrontConfig::default()
        },
    )
    .await
    .expect("a base-path proxy");

    let (driver, window) = Window::launch(config.path(), "signin-app.log", &[]).await;

    // A fresh start: the form waits in its first field.
    window
        .until(
            "the server field focused",
            "return document.activeElement === document.getElementById('server');",
            vec![],
        )
        .await;

    // Nothing listens there (typed without a scheme): the doctor's sentence, its details folded.
    window.sign_in("127.0.0.1:1", "root", ROOT_PASSWORD).await;
    let said = window.error_saying("Nothing answers at 127.0.0.1:1").await;
    assert!(
        said.contains("check that Audiobookshelf is running"),
        "{said}"
    );
    assert!(
        on_screen(&window, "#signin-details").await,
        "no Details disclosure"
    );
    assert_eq!(
        window
            .js(
                "return document.getElementById('signin-details').open;",
                vec![]
            )
            .await,
        Value::Bool(false),
        "the check is folded under Details"
    );
    let folded = window.text("#doctor li.folded").await;
    assert!(
        folded.contains("not checked"),
        "later steps are not folded: {folded:?}"
    );
    assert!(
        window.js("return document.querySelector('#doctor li[data-step=tcp][data-verdict=fail]') !== null;", vec![]).await
            == Value::Bool(true),
        "the TCP step is not the failed one"
    );
    window.click("#signin-details summary").await;
    window.screenshots("signin-error-unreachable").await;

    // A name that does not exist.
    window.sign_in("abs.invalid", "root", ROOT_PASSWORD).await;
    window
        .error_saying("The server name abs.invalid cannot be found")
        .await;
    window.screenshots("signin-error-unknown-host").await;

    // The right server, the wrong password: no diagnosis, just the sentence.
    let plain = format!("http://127.0.0.1:{port}");
    window.sign_in(&plain, "root", "not the password").await;
    window.error_saying("Wrong user name or password").await;
    assert!(
        !on_screen(&window, "#signin-details").await,
        "a wrong password needs no details"
    );
    window.screenshots("signin-error-password").await;

    // API-key mode: the stale error goes, the hint says where keys are made.
    window.set_checked("#use-api-key", true).await;
    assert!(
        !on_screen(&window, "#signin-error").await,
        "a stale error survived the mode switch"
    );
    let hint = window.text("#api-key-fields .hint").await;
    assert!(
        hint.contains("Settings → API Keys") && hint.contains("active"),
        "{hint}"
    );
    wait_refused(&sim, &expiring_key).await;
    for (what, key) in [
        ("wrong", "not-an-api-key"),
        ("inactive", inactive_key.as_str()),
        ("expired", expiring_key.as_str()),
        ("deleted-user", bobs_key.as_str()),
    ] {
        window.sign_in_with_key(&plain, key).await;
        window.error_saying("The server refused the API key").await;
        window
            .screenshots(&format!("signin-error-api-key-{what}"))
            .await;
    }

    // A self-signed certificate: said plainly, trusted from the window, pinned in the settings.
    let tls_server = format!("https://127.0.0.1:{}", https.port());
    window.sign_in(&tls_server, "root", ROOT_PASSWORD).await;
    window
        .error_saying("The server's certificate is self-signed")
        .await;
    assert!(
        on_screen(&window, "#trust-choice").await,
        "no trust choice offered"
    );
    let fingerprint = window.text("#trust-fingerprint").await;
    assert_eq!(fingerprint.split(':').count(), 32, "{fingerprint}");
    window.screenshots("signin-error-self-signed").await;
    window.click("#trust-certificate").await;
    window.wait_connected_to(&tls_server).await;
    let settings = std::fs::read_to_string(config.path().join("settings.toml")).expect("settings");
    assert!(settings.contains("pinned_cert_sha256"), "{settings}");
    assert!(
        !on_screen(&window, "#account-note").await,
        "https needs no transport note"
    );

    // A draft on this account must not follow to the next one.
    window.click("button.tab[data-view=\"server\"]").await;
    window
        .set_value("#broadcast-text", "draft for the first server")
        .await;
    window.sign_out().await;
    assert_eq!(
        window
            .js("return document.getElementById('server').value;", vec![])
            .await,
        json!(tls_server),
        "the last address is not kept after sign-out"
    );

    // Typed without a scheme: ABS's plain http is found, and the header says it.
    window
        .sign_in(&format!("127.0.0.1:{port}"), "alice", ALICE_PASSWORD)
        .await;
    window.wait_connected_to(&plain).await;
    assert_eq!(
        window.text("#account-note").await,
        "Connected over http: not encrypted."
    );
    assert_eq!(
        window
            .js(
                "return document.querySelector('button.tab.selected')?.dataset.view;",
                vec![]
            )
            .await,
        json!("listening"),
        "another account does not start on the first tab"
    );
    assert_eq!(
        window
            .js(
                "return document.getElementById('broadcast-text').value;",
                vec![]
            )
            .await,
        json!(""),
        "the broadcast draft leaked to another account"
    );

    // The server ends alice's sign-in: "Sign in again" opens the form, Cancel goes back, and an
    // API key signs her in.
    sim.revoke_tokens("alice").expect("revoke alice");
    sim.expire_access_tokens();
    sim.drop_sockets();
    window.click("#signin-again").await;
    assert!(
        on_screen(&window, "#signin-cancel").await,
        "no way back from the form"
    );
    window.click("#signin-cancel").await;
    window
        .until(
            "the app view again",
            "return !document.getElementById('app').hidden;",
            vec![],
        )
        .await;
    window.click("#signin-again").await;
    window.sign_in_with_key(&plain, &alice_key).await;
    window.wait_connected_to(&plain).await;

    // A server under a base path behind a proxy, typed without a scheme and with a slash.
    window.sign_out().await;
    window
        .sign_in(
            &format!("127.0.0.1:{}/audiobookshelf/", sub_path.port()),
            "root",
            ROOT_PASSWORD,
        )
        .await;
    window
        .wait_connected_to(&format!(
            "http://127.0.0.1:{}/audiobookshelf",
            sub_path.port()
        ))
        .await;
    window.screenshots("signed-in-base-path").await;

    // A proxy that drops the upgrade headers: REST works, so the sign-in does, but the header
    // says in plain words why nothing live arrives, and what to change in the proxy.
    let no_upgrades = Front::start(
        sim.addr(),
        FrontConfig {
            strip_upgrade: true,
            ..FrontConfig::default()
        },
    )
    .await
    .expect("a proxy without WebSocket upgrades");
    window.sign_out().await;
    let proxied = format!("http://127.0.0.1:{}", no_upgrades.port());
    window.sign_in(&proxied, "root", ROOT_PASSWORD).await;
    window
        .until(
            "the header to name the WebSocket refusal",
            "return document.getElementById('account-server').textContent === arguments[0]
                 && document.getElementById('connection-reason').textContent
                        .startsWith('The server refuses live connections (WebSocket)')
                 && !document.getElementById('connection-detail').hidden;",
            vec![json!(proxied)],
        )
        .await;
    let reason = window.text("#connection-reason").await;
    assert!(
        reason.contains("Upgrade and Connection headers"),
        "{reason}"
    );
    assert!(
        window.text("#connection-system").await.contains("400"),
        "the system text is not under Details"
    );
    window.screenshots("offline-websocket-refused").await;

    let _ = window.session.delete().await;
    drop(driver);
    sim.shutdown().await;
}
