//! No notification daemon running: popups fail, the failure is logged once, history still
//! records every decision, and delivery neither retries nor loops.
//!
//! The parent test starts a private, empty D-Bus session bus (no `org.freedesktop.Notifications`
//! owner and no service directories, so nothing can be auto-activated), watches it with
//! `dbus-monitor`, and runs the real work in a child process pointed at that bus, so neither the
//! bus address nor the tracing subscriber leaks into other tests.
//!
//! A second pair of tests goes on from there: dunst starts on that bus later, and later still the
//! bus itself restarts; delivery uses the server once it answers and reconnects to the new bus.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns are test code too: a panic is a test failure"
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use abs_tray_core::connection::ConnectionStatus;
use abs_tray_core::delivery::{AppIdentity, Delivery, Opener, Popup, Urgency};
use abs_tray_core::happening::Happening;
use abs_tray_core::notifier::{self, Outputs};
use abs_tray_core::policy::{Decision, Link, Outcome, PolicySettings};
use abs_tray_core::server_url::ServerUrl;
use dunst::dunstctl_on;

mod dunst;

/// Set in the child process of [`no_daemon_is_logged_once_and_nothing_loops`].
const CHILD_ENV: &str = "ABS_TRAY_NO_DAEMON_TEST_CHILD";
/// The child test's name, for `--exact`.
const CHILD_TEST: &str = "child_without_a_notification_daemon";
/// Popups the child hands to delivery directly.
const POPUPS: usize = 20;
/// Admin broadcasts the child feeds through the notifier (each one a popup and a decision).
const BROADCASTS: usize = 20;
/// The one line delivery logs for an outage.
const WARNING: &str = "no notification service answered; popups are not shown";
/// A sanity bound on the whole child run (process start included), not a benchmark: a retry
/// storm or a hang blows through it, a healthy run takes well under a second.
const CHILD_BOUND: Duration = Duration::from_secs(60);
/// How long any single awaited event may take before the test calls it a hang.
const WAIT: Duration = Duration::from_secs(20);
/// The member of the marker call that tells the parent the monitor has seen everything before it.
const END_MARKER: &str = "AbsTrayNoDaemonTestEnd";

/// A private session bus with nothing on it; killed on drop.
struct EmptyBus {
    /// The `dbus-daemon` process.
    daemon: Child,
    /// Its address, as clients use it.
    address: String,
    /// Holds the config file and the socket.
    dir: tempfile::TempDir,
}

