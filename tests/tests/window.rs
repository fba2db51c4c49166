//! The real ABS Tray window, end to end: the `abs-tray` binary under Xvfb, driven through
//! WebDriver (tauri-driver in front of WebKitWebDriver), signed in to the simulator, with the
//! private session's real gnome-keyring and dunst. It signs in through the form, checks the
//! keyring, the users list (a hostile user name stays text), a listening session appearing
//! within a second and as a popup, a broadcast cancelled (nothing sent, the draft kept) and one
//! sent that comes back as a popup, cancelling a scan, the live log (level, pause), the Activity
//! filter, pausing popups (an hour, until tomorrow 08:00), every notification switch and quiet
//! hours saved to settings.toml and in force on real popups, Reconnect (a new socket), Open
//! Audiobookshelf (a stand-in xdg-open records the address), launch at login, signing out, the
//! doctor's verdict for a dead server and the demo server; it saves a light and a dark
//! screenshot of every view, and one of the popup, under `target/screenshots/`.
//!
//! Needs `scripts/desktop-session.sh` (make test runs it) and tauri-driver
//! (installed by `scripts/install-deps.sh`); fails, never skips,
//! without them. Builds `abs-tray` (not a default workspace member) with `cargo build -p abs-tray`.

use std::path::{Path, PathBuf};
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
use abs_tray_e2e::desktop::{require_desktop_session, target_dir};
use abs_tray_e2e::opener::RecordingOpener;
use abs_tray_e2e::popups::{Popup, PopupWatch};
use abs_tray_e2e::window::{STARTUP, Step, Window};
use chrono::{DateTime, Local, TimeDelta, TimeZone as _, Timelike as _};
use serde_json::{Value, json};
use tokio::sync::mpsc;
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
/// A broadcast typed, then cancelled at the confirmation: it must never reach the server.
const DRAFT: &str = "Library maintenance at 21:00";

/// Users who come online during the Settings rounds, one a round (a fresh presence popup), and
/// then start a book (their only session: the server announces a user's first open session).
const NEWCOMERS: [&str; 3] = ["bob", "carol", "dave"];
/// Users who start a book during quiet hours and after them.
const QUIET_LISTENERS: [&str; 2] = ["erin", "frank"];
const NEWCOMER_PASSWORD: &str = "newcomer-pw";
/// The Settings form's category switches (`TOGGLES` in ui/js/settings.js), the columns of
/// [`ROUNDS`].
const CATEGORIES: [&str; 6] = [
    "admin_message",
    "presence",
    "sessions",
    "progress",
    "milestones",
    "server_activity",
];
/// What each Settings round switches on: every switch is saved on and off at least once, and
/// milestones are tried with progress off (hushed with it) and on.
const ROUNDS: [[bool; 6]; 3] = [
    [true, false, false, true, false, false],
    [false, true, true, false, true, true],
    [true; 6],
];

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

/// The `[notifications]` table of the app's `settings.toml` as it is on disk now, read with a
/// TOML parser of the test's own.
fn saved_notifications(config_dir: &Path) -> toml::Table {
    let path = config_dir.join("settings.toml");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut file: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("{} is not TOML: {e}", path.display()));
    match file.remove("notifications") {
        Some(toml::Value::Table(table)) => table,
        other => panic!("{} has no [notifications] table: {other:?}", path.display()),
    }
}

/// "Until tomorrow" as a person means it: the next 08:00 local, except that before 04:00 the
/// morning to wait for is today's.
fn next_morning(now: DateTime<Local>) -> i64 {
    let today = now.date_naive();
    let day = if now.hour() < 4 {
        today
    } else {
        today.succ_opt().expect("a day after today")
    };
    let wall = day.and_hms_opt(8, 0, 0).expect("08:00 is a time");
    Local
        .from_local_datetime(&wall)
        .earliest()
        .expect("08:00 exists in the local zone")
        .timestamp_millis()
}

/// Renames a book of the simulator (before anyone asked for it, so every later session and
/// progress write carries the new title) and returns its id.
fn titled_book(sim: &Sim, index: usize, title: &str) -> String {
    let id = sim
        .item_ids()
        .get(index)
        .cloned()
        .unwrap_or_else(|| panic!("the simulator has a book number {index}"));
    sim.set_item_title(&id, title).expect("rename the book");
    id
}

