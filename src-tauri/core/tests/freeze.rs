//! A frozen client: the real `abs-tray-cli watch --json`, stopped with SIGSTOP (as a debugger, a
//! job-control stop or an overloaded machine stops it) while abs-sim broadcasts to it and then
//! times it out, resumed with SIGCONT. The broadcast sits in the kernel's buffer behind a dead
//! heartbeat; it must come out exactly once, and the client must connect again.
//!
//! The CLI test signs in with the REAL gnome-keyring of the private session
//! `scripts/desktop-session.sh` starts (as `tests/cli.rs` does), and fails with instructions
//! outside it. The connection test freezes the client's runtime (its only thread blocked) while
//! the simulator runs on a runtime of its own.
#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns are test code too: a panic is a test failure"
)]

use std::process::Stdio;
use std::time::Duration;

use abs_sim::{Sim, SimConfig};
use abs_tray_core::connection::{
    self, ConnectionConfig, ConnectionStatus, CredentialError, Credentials, Timings,
};
use abs_tray_core::protocol::{DailyLogs, ServerEvent};
use abs_tray_core::secret::Secret;
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

/// Access tokens minted by the simulator itself.
struct SimCredentials {
    sim: Sim,
    user: &'static str,
}

impl Credentials for SimCredentials {
    async fn access_token(&self, _refresh: bool) -> Result<Secret, CredentialError> {
        let tokens = self
            .sim
            .tokens(self.user)
            .map_err(|e| CredentialError::Unavailable(e.to_string()))?;
        Ok(Secret::new(tokens.access_token))
    }

    async fn daily_logs(&self) -> Result<DailyLogs, CredentialError> {
        Err(CredentialError::Unavailable("not used here".into()))
    }
}

/// Waits for the admin message `text` among the connection's events; returns the ones before it.
async fn until_broadcast(
    events: &mut tokio::sync::mpsc::Receiver<ServerEvent>,
    text: &str,
) -> Vec<ServerEvent> {
    let mut before = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Some(event) = events.recv().await {
            if matches!(&event, ServerEvent::AdminMessage { message } if message == text) {
                return true;
            }
            before.push(event);
        }
        false
    })
    .await;
    assert_eq!(
        found,
        Ok(true),
        "no broadcast {text:?}; events: {before:#?}"
    );
    before
}

#[test]
fn a_pong_and_a_broadcast_that_arrived_while_the_client_was_frozen_keep_the_connection() {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sim = server
        .block_on(abs_sim::start(
            SimConfig::default().with_user("admin", PASSWORD, true),
        ))
        .unwrap();
    let mut sim_events = sim.events();
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pong_timeout = Duration::from_millis(300);
    let config = ConnectionConfig {
        socket_url: format!("{}/socket.io/", sim.base_url()),
        tls: None,
        server_version: Some("2.36.0".into()),
        socket_daily_logs: false,
        timings: Timings {
            // Only the ping this test sends.
            ping_interval: Duration::from_secs(3600),
            pong_timeout,
            ..Timings::default()
        },
    };
    let credentials = SimCredentials {
        sim: sim.clone(),
        user: "admin",
    };
    client.block_on(async {
        let (handle, mut events, _task) = connection::spawn(config, credentials);
        let mut status = handle.status();
        tokio::time::timeout(
            WAIT,
            status.wait_for(|s| matches!(s, ConnectionStatus::Connected { .. })),
        )
        .await
        .expect("connected")
        .unwrap();
        handle.ping().await.unwrap();
        let pinged = tokio::time::Instant::now();

        // Frozen: this thread, the client's whole runtime, waits while the server answers the
        // ping and broadcasts, and until the pong deadline has passed.
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    server.block_on(async {
                        sim_events.wait_named("pong", WAIT).await.unwrap();
                        sim.admin_message("sent to a frozen client");
                        sim_events.wait_named("admin_message", WAIT).await.unwrap();
                        tokio::time::sleep_until(pinged + pong_timeout + pong_timeout).await;
                    });
                })
                .join()
                .unwrap();
        });

        // The deadline and the frames are due at once: the frames count first, so the pong was
        // in time and the broadcast is delivered.
        until_broadcast(&mut events, "sent to a frozen client").await;
        // A second broadcast is a barrier: a copy of the first, or a reconnect, comes before it.
        let again = sim.clone();
        server.spawn(async move { again.admin_message("after the freeze") });
        let between = until_broadcast(&mut events, "after the freeze").await;
        assert!(
            !between
                .iter()
                .any(|e| matches!(e, ServerEvent::AdminMessage { .. } | ServerEvent::Init(_))),
            "no copy and no new sign-in: {between:#?}"
        );
        assert!(
            matches!(*status.borrow(), ConnectionStatus::Connected { .. }),
            "{:?}",
            *status.borrow()
        );
        let sockets: Vec<String> = sim_events
            .drain()
            .into_iter()
            .map(|e| e.name)
            .filter(|name| name.contains("connect"))
            .collect();
        assert!(sockets.is_empty(), "the socket was kept: {sockets:?}");
    });
    server.block_on(sim.shutdown());
}
