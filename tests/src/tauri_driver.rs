//! Runs `tauri-driver` (installed by `scripts/install-deps.sh`) in front of
//! WebKitWebDriver, and takes it down with everything it started (WebKitWebDriver, the app and
//! its WebKit processes) when dropped.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long tauri-driver may take to listen (it starts in milliseconds).
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the processes get to exit after SIGTERM before they are killed.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why tauri-driver could not be started.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// Not on PATH nor in cargo's bin folder.
    #[error("tauri-driver not found on PATH nor in $CARGO_HOME/bin: run scripts/install-deps.sh")]
    NotInstalled,
    /// WebKitWebDriver (package webkit2gtk-driver) is missing.
    #[error(
        "WebKitWebDriver not found on PATH: install webkit2gtk-driver (scripts/install-deps.sh)"
    )]
    NoNativeDriver,
    /// A free port could not be found or the process could not start.
    #[error("cannot start tauri-driver: {0}")]
    Io(#[from] std::io::Error),
    /// It started but never listened.
    #[error("tauri-driver did not listen on port {port} within {LISTEN_TIMEOUT:?} ({status})")]
    NotListening {
        /// The port it was told to use.
        port: u16,
        /// Whether it is still running.
        status: String,
    },
}

/// A running tauri-driver; stops with its descendants on drop.
#[derive(Debug)]
pub struct TauriDriver {
    child: Child,
    port: u16,
}

/// The tauri-driver binary: `$TAURI_DRIVER`, else PATH, else cargo's bin folder.
fn find_binary() -> Result<PathBuf, DriverError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(explicit) = std::env::var_os("TAURI_DRIVER") {
        candidates.push(explicit.into());
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("tauri-driver")));
    }
    if let Some(cargo_home) = std::env::var_os("CARGO_HOME") {
        candidates.push(PathBuf::from(cargo_home).join("bin/tauri-driver"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cargo/bin/tauri-driver"));
    }
    candidates
        .into_iter()
        .find(|c| c.is_file())
        .ok_or(DriverError::NotInstalled)
}

/// True when WebKitWebDriver is on PATH (tauri-driver looks for it there).
fn native_driver_installed() -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join("WebKitWebDriver").is_file())
    })
}

/// A port nobody listens on right now.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

impl TauriDriver {
    /// Starts tauri-driver on free ports with these extra environment variables (inherited by
    /// WebKitWebDriver and the app) and returns once it accepts connections. Its stderr, which
    /// WebKitWebDriver and the app inherit (so the app's log), goes to `log`.
    pub fn start(
        env: &[(&str, &std::ffi::OsStr)],
        log: std::fs::File,
    ) -> Result<Self, DriverError> {
        let binary = find_binary()?;
        if !native_driver_installed() {
            return Err(DriverError::NoNativeDriver);
        }
        let port = free_port()?;
        let mut native_port = free_port()?;
        while native_port == port {
            native_port = free_port()?;
        }
        let mut command = Command::new(binary);
        command
            .arg("--port")
            .arg(port.to_string())
            .arg("--native-port")
            .arg(native_port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn()?;
        let mut driver = Self { child, port };
        // Waiting for a process to listen: connect until it accepts, with a deadline.
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + LISTEN_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(driver);
            }
            let exited = driver.child.try_wait()?;
            if exited.is_some() || Instant::now() >= deadline {
                return Err(DriverError::NotListening {
                    port,
                    status: exited.map_or("still running".into(), |s| s.to_string()),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `http://127.0.0.1:PORT`, the WebDriver endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The process id of tauri-driver.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// The ids of every process below `root` (children first found, then theirs), from `/proc`.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses, so parse after
            // the last ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid) in &parents {
            if ppid == parent && !found.contains(&pid) {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    found
}

/// True while a process with that id exists (and is not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

/// Sends a signal by process id with kill(1) (the crate forbids unsafe code, so no libc).
fn signal(signal: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .args(pids.iter().map(u32::to_string))
        .stderr(Stdio::null())
        .status();
}

impl Drop for TauriDriver {
    fn drop(&mut self) {
        // Collect the tree first: once tauri-driver is gone its children are reparented.
        let mut pids = descendants(self.child.id());
        pids.push(self.child.id());
        signal("TERM", &pids);
        let deadline = Instant::now() + EXIT_TIMEOUT;
        while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
            let _ = self.child.try_wait();
            std::thread::sleep(Duration::from_millis(20));
        }
        let left: Vec<u32> = pids.into_iter().filter(|&p| alive(p)).collect();
        signal("KILL", &left);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
