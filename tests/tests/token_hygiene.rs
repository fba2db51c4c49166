//! Token hygiene over a full scenario: the real `abs-tray` window under WebDriver signs in to the
//! simulator with a password, has its access token expire (a refresh), lives through dropped
//! sockets and a server restart, and signs out, logging at `trace` for every crate. Then every
//! place a secret could end up is searched for the password, every refresh token the keyring
//! held, and anything JWT-shaped (which covers the access tokens, never read directly): the
//! config folder, the app's stdout and stderr, the driver's log, everything the webview received
//! (each `view` event and `invoke` result, recorded in the page), the final DOM and the page's
//! storage. The app writes no log files (tracing goes to stderr only).
//!
//! Needs `scripts/desktop-session.sh` (make test runs it) and tauri-driver; fails, never skips,
//! without them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use abs_sim::{Sim, SimConfig};
use abs_tray_core::panic_hook;
use abs_tray_core::server_url::ServerUrl;
use abs_tray_core::token_store::Account;
use abs_tray_e2e::desktop::{app_binary, require_desktop_session, target_dir};
use abs_tray_e2e::tauri_driver::TauriDriver;
use abs_tray_e2e::webdriver::{Session, WebDriverError};
use regex::Regex;
use serde_json::{Value, json};

/// Limit for the window to appear and render (WebKit's first start under Xvfb takes seconds).
const STARTUP: Duration = Duration::from_secs(60);
/// Limit for anything that should take well under a second.
const WAIT: Duration = Duration::from_secs(10);
/// Limit for a reconnect, retry delays included.
const RECONNECT: Duration = Duration::from_secs(30);
/// How long the simulator stays down in the restart.
const DOWN: Duration = Duration::from_secs(1);

const USERNAME: &str = "root";
/// Spaces and punctuation, so the URL-encoded forms differ from the raw one.
const PASSWORD: &str = "hygiene Pa55 w0rd!";
/// Any JWT, whoever minted it and whatever it holds (access, refresh, legacy, API key).
const JWT: &str = r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+";
/// `eyJhbGci`, the start of every JWT (`{"alg"`), and how it looks as hex and as a byte list,
/// the two ways crates print raw frames and buffers.
const JWT_START: &str = "eyJhbGci";

/// Installed in the page before signing in: keeps every `view` payload and every `invoke`
/// result (or rejection) the UI receives, in `window.__hygiene`. `ui/js/ipc.js` looks
/// `window.__TAURI__` up on every call, so a replaced `core` is what the UI uses from now on
/// (Tauri's own `core` is frozen, so it is copied, not patched).
const RECORDER: &str = r#"
const done = arguments[arguments.length - 1];
const tauri = window.__TAURI__;
const record = { views: [], invokes: [] };
window.__hygiene = record;
const invoke = tauri.core.invoke;
const core = Object.assign({}, tauri.core, {
  invoke: async (name, args) => {
    try {
      const value = await invoke(name, args);
      record.invokes.push({ name, value: value === undefined ? null : value });
      return value;
    } catch (error) {
      record.invokes.push({ name, error });
      throw error;
    }
  },
});
window.__TAURI__ = Object.assign({}, tauri, { core });
tauri.event.listen("view", (event) => record.views.push(event.payload))
  .then(() => done(true), (error) => done(String(error)));
"#;

/// `'text'` for sh, whatever it holds.
fn sh_quote(text: &Path) -> String {
    format!("'{}'", text.to_string_lossy().replace('\'', r"'\''"))
}

/// A launcher for WebKitWebDriver that runs the app with its own stdout and stderr in files
/// (tauri-driver discards the stdout of what it starts). `exec` keeps the app's process id, so
/// the driver still stops it.
fn launcher(dir: &Path, app: &Path, stdout: &Path, stderr: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join("abs-tray-captured");
    let script = format!(
        "#!/bin/sh\nexec {} \"$@\" >{} 2>{}\n",
        sh_quote(app),
        sh_quote(stdout),
        sh_quote(stderr)
    );
    std::fs::write(&path, script).expect("write the launcher");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("make the launcher executable");
    path
}

/// Unwraps a WebDriver result, saying which step failed.
trait Step<T> {
    /// The value, or a panic naming the step and the WebDriver error.
    fn step(self, what: &str) -> T;
}