/// Runs a blocking popup wait without stalling the runtime's other tasks.
fn wait_popup(popups: &PopupWatch, what: &str, pred: impl FnMut(&Popup) -> bool) -> Popup {
    tokio::task::block_in_place(|| popups.wait(WAIT, pred))
        .unwrap_or_else(|| panic!("no popup {what} reached the notification daemon in {WAIT:?}"))
}

/// What this test does with the window beyond looking and clicking.
trait Actions {
    /// Fills the password form with `server`, `username` and `password` and submits it.
    async fn submit_password(&self, server: &str, username: &str, password: &str);
    /// Saves the Settings form with its button and waits until the app says so (it writes
    /// settings.toml before it answers); a refusal fails the test with its message.
    async fn save_settings(&self);
    /// Types `text` as a broadcast and opens its confirmation with Send.
    async fn open_broadcast(&self, text: &str);
}

impl Actions for Window {
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

    async fn save_settings(&self) {
        self.wait_text("#settings-status", "Unsaved changes").await;
        self.click("#settings-save").await;
        let outcome = self
            .session
            .wait_for(WAIT, "Saved. or an error", || async {
                let status = self.texts("#settings-status").await;
                if status.iter().any(|t| t == "Saved.") {
                    return Ok(Some(Ok(())));
                }
                if self.shown("#settings-error").await? {
                    let error = self.texts("#settings-error").await.join(" ");
                    return Ok(Some(Err(error)));
                }
                Ok(None)
            })
            .await
            .step("#settings-save");
        if let Err(error) = outcome {
            panic!("the settings were not saved: {error}");
        }
    }

