//! Reconnects under faults from outside (`make bench-reconnect`, and the last part of
//! `make bench`): the release `abs-tray-cli watch --json` against a standalone `abs-sim` process
//! in a network namespace of its own ([`Netns`]). The runner time-stamps every status line the
//! CLI prints on arrival and the simulator's "listening" line, and injects each fault from
//! outside: the simulator stopped and started again on the same port (SIGTERM, as a server
//! restart), frozen (SIGSTOP/SIGCONT), the link down, the port answered with TCP resets, and
//! the client frozen. Per fault it records when the client noticed (its first status other than
//! `connected`) and how long after the server was back the client was `connected` again.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use crate::netns::Netns;
use crate::{Report, percentile, progress, round3};

/// How long the simulator may take to listen, and the client to connect the first time.
const START: Duration = Duration::from_secs(30);
/// How long a stopped process may take to exit before it is killed.
const EXIT: Duration = Duration::from_secs(10);

/// The section's knobs, in seconds or counts; the defaults are the faults of issue 12.
#[derive(Debug, Clone)]
pub struct Params {
    /// How long the client has been connected before each fault: longer than any "flapping"
    /// window, so every fault starts a fresh outage.
    pub stable: f64,
    /// Single restarts after a stable connection.
    pub restarts: u32,
    /// Restarts in each of the two "restarts in a row" faults.
    pub flap_restarts: u32,
    /// How long the server is down in each of those restarts.
    pub flap_down: f64,
    /// Server up between restarts, the slow row.
    pub flap_up_long: f64,
    /// Server up between restarts, the fast row.
    pub flap_up_short: f64,
    /// Server frozen (SIGSTOP).
    pub server_freeze: f64,
    /// Link down.
    pub link_down: f64,
    /// Port answered with TCP resets.
    pub reject: f64,
    /// Client frozen (SIGSTOP).
    pub client_freeze: f64,
    /// Repetitions of each of the four long faults.
    pub long_reps: u32,
    /// How long to wait for the client after the server is back before counting it as missing.
    pub bound: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            stable: 15.0,
            restarts: 10,
            flap_restarts: 5,
            flap_down: 5.0,
            flap_up_long: 10.0,
            flap_up_short: 3.0,
            server_freeze: 90.0,
            link_down: 60.0,
            reject: 60.0,
            client_freeze: 120.0,
            long_reps: 1,
            bound: 180.0,
        }
    }
}

/// The flags, their help, and where each value goes.
const FLAGS: &[(&str, &str)] = &[
    ("--stable", "s connected before each fault (15)"),
    (
        "--restarts",
        "single restarts after a stable connection (10)",
    ),
    (
        "--flap-restarts",
        "restarts in each restarts-in-a-row fault (5)",
    ),
    ("--flap-down", "s down in each of those restarts (5)"),
    ("--flap-up-long", "s up between restarts, slow row (10)"),
    ("--flap-up-short", "s up between restarts, fast row (3)"),
    ("--server-freeze", "s the server is frozen (90)"),
    ("--link-down", "s the link is down (60)"),
    ("--reject", "s the port answers with TCP resets (60)"),
    ("--client-freeze", "s the client is frozen (120)"),
    ("--long-reps", "repetitions of each long fault (1)"),
    (
        "--bound",
        "s to wait for the client after the server is back (180)",
    ),
];