impl<T> Step<T> for Result<T, WebDriverError> {
    fn step(self, what: &str) -> T {
        self.unwrap_or_else(|err| panic!("{what}: {err}"))
    }
}

/// `document.body.dataset[key]`.
async fn body_data(session: &Session, key: &str) -> Result<Option<String>, WebDriverError> {
    let value = session
        .execute(
            "return document.body.dataset[arguments[0]] ?? null;",
            vec![json!(key)],
        )
        .await?;
    Ok(value.as_str().map(str::to_owned))
}

/// Clicks the first element matching `css` once it is rendered.
async fn click(session: &Session, css: &str) {
    session
        .wait_script(
            WAIT,
            &format!("{css} to be shown"),
            &format!(
                "const e = document.querySelector({});
                 return e !== null && e.closest('[hidden]') === null && e.getClientRects().length > 0;",
                json!(css)
            ),
        )
        .await
        .step(css);
    session.click_css(css).await.step(&format!("click {css}"));
}

/// How many views the recorder holds.
async fn recorded_views(session: &Session) -> usize {
    let count = session
        .execute("return window.__hygiene.views.length;", vec![])
        .await
        .step("count the recorded views");
    count
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or_else(|| panic!("the recorder is gone: {count}"))
}

/// Waits until the recorder saw, after its first `mark` views, a state other than `connected`
/// and then `connected` again, and the header shows it: one reconnect, seen from the window.
async fn wait_reconnected(session: &Session, mark: usize, what: &str) {
    session
        .wait_script(
            RECONNECT,
            what,
            &format!(
                "const states = window.__hygiene.views.slice({mark})
                     .map(v => v.snapshot?.connection?.state);
                 const down = states.findIndex(s => s !== 'connected');
                 return down >= 0 && states.slice(down).includes('connected')
                     && document.getElementById('connection-state').dataset.state === 'connected';"
            ),
        )
        .await
        .step(what);
}

/// Every secret the session keyring holds for this account now (`secret-tool`, the keyring's
/// own client, not the code under test; the attributes are the token store's).
fn keyring_secrets(account: &Account) -> Vec<String> {
    let out = Command::new("secret-tool")
        .args([
            "search", "--all", "--unlock", "service", "abs-tray", "username",
        ])
        .arg(account.keyring_user())
        .output()
        .expect("secret-tool (package libsecret-tools) runs");
    // secret-tool prints the attributes on stderr and `secret = ...` on stdout.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("secret = "))
        .map(str::to_owned)
        .collect()
}

