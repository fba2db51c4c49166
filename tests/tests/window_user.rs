//! The first tab of an account that is not an admin, in the real window: the `abs-tray` binary
//! under Xvfb, driven through WebDriver (tauri-driver in front of WebKitWebDriver), signed in
//! through the form to the simulator. It shows the book playing now with its progress and
//! device, the recent sessions and the finished books, and says what will appear while there
//! is nothing; an admin signing in afterwards never sees that layout on the way to their own.
//! Saves `listening-user-{light,dark}.png` and `listening-user-empty-{light,dark}.png` under
//! `target/screenshots/`.
//!
//! Needs `scripts/desktop-session.sh` (make test runs it) and tauri-driver
//! (installed by `scripts/install-deps.sh`); fails, never skips, without them. Builds `abs-tray`
//! (not a default workspace member) with `cargo build -p abs-tray`.

use std::time::Duration;

use abs_sim::{DeviceSpec, SimConfig};
use abs_tray_e2e::desktop::require_desktop_session;
use abs_tray_e2e::window::{Step, Window};
use serde_json::{Value, json};

/// Limit for anything that should take well under a second.
const WAIT: Duration = Duration::from_secs(10);
const ROOT_PASSWORD: &str = "root pass word";
const ALICE_PASSWORD: &str = "alice-pw";
const BOB_PASSWORD: &str = "bob-pw";
/// The device Alice listens on, as the window names it.
const PHONE: &str = "Pixel 8";

/// What this test does with the window beyond looking and clicking.
trait Listener {
    /// Waits until some shown element matching `css` has text containing `needle`.
    async fn wait_on_tab(&self, css: &str, needle: &str);
    /// Signs in through the form with a password (the API-key box unticked).
    async fn sign_in(&self, server: &str, username: &str, password: &str);
}

impl Listener for Window {
    async fn wait_on_tab(&self, css: &str, needle: &str) {
        let found = self
            .session
            .wait_for(WAIT, &format!("{needle:?} in {css}"), || async {
                let found = self.texts(css).await.iter().any(|t| t.contains(needle));
                Ok((found && self.shown(css).await?).then_some(()))
            })
            .await;
        if let Err(err) = found {
            let tab = self.texts("#view-listening").await;
            panic!("{err}; the listening tab shows {tab:?}");
        }
    }

    async fn sign_in(&self, server: &str, username: &str, password: &str) {
        self.wait_shown("#signin-form", WAIT).await;
        let ticked = self
            .session
            .execute(
                "return document.getElementById('use-api-key').checked;",
                vec![],
            )
            .await
            .step("#use-api-key");
        if ticked == Value::Bool(true) {
            self.click("#use-api-key").await;
        }
        for (css, text) in [
            ("#server", server),
            ("#username", username),
            ("#password", password),
        ] {
            self.session.fill(css, text).await.step(css);
        }
        self.click("#signin-submit").await;
        let signed_in = self
            .session
            .wait_for(WAIT, &format!("{username} signed in"), || async {
                Ok((self.body_data("signedIn").await?.as_deref() == Some("1")).then_some(()))
            })
            .await;
        if let Err(err) = signed_in {
            let form = self.texts("#signin-problem").await;
            panic!("{err}; the form says {form:?}");
        }
        self.wait_shown("#app", WAIT).await;
    }
}