impl Params {
    /// Parses the runner's arguments: `--reconnect-only` (returned as the flag) and the knobs.
    pub fn parse(args: &[String]) -> Result<(bool, Self)> {
        let mut params = Self::default();
        let mut only = false;
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            if flag == "--reconnect-only" {
                only = true;
                continue;
            }
            if flag == "--help" || !FLAGS.iter().any(|(f, _)| f == flag) {
                let help: Vec<String> = FLAGS
                    .iter()
                    .map(|(f, h)| format!("  {f:<16} {h}"))
                    .collect();
                bail!(
                    "usage: abs-tray-bench [--reconnect-only] [KNOB VALUE]...\n{}",
                    help.join("\n")
                );
            }
            let value: f64 = it
                .next()
                .and_then(|v| v.parse().ok())
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| anyhow!("{flag} needs a number"))?;
            let count = value as u32;
            match flag.as_str() {
                "--stable" => params.stable = value,
                "--restarts" => params.restarts = count,
                "--flap-restarts" => params.flap_restarts = count,
                "--flap-down" => params.flap_down = value,
                "--flap-up-long" => params.flap_up_long = value,
                "--flap-up-short" => params.flap_up_short = value,
                "--server-freeze" => params.server_freeze = value,
                "--link-down" => params.link_down = value,
                "--reject" => params.reject = value,
                "--client-freeze" => params.client_freeze = value,
                "--long-reps" => params.long_reps = count,
                _ => params.bound = value,
            }
        }
        Ok((only, params))
    }

    /// About how long the section takes when every reconnect is quick (each fault starts after
    /// `stable` s connected; a slow client adds its own delays).
    pub fn estimate(&self) -> Duration {
        let per_row = 3.0;
        let single = f64::from(self.restarts) * (self.stable + 1.5);
        let flaps = 2.0 * self.stable
            + f64::from(self.flap_restarts)
                * (2.0 * self.flap_down + self.flap_up_long + self.flap_up_short);
        let long = f64::from(self.long_reps)
            * (4.0 * self.stable
                + self.server_freeze
                + self.link_down
                + self.reject
                + self.client_freeze);
        Duration::from_secs_f64(7.0 * per_row + single + flaps + long)
    }

    /// The knobs as JSON.
    fn json(&self) -> Value {
        json!({
            "stable_s": self.stable,
            "restarts": self.restarts,
            "flap_restarts": self.flap_restarts,
            "flap_down_s": self.flap_down,
            "flap_up_long_s": self.flap_up_long,
            "flap_up_short_s": self.flap_up_short,
            "server_freeze_s": self.server_freeze,
            "link_down_s": self.link_down,
            "reject_s": self.reject,
            "client_freeze_s": self.client_freeze,
            "long_reps": self.long_reps,
            "bound_s": self.bound,
        })
    }
}

/// One status line of the CLI, stamped on arrival.
#[derive(Debug, Clone)]
struct Status {
    /// When the runner read the line.
    at: Instant,
    /// `connected`, `offline`, `connecting`, ...
    state: String,
    /// The offline reason, if any.
    reason: Option<String>,
}

impl Status {
    /// Whether this line says the client is connected.
    fn connected(&self) -> bool {
        self.state == "connected"
    }
}

/// A running `abs-tray-cli watch --json` and the status lines it printed so far.
struct Client {
    /// The process.
    child: Child,
    /// Its pid, for SIGSTOP/SIGCONT.
    pid: u32,
    /// Every status line so far.
    lines: watch::Receiver<Vec<Status>>,
}