impl EmptyBus {
    /// Starts `dbus-daemon` with a config that has no service directories, so a call to
    /// `org.freedesktop.Notifications` fails at once instead of activating dunst.
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("bus.conf");
        let socket = dir.path().join("bus");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )
        .unwrap();
        let (daemon, address) = Self::spawn(dir.path());
        Self {
            daemon,
            address,
            dir,
        }
    }

    /// Starts `dbus-daemon` with the config in `dir`; returns it once it listens.
    fn spawn(dir: &Path) -> (Child, String) {
        let mut daemon = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", dir.join("bus.conf").display()))
            .args(["--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (package dbus) is installed");
        // The address is printed once the bus listens: that line is the readiness signal.
        let mut address = String::new();
        BufReader::new(daemon.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_owned();
        assert!(
            address.starts_with("unix:"),
            "dbus-daemon printed {address:?}"
        );
        (daemon, address)
    }

    /// Kills the bus, which ends every connection to it, and starts a new one at the same
    /// address, as a restarted session bus would be.
    fn restart(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        // The old daemon leaves its socket file behind; the new one must bind the same path.
        let _ = std::fs::remove_file(self.dir.path().join("bus"));
        let (daemon, address) = Self::spawn(self.dir.path());
        assert_eq!(
            address.split(',').next(),
            self.address.split(',').next(),
            "same socket"
        );
        self.daemon = daemon;
    }
}

impl Drop for EmptyBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// `dbus-monitor` on the empty bus: every message, line by line; killed on drop.
struct Monitor {
    /// The `dbus-monitor` process.
    process: Child,
    /// Its output lines.
    lines: mpsc::Receiver<String>,
}

impl Monitor {
    /// Starts monitoring and returns once the monitor is installed.
    fn start(address: &str) -> Self {
        let mut process = Command::new("dbus-monitor")
            .args(["--address", address])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-monitor (package dbus) is installed");
        let stdout = process.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Becoming a monitor drops the connection's own name: that NameLost says it is installed.
        loop {
            let line = lines
                .recv_timeout(WAIT)
                .expect("dbus-monitor became a monitor");
            if line.contains("member=NameLost") {
                break;
            }
        }
        Self { process, lines }
    }

    /// The members of every method call to `org.freedesktop.Notifications` seen so far. Sends a
    /// marker call first and reads up to it, so nothing sent earlier is missed.
    fn notification_calls(&self, address: &str) -> Vec<String> {
        let sent = Command::new("dbus-send")
            .arg(format!("--bus={address}"))
            .args([
                "--type=method_call",
                "--dest=org.freedesktop.Notifications",
                "/org/freedesktop/Notifications",
            ])
            .arg(format!("org.freedesktop.Notifications.{END_MARKER}"))
            .status()
            .expect("dbus-send runs");
        assert!(sent.success(), "dbus-send could not send the marker");
        let mut members = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(WAIT)
                .expect("the marker call reaches dbus-monitor");
            if !(line.starts_with("method call")
                && line.contains("destination=org.freedesktop.Notifications"))
            {
                continue;
            }
            let member = line.rsplit("member=").next().unwrap_or_default().to_owned();
            if member == END_MARKER {
                return members;
            }
            members.push(member);
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Runs [`child_without_a_notification_daemon`] against `address`; fails past [`CHILD_BOUND`].
fn run_child(address: &str) -> (Output, Duration) {
    let started = Instant::now();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", CHILD_TEST, "--ignored", "--nocapture"])
        .env(CHILD_ENV, "no-daemon")
        .env("DBUS_SESSION_BUS_ADDRESS", address)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match done.recv_timeout(CHILD_BOUND) {
        Ok(output) => (output.unwrap(), started.elapsed()),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("the child did not finish within {CHILD_BOUND:?}: a retry loop or a hang");
        }
    }
}

#[test]
fn no_daemon_is_logged_once_and_nothing_loops() {
    let bus = EmptyBus::start();
    let monitor = Monitor::start(&bus.address);

    let (output, took) = run_child(&bus.address);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("CHILD-CHECKED"),
        "child failed:\n{stdout}\n{stderr}"
    );
    assert!(took < CHILD_BOUND, "took {took:?}");

    // One warning for the whole outage, and nothing else at warn or error level.
    assert_eq!(stderr.matches(WARNING).count(), 1, "{stderr}");
    let loud: Vec<&str> = stderr
        .lines()
        .filter(|line| matches!(line.split_whitespace().nth(1), Some("WARN" | "ERROR")))
        .collect();
    assert_eq!(loud.len(), 1, "only the one warning: {loud:#?}");
    assert!(loud[0].contains(WARNING), "{loud:#?}");

    // On the bus: exactly one Notify attempt per popup (no retries), and at most one
    // capabilities query per popup (delivery asks again after a failure, never in a loop).
    let calls = monitor.notification_calls(&bus.address);
    let count = |member: &str| calls.iter().filter(|m| *m == member).count();
    assert_eq!(count("Notify"), POPUPS + BROADCASTS, "{calls:?}");
    assert!(
        (1..=POPUPS + BROADCASTS).contains(&count("GetCapabilities")),
        "{calls:?}"
    );
    assert_eq!(
        count("Notify") + count("GetCapabilities"),
        calls.len(),
        "no other calls: {calls:?}"
    );
}

/// Fails the test on any click (there is no daemon to click on) and reports its own drop: the
/// delivery thread owns it, so the drop means that thread drained its queue and ended.
struct Witness(mpsc::Sender<&'static str>);

impl Opener for Witness {
    fn open_url(&self, _url: &str) {
        let _ = self.0.send("clicked");
    }
    fn open_window(&self) {
        let _ = self.0.send("clicked");
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.0.send("dropped");
    }
}

/// A child's log: info and up, plain text on stderr, where the parent test reads it.
fn log_plain_to_stderr() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .init();
}

/// The body of [`no_daemon_is_logged_once_and_nothing_loops`], run only in its child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by no_daemon_is_logged_once_and_nothing_loops in a child process"]
async fn child_without_a_notification_daemon() {
    if std::env::var(CHILD_ENV).as_deref() != Ok("no-daemon") {
        return;
    }
    log_plain_to_stderr();

    let (witness_tx, witness) = mpsc::channel();
    let delivery = Delivery::start(AppIdentity::default(), Arc::new(Witness(witness_tx)));

    // Popups straight to delivery; each fails on the bus, none blocks the caller.
    for i in 0..POPUPS {
        delivery.show(Popup {
            title: format!("popup {i}"),
            body: "<b>Alice</b> & Bob".into(),
            urgency: Urgency::Normal,
            open_url: Some("https://abs.example/item/li_1".into()),
            image: None,
        });
    }

    // Broadcasts through the notifier: history (the decisions) must not care that popups fail.
    let (happenings_tx, happenings) = tokio::sync::mpsc::channel(BROADCASTS);
    let (_status_tx, status) = tokio::sync::watch::channel(ConnectionStatus::Connected {
        user_id: "root".into(),
        username: "root".into(),
        is_admin: true,
        server_version: Some("2.36.0".into()),
        latency_ms: None,
    });
    let (decisions_tx, mut decisions) = tokio::sync::mpsc::channel::<Decision>(BROADCASTS);
    let settings = PolicySettings {
        // Every broadcast is a popup of its own, not an "And N more".
        rate_limit: 1000,
        ..PolicySettings::default()
    };
    let (_handle, task) = notifier::spawn(
        happenings,
        status,
        settings,
        ServerUrl::parse("https://abs.example/").unwrap(),
        Outputs {
            delivery: Some(delivery.clone()),
            covers: None,
            decisions: Some(decisions_tx),
        },
    );
    for i in 0..BROADCASTS {
        happenings_tx
            .send(Happening::AdminMessage {
                text: format!("broadcast {i}"),
            })
            .await
            .unwrap();
    }
    for i in 0..BROADCASTS {
        let decision = tokio::time::timeout(WAIT, decisions.recv())
            .await
            .expect("a decision per broadcast")
            .expect("the notifier is alive");
        assert_eq!(decision.outcome, Outcome::Shown, "{decision:?}");
        assert_eq!(decision.notification.body, format!("broadcast {i}"));
        assert_eq!(decision.notification.link, Some(Link::Window));
    }

    // The notifier ends with its happenings and drops its delivery handle...
    drop(happenings_tx);
    tokio::time::timeout(WAIT, task)
        .await
        .expect("the notifier ends with its happenings")
        .unwrap();
    assert!(decisions.recv().await.is_none(), "no stray decisions");
    // ...and with the last handle gone the delivery thread drains its queue and ends, dropping
    // the opener: proof it worked through every popup and is not stuck retrying.
    drop(delivery);
    let witness = tokio::task::spawn_blocking(move || witness.recv_timeout(WAIT))
        .await
        .unwrap();
    assert_eq!(
        witness,
        Ok("dropped"),
        "the delivery thread drained its queue and ended"
    );
    println!("CHILD-CHECKED");
}

/// Set to this in the child process of [`a_late_daemon_and_a_restarted_bus_are_used`].
const RECOVERY: &str = "recovery";
/// That child test's name, for `--exact`.
const RECOVERY_CHILD_TEST: &str = "child_through_an_outage_and_a_bus_restart";

/// dunst on a private bus; killed on drop.
struct Dunst(Child);

impl Dunst {
    /// Starts dunst on the bus at `address` (the session's display and dunstrc) and returns once
    /// it owns the notification name.
    fn start(address: &str) -> Self {
        // Owned by the guard at once, so a failed wait below still kills it.
        let dunst = Self(
            Command::new("dunst")
                .env("DBUS_SESSION_BUS_ADDRESS", address)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("dunst is installed"),
        );
        let deadline = Instant::now() + WAIT;
        loop {
            let reply = Command::new("dbus-send")
                .arg(format!("--bus={address}"))
                .args([
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.Notifications",
                ])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&reply.stdout).contains("boolean true") {
                return dunst;
            }
            assert!(Instant::now() < deadline, "dunst owned the name in time");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Dunst {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls until dunst on `address` shows `count` popups; false after `within`.
fn displayed(address: &str, count: usize, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if dunstctl_on(Some(address), &["count", "displayed"]).parse::<usize>() == Ok(count) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Asks the child to show a popup titled `title`.
fn show(commands: &mut std::process::ChildStdin, title: &str) {
    use std::io::Write;
    writeln!(commands, "{title}").unwrap();
}

/// Lines of a child's output stream, read on a thread of their own.
fn lines_of(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// Waits for a line containing `wanted`; fails the test after [`WAIT`].
fn expect_line(lines: &mpsc::Receiver<String>, wanted: &str) -> String {
    loop {
        let line = lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("a line with {wanted:?} within {WAIT:?}"));
        if line.contains(wanted) {
            return line;
        }
    }
}

#[test]
fn a_late_daemon_and_a_restarted_bus_are_used() {
    assert!(
        std::env::var_os("ABS_TRAY_DESKTOP_SESSION").is_some(),
        "run through scripts/desktop-session.sh (dunst needs its display)"
    );
    let mut bus = EmptyBus::start();
    // Without the guid: a client checks it, and the restarted bus has a new one.
    let address = bus.address.split(',').next().unwrap().to_owned();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", RECOVERY_CHILD_TEST, "--ignored", "--nocapture"])
        .env(CHILD_ENV, RECOVERY)
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut commands = child.stdin.take().unwrap();
    let stdout = lines_of(child.stdout.take().unwrap());
    let stderr = lines_of(child.stderr.take().unwrap());

    // Nothing answers yet: the popup is dropped with the one warning.
    show(&mut commands, "before");
    let mut log = vec![expect_line(&stderr, WARNING)];

    // dunst starts. The first popup may go out before delivery knows what it supports (so
    // without actions); its answer makes delivery ask, and the next popup is clickable.
    let dunst = Dunst::start(&address);
    show(&mut commands, "first");
    assert!(displayed(&address, 1, WAIT), "dunst showed the first popup");
    dunstctl_on(Some(&address), &["close-all"]);
    show(&mut commands, "second");
    assert!(
        displayed(&address, 1, WAIT),
        "dunst showed the second popup"
    );
    dunstctl_on(Some(&address), &["action", "0"]);
    assert_eq!(
        expect_line(&stdout, "OPENED "),
        "OPENED https://abs.example/item/second"
    );

    // The bus restarts (every connection to it ends) and dunst with it.
    drop(dunst);
    bus.restart();
    let _dunst = Dunst::start(&address);
    // Delivery notices the closed connection at its next popup and opens a new one. Should it
    // only notice by the failing call, that popup is lost: repeat until one is shown.
    let mut shown = false;
    for _ in 0..20 {
        show(&mut commands, "after restart");
        if displayed(&address, 1, Duration::from_millis(500)) {
            shown = true;
            break;
        }
    }
    assert!(shown, "a popup reached dunst on the restarted bus");
    dunstctl_on(Some(&address), &["close-all"]);
    assert!(displayed(&address, 0, WAIT), "dunst closed them");
    show(&mut commands, "third");
    assert!(displayed(&address, 1, WAIT), "dunst showed the third popup");
    dunstctl_on(Some(&address), &["action", "0"]);
    assert_eq!(
        expect_line(&stdout, "OPENED "),
        "OPENED https://abs.example/item/third"
    );

    // Closing its input ends the child; it must not hang on a delivery thread.
    drop(commands);
    let pid = child.id();
    let (tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let Ok(status) = done.recv_timeout(WAIT) else {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("the child did not end within {WAIT:?} of its input");
    };
    let status = status.unwrap();
    log.extend(stderr.try_iter());
    assert!(status.success(), "child failed: {log:#?}");
    let loud: Vec<&String> = log
        .iter()
        .filter(|line| matches!(line.split_whitespace().nth(1), Some("WARN" | "ERROR")))
        .collect();
    assert!(
        !loud.is_empty() && loud.iter().all(|line| line.contains(WARNING)),
        "only the outage warning: {loud:#?}"
    );
}

/// Prints what a click opens, for the parent to read.
struct Printer;

impl Opener for Printer {
    fn open_url(&self, url: &str) {
        println!("OPENED {url}");
    }
    fn open_window(&self) {
        println!("OPENED window");
    }
}

/// The body of [`a_late_daemon_and_a_restarted_bus_are_used`], run only in its child process:
/// shows a popup for each line on stdin (its title; the page is named after it) until stdin ends.
#[test]
#[ignore = "run by a_late_daemon_and_a_restarted_bus_are_used in a child process"]
fn child_through_an_outage_and_a_bus_restart() {
    if std::env::var(CHILD_ENV).as_deref() != Ok(RECOVERY) {
        return;
    }
    log_plain_to_stderr();
    let delivery = Delivery::start(AppIdentity::default(), Arc::new(Printer));
    for title in std::io::stdin().lines().map_while(Result::ok) {
        delivery.show(Popup {
            open_url: Some(format!(
                "https://abs.example/item/{}",
                title.replace(' ', "-")
            )),
            title,
            body: "<b>Alice</b> & Bob".into(),
            urgency: Urgency::Normal,
            image: None,
        });
    }
}
