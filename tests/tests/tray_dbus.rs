//! The tray icon, seen the way a desktop panel sees it: over D-Bus.
//!
//! On Linux the tray is a StatusNotifierItem (via libayatana-appindicator) whose menu is exported
//! with `com.canonical.dbusmenu`. The private test session has no panel, so this test serves a
//! minimal `org.kde.StatusNotifierWatcher` itself, starts the real app binary in demo mode, and
//! then reads the item, follows its state changes through the signals it sends, drives its menu
//! and quits it, all through the bus like a panel would.
//!
//! Run it with `scripts/desktop-session.sh cargo test -p abs-tray-e2e --test tray_dbus`.
#![cfg(target_os = "linux")]

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use abs_tray_e2e::desktop::app_binary;
use abs_tray_e2e::sni::{self, Registration};
use futures_lite::StreamExt;
use tokio::process::{Child, Command};
use tokio::time::{Instant, timeout, timeout_at};
use zbus::message::Type as MessageType;
use zbus::names::InterfaceName;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Structure, Value};
use zbus::{Connection, MatchRule, MessageStream};

/// The item interface appindicator implements.
const ITEM_IFACE: &str = "org.kde.StatusNotifierItem";
/// The menu interface appindicator exports the menu with.
const MENU_IFACE: &str = "com.canonical.dbusmenu";

/// How long the app may take from launch to registering its tray item (a debug build, cold).
const REGISTRATION: Duration = Duration::from_secs(30);
/// How long one observed state change may take (sign-in to the demo server, a menu click).
const STATE_CHANGE: Duration = Duration::from_secs(30);
/// How long the app may take to exit after "Quit".
const EXIT: Duration = Duration::from_secs(20);
/// How long one D-Bus call to the app may take: its GTK main loop answers them, so a call that
/// takes longer means the main thread is stuck, and the test says so instead of hanging.
const CALL: Duration = Duration::from_secs(10);

/// The status line once the demo sign-in has connected.
const CONNECTED: &str = "Connected";
/// The status line while popups are paused.
const PAUSED: &str = "Connected, notifications paused";

/// The tray icon of each state the test waits for, exactly as the app embeds them.
const CONNECTED_ICON: &[u8] = include_bytes!("../../icons/tray-connected.png");
/// The paused state's icon.
const PAUSED_ICON: &[u8] = include_bytes!("../../icons/tray-paused.png");

/// The running app; killed when dropped, so a failing test leaves nothing behind.
struct RunningApp {
    /// The app process.
    child: Child,
}

impl RunningApp {
    /// Starts `binary` hidden (no window) in demo mode, with its settings in `config_dir`.
    fn start(binary: &Path, config_dir: &Path) -> Self {
        let child = Command::new(binary)
            .args(["--hidden", "--demo"])
            .env("ABS_TRAY_CONFIG_DIR", config_dir)
            .stdin(Stdio::null())
            .spawn()
            .expect("start the app");
        Self { child }
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        // Already exited after a successful Quit; otherwise this is a failing test's cleanup.
        let _ = self.child.start_kill();
    }
}

/// One dbusmenu item with its children, as `GetLayout` returns it.
struct Node {
    /// The item id (changes whenever the app rebuilds its menu).
    id: i32,
    /// The properties the server sent (defaults such as `enabled: true` are left out).
    props: HashMap<String, OwnedValue>,
    /// The children in menu order.
    children: Vec<Node>,
}

/// The raw `(ia{sv}av)` of one layout node.
type RawNode = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);

impl Node {
    /// Builds the tree from the wire form; children are variants holding the same structure.
    fn from_raw((id, props, children): RawNode) -> Self {
        let children = children
            .into_iter()
            .map(|child| {
                let mut value = Value::from(child);
                while let Value::Value(inner) = value {
                    value = *inner;
                }
                let raw: RawNode = Structure::try_from(value)
                    .and_then(RawNode::try_from)
                    .expect("a dbusmenu child is (ia{sv}av)");
                Node::from_raw(raw)
            })
            .collect();
        Self {
            id,
            props,
            children,
        }
    }

    /// A string property.
    fn text(&self, key: &str) -> Option<String> {
        self.props
            .get(key)
            .and_then(|v| v.downcast_ref::<String>().ok())
    }

    /// The visible label (empty for separators).
    fn label(&self) -> String {
        self.text("label").unwrap_or_default()
    }

    /// Whether the item can be clicked (dbusmenu's default is true).
    fn enabled(&self) -> bool {
        self.props
            .get("enabled")
            .is_none_or(|v| v.downcast_ref::<bool>().unwrap_or(true))
    }

