//! What a process tree costs, read from `/proc`: PSS and RSS from `smaps_rollup`, CPU time
//! from `stat`, the peak resident size from `status`, and which descendants are WebKit's.

use std::fs;
use std::process::Command;

use anyhow::{Context, Result};

/// One process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone)]
struct Stat {
    /// Process id.
    pid: u32,
    /// Parent's process id.
    ppid: u32,
    /// The executable's name (at most 15 characters, as the kernel keeps it).
    comm: String,
    /// User plus system CPU time in clock ticks.
    ticks: u64,
}

/// Reads one process's `stat`; `None` once it is gone.
fn stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name may hold spaces and parentheses: it ends at the last ')'.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = text.get(close + 2..)?.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    Some(Stat {
        pid,
        ppid: u32::try_from(field(1)?).ok()?,
        comm,
        ticks: field(11)? + field(12)?,
    })
}

/// Every process on the machine.
fn all() -> Vec<Stat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(stat)
        .collect()
}

/// `root` and all its descendants that are alive now.
fn tree(root: u32) -> Vec<Stat> {
    let procs = all();
    let mut out: Vec<Stat> = procs.iter().filter(|p| p.pid == root).cloned().collect();
    let mut i = 0;
    while i < out.len() {
        let parent = out[i].pid;
        out.extend(procs.iter().filter(|p| p.ppid == parent).cloned());
        i += 1;
    }
    out
}

/// Memory of a process tree, in kB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// Proportional set size: shared pages divided among their users.
    pub pss_kb: u64,
    /// Resident set size: shared pages counted in full for each process.
    pub rss_kb: u64,
    /// How many processes the tree had.
    pub processes: usize,
}

impl Memory {
    /// PSS in MB.
    pub fn pss_mb(&self) -> f64 {
        kb_to_mb(self.pss_kb)
    }

    /// RSS in MB.
    pub fn rss_mb(&self) -> f64 {
        kb_to_mb(self.rss_kb)
    }
}

/// kB to MB (MiB, as `smaps` counts in KiB).
pub fn kb_to_mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// One `Key:   123 kB` line of a `/proc` file.
fn kb_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// PSS and RSS summed over `root` and its descendants.
pub fn memory(root: u32) -> Memory {
    let mut total = Memory::default();
    for p in tree(root) {
        // A process that exits between the listing and this read just drops out.
        if let Ok(text) = fs::read_to_string(format!("/proc/{}/smaps_rollup", p.pid)) {
            total.pss_kb += kb_field(&text, "Pss").unwrap_or(0);
            total.rss_kb += kb_field(&text, "Rss").unwrap_or(0);
            total.processes += 1;
        }
    }
    total
}

/// CPU time (user + system) of `root` and its live descendants, in clock ticks.
pub fn cpu_ticks(root: u32) -> u64 {
    tree(root).iter().map(|p| p.ticks).sum()
}

/// The peak resident size of one process (`VmHWM`), in kB.
pub fn peak_rss_kb(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    kb_field(&text, "VmHWM")
}

/// The names of `root`'s descendants that belong to WebKit (web and network processes; the
/// kernel cuts names to 15 characters, so `WebKitWebProces`).
pub fn webkit_children(root: u32) -> Vec<String> {
    tree(root)
        .into_iter()
        .filter(|p| p.pid != root && p.comm.starts_with("WebKit"))
        .map(|p| format!("{} ({})", p.comm, p.pid))
        .collect()
}

/// The names of `root` and its descendants, for the report.
pub fn names(root: u32) -> Vec<String> {
    tree(root).into_iter().map(|p| p.comm).collect()
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
pub fn clock_ticks_per_s() -> Result<u64> {
    let out = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .context("run getconf CLK_TCK")?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("parse getconf CLK_TCK")
}
