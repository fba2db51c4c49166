//! The real ABS Tray window, end to end: the `abs-tray` binary under Xvfb, driven through
//! WebDriver (tauri-driver in front of WebKitWebDriver), signed in to the simulator, with the
//! private session's real gnome-keyring and dunst. It signs in through the form, checks the
//! keyring, the users list (a hostile user name stays text), a listening session appearing
//! within a second and as a popup, a broadcast that comes back as a popup, cancelling a scan, the
//! live log (level, pause), pausing popups, launch at login, signing out, the doctor's verdict for
//! a dead server and the demo server; it saves a light and a dark screenshot of every view, and
//! one of the popup, under `target/screenshots/`.
//!
//! Needs `scripts/desktop-session.sh` (make test runs it) and tauri-driver
//! (installed by `scripts/install-deps.sh`); fails, never skips,
//! without them. Builds `abs-tray` (not a default workspace member) with `cargo build -p abs-tray`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use abs_sim::{LogLevel, Sim, SimConfig};
use abs_tray_core::auth::{AbsClient, TokenManager};
use abs_tray_core::connection::{self, ConnectionConfig, ConnectionHandle, ConnectionStatus};
use abs_tray_core::credentials::SignedIn;
use abs_tray_core::protocol::ServerEvent;
use abs_tray_core::secret::Secret;
use abs_tray_core::server_url::ServerUrl;
use abs_tray_core::tls::TlsConfig;
use abs_tray_core::token_store::{Account, AsyncTokenStore, KeyringStore, MemoryStore};
use abs_tray_e2e::desktop::{app_binary, require_desktop_session, target_dir};
use abs_tray_e2e::popups::{Popup, PopupWatch};
use abs_tray_e2e::tauri_driver::TauriDriver;
use abs_tray_e2e::webdriver::{Session, WebDriverError};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Limit for the window to appear and render (WebKit's first start under Xvfb takes seconds).
const STARTUP: Duration = Duration::from_secs(60);
/// Limit for anything that should take well under a second.
const WAIT: Duration = Duration::from_secs(10);
/// How long after the server's event a new listening session must be on screen.
const LIVE_LATENCY: Duration = Duration::from_secs(1);
/// The application name the app's popups carry (`AppIdentity::default()`).
const APP_NAME: &str = "ABS Tray";

const ROOT_PASSWORD: &str = "root pass word";
/// A user name that is markup: it must show as these characters and never become an element.
const HOSTILE: &str = "<img src=x onerror=alert(1)>";
const BROADCAST: &str = "Library maintenance at 22:00, back soon";

/// The refresh token the keyring holds for that account, if any.
async fn keyring_entry(url: &ServerUrl, username: &str) -> Option<Secret> {
    AsyncTokenStore::new(Arc::new(KeyringStore::new()))
        .get(&Account::new(url, username))
        .await
        .expect("the session keyring answers")
}

/// Polls the keyring until the entry is there (`want`) or gone, within [`WAIT`].
async fn wait_keyring(url: &ServerUrl, username: &str, want: bool) -> Option<Secret> {
    let deadline = Instant::now() + WAIT;
    loop {
        let entry = keyring_entry(url, username).await;
        if entry.is_some() == want {
            return entry;
        }
        assert!(
            Instant::now() < deadline,
            "the keyring entry for {username} is {} after {WAIT:?}",
            if want { "still missing" } else { "still there" }
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs a blocking popup wait without stalling the runtime's other tasks.
fn wait_popup(popups: &PopupWatch, what: &str, pred: impl FnMut(&Popup) -> bool) -> Popup {
    tokio::task::block_in_place(|| popups.wait(WAIT, pred))
        .unwrap_or_else(|| panic!("no popup {what} reached the notification daemon in {WAIT:?}"))
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

/// The window under test.
struct Window {
    session: Session,
    shots: PathBuf,
}

impl Window {
    /// True if the first element matching `css` exists and is rendered: not `hidden`, not
    /// `display: none` (no boxes), not `visibility: hidden`. (WebKitWebDriver's own "is
    /// displayed" answers false for list rows inside `overflow: hidden` boxes.)
    async fn shown(&self, css: &str) -> Result<bool, WebDriverError> {
        let shown = self
            .session
            .execute(
                "const e = document.querySelector(arguments[0]);
                 return e !== null && e.closest('[hidden]') === null
                     && e.getClientRects().length > 0
                     && getComputedStyle(e).visibility !== 'hidden';",
                vec![json!(css)],
            )
            .await?;
        Ok(shown == Value::Bool(true))
    }

    /// Waits until the first element matching `css` is displayed.
    async fn wait_shown(&self, css: &str, timeout: Duration) {
        self.session
            .wait_for(timeout, &format!("{css} to be shown"), || async {
                Ok(self.shown(css).await?.then_some(()))
            })
            .await
            .step(css);
    }

    /// `document.body.dataset[key]`.
    async fn body_data(&self, key: &str) -> Result<Option<String>, WebDriverError> {
        let value = self
            .session
            .execute(
                "return document.body.dataset[arguments[0]] ?? null;",
                vec![json!(key)],
            )
            .await?;
        Ok(value.as_str().map(str::to_owned))
    }

    /// Waits until the window says it is signed in (`body[data-signed-in]`) or out.
    async fn wait_signed_in(&self, signed_in: bool, timeout: Duration) {
        let want = if signed_in { "1" } else { "0" };
        self.session
            .wait_for(timeout, &format!("body[data-signed-in={want}]"), || async {
                Ok((self.body_data("signedIn").await?.as_deref() == Some(want)).then_some(()))
            })
            .await
            .step(if signed_in { "signed in" } else { "signed out" });
    }

    /// Clicks the first element matching `css` once it is shown (tabs and buttons appear only
    /// when the state they act on is known, e.g. admin tabs after the server said who we are).
    async fn click(&self, css: &str) {
        self.wait_shown(css, WAIT).await;
        self.session
            .click_css(css)
            .await
            .step(&format!("click {css}"));
    }

    /// Picks `value` in the `<select>` matching `css` as a user would (value, then `change`).
    async fn choose(&self, css: &str, value: &str) {
        self.wait_shown(css, WAIT).await;
        self.session
            .execute(
                "const select = document.querySelector(arguments[0]);
                 select.value = arguments[1];
                 select.dispatchEvent(new Event('change', { bubbles: true }));
                 return select.value;",
                vec![json!(css), json!(value)],
            )
            .await
            .step(&format!("choose {value} in {css}"));
    }

    /// The text of every element matching `css`.
    async fn texts(&self, css: &str) -> Vec<String> {
        let texts = self
            .session
            .execute(
                "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent);",
                vec![json!(css)],
            )
            .await
            .step(&format!("texts of {css}"));
        serde_json::from_value(texts).unwrap_or_default()
    }

    /// Waits until some element matching `css` has text containing `needle`.
    async fn wait_text(&self, css: &str, needle: &str) {
        self.session
            .wait_for(WAIT, &format!("{needle:?} in {css}"), || async {
                Ok(self
                    .texts(css)
                    .await
                    .iter()
                    .any(|t| t.contains(needle))
                    .then_some(()))
            })
            .await
            .step(css);
    }

    /// Fills the password form with `server`, `username` and `password` and submits it.
    async fn submit_password(&self, server: &str, username: &str, password: &str) {
        for (css, text) in [
            ("#server", server),
            ("#username", username),
            ("#password", password),
        ] {
            self.session.fill(css, text).await.step(css);
        }
        self.click("#signin-submit").await;
    }

    /// Opens a tab and waits for its view.
    async fn open_tab(&self, view: &str) {
        self.click(&format!("button.tab[data-view=\"{view}\"]"))
            .await;
        self.wait_shown(&format!("#view-{view}"), WAIT).await;
    }

    /// Saves `<name>-light.png` and `<name>-dark.png` of the window as it is now.
    async fn screenshots(&self, name: &str) {
        for theme in ["light", "dark"] {
            // Setting the theme restyles on the next frame: wait for two frames to be painted.
            self.session
                .execute_async(
                    "const [theme, done] = arguments;
                     document.documentElement.dataset.theme = theme;
                     requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                    vec![json!(theme)],
                )
                .await
                .step(&format!("switch to the {theme} theme"));
            let png = self
                .session
                .screenshot()
                .await
                .step(&format!("screenshot {name}-{theme}"));
            assert!(
                png.starts_with(b"\x89PNG\r\n\x1a\n"),
                "the {name}-{theme} screenshot is not a PNG"
            );
            let path = self.shots.join(format!("{name}-{theme}.png"));
            std::fs::write(&path, &png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        }
        self.session
            .execute(
                "delete document.documentElement.dataset.theme; return true;",
                vec![],
            )
            .await
            .step("restore the theme");
    }
}

/// A PNG of the notification daemon's popup window (dunst's), as it is on the X display now.
fn popup_screenshot() -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    use x11rb::connection::Connection as _;
    use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _, ImageFormat, MapState};

    let (x, screen) = x11rb::connect(None)?;
    let root = x.setup().roots[screen].root;
    let mut found = None;
    for window in x.query_tree(root)?.reply()?.children {
        let class = x
            .get_property(false, window, AtomEnum::WM_CLASS, AtomEnum::STRING, 0, 64)?
            .reply()?
            .value;
        let viewable = x.get_window_attributes(window)?.reply()?.map_state == MapState::VIEWABLE;
        if viewable
            && String::from_utf8_lossy(&class)
                .to_lowercase()
                .contains("dunst")
        {
            found = Some(window);
        }
    }
    let window = found.ok_or("no dunst window is mapped")?;
    let geometry = x.get_geometry(window)?.reply()?;
    let (width, height) = (geometry.width, geometry.height);
    let image = x
        .get_image(ImageFormat::Z_PIXMAP, window, 0, 0, width, height, !0)?
        .reply()?;
    // Xvfb's 24-bit visual: 4 bytes a pixel, blue-green-red-unused.
    let rgb: Vec<u8> = image
        .data
        .chunks_exact(4)
        .flat_map(|p| [p[2], p[1], p[0]])
        .collect();
    let mut png_bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut png_bytes, width.into(), height.into());
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&rgb)?;
    Ok(png_bytes)
}

/// Another user's client, online for as long as this lives (its events must be taken, or the
/// connection stops).
struct Client {
    connection: ConnectionHandle,
    _events: mpsc::Receiver<ServerEvent>,
}

/// Brings `user` online with a real signed-in socket (tokens in memory, not in the keyring).
async fn go_online(sim: &Sim, user: &str, password: &str) -> Client {
    let url = ServerUrl::parse(&sim.base_url()).expect("the simulator's URL parses");
    let manager = TokenManager::new(
        AbsClient::new(url.clone(), &TlsConfig::system().expect("system TLS"))
            .expect("an ABS client"),
        AsyncTokenStore::new(Arc::new(MemoryStore::new())),
        Account::new(&url, user),
    );
    let session = manager
        .sign_in(&Secret::new(password))
        .await
        .unwrap_or_else(|e| panic!("{user} signs in: {e}"));
    let config = ConnectionConfig {
        socket_url: url.socket_url(),
        tls: None,
        server_version: Some("2.36.0".into()),
        socket_daily_logs: false,
        timings: Default::default(),
    };
    let signed_in = Arc::new(SignedIn::new(manager, Some(session)));
    let (connection, events, _task) = connection::spawn(config, signed_in);
    let mut status = connection.status();
    tokio::time::timeout(
        WAIT,
        status.wait_for(|s| matches!(s, ConnectionStatus::Connected { .. })),
    )
    .await
    .unwrap_or_else(|_| panic!("{user} is not connected after {WAIT:?}"))
    .expect("the connection task runs");
    Client {
        connection,
        _events: events,
    }
}

/// A simulator with an admin, a listener and a user whose name is markup.
async fn simulator() -> Sim {
    let sim = abs_sim::start(
        SimConfig::default()
            .with_user("root", ROOT_PASSWORD, true)
            .with_user("alice", "alice-pw", false)
            .with_user(HOSTILE, "hostile-pw", false),
    )
    .await
    .expect("start abs-sim");
    assert!(
        sim.user_id(HOSTILE).is_some(),
        "the simulator accepts the hostile user name"
    );
    sim
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_signs_in_shows_live_state_acts_and_signs_out() {
    require_desktop_session();
    let app = app_binary();
    let config = tempfile::tempdir().expect("a config dir");
    let shots = target_dir().join("screenshots");
    std::fs::create_dir_all(&shots).expect("create target/screenshots");

    let sim = simulator().await;
    let url = ServerUrl::parse(&sim.base_url()).expect("the simulator's URL parses");
    assert!(
        keyring_entry(&url, "root").await.is_none(),
        "a fresh simulator port has no keyring entry yet"
    );
    let popups = tokio::task::block_in_place(PopupWatch::start).expect("watch popups on D-Bus");

    // tauri-driver hands its environment and stderr to WebKitWebDriver, which hands them to
    // the app: the app logs at debug level to target/window-app.log, checked for secrets below.
    let log_path = target_dir().join("window-app.log");
    let log = std::fs::File::create(&log_path)
        .unwrap_or_else(|e| panic!("create {}: {e}", log_path.display()));
    let driver = TauriDriver::start(
        &[
            ("ABS_TRAY_CONFIG_DIR", config.path().as_os_str()),
            (
                "ABS_TRAY_LOG",
                "info,abs_tray=debug,abs_tray_core=debug".as_ref(),
            ),
        ],
        log,
    )
    .expect("start tauri-driver");
    let session = Session::start(
        &driver.url(),
        json!({"capabilities": {"alwaysMatch": {"tauri:options": {
            "application": app.to_string_lossy(),
        }}}}),
    )
    .await
    .step("open a WebDriver session (launches abs-tray)");
    let window = Window { session, shots };

    // First start with an empty config folder: the sign-in form.
    window
        .session
        .wait_for(STARTUP, "the first render (body[data-ready=1])", || async {
            Ok((window.body_data("ready").await?.as_deref() == Some("1")).then_some(()))
        })
        .await
        .step("first render");
    assert_eq!(
        window
            .body_data("signedIn")
            .await
            .step("signedIn")
            .as_deref(),
        Some("0"),
        "a fresh config folder starts signed out"
    );
    assert!(
        window.shown("#signin-form").await.step("#signin-form"),
        "the sign-in form is not visible (is the window hidden at start?)"
    );
    window.screenshots("signin").await;

    // Sign in through the form (in password mode).
    let api_key = window
        .session
        .get("#use-api-key")
        .await
        .step("#use-api-key");
    let api_key_on = window
        .session
        .execute("return arguments[0].checked;", vec![api_key.to_json()])
        .await
        .step("#use-api-key checked");
    if api_key_on == Value::Bool(true) {
        window
            .session
            .click(&api_key)
            .await
            .step("untick #use-api-key");
    }
    window
        .submit_password(&sim.base_url(), "root", ROOT_PASSWORD)
        .await;
    let outcome = window
        .session
        .wait_for(WAIT, "signed in or a sign-in error", || async {
            if window.body_data("signedIn").await?.as_deref() == Some("1") {
                return Ok(Some(Ok(())));
            }
            if window.shown("#signin-error").await? {
                let text = window
                    .session
                    .execute(
                        "return document.getElementById('signin-error').innerText.trim();",
                        vec![],
                    )
                    .await?;
                if let Some(text) = text.as_str().filter(|t| !t.is_empty()) {
                    return Ok(Some(Err(text.to_owned())));
                }
            }
            Ok(None)
        })
        .await
        .step("sign in");
    if let Err(text) = outcome {
        panic!("signing in failed in the window: {text}");
    }
    window.wait_shown("#app", WAIT).await;

    // The refresh token is in the keyring, and nowhere the webview or a file could show it.
    let token = wait_keyring(&url, "root", true)
        .await
        .expect("a keyring entry");
    assert!(!token.expose().is_empty());
    assert_ne!(token.expose(), ROOT_PASSWORD);
    let page = window
        .session
        .execute("return document.documentElement.outerHTML;", vec![])
        .await
        .step("page source");
    let page = page.as_str().unwrap_or_default();
    assert!(!page.contains(token.expose()), "the token reached the DOM");
    assert!(
        !page.contains(ROOT_PASSWORD),
        "the password stayed in the DOM"
    );
    assert!(
        config.path().join("settings.toml").is_file(),
        "the app keeps its settings in ABS_TRAY_CONFIG_DIR"
    );
    for entry in std::fs::read_dir(config.path())
        .expect("read the config dir")
        .flatten()
    {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(token.expose()) && !text.contains(ROOT_PASSWORD),
            "{} holds a secret",
            entry.path().display()
        );
    }

    // Users: everyone online (the view lists presence); the hostile name is text, not an element.
    let clients = [
        go_online(&sim, "alice", "alice-pw").await,
        go_online(&sim, HOSTILE, "hostile-pw").await,
    ];
    window.open_tab("users").await;
    let names_script = "return [...document.querySelectorAll('#users-list > li.user .name')]
                          .map(n => n.textContent.trim());";
    let names = window
        .session
        .wait_for(WAIT, "the simulator's users in #users-list", || async {
            let names = window.session.execute(names_script, vec![]).await?;
            let names: Vec<String> = names
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|n| n.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let all = ["root", "alice", HOSTILE]
                .iter()
                .all(|want| names.iter().any(|n| n == want));
            Ok(all.then_some(names))
        })
        .await;
    let names = match names {
        Ok(names) => names,
        Err(err) => {
            let shown = window.session.execute(names_script, vec![]).await;
            panic!("{err}; #users-list shows {shown:?}");
        }
    };
    assert!(names.iter().any(|n| n == HOSTILE), "{names:?}");
    let images = window
        .session
        .execute(
            "return document.querySelectorAll('#users-list img').length;",
            vec![],
        )
        .await
        .step("count images in #users-list");
    assert_eq!(images, json!(0), "the hostile user name became an <img>");
    // innerText is what is rendered: the characters themselves, not a parsed tag.
    let rendered = window
        .session
        .execute(
            "return [...document.querySelectorAll('#users-list > li.user .name')]
                 .map(n => n.innerText.trim());",
            vec![],
        )
        .await
        .step("rendered user names");
    assert!(
        rendered
            .as_array()
            .is_some_and(|names| names.contains(&json!(HOSTILE))),
        "the hostile name is shown literally: {rendered}"
    );
    assert_eq!(
        window.session.alert_text().await.step("alert state"),
        None,
        "the hostile name ran script (an alert is open)"
    );
    window.screenshots("users").await;

    // Now listening: a session the server announces is on screen within a second, and pops up.
    window.open_tab("listening").await;
    let mut events = sim.events();
    let item = sim.item_ids().first().cloned().expect("the sim has books");
    let started = Instant::now();
    sim.start_session("alice", &item, "phone-1")
        .expect("start alice's session");
    events
        .wait_named("user_stream_update", WAIT)
        .await
        .expect("the simulator announces the session to admins");
    let alice_row = "return [...document.querySelectorAll('#listening-list > li.session')]
                       .some(li => li.querySelector('.user')?.textContent.includes('alice')
                                   && li.getClientRects().length > 0);";
    window
        .session
        .wait_script(WAIT, "alice in #listening-list", alice_row)
        .await
        .step("listening list");
    let latency = started.elapsed();
    eprintln!("window: alice's session was listed {latency:?} after the simulator started it");
    assert!(
        latency <= LIVE_LATENCY,
        "alice's session showed after {latency:?}, more than {LIVE_LATENCY:?} after the event"
    );
    let parts = window
        .session
        .execute(
            "const li = [...document.querySelectorAll('#listening-list > li.session')]
                 .find(li => li.querySelector('.user')?.textContent.includes('alice'));
             return ['.user', '.title', '.author', '.device', 'progress']
                 .map(sel => li.querySelector(sel) !== null);",
            vec![],
        )
        .await
        .step("the session row's parts");
    assert_eq!(
        parts,
        json!([true, true, true, true, true]),
        "a session row has .user .title .author .device and progress"
    );
    let popup = wait_popup(&popups, "for alice's session", |p| {
        p.app_name == APP_NAME && p.summary.starts_with("alice started ")
    });
    assert!(!popup.summary.contains('<'), "{popup:?}");
    window.screenshots("listening").await;
    // dunst maps its window a moment after the Notify call the watch saw.
    let png = window
        .session
        .wait_for(WAIT, "dunst's popup window", || async {
            Ok(popup_screenshot().ok())
        })
        .await
        .step("screenshot of the popup");
    let path = window.shots.join("popup.png");
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));

    // Activity: what happened so far is listed.
    window.open_tab("activity").await;
    window
        .session
        .wait_script(
            WAIT,
            "entries in #activity-list",
            "return document.querySelectorAll('#activity-list > li').length > 0;",
        )
        .await
        .step("activity list");
    window.screenshots("activity").await;

    // Server: a running scan, cancelled from the window.
    window.open_tab("server").await;
    let mut events = sim.events();
    let task = sim.start_scan(&sim.library_id()).expect("start a scan");
    window
        .wait_shown("#scans-list > li.scan button.cancel-scan", WAIT)
        .await;
    window.screenshots("server").await;
    window
        .click("#scans-list > li.scan button.cancel-scan")
        .await;
    let finished = events
        .wait_for(WAIT, "task_finished for the cancelled scan", |ev| {
            ev.name == "task_finished"
                && ev
                    .payload
                    .as_ref()
                    .and_then(|p| p.get("id"))
                    .and_then(Value::as_str)
                    == Some(task.as_str())
        })
        .await
        .expect("the scan ends after Cancel");
    let finished = finished.payload.map(|p| p.to_string()).unwrap_or_default();
    assert!(
        finished.contains("canceled"),
        "the scan ended as cancelled: {finished}"
    );
    window
        .session
        .wait_script(
            WAIT,
            "the cancelled scan to leave #scans-list",
            "return document.querySelectorAll('#scans-list > li.scan').length === 0;",
        )
        .await
        .step("scans list");

    // Broadcast, confirmed: the server sends it to everyone, us included, as a popup.
    let mut events = sim.events();
    window
        .session
        .fill("#broadcast-text", BROADCAST)
        .await
        .step("#broadcast-text");
    window
        .session
        .wait_script(
            WAIT,
            "#broadcast-send to be enabled",
            "return !document.getElementById('broadcast-send').disabled;",
        )
        .await
        .step("#broadcast-send");
    window.click("#broadcast-send").await;
    window
        .session
        .wait_script(
            WAIT,
            "the #broadcast-confirm dialog",
            "return document.getElementById('broadcast-confirm').open === true;",
        )
        .await
        .step("#broadcast-confirm");
    assert!(
        events.drain().iter().all(|ev| ev.name != "admin_message"),
        "nothing is sent before the confirmation"
    );
    window.click("#broadcast-confirm-yes").await;
    events
        .wait_for(WAIT, "admin_message with the broadcast", |ev| {
            ev.name == "admin_message" && ev.payload == Some(json!(BROADCAST))
        })
        .await
        .expect("the simulator broadcasts the message");
    wait_popup(&popups, "for the broadcast", |p| {
        p.app_name == APP_NAME && p.body.contains(BROADCAST)
    });

    // The live log: choosing a level makes the server stream its lines. The listener is set
    // over the socket, so a line logged before the server handled it never comes: log a fresh
    // one per check until one shows.
    window.choose("#log-level", "2").await;
    let mut attempt = 0;
    window
        .session
        .wait_for(WAIT, "a server log line in #log-list", || {
            attempt += 1;
            sim.emit_log(LogLevel::Warn, &format!("log check {attempt}"));
            async {
                Ok(window
                    .texts("#log-list .log-message")
                    .await
                    .iter()
                    .any(|t| t.starts_with("log check"))
                    .then_some(()))
            }
        })
        .await
        .step("log level");
    // Paused, the list stands still: a line logged before a scan starts is not shown once the
    // scan is (events are applied in order), and appears on Resume.
    window.click("#log-pause").await;
    sim.emit_log(LogLevel::Error, "logged while paused");
    let task = sim.start_scan(&sim.library_id()).expect("start a scan");
    window.wait_shown("#scans-list > li.scan", WAIT).await;
    assert!(
        !window
            .texts("#log-list .log-message")
            .await
            .iter()
            .any(|t| t == "logged while paused"),
        "the paused log list changed"
    );
    window.click("#log-pause").await;
    window
        .wait_text("#log-list .log-message", "logged while paused")
        .await;
    sim.finish_scan(&task, 0, 0, 0).expect("finish the scan");

    // Settings: pause popups for an hour, then resume.
    window.open_tab("settings").await;
    window.wait_shown("#settings-form", WAIT).await;
    window.click("#pause-hour").await;
    window.wait_shown("#paused-note", WAIT).await;
    window.wait_text("#pause-state", "Paused until").await;
    window.click("#pause-resume").await;
    window
        .session
        .wait_script(
            WAIT,
            "#paused-note to hide after Resume",
            "return document.getElementById('paused-note').hidden;",
        )
        .await
        .step("resume");

    // Launch at login: an XDG autostart entry that starts the app hidden, and gone again.
    let autostart_dir = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .expect("the desktop session sets XDG_CONFIG_HOME")
        .join("autostart");
    let entry = autostart_dir.join("abs-tray.desktop");
    window.click("#autostart").await;
    let text = window
        .session
        .wait_for(WAIT, "the autostart entry", || async {
            Ok(std::fs::read_to_string(&entry).ok())
        })
        .await
        .unwrap_or_else(|err| {
            let found = std::fs::read_dir(&autostart_dir)
                .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
                .unwrap_or_default();
            panic!("{err}; {} holds {found:?}", autostart_dir.display())
        });
    assert!(text.contains("--hidden"), "autostart entry: {text}");
    window.click("#autostart").await;
    window
        .session
        .wait_for(WAIT, "the autostart entry to go", || async {
            Ok((!entry.exists()).then_some(()))
        })
        .await
        .step("launch at login off");

    // Settings, then sign out: the keyring is emptied and the form is back.
    window.screenshots("settings").await;
    window.click("#sign-out").await;
    window.wait_signed_in(false, WAIT).await;
    window.wait_shown("#signin-form", WAIT).await;
    wait_keyring(&url, "root", false).await;

    // A server that is not there: the sign-in fails and the doctor says which step broke.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        listener.local_addr().expect("its address")
    };
    window
        .submit_password(&format!("http://{dead}"), "root", "x")
        .await;
    window
        .session
        .wait_script(
            WAIT,
            "the doctor's verdict",
            "return document.getElementById('doctor').dataset.verdict === 'fail'
                 && document.querySelector('#doctor li[data-step=tcp][data-verdict=fail]') !== null;",
        )
        .await
        .step("doctor");
    window.screenshots("doctor").await;

    // Try the demo: the built-in simulator, signed in without a keyring entry.
    window.click("#try-demo").await;
    window.wait_signed_in(true, STARTUP).await;
    window.wait_shown("#demo-badge", WAIT).await;
    window.open_tab("users").await;
    window.wait_text("#users-list", "alice").await;
    window.open_tab("settings").await;
    window.click("#sign-out").await;
    window.wait_shown("#signin-form", WAIT).await;

    for client in clients {
        if let Err(err) = client.connection.shutdown().await {
            eprintln!("closing a client: {err}");
        }
    }
    if let Err(err) = window.session.delete().await {
        eprintln!("closing the WebDriver session: {err}");
    }
    drop(driver);
    sim.shutdown().await;

    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        !log.contains(token.expose()) && !log.contains(ROOT_PASSWORD),
        "{} holds a secret",
        log_path.display()
    );
}