    /// This node and everything below it, depth first.
    fn all(&self) -> Vec<&Node> {
        let mut out = vec![self];
        for child in &self.children {
            out.extend(child.all());
        }
        out
    }

    /// The first item labelled `label` anywhere below this node.
    fn find(&self, label: &str) -> Option<&Node> {
        self.all().into_iter().find(|n| n.label() == label)
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = format!("#{} {:?}", self.id, self.label());
        if !self.enabled() {
            line.push_str(" (disabled)");
        }
        if let Some(kind) = self.text("type") {
            line.push_str(&format!(" [{kind}]"));
        }
        if self.children.is_empty() {
            f.write_str(&line)
        } else {
            f.debug_map().entry(&line, &self.children).finish()
        }
    }
}

/// What the tray showed at one moment.
#[derive(Debug)]
struct Snapshot {
    /// The menu layout revision.
    revision: u32,
    /// The menu's root; its children are the visible menu.
    root: Node,
    /// The item's `IconName`: for tray-icon, the path of a PNG it wrote.
    icon_name: String,
    /// That PNG decoded to RGBA, if it still existed when read (the next icon deletes it).
    icon: Option<Rgba>,
}

impl Snapshot {
    /// The first, disabled menu line: the connection status.
    fn status(&self) -> String {
        self.root
            .children
            .first()
            .map(Node::label)
            .unwrap_or_default()
    }

    /// The status line reads `status` and the icon shows `icon`.
    fn shows(&self, status: &str, icon: &Rgba) -> bool {
        self.status() == status && self.icon.as_ref() == Some(icon)
    }
}

/// A decoded image: width, height and RGBA pixels, to compare icons by what they show.
#[derive(PartialEq, Eq)]
struct Rgba(u32, u32, Vec<u8>);

impl fmt::Debug for Rgba {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{} image", self.0, self.1)
    }
}

/// Decodes a PNG to 8-bit RGBA.
fn decode(png_bytes: &[u8]) -> Result<Rgba, png::DecodingError> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size().unwrap_or(0)];
    let info = reader.next_frame(&mut buf)?;
    buf.truncate(info.buffer_size());
    Ok(Rgba(info.width, info.height, buf))
}

/// The app's tray item, reached over the bus.
struct Tray {
    /// The test's bus connection (the same one that serves the watcher).
    conn: Connection,
    /// Where the item lives.
    item: Registration,
    /// The item's dbusmenu object path.
    menu: OwnedObjectPath,
}

impl Tray {
    /// Opens the registered item and finds its menu.
    async fn open(conn: Connection, item: Registration) -> Self {
        let mut tray = Self {
            conn,
            item,
            menu: OwnedObjectPath::try_from("/").expect("root path"),
        };
        tray.menu =
            OwnedObjectPath::try_from(tray.property("Menu").await).expect("Menu is an object path");
        tray
    }

    /// Reads one `org.kde.StatusNotifierItem` property, uncached (appindicator announces
    /// changes with its own signals, not `PropertiesChanged`).
    async fn property(&self, name: &str) -> OwnedValue {
        self.try_property(name)
            .await
            .unwrap_or_else(|err| panic!("read the item's {name}: {err}"))
    }

    /// Reads one item property; fails once the app is gone or stuck.
    async fn try_property(&self, name: &str) -> zbus::Result<OwnedValue> {
        let props = zbus::fdo::PropertiesProxy::builder(&self.conn)
            .destination(self.item.bus_name.as_str())?
            .path(self.item.path.as_str())?
            .build()
            .await?;
        let get = props.get(InterfaceName::from_static_str_unchecked(ITEM_IFACE), name);
        Ok(within_call(name, get).await??)
    }

    /// Reads a string property.
    async fn text(&self, name: &str) -> String {
        String::try_from(self.property(name).await)
            .unwrap_or_else(|err| panic!("{name} is a string: {err}"))
    }

