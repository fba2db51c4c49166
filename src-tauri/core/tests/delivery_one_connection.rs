//! Many popups through real dunst on a private D-Bus session: every `Notify` comes from ONE
//! connection (one unique bus name) with no thread per popup, and clicks on several popups each
//! reach the opener over that connection.
//!
//! One test in this binary on purpose: it counts this process's threads.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns are test code too: a panic is a test failure"
)]

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use abs_tray_core::delivery::{AppIdentity, Delivery, Popup, Urgency};
use dunst::{Recorder, dunstctl, require_session};

mod dunst;

/// How many popups the test shows at once (dunst shows all of them: `timeout = 0`).
const POPUPS: usize = 20;
/// How many of them it clicks.
const CLICKS: usize = 6;
/// How long any single awaited event may take before the test calls it a hang.
const WAIT: Duration = Duration::from_secs(10);
/// The app name of this test's popups, so the monitor ignores anyone else's.
const APP: &str = "ABS Tray one connection";

/// One `Notify` call as dbus-monitor saw it.
#[derive(Debug)]
struct NotifyCall {
    /// The unique bus name of the connection that sent it.
    sender: String,
    /// Its summary (the popup's title).
    summary: String,
}

/// `dbus-monitor` watching `Notify` calls; killed on drop.
struct Monitor {
    /// The `dbus-monitor` process.
    process: Child,
    /// Our app's calls, in order.
    calls: mpsc::Receiver<NotifyCall>,
}

impl Monitor {
    /// Starts dbus-monitor on the session bus.
    fn start() -> Self {
        let mut process = Command::new("dbus-monitor")
            .arg("type='method_call',interface='org.freedesktop.Notifications',member='Notify'")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-monitor (package dbus) is installed");
        let stdout = process.stdout.take().unwrap();
        let (tx, calls) = mpsc::channel();
        std::thread::spawn(move || {
            // A call's header line names the sender; its string arguments are app name, icon,
            // summary, body.
            let mut sender = None;
            let mut strings = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("method call") {
                    sender = line
                        .split_whitespace()
                        .find_map(|word| word.strip_prefix("sender="))
                        .map(str::to_owned);
                    strings.clear();
                    continue;
                }
                let Some(text) = line.trim_start().strip_prefix("string \"") else {
                    continue;
                };
                strings.push(text.trim_end_matches('"').to_owned());
                if strings.len() == 3
                    && let Some(sender) = sender.take()
                    && strings[0] == APP
                    && tx
                        .send(NotifyCall {
                            sender,
                            summary: strings[2].clone(),
                        })
                        .is_err()
                {
                    break;
                }
            }
        });
        Self { process, calls }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// How many popups dunst shows now.
fn displayed() -> usize {
    dunstctl(&["count", "displayed"]).parse().unwrap()
}

/// Polls `done` until it holds or [`WAIT`] passes.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// This process's threads by name (the kernel keeps the first 15 bytes of a name).
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect()
}

/// The popup with number `i`: even ones open a page, odd ones the window.
fn popup(i: usize) -> Popup {
    Popup {
        title: format!("one connection {i}"),
        body: format!("popup <b>{i}</b>"),
        urgency: Urgency::Normal,
        open_url: i
            .is_multiple_of(2)
            .then(|| format!("https://abs.example/item/{i}")),
        image: None,
    }
}

/// What a click on popup `i` opens.
fn target(i: usize) -> String {
    popup(i).open_url.unwrap_or_else(|| "window".into())
}

#[test]
fn many_popups_share_one_connection_and_each_click_reaches_the_opener() {
    require_session();
    let monitor = Monitor::start();
    let (clicks_tx, clicks) = mpsc::channel();
    let delivery = Delivery::start(
        AppIdentity {
            app_name: APP.into(),
            ..AppIdentity::default()
        },
        Arc::new(Recorder(Mutex::new(clicks_tx))),
    );

    // dbus-monitor installs its match rule asynchronously: repeat a warm-up popup until it is seen.
    let mut first_sender = None;
    for _ in 0..20 {
        delivery.show(Popup {
            title: "warm-up".into(),
            body: String::new(),
            urgency: Urgency::Low,
            open_url: None,
            image: None,
        });
        if let Ok(call) = monitor.calls.recv_timeout(Duration::from_millis(500)) {
            first_sender = Some(call.sender);
            break;
        }
    }
    let first_sender = first_sender.expect("dbus-monitor saw a Notify call");
    dunstctl(&["close-all"]);
    eventually("dunst closed the warm-up popups", || displayed() == 0);
    while monitor.calls.try_recv().is_ok() {}
    // Threads with one popup shown: delivery's own plus zbus's and async-io's per-process ones.
    let threads_at_one = thread_names().len();

    for i in 0..POPUPS {
        delivery.show(popup(i));
    }
    // Every Notify call of this burst, by sender; later warm-ups still in flight are ignored.
    let mut senders: HashMap<String, usize> = HashMap::new();
    let mut seen = BTreeSet::new();
    while seen.len() < POPUPS {
        let call = monitor
            .calls
            .recv_timeout(WAIT)
            .expect("every popup's Notify call");
        if call.summary.starts_with("one connection ") {
            seen.insert(call.summary);
            *senders.entry(call.sender).or_default() += 1;
        }
    }
    assert_eq!(
        senders,
        HashMap::from([(first_sender, POPUPS)]),
        "every Notify from the one connection that sent the first popup"
    );

    // No thread per popup: the delivery thread and the click listener, whatever the count (the
    // slack is for async-io's blocking pool, which comes and goes on its own).
    let names = thread_names();
    let ours: Vec<&String> = names.iter().filter(|n| n.starts_with("abs-tray")).collect();
    assert!(ours.len() <= 2, "delivery threads: {ours:?}");
    assert!(
        names.len() <= threads_at_one + 2,
        "{threads_at_one} threads with one popup, with {POPUPS} more: {names:?}"
    );

    // Click the top popup, then close it as a desktop would after a click (dunst keeps it), so
    // the next click lands on the next popup. dunst sorts by id, the top is the oldest.
    eventually("dunst shows every popup", || displayed() == POPUPS);
    let mut opened = Vec::new();
    for n in 1..=CLICKS {
        dunstctl(&["action", "0"]);
        let what = clicks
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("click {n} reaches the opener (opened so far: {opened:?})"));
        opened.push(what);
        dunstctl(&["close"]);
        eventually("dunst closed the clicked popup", || {
            displayed() == POPUPS - n
        });
    }
    let mut expected: Vec<String> = (0..CLICKS).map(target).collect();
    expected.sort();
    opened.sort();
    assert_eq!(opened, expected, "each click opened its own popup's target");
    assert!(
        clicks.recv_timeout(Duration::from_millis(200)).is_err(),
        "one opener call per click"
    );
    dunstctl(&["close-all"]);
}