    async fn open_broadcast(&self, text: &str) {
        self.session
            .fill("#broadcast-text", text)
            .await
            .step("#broadcast-text");
        self.session
            .wait_script(
                WAIT,
                "#broadcast-send to be enabled",
                "return !document.getElementById('broadcast-send').disabled;",
            )
            .await
            .step("#broadcast-send");
        self.click("#broadcast-send").await;
        self.session
            .wait_script(
                WAIT,
                "the #broadcast-confirm dialog",
                "return document.getElementById('broadcast-confirm').open === true;",
            )
            .await
            .step("#broadcast-confirm");
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

/// Another user's client, online for as long as this lives.
struct Client {
    connection: ConnectionHandle,
    /// Takes its events: a full channel would stall the connection, and the server would then
    /// see the user go offline (a popup nobody asked for).
    _drain: tokio::task::JoinHandle<()>,
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
        _drain: tokio::spawn(drain(events)),
    }
}

/// Takes events until the connection ends.
async fn drain(mut events: mpsc::Receiver<ServerEvent>) {
    while events.recv().await.is_some() {}
}

/// One Settings round: switches the categories to `on` (in [`CATEGORIES`] order) with the
/// form, saves, reads them back from settings.toml, then has the server raise one happening of
/// each kind and checks that exactly the switched-on kinds popped up. The last trigger is one
/// that must pop up (a broadcast, or a scan while broadcasts are off): the app takes events and
/// sends popups in order, so once it is there every earlier trigger has been decided. Returns
/// the client of the user who came online, to keep them online.
async fn settings_round(
    window: &Window,
    sim: &Sim,
    popups: &PopupWatch,
    config_dir: &Path,
    round: usize,
) -> Client {
    let on = ROUNDS[round];
    let n = round + 1;
    let switched_on: Vec<&str> = CATEGORIES
        .iter()
        .zip(on)
        .filter_map(|(key, on)| on.then_some(*key))
        .collect();
    for (key, checked) in CATEGORIES.iter().zip(on) {
        window
            .set_checked(&format!("#setting-{key}"), checked)
            .await;
    }
    // Once: presence at once and no folding into "And N more", so each trigger is one popup.
    let numbers = [
        ("online_debounce_s", 0),
        ("offline_debounce_s", 0),
        ("rate_limit", 100),
    ];
    if round == 0 {
        for (key, value) in numbers {
            let css = format!("#setting-{key}");
            window
                .session
                .fill(&css, &value.to_string())
                .await
                .step(&css);
        }
    }
    window.save_settings().await;
    let saved = saved_notifications(config_dir);
    for (key, checked) in CATEGORIES.iter().zip(on) {
        assert_eq!(
            saved.get(*key).and_then(toml::Value::as_bool),
            Some(checked),
            "round {n}: {key} in settings.toml ({saved:?})"
        );
    }
    for (key, value) in numbers {
        assert_eq!(
            saved.get(key).and_then(toml::Value::as_integer),
            Some(value),
            "round {n}: {key} in settings.toml ({saved:?})"
        );
    }

    let root = sim.user_id("root").expect("root's id");
    let sessions_title = format!("Round {n} sessions book");
    let milestone_title = format!("Round {n} milestone book");
    let finished_title = format!("Round {n} finished book");
    let listened_book = titled_book(sim, 1 + 3 * round, &sessions_title);
    let milestone_book = titled_book(sim, 2 + 3 * round, &milestone_title);
    let finished_book = titled_book(sim, 3 + 3 * round, &finished_title);
    let broadcast = format!("Settings round {n}");
    let _ = popups.drain();
    let mut events = sim.events();

    // Presence: a user comes online (the server tells admins while it signs the socket in).
    let newcomer = NEWCOMERS[round];
    let newcomer_id = sim.user_id(newcomer).expect("the newcomer's id");
    let client = go_online(sim, newcomer, NEWCOMER_PASSWORD).await;
    events
        .wait_for(WAIT, "user_online for the newcomer, to root", |ev| {
            ev.name == "user_online"
                && ev.reached_user(&root)
                && ev
                    .payload
                    .as_ref()
                    .and_then(|p| p.get("id"))
                    .and_then(Value::as_str)
                    == Some(newcomer_id.as_str())
        })
        .await
        .expect("the simulator tells root the newcomer is online");
    // Sessions: the newcomer starts a book.
    sim.start_session(newcomer, &listened_book, format!("tablet-{n}").as_str())
        .expect("start the newcomer's session");
    // Milestones: our own listening crosses 25 % (a first write, then a jump to 30 %).
    let playing = sim
        .start_session("root", &milestone_book, format!("desk-{n}").as_str())
        .expect("start root's session");
    sim.sync_session(&playing, 30.0)
        .expect("sync root's session");
    let written = events
        .wait_for(WAIT, "root's first progress write", |ev| {
            ev.name == "user_item_progress_updated"
                && ev
                    .payload
                    .as_ref()
                    .and_then(|p| p["data"]["libraryItemId"].as_str())
                    == Some(milestone_book.as_str())
        })
        .await
        .expect("the simulator sends root's progress");
    let duration = written
        .payload
        .as_ref()
        .and_then(|p| p["data"]["duration"].as_f64())
        .expect("a progress write carries the duration");
    sim.sync_session(&playing, duration * 0.3)
        .expect("sync root's session to 30 %");
    // Progress: we finish a book.
    let finishing = sim
        .start_session("root", &finished_book, format!("shelf-{n}").as_str())
        .expect("start root's second session");
    sim.sync_session(&finishing, 30.0)
        .expect("sync root's second session");
    sim.finish_book("root", &finished_book)
        .expect("finish root's book");
    // Server activity: a scan finishes.
    let scan = |updated: u32| {
        let task = sim.start_scan(&sim.library_id()).expect("start a scan");
        sim.finish_scan(&task, 0, updated, 0)
            .expect("finish the scan");
    };
    let scan_updated = |updated: u32| {
        move |p: &Popup| {
            p.summary.starts_with("Scan of ")
                && p.summary.ends_with(&format!(": {updated} updated"))
        }
    };
    let round_scan = u32::try_from(n).expect("a small round number");
    scan(round_scan);
    // Admin messages: a broadcast.
    sim.admin_message(&broadcast);
    let is_broadcast = |p: &Popup| p.body.contains(&broadcast);
    let barrier_scan = round_scan + 10;
    if !on[0] {
        assert!(
            on[5],
            "round {n} needs broadcasts or server activity on for its barrier"
        );
        scan(barrier_scan);
    }

    let seen = tokio::task::block_in_place(|| {
        popups.collect_until(WAIT, |p| {
            p.app_name == APP_NAME
                && if on[0] {
                    is_broadcast(p)
                } else {
                    scan_updated(barrier_scan)(p)
                }
        })
    });
    let seen: Vec<Popup> = seen
        .unwrap_or_else(|| panic!("round {n} ({switched_on:?} on): the last popup never came"))
        .into_iter()
        .filter(|p| p.app_name == APP_NAME)
        .collect();
    let presence_title = format!("{newcomer} is online");
    let started = format!("{newcomer} started {sessions_title}");
    let milestone = format!("You're 25% through {milestone_title}");
    let finished = format!("You finished {finished_title}");
    let any = |matches: &dyn Fn(&Popup) -> bool| seen.iter().any(matches);
    let checks = [
        ("admin message", on[0], any(&is_broadcast)),
        ("presence", on[1], any(&|p| p.summary == presence_title)),
        ("session", on[2], any(&|p| p.summary.starts_with(&started))),
        (
            "finished book",
            on[3],
            any(&|p| p.summary.starts_with(&finished)),
        ),
        (
            "milestone",
            on[3] && on[4],
            any(&|p| p.summary.starts_with(&milestone)),
        ),
        ("scan", on[5], any(&scan_updated(round_scan))),
    ];
    for (what, want, shown) in checks {
        assert_eq!(
            shown,
            want,
            "round {n} ({switched_on:?} on): the {what} popup {}; popups: {seen:#?}",
            if want { "is missing" } else { "was shown" }
        );
    }
    client
}

/// A simulator with an admin, a listener, a user whose name is markup, the users who come
/// online during the Settings rounds, and enough books for every trigger to have its own.
async fn simulator() -> Sim {
    let mut config = SimConfig {
        initial_books: 18,
        ..SimConfig::default()
    }
    .with_user("root", ROOT_PASSWORD, true)
    .with_user("alice", "alice-pw", false)
    .with_user(HOSTILE, "hostile-pw", false);
    for name in NEWCOMERS.into_iter().chain(QUIET_LISTENERS) {
        config = config.with_user(name, NEWCOMER_PASSWORD, false);
    }
    let sim = abs_sim::start(config).await.expect("start abs-sim");
    assert!(
        sim.user_id(HOSTILE).is_some(),
        "the simulator accepts the hostile user name"
    );
    sim
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_signs_in_shows_live_state_acts_and_signs_out() {
    require_desktop_session();
    let config = tempfile::tempdir().expect("a config dir");

    let sim = simulator().await;
    let url = ServerUrl::parse(&sim.base_url()).expect("the simulator's URL parses");
    assert!(
        keyring_entry(&url, "root").await.is_none(),
        "a fresh simulator port has no keyring entry yet"
    );
    let popups = tokio::task::block_in_place(PopupWatch::start).expect("watch popups on D-Bus");

    // tauri-driver hands its environment and stderr to WebKitWebDriver, which hands them to
    // the app: the app logs at debug level to target/window-app.log, checked for secrets below.
    // "Open Audiobookshelf" runs xdg-open: a stand-in first on the app's PATH records it.
    let opener = RecordingOpener::new().expect("write the stand-in xdg-open");
    let path = opener.path_env();
    let (driver, window) = Window::launch(
        config.path(),
        "window-app.log",
        &[("PATH", path.as_os_str())],
    )
    .await;

    // First start with an empty config folder: the sign-in form.
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

    // Broadcast, cancelled at the confirmation: the dialog closes and the draft stays.
    let mut events = sim.events();
    window.open_broadcast(DRAFT).await;
    window.click("#broadcast-confirm-no").await;
    window
        .session
        .wait_script(
            WAIT,
            "the #broadcast-confirm dialog to close after Cancel",
            "return document.getElementById('broadcast-confirm').open === false;",
        )
        .await
        .step("#broadcast-confirm-no");
    assert_eq!(
        window.value("#broadcast-text").await,
        DRAFT,
        "Cancel kept the draft"
    );

    // Broadcast, edited and confirmed: the server sends it to everyone, us included, as a
    // popup. The first admin_message is the confirmed text: had Cancel sent the draft, it
    // would have come first, over the same socket.
    window.open_broadcast(BROADCAST).await;
    assert!(
        events.drain().iter().all(|ev| ev.name != "admin_message"),
        "nothing is sent before the confirmation"
    );
    window.click("#broadcast-confirm-yes").await;
    let sent = events
        .wait_named("admin_message", WAIT)
        .await
        .expect("the simulator broadcasts the message");
    assert_eq!(
        sent.payload,
        Some(json!(BROADCAST)),
        "the first broadcast the server sent is the confirmed one, not the cancelled draft"
    );
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

    // Activity, filtered: only the broadcast, only the sessions, a category with nothing yet,
    // and everything again.
    window.open_tab("activity").await;
    window
        .wait_shown("#activity-list > li.cat-admin_message", WAIT)
        .await;
    window
        .wait_shown("#activity-list > li.cat-sessions", WAIT)
        .await;
    for category in ["admin_message", "sessions"] {
        // The change handler renders at once: the list is filtered when `choose` returns.
        window.choose("#activity-filter", category).await;
        let rows = window
            .session
            .execute(
                "return [...document.querySelectorAll('#activity-list > li')]
                     .map(li => li.className);",
                vec![],
            )
            .await
            .step("activity rows");
        let rows: Vec<String> = serde_json::from_value(rows).unwrap_or_default();
        let class = format!("cat-{category}");
        assert!(
            !rows.is_empty()
                && rows.iter().all(|row| {
                    let classes: Vec<&str> = row.split_whitespace().collect();
                    classes.contains(&class.as_str()) || classes.contains(&"kind-resynced")
                }),
            "with the filter on {category}, #activity-list shows {rows:?}"
        );
    }
    window.choose("#activity-filter", "progress").await;
    window.wait_shown("#activity-empty", WAIT).await;
    window
        .wait_text("#activity-empty", "Nothing in this category yet.")
        .await;
    assert_eq!(
        window.texts("#activity-list > li").await.len(),
        0,
        "nothing of ours has progressed yet"
    );
    window.choose("#activity-filter", "").await;
    window
        .wait_shown("#activity-list > li.cat-admin_message", WAIT)
        .await;
    window
        .wait_shown("#activity-list > li.cat-sessions", WAIT)
        .await;
    assert!(
        !window
            .shown("#activity-empty")
            .await
            .step("#activity-empty"),
        "everything is shown again"
    );

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

    // Until tomorrow: paused until the next 08:00 local, in settings.toml and in the header;
    // then resumed, and the file says so too.
    let before = Local::now();
    window.click("#pause-tomorrow").await;
    window.wait_text("#paused-note", "08:00").await;
    let after = Local::now();
    let until = saved_notifications(config.path())
        .get("paused_until_ms")
        .and_then(toml::Value::as_integer);
    assert!(
        until.is_some_and(|until| until == next_morning(before) || until == next_morning(after)),
        "paused until {until:?}, not the next 08:00 after {before}"
    );
    if before.hour() >= 4 && before.date_naive() == after.date_naive() {
        window.wait_text("#paused-note", "tomorrow").await;
    }
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
    assert_eq!(
        saved_notifications(config.path()).get("paused_until_ms"),
        None,
        "Resume clears the pause in settings.toml"
    );

    // Each category switch, saved and in force: three rounds of the form.
    let mut newcomers = Vec::new();
    for round in 0..ROUNDS.len() {
        newcomers.push(settings_round(&window, &sim, &popups, config.path(), round).await);
    }

    // Quiet hours around now: saved, said under "Pause notifications", and in force (a session
    // start is hushed, a broadcast is not). Off again, the next session pops up.
    assert!(
        window.disabled("#quiet-start").await && window.disabled("#quiet-end").await,
        "the times are off while quiet hours are"
    );
    window.set_checked("#setting-quiet_hours", true).await;
    assert!(
        !window.disabled("#quiet-start").await && !window.disabled("#quiet-end").await,
        "the times are on with quiet hours"
    );
    let now = Local::now();
    let start = (now - TimeDelta::hours(1)).format("%H:%M").to_string();
    let end = (now + TimeDelta::hours(1)).format("%H:%M").to_string();
    window.set_value("#quiet-start", &start).await;
    window.set_value("#quiet-end", &end).await;
    window.save_settings().await;
    let saved = saved_notifications(config.path());
    let quiet = saved.get("quiet_hours").and_then(toml::Value::as_table);
    assert_eq!(
        quiet.map(|q| (
            q.get("start").and_then(toml::Value::as_str),
            q.get("end").and_then(toml::Value::as_str)
        )),
        Some((Some(start.as_str()), Some(end.as_str()))),
        "quiet hours in settings.toml: {saved:?}"
    );
    window
        .wait_text("#pause-state", &format!("quiet from {start} to {end}"))
        .await;
    let hushed_title = "A book started in quiet hours";
    let hushed_book = titled_book(&sim, 10, hushed_title);
    let _ = popups.drain();
    let [hushed_listener, loud_listener] = QUIET_LISTENERS;
    sim.start_session(hushed_listener, &hushed_book, "radio-1")
        .expect("start a session in quiet hours");
    sim.admin_message("Quiet hours check");
    let seen = tokio::task::block_in_place(|| {
        popups.collect_until(WAIT, |p| {
            p.app_name == APP_NAME && p.body.contains("Quiet hours check")
        })
    })
    .expect("a broadcast pops up in quiet hours");
    assert!(
        !seen.iter().any(|p| p
            .summary
            .starts_with(&format!("{hushed_listener} started {hushed_title}"))),
        "a session started in quiet hours popped up: {seen:#?}"
    );
    window.set_checked("#setting-quiet_hours", false).await;
    assert!(
        window.disabled("#quiet-start").await,
        "the times are off again"
    );
    window.save_settings().await;
    let saved = saved_notifications(config.path());
    assert_eq!(
        saved.get("quiet_hours"),
        None,
        "no quiet hours in settings.toml: {saved:?}"
    );
    window
        .wait_text("#pause-state", "Notifications are on.")
        .await;
    let loud_title = "A book started after quiet hours";
    let loud_book = titled_book(&sim, 11, loud_title);
    sim.start_session(loud_listener, &loud_book, "radio-2")
        .expect("start a session after quiet hours");
    wait_popup(&popups, "for the session after quiet hours", |p| {
        p.app_name == APP_NAME
            && p.summary
                .starts_with(&format!("{loud_listener} started {loud_title}"))
    });

    // Reconnect: the socket goes and a new one signs in. The server is stalled first, so the
    // window's "not connected" (Connecting…, or Offline while the probes wait for the server)
    // lasts until it answers again and cannot be missed.
    let root_id = sim.user_id("root").expect("root's id");
    let mut events = sim.events();
    sim.stall(true);
    window.click("#reconnect").await;
    let connection_state = |want: &'static str| {
        format!("return document.getElementById('connection-state').dataset.state === '{want}';")
    };
    let connecting = window
        .session
        .wait_script(
            WAIT,
            "not connected after Reconnect",
            "return ['connecting', 'offline']
                .includes(document.getElementById('connection-state').dataset.state);",
        )
        .await;
    // While offline the lists are the last known: each says as of when, and goes back to live
    // once the server answers and the lists are read again.
    window.open_tab("listening").await;
    window.wait_shown("#listening-as-of", WAIT).await;
    let as_of = window.text("#listening-as-of").await;
    assert!(
        as_of.starts_with("As of ") && as_of.contains("offline"),
        "the Listening tab while offline says {as_of:?}"
    );
    assert!(
        window.text("#users-as-of").await.starts_with("As of "),
        "the Users tab is marked too"
    );
    window.open_tab("settings").await;
    sim.stall(false);
    connecting.step("#reconnect");
    window
        .session
        .wait_script(
            WAIT,
            "Connected after Reconnect",
            &connection_state("connected"),
        )
        .await
        .step("#reconnect");
    window
        .until(
            "the lists live again",
            "return document.getElementById('listening-as-of').hidden
                && document.getElementById('users-as-of').hidden;",
            vec![],
        )
        .await;
    let (mut gone, mut signed_in) = (None, None);
    tokio::time::timeout(WAIT, async {
        while gone.is_none() || signed_in.is_none() {
            let Some(ev) = events.next().await else { break };
            if ev.name == "(disconnect)" && ev.reached_user(&root_id) {
                gone = ev.socket_ids.first().cloned();
            }
            let init_for = ev
                .payload
                .as_ref()
                .and_then(|p| p.get("userId"))
                .and_then(Value::as_str);
            if ev.name == "init" && init_for == Some(root_id.as_str()) {
                signed_in = ev.socket_ids.first().cloned();
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!("after Reconnect the server saw root's socket go ({gone:?}) and a new one ({signed_in:?})")
    });
    assert!(
        gone.is_some() && signed_in.is_some() && gone != signed_in,
        "Reconnect replaced root's socket {gone:?} with {signed_in:?}"
    );

    // Open Audiobookshelf: the browser gets the server's address, and nothing more (no token).
    window.click("#open-server").await;
    let opened = window
        .session
        .wait_for(WAIT, "the stand-in xdg-open to run", || async {
            let opened = opener.opened();
            Ok((!opened.is_empty()).then_some(opened))
        })
        .await
        .step("#open-server");
    assert_eq!(
        opened,
        [format!("{}/", sim.base_url())],
        "Open Audiobookshelf opened something else than the server's page"
    );
    assert!(
        !window.shown("#account-error").await.step("#account-error"),
        "Open Audiobookshelf showed an error"
    );

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

    for client in clients.into_iter().chain(newcomers) {
        if let Err(err) = client.connection.shutdown().await {
            eprintln!("closing a client: {err}");
        }
    }
    if let Err(err) = window.session.delete().await {
        eprintln!("closing the WebDriver session: {err}");
    }
    drop(driver);
    sim.shutdown().await;

    let log_path = target_dir().join("window-app.log");
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        !log.contains(token.expose()) && !log.contains(ROOT_PASSWORD),
        "{} holds a secret",
        log_path.display()
    );
}
