//! A frozen client: the real `abs-tray-cli watch --json`, stopped with SIGSTOP (as a debugger, a
//! job-control stop or an overloaded machine stops it) while abs-sim broadcasts to it and then
//! times it out, resumed with SIGCONT. The broadcast sits in the kernel's buffer behind a dead
//! heartbeat; it must come out exactly once, and the client must connect again.
//!
//! Signs in with the REAL gnome-keyring of the private session `scripts/desktop-session.sh`
//! starts (as `tests/cli.rs` does), and fails with instructions outside it.
#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns are test code too: a panic is a test failure"
)]

use std::process::Stdio;
use std::time::Duration;

use abs_sim::{Sim, SimConfig};
use nix::sys::signal::Signal;
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// Limit for anything that should take well under a second.
const WAIT: Duration = Duration::from_secs(10);
const PASSWORD: &str = "pass word with spaces";
/// The simulator's heartbeat, shrunk from ABS's 25 s + 20 s so that a frozen client is timed
/// out within a second.
const PING_INTERVAL: Duration = Duration::from_millis(400);
const PING_TIMEOUT: Duration = Duration::from_millis(400);

/// Fails (never skips) outside the private desktop session.
fn require_desktop_session() {
    assert!(
        std::env::var("ABS_TRAY_DESKTOP_SESSION").as_deref() == Ok("1"),
        "this test needs the private keyring: run it through scripts/desktop-session.sh (make test does)"
    );
}

/// The binary with its own configuration folder, so keyring entries never collide.
struct Cli {
    config: tempfile::TempDir,
}

impl Cli {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_abs-tray-cli"));
        command
            .args(args)
            .env("ABS_TRAY_CONFIG_DIR", self.config.path())
            .env_remove("ABS_TRAY_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        command
    }

    async fn login(&self, sim: &Sim, username: &str) {
        let mut child = self
            .command(&[
                "login",
                &sim.base_url(),
                "--username",
                username,
                "--password-stdin",
            ])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(format!("{PASSWORD}\n").as_bytes())
            .await
            .unwrap();
        drop(stdin);
        let status = tokio::time::timeout(WAIT, child.wait())
            .await
            .expect("login ends in time")
            .unwrap();
        assert!(status.success(), "login: {status}");
    }
}

/// The lines `watch --json` printed so far, and the rest of its stdout.
struct Output {
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<Value>,
}

impl Output {
    /// Reads lines until `pred` holds for one printed after the first `from` lines.
    async fn wait_for(&mut self, from: usize, what: &str, pred: impl Fn(&Value) -> bool) -> usize {
        if let Some(at) = self.seen.iter().skip(from).position(&pred) {
            return from + at;
        }
        let found = tokio::time::timeout(WAIT, async {
            while let Some(line) = self.lines.next_line().await.unwrap() {
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
                self.seen.push(value);
                if pred(self.seen.last().unwrap()) {
                    return Some(self.seen.len() - 1);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(at)) => at,
            Ok(None) => panic!("stdout ended before {what}; lines: {:#?}", self.seen),
            Err(_) => panic!("no {what} within {WAIT:?}; lines: {:#?}", self.seen),
        }
    }

    /// How many lines so far are the admin message `text`.
    fn broadcasts(&self, text: &str) -> usize {
        self.seen.iter().filter(|v| is_broadcast(v, text)).count()
    }
}

fn is_broadcast(value: &Value, text: &str) -> bool {
    value["type"] == "event" && value["name"] == "admin_message" && value["data"]["message"] == text
}

fn is_status(value: &Value, state: &str) -> bool {
    value["type"] == "status" && value["state"] == state
}

/// Sends `signal` to the child.
fn signal(child: &Child, signal: Signal) {
    let pid = Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    nix::sys::signal::kill(pid, signal).unwrap();
}

/// Waits until the child is stopped, without reaping anything (tokio still owns its exit).
async fn stopped(child: &Child) {
    let pid = Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    let waited = tokio::task::spawn_blocking(move || {
        waitid(Id::Pid(pid), WaitPidFlag::WSTOPPED | WaitPidFlag::WNOWAIT)
    });
    let status = tokio::time::timeout(WAIT, waited)
        .await
        .expect("the CLI stops")
        .unwrap()
        .unwrap();
    assert!(matches!(status, WaitStatus::Stopped(..)), "{status:?}");
}

#[tokio::test]
async fn a_broadcast_that_arrived_while_the_client_was_frozen_past_the_ping_timeout_comes_out_once()
{
    require_desktop_session();
    let name = format!("freeze-{}", std::process::id());
    let sim = abs_sim::start(SimConfig {
        ping_interval: PING_INTERVAL,
        ping_timeout: PING_TIMEOUT,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    sim.add_user(&name, PASSWORD, true).unwrap();
    let cli = Cli {
        config: tempfile::tempdir().unwrap(),
    };
    cli.login(&sim, &name).await;

    let mut child = cli.command(&["watch", "--json"]).spawn().unwrap();
    let mut out = Output {
        lines: BufReader::new(child.stdout.take().unwrap()).lines(),
        seen: Vec::new(),
    };
    out.wait_for(0, "a connected status", |v| is_status(v, "connected"))
        .await;

    let mut events = sim.events();
    signal(&child, Signal::SIGSTOP);
    stopped(&child).await;
    let frozen_at = tokio::time::Instant::now();
    let first = format!("sent to a frozen client {name}");
    sim.admin_message(&first);
    let sent = events.wait_named("admin_message", WAIT).await.unwrap();
    assert_eq!(sent.socket_ids.len(), 1, "written to the client's socket");
    // The server misses the pongs and closes the socket: the broadcast is in the client's
    // kernel buffer, followed by the end of the connection.
    events
        .wait_named("(disconnect)", WAIT)
        .await
        .expect("the server times the frozen client out");
    // The fault is a freeze of a given length: long enough that the client's own heartbeat
    // deadline (the server's interval + timeout after the last frame it read, which came before
    // the freeze) has passed too when it runs again.
    tokio::time::sleep_until(frozen_at + PING_INTERVAL + PING_TIMEOUT + PING_INTERVAL).await;
    let before_resume = out.seen.len();
    signal(&child, Signal::SIGCONT);

    out.wait_for(before_resume, "the broadcast sent while frozen", |v| {
        is_broadcast(v, &first)
    })
    .await;
    // Offline, then connecting (a quick retry may leave only the latter to be printed).
    let lost = out
        .wait_for(before_resume, "the end of the frozen connection", |v| {
            v["type"] == "status" && v["state"] != "connected"
        })
        .await;
    out.wait_for(lost, "connected again", |v| is_status(v, "connected"))
        .await;

    // A second broadcast on the new socket is a barrier: a copy of the first one would be
    // printed before it.
    let second = format!("after the freeze {name}");
    sim.admin_message(&second);
    out.wait_for(0, "the broadcast after the freeze", |v| {
        is_broadcast(v, &second)
    })
    .await;
    assert_eq!(out.broadcasts(&first), 1, "lines: {:#?}", out.seen);
    assert_eq!(out.broadcasts(&second), 1, "lines: {:#?}", out.seen);

    signal(&child, Signal::SIGINT);
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("watch ends after Ctrl-C")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