    /// Calls a `com.canonical.dbusmenu` method on the menu.
    async fn menu_call<B>(&self, method: &str, body: &B) -> zbus::Result<zbus::Message>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        let call = self.conn.call_method(
            Some(self.item.bus_name.as_str()),
            self.menu.as_str(),
            Some(MENU_IFACE),
            method,
            body,
        );
        within_call(method, call).await?
    }

    /// Reads the whole menu and the icon.
    async fn snapshot(&self) -> Snapshot {
        self.try_snapshot()
            .await
            .unwrap_or_else(|err| panic!("read the tray: {err}"))
    }

    /// Reads the whole menu and the icon; fails once the app is gone.
    async fn try_snapshot(&self) -> zbus::Result<Snapshot> {
        let reply = self
            .menu_call("GetLayout", &(0i32, -1i32, Vec::<String>::new()))
            .await?;
        let (revision, raw): (u32, RawNode) = reply.body().deserialize()?;
        let icon_name = String::try_from(self.try_property("IconName").await?)?;
        let icon = std::fs::read(&icon_name)
            .ok()
            .map(|bytes| decode(&bytes).expect("the tray icon file is a PNG"));
        Ok(Snapshot {
            revision,
            root: Node::from_raw(raw),
            icon_name,
            icon,
        })
    }

    /// Clicks menu item `id` the way a panel does. A stale id (the app rebuilt its menu in the
    /// meantime) is an error reply, not a failure: callers click again on the next layout.
    async fn click(&self, id: i32) {
        let timestamp = 0u32;
        let data = Value::from(0i32);
        if let Err(err) = self
            .menu_call("Event", &(id, "clicked", data, timestamp))
            .await
        {
            eprintln!(
                "tray_dbus: clicking item #{id} failed ({err}); will retry on the next layout"
            );
        }
    }

    /// Re-reads the tray after every signal the item sends until `done` holds, clicking the
    /// item labelled `click` (if any) once per menu revision until then.
    async fn until(
        &self,
        signals: &mut MessageStream,
        what: &str,
        click: Option<&str>,
        done: impl Fn(&Snapshot) -> bool,
    ) -> Snapshot {
        let deadline = Instant::now() + STATE_CHANGE;
        let mut clicked = None;
        loop {
            let snap = self
                .try_snapshot()
                .await
                .unwrap_or_else(|err| panic!("read the tray while waiting for {what}: {err}"));
            if done(&snap) {
                return snap;
            }
            if let Some(label) = click
                && clicked != Some(snap.revision)
            {
                let item = snap
                    .root
                    .find(label)
                    .unwrap_or_else(|| panic!("no {label:?} in the menu: {:#?}", snap.root));
                assert!(item.enabled(), "{label:?} is disabled: {:#?}", snap.root);
                self.click(item.id).await;
                clicked = Some(snap.revision);
            }
            match timeout_at(deadline, signals.next()).await {
                Ok(Some(_)) => {}
                Ok(None) => panic!("the bus connection closed while waiting for {what}"),
                Err(_) => {
                    panic!("{what} did not happen within {STATE_CHANGE:?}; last seen: {snap:#?}")
                }
            }
        }
    }
}

/// Runs one D-Bus call to the app, failing after [`CALL`] (the app's main thread is stuck).
async fn within_call<T>(what: &str, call: impl Future<Output = T>) -> zbus::Result<T> {
    timeout(CALL, call).await.map_err(|_| {
        zbus::Error::Failure(format!(
            "the app did not answer {what} within {CALL:?}: its main thread is stuck"
        ))
    })
}

