//! Popups through a real notification daemon (dunst) on a private D-Bus session: what reaches the
//! daemon, that hostile text stays literal, and that a click opens the right page.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use abs_tray_core::delivery::{AppIdentity, Delivery, Popup, Urgency};
use dunst::{Recorder, dunstctl, require_session};

mod dunst;

/// Starts dbus-monitor and returns a receiver of its lines.
fn monitor_notify() -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = Command::new("dbus-monitor")
        .arg("interface='org.freedesktop.Notifications',member='Notify'")
        .stdout(Stdio::piped())
        .spawn()
        .expect("dbus-monitor (package dbus) is installed");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Reads monitor lines until one of the Notify calls carries `marker`; returns that call's lines.
fn wait_for_notify(lines: &mpsc::Receiver<String>, marker: &str) -> Vec<String> {
    let mut call = Vec::new();
    let mut seen_marker = false;
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(5))
            .expect("a Notify call within 5 s");
        if line.starts_with("method call") {
            if seen_marker {
                return call;
            }
            call.clear();
        }
        seen_marker |= line.contains(marker);
        // The last argument (expire timeout) ends the call.
        if seen_marker && line.trim_start().starts_with("int32") {
            call.push(line);
            return call;
        }
        call.push(line);
    }
}

#[test]
fn popups_reach_dunst_literally_and_clicks_open_the_page() {
    require_session();
    let (mut monitor, lines) = monitor_notify();
    // dbus-monitor needs a moment to install its match rule; a first marker popup proves it.
    let (tx, clicks) = mpsc::channel();
    let delivery = Delivery::start(AppIdentity::default(), Arc::new(Recorder(Mutex::new(tx))));
    // dbus-monitor installs its match rule asynchronously: repeat a warm-up popup until it is seen.
    let mut warmed = false;
    for _ in 0..20 {
        delivery.show(Popup {
            title: "<b>x</b>& warm-up".into(),
            body: "first".into(),
            urgency: Urgency::Low,
            open_url: None,
            image: None,
        });
        let deadline = std::time::Instant::now() + Duration::from_millis(500);
        while let Ok(line) =
            lines.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
        {
            if line.contains("warm-up") {
                warmed = true;
                break;
            }
        }
        if warmed {
            break;
        }
    }
    assert!(warmed, "dbus-monitor never saw a Notify call");
    // Drain the rest of the warm-up calls.
    while lines.recv_timeout(Duration::from_millis(300)).is_ok() {}
    dunstctl(&["close-all"]);

    delivery.show(Popup {
        title: "<b>x</b>& admin".into(),
        body: "Alice <i>& Bob</i>".into(),
        urgency: Urgency::Critical,
        open_url: Some("https://abs.example/item/42".into()),
        image: None,
    });
    let call = wait_for_notify(&lines, "admin").join("\n");
    assert!(call.contains(r#"string "ABS Tray""#), "app name: {call}");
    assert!(
        call.contains(r#"string "<b>x</b>& admin""#),
        "summary is plain text: {call}"
    );
    assert!(
        call.contains(r#"string "Alice &lt;i&gt;&amp; Bob&lt;/i&gt;""#),
        "body escaped: {call}"
    );
    assert!(
        call.contains(r#"string "desktop-entry""#) && call.contains(r#"string "abs-tray""#),
        "{call}"
    );
    assert!(call.contains("byte 2"), "critical urgency: {call}");
    assert!(
        call.contains(r#"string "default""#) && call.contains(r#"string "open-window""#),
        "{call}"
    );

    dunstctl(&["action", "0"]);
    let opened = clicks
        .recv_timeout(Duration::from_secs(5))
        .expect("the click reaches the opener");
    assert_eq!(opened, "https://abs.example/item/42");

    dunstctl(&["close-all"]);
    let history = dunstctl(&["history"]);
    assert!(
        history.contains("&lt;b&gt;x&lt;/b&gt;&amp; admin"),
        "dunst rendered the title literally: {history}"
    );
    let _ = monitor.kill();
}
