//! End to end with real network namespaces: the real `abs-tray-cli watch --json` runs inside a
//! namespace (the laptop), joined by a veth pair to this one, where the simulator listens. The
//! test breaks the network from outside (the link down, DROP or REJECT with iptables inside the
//! namespace), lets the outage last until the retry schedule waits seconds between attempts,
//! then heals it and, as NetworkManager would, broadcasts `StateChanged(CONNECTED_GLOBAL)` (or,
//! as logind would on waking up, `PrepareForSleep(false)`) on a private system bus. The client
//! must be connected again before the attempt its own schedule announced (`retry_at_ms`): the
//! nudge, not the backoff, brought it back. Without the nudge it connects at that attempt and
//! the test fails. Each test takes about 11 s, mostly the outage outlasting its quick retries.
//!
//! Needs root (`ip netns`, iptables), dbus-daemon and the private keyring of
//! `scripts/desktop-session.sh` (the CLI signs in as the app does); fails, never skips, without.
#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns are test code too: a panic is a test failure"
)]

mod machine_harness;

use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use abs_sim::{Sim, SimConfig};
use machine_harness::{Netns, SystemBus, cli_binary, nm_state, prepare_for_sleep};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};

/// Limit for one step; the longest is an outage growing past the quick retries (~10 s), or a
/// connect attempt into a DROP waiting out its timeout first.
const WAIT: Duration = Duration::from_secs(40);
/// How far ahead the announced attempt must be when the network comes back, so that being
/// connected before it proves the nudge (healing, the check and an attempt with a token refresh
/// take 10-300 ms here). Past an outage's quick phase the waits are 0.75-1.25 s and longer, so
/// such a wait comes within a few attempts.
const AHEAD_MS: u64 = 1000;
/// NetworkManager's `NM_STATE_CONNECTED_GLOBAL`.
const CONNECTED_GLOBAL: u32 = 70;
/// The test user's password.
const PASSWORD: &str = "pass word";

/// Fails (never skips) outside the private desktop session or without root.
fn require_desktop_session_and_root() {
    assert!(
        std::env::var("ABS_TRAY_DESKTOP_SESSION").as_deref() == Ok("1"),
        "this test needs the private keyring: run it through scripts/desktop-session.sh (make test does)"
    );
    let uid = std::process::Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "this test makes network namespaces and firewall rules: run it as root (CI does)"
    );
}

/// The wall clock in Unix milliseconds, as `retry_at_ms` counts.
fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// A laptop in its namespace, a server next to it, and a system bus where the test is
/// NetworkManager.
struct Machine {
    /// The laptop's network.
    netns: Netns,
    /// The server, listening on the host side of the veth pair.
    sim: Sim,
    /// The laptop's system bus.
    bus: SystemBus,
    /// The test, as NetworkManager on that bus.
    nm: zbus::Connection,
    /// The CLI's configuration folder.
    config: tempfile::TempDir,
}

impl Machine {
    /// Sets everything up and signs `user` in (from this namespace, while the network is fine).
    async fn new(user: &str) -> Self {
        require_desktop_session_and_root();
        let netns = Netns::new();
        let sim = abs_sim::start(SimConfig {
            listen: format!("{}:0", netns.host_ip).parse().unwrap(),
            ..SimConfig::default()
        })
        .await
        .unwrap();
        sim.add_user(user, PASSWORD, false).unwrap();
        let bus = SystemBus::start();
        let nm = bus.service("org.freedesktop.NetworkManager").await;
        let config = tempfile::tempdir().unwrap();
        let mut login = Command::new(cli_binary())
            .args([
                "login",
                &sim.base_url(),
                "--username",
                user,
                "--password-stdin",
            ])
            .env("ABS_TRAY_CONFIG_DIR", config.path())
            .env_remove("ABS_TRAY_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdin = login.stdin.take().unwrap();
        stdin
            .write_all(format!("{PASSWORD}\n").as_bytes())
            .await
            .unwrap();
        drop(stdin);
        let output = tokio::time::timeout(WAIT, login.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            output.status.success(),
            "login: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self {
            netns,
            sim,
            bus,
            nm,
            config,
        }
    }

    /// `abs-tray-cli watch --json` inside the namespace, with the private bus as its system bus;
    /// returns once its machine watcher listens.
    async fn watch(&self) -> Watch {
        let mut child = self
            .netns
            .command(&cli_binary())
            .args(["watch", "--json"])
            .env("ABS_TRAY_CONFIG_DIR", self.config.path())
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.bus.address)
            .env("ABS_TRAY_LOG", "abs_tray_core::machine=info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut watch = Watch {
            lines: BufReader::new(child.stdout.take().unwrap()).lines(),
            log: BufReader::new(child.stderr.take().unwrap()).lines(),
            child,
            seen: Vec::new(),
        };
        watch.logged("watching the system bus").await;
        watch
    }
}