/// Every signal the item's process sends: `NewIcon`, `NewIconThemePath`, `NewStatus` from the
/// item, `LayoutUpdated` and `ItemsPropertiesUpdated` from its menu.
async fn signals_from(conn: &Connection, item: &Registration) -> MessageStream {
    let rule = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .sender(item.bus_name.as_str())
        .expect("item bus name")
        .build();
    MessageStream::for_match_rule(rule, conn, None)
        .await
        .expect("subscribe to the item's signals")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tray_item_shows_the_connection_and_its_menu_drives_the_app() {
    assert!(
        std::env::var("ABS_TRAY_DESKTOP_SESSION").as_deref() == Ok("1"),
        "run through scripts/desktop-session.sh (make test does)"
    );
    let connected_icon = decode(CONNECTED_ICON).expect("icons/tray-connected.png");
    let paused_icon = decode(PAUSED_ICON).expect("icons/tray-paused.png");
    let binary = app_binary();
    // The watcher must be there first: without one, appindicator falls back to an XEmbed icon.
    let (conn, mut registrations) = sni::serve()
        .await
        .expect("serve org.kde.StatusNotifierWatcher (is another watcher running?)");
    let config = tempfile::tempdir().expect("temp config dir");
    let mut app = RunningApp::start(&binary, config.path());

    let item = timeout(REGISTRATION, registrations.recv())
        .await
        .unwrap_or_else(|_| panic!("the app registered no tray item within {REGISTRATION:?}"))
        .expect("the watcher is still serving");
    let mut signals = signals_from(&conn, &item).await;
    let tray = Tray::open(conn, item).await;

    // The item: tray-icon names it after the tray id and shows the PNG it wrote.
    let id = tray.text("Id").await;
    assert!(id.contains("abs-tray"), "Id {id:?}");
    assert_eq!(tray.text("Status").await, "Active");
    let theme_path = tray.text("IconThemePath").await;
    assert!(!theme_path.is_empty(), "IconThemePath is empty");
    assert_ne!(tray.menu.as_str(), "/", "the item exports no menu");

    // The menu, as the shell builds it: status first, every action, the pause submenu.
    let first = tray.snapshot().await;
    println!(
        "tray_dbus: first seen: status {:?}, icon {}",
        first.status(),
        first.icon_name
    );
    assert!(
        first.icon_name.starts_with(&theme_path),
        "IconName {:?} is not a file under IconThemePath {theme_path:?}",
        first.icon_name
    );
    let status = first.root.children.first().expect("an empty menu");
    assert!(
        !status.enabled(),
        "the status line is clickable: {:#?}",
        first.root
    );
    for label in [
        "Open ABS Tray",
        "Open Audiobookshelf",
        "Reconnect now",
        "Launch at login",
        "Sign out",
        "Quit",
    ] {
        assert!(
            first.root.children.iter().any(|n| n.label() == label),
            "no {label:?} in the menu: {:#?}",
            first.root
        );
    }
    let autostart = first.root.find("Launch at login").expect("checked above");
    assert_eq!(
        autostart.text("toggle-type").as_deref(),
        Some("checkmark"),
        "Launch at login is not a check item"
    );
    let pause = first
        .root
        .children
        .iter()
        .find(|n| n.label() == "Pause notifications")
        .unwrap_or_else(|| panic!("no Pause notifications submenu: {:#?}", first.root));
    assert_eq!(pause.text("children-display").as_deref(), Some("submenu"));
    let pause_items: Vec<String> = pause.children.iter().map(Node::label).collect();
    assert_eq!(pause_items, ["For 1 hour", "Until tomorrow", "Resume"]);
    assert_eq!(
        first.root.children.last().map(Node::label).as_deref(),
        Some("Quit")
    );

    // The demo sign-in connects: the status line and the icon follow.
    let connected = tray
        .until(&mut signals, "the connected state", None, |s| {
            s.shows(CONNECTED, &connected_icon)
        })
        .await;
    if first.status() == CONNECTED {
        println!("tray_dbus: the app was already connected when first read");
    } else {
        assert_ne!(
            connected.icon_name,
            first.icon_name,
            "the icon did not change from {:?} to connected",
            first.status()
        );
    }
    for label in [
        "Open Audiobookshelf",
        "Pause notifications",
        "Reconnect now",
        "Sign out",
    ] {
        let item = connected.root.find(label).expect("checked above");
        assert!(item.enabled(), "{label:?} is disabled while signed in");
    }

    // The menu drives the app: pausing changes icon and status, resuming restores them.
    let paused = tray
        .until(&mut signals, "the paused state", Some("For 1 hour"), |s| {
            s.shows(PAUSED, &paused_icon)
        })
        .await;
    assert_ne!(
        paused.icon_name, connected.icon_name,
        "a new icon keeps its name"
    );
    tray.until(&mut signals, "the resumed state", Some("Resume"), |s| {
        s.shows(CONNECTED, &connected_icon)
    })
    .await;

    // Quit ends the app with code 0. Its menu may be rebuilt (listening lines come and go)
    // between reading an id and clicking it, so click again on every new layout.
    let deadline = Instant::now() + EXIT;
    let mut clicked = None;
    let status = loop {
        // Once Quit is handled the app may vanish between a signal and this read.
        if let Ok(snap) = tray.try_snapshot().await
            && clicked != Some(snap.revision)
        {
            let quit = snap.root.find("Quit").expect("checked above");
            tray.click(quit.id).await;
            clicked = Some(snap.revision);
        }
        tokio::select! {
            status = app.child.wait() => break status.expect("wait for the app"),
            signal = timeout_at(deadline, signals.next()) => match signal {
                Ok(Some(_)) => {}
                Ok(None) => panic!("the bus connection closed before the app quit"),
                Err(_) => panic!("the app did not exit within {EXIT:?} of Quit"),
            },
        }
    };
    assert_eq!(status.code(), Some(0), "the app exited with {status}");
}
