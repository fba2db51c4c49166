//! A private network for the reconnect faults: a namespace holding the simulator, joined to the
//! runner's namespace by a veth pair, so the link can go down and a firewall can refuse the port
//! without touching the machine's own interfaces or rules. Needs root (`ip netns`).

use std::net::SocketAddr;
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use tokio::process::Command;

/// The simulator's port inside the namespace (ABS's default).
const PORT: u16 = 13378;
/// The highest route metric: the link's own route wins whenever the link is up.
const LAST: &str = "4294967295";

/// The namespace, its veth pair and its addresses; removed on drop.
pub struct Netns {
    /// The namespace's name.
    name: String,
    /// The veth end on the runner's (the client's) side.
    host_link: String,
    /// The simulator's address inside the namespace.
    addr: SocketAddr,
    /// The pair's subnet, also routed as unreachable in the runner's namespace.
    subnet: String,
}

impl Netns {
    /// Creates the namespace and the link, both up; fails clearly without root.
    pub async fn create() -> Result<Self> {
        let pid = std::process::id();
        // veth names have at most 15 characters; the subnet is per run so runs do not collide.
        let net = format!("10.254.{}", pid % 250 + 1);
        let ns = Self {
            name: format!("absbench-{pid}"),
            host_link: format!("abbh{}", pid % 100_000),
            addr: SocketAddr::new(
                format!("{net}.2")
                    .parse()
                    .context("the namespace's address")?,
                PORT,
            ),
            subnet: format!("{net}.0/30"),
        };
        let sim_link = format!("abbs{}", pid % 100_000);
        let root = ip(&["netns", "add", &ns.name]).await;
        if let Err(err) = root {
            bail!("cannot create a network namespace (the network faults need root): {err:#}");
        }
        let in_ns = |args: &[&str]| {
            let mut all = vec!["netns", "exec", ns.name.as_str(), "ip"];
            all.extend_from_slice(args);
            all.into_iter().map(str::to_owned).collect::<Vec<_>>()
        };
        let steps: Vec<Vec<String>> = vec![
            strings(&[
                "link",
                "add",
                &ns.host_link,
                "type",
                "veth",
                "peer",
                "name",
                &sim_link,
            ]),
            strings(&["link", "set", &sim_link, "netns", &ns.name]),
            strings(&["addr", "add", &format!("{net}.1/30"), "dev", &ns.host_link]),
            strings(&["link", "set", &ns.host_link, "up"]),
            // While the link is down its route is gone, and without this one the simulator's
            // address would be sent to the default gateway (here an HTTP proxy answered 404)
            // instead of failing at once as on a machine without network.
            strings(&["route", "add", "unreachable", &ns.subnet, "metric", LAST]),
            in_ns(&["addr", "add", &format!("{net}.2/30"), "dev", &sim_link]),
            in_ns(&["link", "set", &sim_link, "up"]),
            in_ns(&["link", "set", "lo", "up"]),
        ];
        for step in &steps {
            let args: Vec<&str> = step.iter().map(String::as_str).collect();
            ip(&args).await?;
        }
        Ok(ns)
    }

    /// Where the simulator listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A command run inside the namespace (`ip netns exec` replaces itself with the program, so
    /// the child's pid is the program's).
    pub fn command(&self, program: &std::path::Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Takes the client's end of the link down or up, as a laptop losing its network would.
    pub async fn link(&self, up: bool) -> Result<()> {
        let state = if up { "up" } else { "down" };
        ip(&["link", "set", &self.host_link, state]).await
    }

    /// Makes the simulator's namespace answer every new packet to its port with a TCP reset
    /// (`iptables -j REJECT --reject-with tcp-reset`), or stops doing so.
    pub async fn reject(&self, on: bool) -> Result<()> {
        let op = if on { "-I" } else { "-D" };
        let port = PORT.to_string();
        run(
            "ip",
            &[
                "netns",
                "exec",
                &self.name,
                "iptables",
                op,
                "INPUT",
                "-p",
                "tcp",
                "--dport",
                &port,
                "-j",
                "REJECT",
                "--reject-with",
                "tcp-reset",
            ],
        )
        .await
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace removes its veth end, its rules and with them the pair.
        for args in [
            vec!["netns", "del", self.name.as_str()],
            vec!["link", "del", self.host_link.as_str()],
            vec![
                "route",
                "del",
                "unreachable",
                self.subnet.as_str(),
                "metric",
                LAST,
            ],
        ] {
            let _ = std::process::Command::new("ip")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Owned copies of string slices.
fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// Runs `ip` with `args`.
async fn ip(args: &[&str]) -> Result<()> {
    run("ip", args).await
}

/// Runs a command to completion; its stderr in the error when it fails.
async fn run(program: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("start {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