/// The running CLI and what it printed.
struct Watch {
    /// The CLI process.
    child: Child,
    /// Its JSON lines.
    lines: Lines<BufReader<ChildStdout>>,
    /// Its log.
    log: Lines<BufReader<ChildStderr>>,
    /// Every JSON line read so far, for failure messages.
    seen: Vec<String>,
}

impl Watch {
    /// Waits for a log line containing `text`.
    async fn logged(&mut self, text: &str) {
        let mut log = Vec::new();
        let found = tokio::time::timeout(WAIT, async {
            while let Some(line) = self.log.next_line().await.unwrap() {
                if line.contains(text) {
                    return true;
                }
                log.push(line);
            }
            false
        })
        .await;
        assert_eq!(found, Ok(true), "no log line with {text:?}; log: {log:#?}");
    }

    /// Reads status lines until one matches `pred`; returns it and when it arrived (Unix ms).
    async fn status(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> (Value, u64) {
        let found = tokio::time::timeout(WAIT, async {
            while let Some(line) = self.lines.next_line().await.unwrap() {
                let at = now_ms();
                self.seen.push(line.clone());
                let value: Value = serde_json::from_str(&line).unwrap();
                if value["type"] == "status" && pred(&value) {
                    return Some((value, at));
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(found)) => found,
            Ok(None) => panic!("watch ended before {what}; lines: {:#?}", self.seen),
            Err(_) => panic!("no {what} within {WAIT:?}; lines: {:#?}", self.seen),
        }
    }

    /// Waits for a connected status; returns when it arrived.
    async fn connected(&mut self) -> u64 {
        self.status("a connected status", |v| v["state"] == "connected")
            .await
            .1
    }

    /// Waits until the client is offline with its next attempt at least [`AHEAD_MS`] away, as
    /// the retry schedule has it once an outage lasts; returns when that attempt is due.
    async fn waiting_for_the_backoff(&mut self) -> u64 {
        let (offline, _) = self
            .status("an offline status with a distant retry", |v| {
                v["state"] == "offline"
                    && v["retry_at_ms"]
                        .as_u64()
                        .is_some_and(|at| at >= now_ms() + AHEAD_MS)
            })
            .await;
        offline["retry_at_ms"].as_u64().unwrap()
    }

    /// Connected again, before the attempt the schedule announced (the nudge went at `nudged`).
    async fn back_before(&mut self, nudged: u64, retry_at: u64) {
        let connected = self.connected().await;
        eprintln!(
            "connected {} ms after the nudge, {} ms before the scheduled attempt",
            connected.saturating_sub(nudged),
            retry_at.saturating_sub(connected)
        );
        assert!(
            connected < retry_at,
            "connected at {connected}, not before the scheduled attempt at {retry_at} ({} ms late); lines: {:#?}",
            connected - retry_at,
            self.seen
        );
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

#[tokio::test]
async fn started_without_a_link_connects_as_soon_as_the_network_manager_says_it_is_back() {
    let machine = Machine::new("link-user").await;
    // A laptop that logs in before its network is up: every attempt fails at once (no route).
    machine.netns.link(false);
    let mut watch = machine.watch().await;
    let retry_at = watch.waiting_for_the_backoff().await;
    machine.netns.link(true);
    machine.netns.reaches(machine.sim.addr().port());
    let nudged = now_ms();
    nm_state(&machine.nm, CONNECTED_GLOBAL).await;
    watch.back_before(nudged, retry_at).await;
}

#[tokio::test]
async fn after_a_reject_outage_connects_as_soon_as_the_network_manager_says_it_is_back() {
    let machine = Machine::new("reject-user").await;
    let mut watch = machine.watch().await;
    watch.connected().await;
    // Every packet to the server answered with a reset; the server's close still gets through.
    machine
        .netns
        .firewall("-A", machine.sim.addr().port(), "REJECT");
    machine.sim.drop_sockets();
    let retry_at = watch.waiting_for_the_backoff().await;
    machine
        .netns
        .firewall("-D", machine.sim.addr().port(), "REJECT");
    machine.netns.reaches(machine.sim.addr().port());
    let nudged = now_ms();
    nm_state(&machine.nm, CONNECTED_GLOBAL).await;
    watch.back_before(nudged, retry_at).await;
}

#[tokio::test]
async fn waking_up_behind_a_network_that_dropped_everything_connects_as_soon_as_logind_says_so() {
    let machine = Machine::new("drop-user").await;
    let mut watch = machine.watch().await;
    watch.connected().await;
    // Every packet to the server silently lost, as on a network left behind while asleep:
    // attempts wait out their timeouts.
    machine
        .netns
        .firewall("-A", machine.sim.addr().port(), "DROP");
    machine.sim.drop_sockets();
    let retry_at = watch.waiting_for_the_backoff().await;
    machine
        .netns
        .firewall("-D", machine.sim.addr().port(), "DROP");
    machine.netns.reaches(machine.sim.addr().port());
    let logind = machine.bus.service("org.freedesktop.login1").await;
    let nudged = now_ms();
    prepare_for_sleep(&logind, false).await;
    watch.back_before(nudged, retry_at).await;
}