/// Alice's phone.
fn phone() -> DeviceSpec {
    DeviceSpec {
        device_id: Some("alice-phone".into()),
        client_name: Some("Abs Android".into()),
        client_version: Some("0.9.80".into()),
        model: Some(PHONE.into()),
        sdk_version: Some("34".into()),
        ..DeviceSpec::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_sees_their_own_listening_and_an_admin_never_sees_it() {
    require_desktop_session();
    let config = tempfile::tempdir().expect("a config dir");

    let sim = abs_sim::start(
        SimConfig::default()
            .with_user("root", ROOT_PASSWORD, true)
            .with_user("alice", ALICE_PASSWORD, false)
            .with_user("bob", BOB_PASSWORD, false),
    )
    .await
    .expect("start abs-sim");
    let ids = sim.item_ids();
    let (dune, emma, ulysses) = (&ids[0], &ids[1], &ids[2]);
    for (id, title) in [(dune, "Dune"), (emma, "Emma"), (ulysses, "Ulysses")] {
        sim.set_item_title(id, title).expect("name a book");
    }
    // Alice's past: a session of Emma that listened and stopped, and Ulysses finished.
    let past = sim.start_session("alice", emma, phone()).expect("Emma");
    sim.sync_session(&past, 600.0).expect("listen to Emma");
    sim.close_session(&past).expect("stop Emma");
    sim.finish_book("alice", ulysses).expect("finish Ulysses");

    let (driver, window) = Window::launch(config.path(), "window-user-app.log", &[]).await;

    // Bob has listened to nothing yet: the first tab says what will appear there, and how.
    window.sign_in(&sim.base_url(), "bob", BOB_PASSWORD).await;
    window.wait_shown("#my-empty", WAIT).await;
    let empty = window.texts("#my-empty").await.join(" ");
    assert!(
        empty.contains("Start a book in Audiobookshelf"),
        "the empty tab says how to fill it: {empty:?}"
    );
    assert!(!window.shown("#my-listening").await.step("#my-listening"));
    window.screenshots("listening-user-empty").await;
    window.open_tab("settings").await;
    window.click("#sign-out").await;

    // Alice signs in: her first tab is her own listening, read from the server.
    window
        .sign_in(&sim.base_url(), "alice", ALICE_PASSWORD)
        .await;
    window.wait_shown("#view-listening", WAIT).await;
    window.wait_on_tab("#my-recent > li", "Emma").await;
    window.wait_on_tab("#my-finished > li", "Ulysses").await;
    window.wait_shown("#my-current-empty", WAIT).await;
    assert!(
        !window
            .shown("#listening-empty")
            .await
            .step("#listening-empty"),
        "the admin's empty list is not Alice's"
    );
    let recent = window.texts("#my-recent > li").await;
    assert!(
        recent[0].contains(PHONE) && recent[0].contains("listened"),
        "a recent session names its device and listening time: {recent:?}"
    );

    // She starts Dune on her phone: the first sync shows it playing, with progress and device.
    let now = sim.start_session("alice", dune, phone()).expect("Dune");
    sim.sync_session(&now, 300.0).expect("listen to Dune");
    window.wait_on_tab("#my-current > li .title", "Dune").await;
    let parts = window
        .session
        .execute(
            "const li = document.querySelector('#my-current > li');
             return [li.querySelector('.device')?.innerText ?? '',
                     li.querySelector('progress')?.value ?? -1,
                     li.querySelector('.time')?.innerText ?? ''];",
            vec![],
        )
        .await
        .step("the current row");
    let device = parts[0].as_str().unwrap_or_default();
    let progress = parts[1].as_f64().unwrap_or(-1.0);
    let time = parts[2].as_str().unwrap_or_default();
    assert!(device.contains(PHONE), "device: {parts}");
    assert!(progress > 0.0 && progress < 1.0, "progress bar: {parts}");
    assert!(
        time.contains("5:00") && time.contains('%'),
        "position: {parts}"
    );
    assert!(
        !window
            .shown("#my-current-empty")
            .await
            .step("#my-current-empty"),
        "nothing-playing line hidden while Dune plays"
    );
    window.screenshots("listening-user").await;

    // Stopped: Dune moves to the recent sessions, first.
    sim.close_session(&now).expect("stop Dune");
    window.wait_shown("#my-current-empty", WAIT).await;
    window
        .session
        .wait_for(WAIT, "Dune first among the recent sessions", || async {
            let recent = window.texts("#my-recent > li .title").await;
            Ok((recent.first().map(String::as_str) == Some("Dune")).then_some(()))
        })
        .await
        .step("recent sessions");

    // The server goes away for a while: her listening stays, marked as last known, until the
    // server is back and it is read again.
    sim.restart_after(Duration::from_secs(4))
        .await
        .expect("take the server down");
    window.wait_on_tab("#listening-as-of", "As of ").await;
    let dimmed = window
        .js(
            "return document.getElementById('my-listening').classList.contains('last-known');",
            vec![],
        )
        .await;
    assert_eq!(dimmed, Value::Bool(true), "her lists are marked last known");
    assert_eq!(
        window
            .texts("#my-recent > li .title")
            .await
            .first()
            .map(String::as_str),
        Some("Dune"),
        "the last known rows stay while offline"
    );
    window
        .session
        .wait_for(Duration::from_secs(20), "the lists live again", || async {
            let hidden = window
                .js(
                    "return document.getElementById('listening-as-of').hidden;",
                    vec![],
                )
                .await;
            Ok((hidden == Value::Bool(true)).then_some(()))
        })
        .await
        .step("back online");

    // Sign out; watch the first tab while root signs in: the loading line, then everyone's
    // listening, never Alice's kind of tab on the way.
    window.open_tab("settings").await;
    window.click("#sign-out").await;
    window.wait_shown("#signin-form", WAIT).await;
    window
        .session
        .execute(
            "window.__layouts = [];
             const panel = document.getElementById('view-listening');
             const mine = ['my-listening', 'my-empty'].map(id => document.getElementById(id));
             const record = () => window.__layouts.push({
                 layout: panel.dataset.layout,
                 mine: mine.some(e => !e.hidden),
                 app: !document.getElementById('app').hidden,
             });
             window.__watch = new MutationObserver(record);
             window.__watch.observe(panel, { attributes: true, subtree: true,
                 attributeFilter: ['data-layout', 'hidden'] });
             return true;",
            vec![],
        )
        .await
        .step("watch the first tab");
    window.sign_in(&sim.base_url(), "root", ROOT_PASSWORD).await;
    window.open_tab("listening").await;
    window
        .session
        .wait_script(
            WAIT,
            "the admin layout",
            "return document.getElementById('view-listening').dataset.layout === 'admin';",
        )
        .await
        .step("admin layout");
    window.wait_shown("#listening-empty", WAIT).await;
    let seen = window
        .session
        .execute(
            "window.__watch.takeRecords(); window.__watch.disconnect(); return window.__layouts;",
            vec![],
        )
        .await
        .step("the layouts seen");
    let seen = seen.as_array().cloned().unwrap_or_default();
    eprintln!("window_user: the first tab while root signed in: {seen:?}");
    assert!(!seen.is_empty(), "the first tab never changed: {seen:?}");
    let shown_while_signed_in: Vec<&Value> =
        seen.iter().filter(|s| s["app"] == json!(true)).collect();
    assert!(
        shown_while_signed_in
            .iter()
            .all(|s| s["layout"] != json!("user") && s["mine"] == json!(false)),
        "an admin saw the listener's layout on the way: {seen:?}"
    );
    assert_eq!(
        seen.last().map(|s| s["layout"].clone()),
        Some(json!("admin")),
        "{seen:?}"
    );

    if let Err(err) = window.session.delete().await {
        eprintln!("closing the WebDriver session: {err}");
    }
    drop(driver);
    sim.shutdown().await;
}
