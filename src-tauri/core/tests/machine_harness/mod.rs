//! Real parts for the machine watcher's tests: a private system bus (its own `dbus-daemon`) on
//! which the test plays logind and NetworkManager, and network namespaces joined by veth pairs
//! whose links and firewall the test breaks from outside. Everything is removed on drop, also
//! when a test fails; a missing tool fails the test with what to install.
#![allow(
    dead_code,
    reason = "each test file uses the part of the harness it needs"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use zbus::Connection;

/// A `dbus-daemon` of our own with a policy that lets the test own the system services' names.
pub struct SystemBus {
    /// The daemon; killed on drop.
    daemon: Child,
    /// Its configuration and socket.
    _dir: tempfile::TempDir,
    /// Its address (`unix:path=...`, which works from other network namespaces too).
    pub address: String,
}

impl SystemBus {
    /// Starts the daemon and waits until it listens.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("system_bus_socket");
        let config = dir.path().join("system.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )
        .unwrap();
        let mut daemon = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--nopidfile", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // Only says that it may not raise its file limit (not as a system service).
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("dbus-daemon did not start ({e}): install dbus (scripts/install-deps.sh)")
            });
        // The daemon prints its address once it listens.
        let mut line = String::new();
        BufReader::new(daemon.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("unix:"), "dbus-daemon said {line:?}");
        Self {
            daemon,
            _dir: dir,
            address: line.trim().to_owned(),
        }
    }

    /// A new connection to this bus.
    pub async fn connect(&self) -> Connection {
        zbus::connection::Builder::address(self.address.as_str())
            .unwrap()
            .build()
            .await
            .unwrap()
    }

    /// A connection that owns `name`, as the real service would.
    pub async fn service(&self, name: &str) -> Connection {
        let connection = self.connect().await;
        connection.request_name(name).await.unwrap();
        connection
    }
}

impl Drop for SystemBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// logind's `PrepareForSleep(start)`, sent by `logind` (which owns `org.freedesktop.login1`).
pub async fn prepare_for_sleep(logind: &Connection, start: bool) {
    logind
        .emit_signal(
            None::<()>,
            "/org/freedesktop/login1",
            "org.freedesktop.login1.Manager",
            "PrepareForSleep",
            &(start,),
        )
        .await
        .unwrap();
}

/// NetworkManager's `StateChanged(state)`, sent by `nm` (which owns its name).
pub async fn nm_state(nm: &Connection, state: u32) {
    nm.emit_signal(
        None::<()>,
        "/org/freedesktop/NetworkManager",
        "org.freedesktop.NetworkManager",
        "StateChanged",
        &(state,),
    )
    .await
    .unwrap();
}

/// Runs a command that must succeed; says what to install when the tool is missing.
pub fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} did not run ({e}): install iproute2 and iptables (scripts/install-deps.sh); the test needs root")
        });
    assert!(
        output.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A network namespace (the client's machine) joined to this one by a veth pair on its own /30:
/// `host_ip` here, `guest_ip` inside. Deleted on drop, which deletes the pair as well.
pub struct Netns {
    /// The namespace's name (`ip netns exec NAME ...`).
    pub name: String,
    /// The guest's veth interface, inside the namespace.
    guest_link: String,
    /// This side's address.
    pub host_ip: String,
    /// The namespace's address.
    pub guest_ip: String,
}

impl Netns {
    /// Creates the namespace and the pair, both ends up, and checks the link with a ping.
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Interface names have at most 15 bytes; the subnet is unique per process and namespace.
        let tag = format!("{:x}{n}", pid % 0x10000);
        let name = format!("abs-tray-{pid}-{n}");
        let host_link = format!("absh{tag}");
        let guest_link = format!("absg{tag}");
        let (a, b) = ((pid % 200) + 20, n % 256);
        let host_ip = format!("10.{a}.{b}.1");
        let guest_ip = format!("10.{a}.{b}.2");
        remove_leftovers();
        run("ip", &["netns", "add", &name]);
        // From here on the guard removes whatever was made, even if a later step fails.
        let netns = Self {
            name,
            guest_link,
            host_ip,
            guest_ip,
        };
        run(
            "ip",
            &[
                "link",
                "add",
                &host_link,
                "type",
                "veth",
                "peer",
                "name",
                &netns.guest_link,
                "netns",
                &netns.name,
            ],
        );
        run(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}/30", netns.host_ip),
                "dev",
                &host_link,
            ],
        );
        run("ip", &["link", "set", &host_link, "up"]);
        netns.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{}/30", netns.guest_ip),
            "dev",
            &netns.guest_link,
        ]);
        netns.exec(&["ip", "link", "set", "lo", "up"]);
        netns.link(true);
        netns
    }

    /// Runs `args` inside the namespace; it must succeed.
    pub fn exec(&self, args: &[&str]) {
        let mut all = vec!["netns", "exec", &self.name];
        all.extend_from_slice(args);
        run("ip", &all);
    }

    /// A command for `program` inside the namespace.
    pub fn command(&self, program: &Path) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Takes the guest's link down or brings it up (its route goes and comes with it).
    pub fn link(&self, up: bool) {
        self.exec(&[
            "ip",
            "link",
            "set",
            &self.guest_link,
            if up { "up" } else { "down" },
        ]);
    }

    /// Waits until a TCP connection from inside the namespace to the host's `port` succeeds, as
    /// NetworkManager's connectivity check must before it says `CONNECTED_GLOBAL` (a link that
    /// was just set up may still drop its first packets).
    pub fn reaches(&self, port: u16) {
        let script = format!("exec 3<>/dev/tcp/{}/{port}", self.host_ip);
        self.exec(&["timeout", "10", "bash", "-c", &script]);
    }

    /// Adds (`-A`) or deletes (`-D`) an OUTPUT rule in the guest towards the host's `port`:
    /// `target` is `DROP` (silence) or `REJECT` (a TCP reset).
    pub fn firewall(&self, op: &str, port: u16, target: &str) {
        let port = port.to_string();
        let mut args = vec![
            "iptables",
            op,
            "OUTPUT",
            "-p",
            "tcp",
            "-d",
            &self.host_ip,
            "--dport",
            &port,
            "-j",
            target,
        ];
        if target == "REJECT" {
            args.extend_from_slice(&["--reject-with", "tcp-reset"]);
        }
        self.exec(&args);
    }
}

/// Deletes the namespaces of test processes that were killed before their guards ran: their
/// host-side links would hold the subnet a later process with a similar id needs.
fn remove_leftovers() {
    let Ok(list) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(pid) = name
            .strip_prefix("abs-tray-")
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = Command::new("ip").args(["netns", "delete", name]).status();
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

/// The `abs-tray-cli` binary of this build.
pub fn cli_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_abs-tray-cli"))
}