impl Client {
    /// Starts the CLI with the signed-in settings in `config_dir`; its stderr goes to `log`.
    fn start(cli: &Path, config_dir: &Path, log: &Path) -> Result<Self> {
        let log = std::fs::File::create(log)?;
        let mut child = Command::new(cli)
            .args(["watch", "--json"])
            .env(abs_tray_core::config::CONFIG_DIR_ENV, config_dir)
            .env("ABS_TRAY_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {}", cli.display()))?;
        let pid = child.id().ok_or_else(|| anyhow!("the CLI has no pid"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no stdout of the CLI"))?;
        let (tx, lines) = watch::channel(Vec::new());
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let at = Instant::now();
                let Ok(value) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if value.get("type").and_then(Value::as_str) != Some("status") {
                    continue;
                }
                let status = Status {
                    at,
                    state: value
                        .get("state")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_owned(),
                    reason: value
                        .get("reason")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                };
                tx.send_modify(|all| all.push(status));
            }
        });
        Ok(Self { child, pid, lines })
    }

    /// Waits until a status line satisfies `find` (given all lines so far), at most `bound`.
    async fn wait<T>(
        &self,
        bound: Duration,
        mut find: impl FnMut(&[Status]) -> Option<T>,
    ) -> Option<T> {
        let mut rx = self.lines.clone();
        let mut found = None;
        // A timeout only means "not within the bound": the caller records it as missing.
        let _ = timeout(bound, async {
            let _ = rx
                .wait_for(|all| {
                    found = find(all);
                    found.is_some()
                })
                .await;
        })
        .await;
        found
    }

    /// The first `connected` line at or after `after`.
    async fn connected_after(&self, after: Instant, bound: Duration) -> Option<Instant> {
        self.wait(bound, |all| {
            all.iter()
                .find(|s| s.at >= after && s.connected())
                .map(|s| s.at)
        })
        .await
    }

    /// After a fault that began at `fault` and ended at `back`: the first line other than
    /// `connected` at or after `fault` (noticed), and the first `connected` line after that and
    /// at or after `back`, waiting for it until `until`.
    async fn outage(
        &self,
        fault: Instant,
        back: Instant,
        until: Instant,
    ) -> (Option<Instant>, Option<Instant>) {
        let noticed = |all: &[Status]| {
            all.iter()
                .position(|s| s.at >= fault && !s.connected())
                .map(|i| (i, all[i].at))
        };
        let bound = until.saturating_duration_since(Instant::now());
        let again = self
            .wait(bound, |all| {
                let (i, _) = noticed(all)?;
                all.iter()
                    .skip(i)
                    .find(|s| s.connected() && s.at >= back)
                    .map(|s| s.at)
            })
            .await;
        let seen = noticed(&self.lines.borrow()).map(|(_, at)| at);
        (seen, again)
    }

    /// Whether the last line before `at` said connected.
    fn connected_at(&self, at: Instant) -> bool {
        self.lines
            .borrow()
            .iter()
            .rev()
            .find(|s| s.at < at)
            .is_some_and(Status::connected)
    }

    /// The status lines since `from`, as `[seconds, state, reason]`.
    fn timeline(&self, from: Instant) -> Value {
        let lines = self.lines.borrow();
        let rows: Vec<Value> = lines
            .iter()
            .map(|s| {
                json!([
                    round3(signed_s(s.at, from)),
                    s.state,
                    s.reason.as_deref().unwrap_or("")
                ])
            })
            .collect();
        Value::Array(rows)
    }

    /// Ends the CLI politely (it closes its socket), then for sure.
    async fn stop(mut self) {
        let _ = signal("CONT", self.pid).await;
        let _ = signal("TERM", self.pid).await;
        if timeout(EXIT, self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// The simulator process inside the namespace.
struct Server {
    /// The process (`ip netns exec` became `abs-sim`).
    child: Child,
    /// Its pid, for signals.
    pid: u32,
}

impl Server {
    /// Stops the simulator as a restart would (SIGTERM: it closes every socket and saves its
    /// state), killing it if it does not exit in time.
    async fn stop(mut self) -> Result<()> {
        let _ = signal("CONT", self.pid).await;
        signal("TERM", self.pid).await?;
        if timeout(EXIT, self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
            bail!("the simulator did not exit within {EXIT:?} of SIGTERM");
        }
        Ok(())
    }
}

/// Sends a signal (`kill -<name> <pid>`).
async fn signal(name: &str, pid: u32) -> Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .context("start kill")?;
    if !status.success() {
        bail!("kill -{name} {pid} failed");
    }
    Ok(())
}

/// Seconds from `from` to `at`, negative when `at` is earlier.
fn signed_s(at: Instant, from: Instant) -> f64 {
    if at >= from {
        (at - from).as_secs_f64()
    } else {
        -(from - at).as_secs_f64()
    }
}

/// Everything a fault needs: the namespace, the binaries, the simulator's data and the
/// client's settings.
struct Rig {
    /// The namespace the simulator runs in.
    net: Netns,
    /// The simulator binary.
    sim_bin: PathBuf,
    /// The CLI binary.
    cli_bin: PathBuf,
    /// The simulator's `--data-dir`: users, the JWT secret and refresh sessions survive restarts.
    data_dir: PathBuf,
    /// The CLI's settings folder.
    config_dir: PathBuf,
    /// Where the processes' logs go.
    log_dir: PathBuf,
}

impl Rig {
    /// Starts the simulator; returns it and when it said it listens.
    async fn start_sim(&self) -> Result<(Server, Instant)> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_dir.join("abs-sim.log"))?;
        let mut child = self
            .net
            .command(&self.sim_bin)
            .arg("--listen")
            .arg(self.net.addr().to_string())
            .arg("--data-dir")
            .arg(&self.data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("start abs-sim in the namespace")?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("the simulator has no pid"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no stdout of the simulator"))?;
        let mut lines = BufReader::new(stdout).lines();
        let listening = timeout(START, async {
            while let Some(line) = lines.next_line().await? {
                if line.starts_with("abs-sim listening") {
                    return Ok(Instant::now());
                }
            }
            bail!("abs-sim exited before listening (see abs-sim.log)")
        })
        .await
        .map_err(|_| anyhow!("abs-sim did not listen within {START:?}"))??;
        // It prints nothing more; keep the pipe open and drained anyway.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok((Server { child, pid }, listening))
    }

    /// The simulator's address as the CLI opens it.
    fn url(&self) -> String {
        format!("http://{}", self.net.addr())
    }

    /// Signs the CLI in as root/root (settings in `config_dir`, the token in the keyring).
    async fn login(&self) -> Result<()> {
        let mut child = Command::new(&self.cli_bin)
            .args([
                "login",
                &self.url(),
                "--username",
                "root",
                "--password-stdin",
            ])
            .env(abs_tray_core::config::CONFIG_DIR_ENV, &self.config_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("start abs-tray-cli login")?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(b"root\n").await?;
        }
        let out = timeout(START, child.wait_with_output())
            .await
            .map_err(|_| anyhow!("abs-tray-cli login took over {START:?}"))??;
        if !out.status.success() {
            bail!(
                "abs-tray-cli login failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// A simulator and a connected client for one fault.
    async fn session(&self, name: &str) -> Result<(Server, Client)> {
        let (server, _) = self.start_sim().await?;
        let client = Client::start(
            &self.cli_bin,
            &self.config_dir,
            &self.log_dir.join(format!("cli-{name}.log")),
        )?;
        client
            .connected_after(Instant::now() - Duration::from_secs(1), START)
            .await
            .ok_or_else(|| anyhow!("the CLI did not connect within {START:?} ({name})"))?;
        Ok((server, client))
    }
}

/// The faults, in the order of the table.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// One restart (SIGTERM, 0.3–1 s down) after a stable connection, repeated.
    Restart,
    /// Restarts in a row, `down` s down and `up` s up between them.
    Flaps {
        /// Seconds up between restarts.
        up: f64,
    },
    /// The simulator process stopped (SIGSTOP), then continued.
    ServerFreeze,
    /// The client's end of the link down, then up.
    LinkDown,
    /// TCP resets for the port, then none.
    Reject,
    /// The client process stopped (SIGSTOP), then continued.
    ClientFreeze,
}

impl Fault {
    /// The row's name, as in the table.
    fn name(self, p: &Params) -> String {
        match self {
            Fault::Restart => "one restart after a stable connection".into(),
            Fault::Flaps { up } => format!(
                "restarts, server up {up} s between them ({} s down)",
                p.flap_down
            ),
            Fault::ServerFreeze => format!("server frozen {} s (SIGSTOP)", p.server_freeze),
            Fault::LinkDown => format!("network link down {} s (veth)", p.link_down),
            Fault::Reject => format!("network REJECT (RST) {} s", p.reject),
            Fault::ClientFreeze => format!("client frozen {} s (SIGSTOP)", p.client_freeze),
        }
    }

    /// A short key for the JSON and log names.
    fn key(self) -> &'static str {
        match self {
            Fault::Restart => "restart",
            Fault::Flaps { up } if up >= 5.0 => "restarts_up_long",
            Fault::Flaps { .. } => "restarts_up_short",
            Fault::ServerFreeze => "server_freeze",
            Fault::LinkDown => "link_down",
            Fault::Reject => "reject",
            Fault::ClientFreeze => "client_freeze",
        }
    }

    /// The goals of issue 12: (noticed within, connected again within) in seconds.
    fn goals(self) -> (Option<f64>, f64) {
        match self {
            Fault::Restart | Fault::Flaps { .. } => (None, 1.0),
            Fault::ServerFreeze | Fault::LinkDown => (Some(40.0), 2.0),
            Fault::Reject | Fault::ClientFreeze => (None, 2.0),
        }
    }

    /// How long the long faults last.
    fn length(self, p: &Params) -> f64 {
        match self {
            Fault::ServerFreeze => p.server_freeze,
            Fault::LinkDown => p.link_down,
            Fault::Reject => p.reject,
            Fault::ClientFreeze => p.client_freeze,
            Fault::Restart | Fault::Flaps { .. } => 0.0,
        }
    }
}

/// What one fault measured: per repetition, seconds to notice and seconds from the server
/// back to connected (`None`: not within the window or bound).
#[derive(Debug, Default)]
struct Measured {
    /// Fault start → first status other than connected (for the frozen client: from SIGCONT).
    noticed: Vec<Option<f64>>,
    /// Server back (listening, SIGCONT, link up, rule removed) → `connected`.
    back: Vec<Option<f64>>,
    /// Repetitions in which the client never left `connected` (it saw no outage at all).
    stayed: usize,
    /// Status lines of the run, seconds from its first fault.
    timeline: Value,
}

/// Runs every fault, prints its table into `report` and writes `reconnect_faults` into the
/// JSON. The section needs root for the namespace.
pub async fn run(
    bin_dir: &Path,
    out_dir: &Path,
    params: &Params,
    report: &mut Report,
) -> Result<()> {
    progress(&format!(
        "reconnect faults: about {:.0} min ({params:?})",
        params.estimate().as_secs_f64() / 60.0
    ));
    let work = out_dir.join("reconnect");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    let rig = Rig {
        net: Netns::create().await?,
        sim_bin: bin_dir.join("abs-sim"),
        cli_bin: bin_dir.join("abs-tray-cli"),
        data_dir: work.join("sim-data"),
        config_dir: work.join("config"),
        log_dir: work.clone(),
    };
    for bin in [&rig.sim_bin, &rig.cli_bin] {
        if !bin.exists() {
            bail!(
                "{} is missing (make bench-reconnect builds it)",
                bin.display()
            );
        }
    }
    std::fs::create_dir_all(&rig.config_dir)?;
    {
        let (server, _) = rig.start_sim().await?;
        rig.login().await?;
        server.stop().await?;
    }
    let started = Instant::now();
    let faults = [
        Fault::Restart,
        Fault::Flaps {
            up: params.flap_up_long,
        },
        Fault::Flaps {
            up: params.flap_up_short,
        },
        Fault::ServerFreeze,
        Fault::LinkDown,
        Fault::Reject,
        Fault::ClientFreeze,
    ];
    let mut rows = Vec::new();
    let mut table = vec![format!(
        "{:<52} {:>16} {:>28} {:>4}  {:<18} verdict",
        "fault", "noticed (s)", "server back -> connected (s)", "n", "goal"
    )];
    table.push("-".repeat(134));
    let mut outcome = Ok(());
    for fault in faults {
        progress(&format!("reconnect: {}", fault.name(params)));
        let measured = match measure(&rig, fault, params).await {
            Ok(m) => m,
            Err(err) => {
                outcome = Err(err.context(fault.name(params)));
                break;
            }
        };
        let (row, line) = summarise(fault, params, &measured);
        table.push(line);
        rows.push(row);
        report.set(
            "reconnect_faults",
            json!({
                "params": params.json(),
                "commit": commit(),
                "rows": rows,
            }),
        );
    }
    report.set(
        "reconnect_faults_minutes",
        json!(round3(started.elapsed().as_secs_f64() / 60.0)),
    );
    report.table(table);
    outcome
}

/// Runs one fault with its own simulator and client.
async fn measure(rig: &Rig, fault: Fault, p: &Params) -> Result<Measured> {
    let (mut server, client) = rig.session(fault.key()).await?;
    let mut m = Measured::default();
    let stable = Duration::from_secs_f64(p.stable);
    let bound = Duration::from_secs_f64(p.bound);
    let mut first_fault = None;
    match fault {
        Fault::Restart => {
            for i in 0..p.restarts {
                sleep(stable).await;
                let at = Instant::now();
                first_fault.get_or_insert(at);
                server.stop().await?;
                sleep(Duration::from_millis(300 + u64::from(i) * 173 % 700)).await;
                let (next, back) = rig.start_sim().await?;
                server = next;
                let (noticed, again) = client.outage(at, back, back + bound).await;
                m.noticed.push(noticed.map(|n| signed_s(n, at)));
                m.back.push(again.map(|a| signed_s(a, back)));
            }
        }
        Fault::Flaps { up } => {
            sleep(stable).await;
            let down = Duration::from_secs_f64(p.flap_down);
            let up = Duration::from_secs_f64(up);
            for i in 0..p.flap_restarts {
                let at = Instant::now();
                first_fault.get_or_insert(at);
                let was_connected = client.connected_at(at);
                server.stop().await?;
                sleep(down).await;
                let (next, back) = rig.start_sim().await?;
                server = next;
                // The server goes down again after `up`; the last time it stays up.
                let until = if i + 1 == p.flap_restarts {
                    back + bound
                } else {
                    back + up
                };
                let (noticed, again) = client.outage(at, back, until).await;
                m.noticed
                    .push(noticed.filter(|_| was_connected).map(|n| signed_s(n, at)));
                m.back.push(again.map(|a| signed_s(a, back)));
                sleep_until(back + up).await;
            }
        }
        Fault::ServerFreeze | Fault::LinkDown | Fault::Reject | Fault::ClientFreeze => {
            let length = Duration::from_secs_f64(fault.length(p));
            for _ in 0..p.long_reps {
                sleep(stable).await;
                let at = Instant::now();
                first_fault.get_or_insert(at);
                match fault {
                    Fault::ServerFreeze => signal("STOP", server.pid).await?,
                    Fault::LinkDown => rig.net.link(false).await?,
                    Fault::Reject => rig.net.reject(true).await?,
                    _ => signal("STOP", client.pid).await?,
                }
                sleep(length).await;
                // Taken before the command: the server may be back any moment during it.
                let back = Instant::now();
                match fault {
                    Fault::ServerFreeze => signal("CONT", server.pid).await?,
                    Fault::LinkDown => rig.net.link(true).await?,
                    Fault::Reject => rig.net.reject(false).await?,
                    _ => signal("CONT", client.pid).await?,
                }
                let (noticed, again) = client.outage(at, back, back + bound).await;
                // A frozen client can notice only once it runs again.
                let from = if matches!(fault, Fault::ClientFreeze) {
                    back
                } else {
                    at
                };
                m.noticed.push(noticed.map(|n| signed_s(n, from)));
                m.back.push(again.map(|a| signed_s(a, back)));
                m.stayed += usize::from(noticed.is_none());
            }
        }
    }
    m.timeline = client.timeline(first_fault.unwrap_or_else(Instant::now));
    client.stop().await;
    server.stop().await?;
    Ok(m)
}

/// The JSON row and the table line of one fault.
fn summarise(fault: Fault, p: &Params, m: &Measured) -> (Value, String) {
    let (goal_noticed, goal_back) = fault.goals();
    let stats = |xs: &[Option<f64>]| {
        let mut got: Vec<f64> = xs.iter().flatten().copied().collect();
        got.sort_by(f64::total_cmp);
        let missing = xs.len() - got.len();
        (
            percentile(&got, 0.5),
            got.last().copied().unwrap_or(f64::NAN),
            missing,
        )
    };
    let (n50, nmax, n_missing) = stats(&m.noticed);
    let (b50, bmax, b_none) = stats(&m.back);
    // Nothing to reconnect when the client never saw the fault; its noticed goal is missed.
    let b_missing = b_none - m.stayed;
    let met_back = b_missing == 0 && !m.back.is_empty() && (bmax.is_nan() || bmax <= goal_back);
    // A client that stayed connected through a fault shorter than the goal had nothing to
    // notice: its connection survived.
    let met_noticed = goal_noticed.is_none_or(|g| {
        let unseen_ok = fault.length(p) <= g && n_missing == m.stayed;
        (n_missing == 0 || unseen_ok) && (nmax.is_nan() || nmax <= g)
    });
    let goal = match goal_noticed {
        Some(g) => format!("<= {g} s / <= {goal_back} s"),
        None => format!("<= {goal_back} s"),
    };
    let show = |p50: f64, max: f64, missing: usize, what: &str| {
        let mut s = if p50.is_nan() {
            "-".to_owned()
        } else if m.back.len() == 1 {
            format!("{max:.2}")
        } else {
            format!("p50 {p50:.2}, max {max:.2}")
        };
        if missing > 0 {
            s.push_str(&format!(" ({missing} {what})"));
        }
        s
    };
    let missed_what = match fault {
        Fault::Flaps { .. } => "not within the up time",
        _ => "not back",
    };
    let noticed_text = show(n50, nmax, n_missing, "not seen");
    let mut back_text = show(b50, bmax, b_missing, missed_what);
    if m.stayed > 0 {
        back_text.push_str(&format!(" ({} stayed connected)", m.stayed));
    }
    let verdict = if met_back && met_noticed {
        "ok"
    } else {
        "MISSED"
    };
    let line = format!(
        "{:<52} {:>16} {:>28} {:>4}  {:<18} {verdict}",
        fault.name(p),
        noticed_text,
        back_text,
        m.back.len(),
        goal
    );
    let round =
        |xs: &[Option<f64>]| -> Vec<Option<f64>> { xs.iter().map(|x| x.map(round3)).collect() };
    let row = json!({
        "fault": fault.key(),
        "name": fault.name(p),
        "noticed_s": round(&m.noticed),
        "back_s": round(&m.back),
        "noticed_p50_s": finite(n50),
        "noticed_max_s": finite(nmax),
        "back_p50_s": finite(b50),
        "back_max_s": finite(bmax),
        "back_missing": b_missing,
        "stayed_connected": m.stayed,
        "goal_noticed_s": goal_noticed,
        "goal_back_s": goal_back,
        "met": met_back && met_noticed,
        "timeline": m.timeline,
    });
    (row, line)
}

/// A rounded number, or null for NaN.
fn finite(x: f64) -> Value {
    if x.is_finite() {
        json!(round3(x))
    } else {
        Value::Null
    }
}

/// The commit measured, and whether the tree had changes to tracked files.
fn commit() -> Value {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let head = git(&["rev-parse", "HEAD"]);
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .map(|s| s.lines().count())
        .unwrap_or(0);
    json!({ "head": head, "changed_tracked_files": dirty })
}