/// Polls the keyring until it holds a secret not in `known`, within [`WAIT`]; returns it.
async fn wait_new_keyring_secret(
    account: &Account,
    known: &BTreeSet<String>,
    what: &str,
) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let secrets = tokio::task::block_in_place(|| keyring_secrets(account));
        if let Some(new) = secrets.into_iter().find(|s| !known.contains(s)) {
            return new;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: no new keyring secret after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Awaits a simulator event named `init`: a socket was authenticated (again).
async fn wait_init(events: &mut abs_sim::Events, what: &str) {
    events
        .wait_named("init", RECONNECT)
        .await
        .unwrap_or_else(|err| panic!("{what}: the simulator sent no init: {err}"));
}

/// The forms a secret takes in text: as is, URL-encoded (form and path), base64, and as hex and
/// a byte list (how crates print raw frames and buffers).
fn encodings(secret: &str) -> Vec<(&'static str, String)> {
    use base64::Engine as _;
    let percent: String = secret
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    let bytes = secret
        .bytes()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let mut forms = vec![
        ("as is", secret.to_owned()),
        ("percent-encoded", percent.clone()),
        ("form-encoded", percent.replace("%20", "+")),
        (
            "base64",
            base64::engine::general_purpose::STANDARD.encode(secret),
        ),
        ("hex", hex.clone()),
        ("HEX", hex.to_uppercase()),
        ("a byte list", bytes),
    ];
    forms.dedup_by(|a, b| a.1 == b.1);
    forms
}

/// One secret found somewhere it must never be.
#[derive(Debug)]
struct Hit {
    /// Where (a file, the recorder, the DOM, ...).
    place: String,
    /// Which secret, in which form.
    what: String,
    /// The text around it, the secret itself masked.
    context: String,
}

/// The text before `start` in `text` with anything secret-shaped redacted, then `<SECRET>`:
/// enough to find the line without the report leaking what it found.
fn context(text: &str, start: usize) -> String {
    let mut from = start.saturating_sub(100);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    format!("{}<SECRET>", panic_hook::redact(&text[from..start])).replace('\n', "\\n")
}

/// Every place's text searched for every secret (each in all its [`encodings`]), for
/// JWT-shaped strings, and for the start of a JWT as hex or bytes.
fn search(places: &[(String, String)], secrets: &[(String, String)]) -> Vec<Hit> {
    let jwt = Regex::new(JWT).expect("the JWT pattern compiles");
    let mut needles: Vec<(String, String)> = Vec::new();
    for (name, secret) in secrets {
        for (form, text) in encodings(secret) {
            needles.push((format!("{name} ({form})"), text));
        }
        // A token cut at its dots (a log that splits it) still leaks its signature.
        if let Some(signature) = secret
            .rsplit('.')
            .next()
            .filter(|s| s.len() >= 20 && *s != secret)
        {
            needles.push((format!("{name}'s signature"), signature.to_owned()));
        }
    }
    for (form, text) in encodings(JWT_START) {
        if form != "as is" && form != "base64" {
            needles.push((format!("a JWT's start ({form})"), text));
        }
    }
    let mut hits = Vec::new();
    for (place, text) in places {
        for (what, needle) in &needles {
            for (start, _) in text.match_indices(needle.as_str()) {
                hits.push(Hit {
                    place: place.clone(),
                    what: what.clone(),
                    context: context(text, start),
                });
            }
        }
        for found in jwt.find_iter(text) {
            hits.push(Hit {
                place: place.clone(),
                what: "a JWT-shaped string".into(),
                context: context(text, found.start()),
            });
        }
    }
    hits
}

/// Every file under `dir`, recursively, as (path, lossy text).
fn files_under(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                found.push((
                    path.display().to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                ));
            }
        }
    }
    found
}

/// The text without ANSI colour sequences (tracing colours its output), so matches are not split.
fn strip_ansi(text: &str) -> String {
    let ansi = Regex::new(r"\x1b\[[0-9;]*[A-Za-z]").expect("the ANSI pattern compiles");
    ansi.replace_all(text, "").into_owned()
}

/// Reads a captured output file.
fn read_capture(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    strip_ansi(&String::from_utf8_lossy(&bytes))
}

/// A simulator with the admin who signs in (real token lifetimes: the refresh is forced).
async fn simulator() -> Sim {
    abs_sim::start(SimConfig::default().with_user(USERNAME, PASSWORD, true))
        .await
        .expect("start abs-sim")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_files_logs_or_the_webview() {
    require_desktop_session();
    let app = app_binary();
    // Kept after the run, so a failure can be read (the secrets are the simulator's).
    let work = target_dir().join("token-hygiene");
    if work.exists() {
        std::fs::remove_dir_all(&work).expect("clear target/token-hygiene");
    }
    let config = work.join("config");
    std::fs::create_dir_all(&config).expect("create target/token-hygiene/config");
    // A home of its own, so every file the app (and its WebKit) writes is searched.
    let home = work.join("home");
    let xdg = [
        ("XDG_CONFIG_HOME", home.join(".config")),
        ("XDG_DATA_HOME", home.join(".local/share")),
        ("XDG_CACHE_HOME", home.join(".cache")),
        ("XDG_STATE_HOME", home.join(".local/state")),
    ];
    for (_, dir) in &xdg {
        std::fs::create_dir_all(dir).expect("create the app's home");
    }
    let app_stdout = work.join("app-stdout.log");
    let app_stderr = work.join("app-stderr.log");
    let driver_log = work.join("driver.log");
    let launcher = launcher(&work, &app, &app_stdout, &app_stderr);

    let sim = simulator().await;
    let url = ServerUrl::parse(&sim.base_url()).expect("the simulator's URL parses");
    let account = Account::new(&url, USERNAME);
    let mut refresh_tokens: BTreeSet<String> = BTreeSet::new();
    assert!(
        keyring_secrets(&account).is_empty(),
        "a fresh simulator port has no keyring entry yet"
    );

    let mut env: Vec<(&str, &std::ffi::OsStr)> = vec![
        ("ABS_TRAY_CONFIG_DIR", config.as_os_str()),
        // Everything, dependencies included: any crate that prints a frame or a header at
        // trace level shows up here.
        ("ABS_TRAY_LOG", "trace".as_ref()),
        ("HOME", home.as_os_str()),
    ];
    env.extend(xdg.iter().map(|(key, dir)| (*key, dir.as_os_str())));
    let driver = TauriDriver::start(
        &env,
        std::fs::File::create(&driver_log).expect("create the driver log"),
    )
    .expect("start tauri-driver");
    let session = Session::start(
        &driver.url(),
        json!({"capabilities": {"alwaysMatch": {"tauri:options": {
            "application": launcher.to_string_lossy(),
        }}}}),
    )
    .await
    .step("open a WebDriver session (launches abs-tray)");

    session
        .wait_for(STARTUP, "the first render (body[data-ready=1])", || async {
            Ok((body_data(&session, "ready").await?.as_deref() == Some("1")).then_some(()))
        })
        .await
        .step("first render");
    let installed = session
        .execute_async(RECORDER, vec![])
        .await
        .step("install the recorder");
    assert_eq!(
        installed,
        json!(true),
        "the recorder listens to view events"
    );

    // Sign in through the form, with the password.
    session
        .fill("#server", &sim.base_url())
        .await
        .step("#server");
    let api_key = session.get("#use-api-key").await.step("#use-api-key");
    let api_key_on = session
        .execute("return arguments[0].checked;", vec![api_key.to_json()])
        .await
        .step("#use-api-key checked");
    if api_key_on == Value::Bool(true) {
        session.click(&api_key).await.step("untick #use-api-key");
    }
    session.fill("#username", USERNAME).await.step("#username");
    session.fill("#password", PASSWORD).await.step("#password");
    let mut events = sim.events();
    click(&session, "#signin-submit").await;
    wait_init(&mut events, "sign in").await;
    session
        .wait_script(
            WAIT,
            "signed in and Connected",
            "return document.body.dataset.signedIn === '1'
                 && document.getElementById('connection-state').dataset.state === 'connected';",
        )
        .await
        .step("sign in");
    refresh_tokens
        .insert(wait_new_keyring_secret(&account, &refresh_tokens, "after sign-in").await);

    // The access token expires under the app: the next socket's auth fails and it refreshes,
    // which rotates the refresh token in the keyring.
    let refreshes = sim.request_count("/auth/refresh");
    let mark = recorded_views(&session).await;
    let mut events = sim.events();
    sim.expire_access_tokens();
    sim.drop_sockets();
    wait_init(&mut events, "reconnect with a refreshed token").await;
    wait_reconnected(&session, mark, "Connected again after the refresh").await;
    assert!(
        sim.request_count("/auth/refresh") > refreshes,
        "the app refreshed its access token ({refreshes} refreshes before)"
    );
    refresh_tokens
        .insert(wait_new_keyring_secret(&account, &refresh_tokens, "after the refresh").await);

    // Dropped sockets, then a restart: two more reconnects.
    let mark = recorded_views(&session).await;
    let mut events = sim.events();
    sim.drop_sockets();
    wait_init(&mut events, "reconnect after dropped sockets").await;
    wait_reconnected(&session, mark, "Connected again after dropped sockets").await;

    let mark = recorded_views(&session).await;
    let mut events = sim.events();
    sim.restart_after(DOWN)
        .await
        .expect("restart the simulator");
    wait_init(&mut events, "reconnect after the restart").await;
    wait_reconnected(&session, mark, "Connected again after the restart").await;
    refresh_tokens.extend(tokio::task::block_in_place(|| keyring_secrets(&account)));
    assert!(
        sim.request_count("/auth/refresh") >= 1,
        "at least one refresh happened"
    );

    // Sign out: the keyring is emptied and the form is back.
    click(&session, "button.tab[data-view=\"settings\"]").await;
    click(&session, "#sign-out").await;
    session
        .wait_script(
            WAIT,
            "signed out (body[data-signed-in=0])",
            "return document.body.dataset.signedIn === '0';",
        )
        .await
        .step("sign out");
    let deadline = Instant::now() + WAIT;
    while !tokio::task::block_in_place(|| keyring_secrets(&account)).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the keyring still holds the token after sign-out"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Collect what the webview got and holds, then stop the app so its output is complete.
    let recorded = session
        .execute("return JSON.stringify(window.__hygiene);", vec![])
        .await
        .step("the recorder's JSON");
    let recorded = recorded.as_str().unwrap_or_default().to_owned();
    let page = session
        .execute("return document.documentElement.outerHTML;", vec![])
        .await
        .step("page source");
    let storage = session
        .execute(
            "const dump = (s) => Object.fromEntries(
                 Array.from({ length: s.length }, (_, i) => [s.key(i), s.getItem(s.key(i))]));
             return JSON.stringify({ local: dump(localStorage), session: dump(sessionStorage) });",
            vec![],
        )
        .await
        .step("local and session storage");
    if let Err(err) = session.delete().await {
        eprintln!("closing the WebDriver session: {err}");
    }
    drop(driver);
    sim.shutdown().await;

    // The collections are real, so a clean result means something.
    let record: Value = serde_json::from_str(&recorded).expect("the recorder's JSON parses");
    let views = record["views"].as_array().map_or(0, Vec::len);
    let states: BTreeSet<&str> = record["views"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| {
            v.pointer("/snapshot/connection/state")
                .and_then(Value::as_str)
        })
        .collect();
    assert!(
        views >= 4 && states.contains("connected"),
        "the recorder saw {views} views, states {states:?}"
    );
    let invoked: BTreeSet<&str> = record["invokes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert!(
        invoked.contains("sign_in") && invoked.contains("sign_out"),
        "the recorder saw the sign-in and sign-out results: {invoked:?}"
    );
    let stderr = read_capture(&app_stderr);
    let trace_lines = stderr.lines().filter(|l| l.contains(" TRACE ")).count();
    // Dependencies' trace lines (HTTP pool, D-Bus) prove the filter reached them.
    let dependency_trace = stderr
        .lines()
        .filter(|l| l.contains(" TRACE ") && !l.contains(" abs_tray"))
        .count();
    assert!(
        trace_lines >= 10 && dependency_trace >= 10 && stderr.contains("abs_tray_core"),
        "the app logged at trace level ({trace_lines} TRACE lines, {dependency_trace} of \
         dependencies, in {})",
        app_stderr.display()
    );
    assert!(
        refresh_tokens.len() >= 2,
        "the keyring held the first and the rotated refresh token ({} seen)",
        refresh_tokens.len()
    );

    let mut places = files_under(&config);
    assert!(
        places
            .iter()
            .any(|(path, _)| path.ends_with("settings.toml")),
        "the app kept its settings in ABS_TRAY_CONFIG_DIR: {:?}",
        places.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    let written = files_under(&home);
    let written_count = written.len();
    places.extend(written);
    places.extend([
        ("the app's stderr".to_owned(), stderr),
        ("the app's stdout".to_owned(), read_capture(&app_stdout)),
        (
            "tauri-driver's and WebKitWebDriver's stderr".to_owned(),
            read_capture(&driver_log),
        ),
        ("the recorded views and invoke results".to_owned(), recorded),
        (
            "the final DOM".to_owned(),
            page.as_str().unwrap_or_default().to_owned(),
        ),
        (
            "localStorage and sessionStorage".to_owned(),
            storage.as_str().unwrap_or_default().to_owned(),
        ),
    ]);
    let mut secrets = vec![("the password".to_owned(), PASSWORD.to_owned())];
    secrets.extend(
        refresh_tokens
            .iter()
            .enumerate()
            .map(|(i, token)| (format!("refresh token {}", i + 1), token.clone())),
    );
    let hits = search(&places, &secrets);
    let home_prefix = home.display().to_string();
    let sizes: Vec<String> = places
        .iter()
        .filter(|(place, _)| !place.starts_with(&home_prefix))
        .map(|(place, text)| format!("{place}: {} bytes", text.len()))
        .collect();
    eprintln!(
        "token hygiene: searched {} places ({written_count} files under the app's home; {}) \
         for {} secrets ({} refresh tokens), {views} views, {trace_lines} TRACE lines",
        places.len(),
        sizes.join(", "),
        secrets.len(),
        refresh_tokens.len()
    );
    assert!(
        hits.is_empty(),
        "{} secret(s) found:\n{}",
        hits.len(),
        hits.iter()
            .take(40)
            .map(|h| format!("- {} in {}: …{}", h.what, h.place, h.context))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
