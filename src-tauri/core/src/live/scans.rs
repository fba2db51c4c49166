//! Library scans in progress (`task_started` / `task_finished` with `action: library-scan`,
//! `GET /api/tasks` after a connect, and old servers' `init.librariesScanning`), and what the
//! file watcher's scans (`watcher-scan`) found.

use std::collections::{HashMap, HashSet, VecDeque};

use super::label::label;
use super::{ScanInProgress, server_ms};
use crate::happening::Happening;
use crate::protocol::{ScanningLibrary, Task};

/// How many finished task ids are remembered to drop a repeated `task_finished`.
const FINISHED_MEMORY: usize = 64;

/// One running scan.
#[derive(Debug, Clone)]
struct Scan {
    /// The library.
    library_id: Option<String>,
    /// Its name.
    library_name: Option<String>,
    /// Start (Unix ms).
    started_at_ms: Option<u64>,
    /// Event sequence number of the event that started it.
    touched: u64,
}

/// Running scans by task id, at most `cap`.
#[derive(Debug, Clone)]
pub(crate) struct Scans {
    /// Running scans by task id (legacy entries: `library:<id>`).
    running: HashMap<String, Scan>,
    /// Recently finished task ids, oldest first.
    finished: VecDeque<String>,
    /// Most scans kept.
    cap: usize,
}

impl Scans {
    /// No scans; at most `cap` kept.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            running: HashMap::new(),
            finished: VecDeque::new(),
            cap,
        }
    }

    /// A `task_started`; a scan task that arrives already over (failed tasks are only ever sent
    /// as `task_started`) is handled as finished.
    pub(crate) fn started(&mut self, task: &Task, seq: u64) -> Option<Happening> {
        if !task.is_library_scan() {
            return None;
        }
        if task.is_finished || task.is_failed {
            return self.finished(task);
        }
        self.insert(task, seq);
        None
    }

    /// A `task_finished`: the scan's counts, once per task.
    pub(crate) fn finished(&mut self, task: &Task) -> Option<Happening> {
        if task.is_watcher_scan() {
            return self.files_changed(task);
        }
        if !task.is_library_scan() {
            return None;
        }
        let scan = self.running.remove(&task.id);
        if !self.first_finish(&task.id) {
            return None;
        }
        let data = task.data.clone().unwrap_or_default();
        let library_id = data
            .library_id
            .or_else(|| scan.as_ref().and_then(|s| s.library_id.clone()))
            .unwrap_or_default();
        if let Some(library) = Some(&library_id).filter(|l| !l.is_empty()) {
            self.running.remove(&legacy_key(library));
        }
        let results = data.scan_results.unwrap_or_default();
        Some(Happening::ScanFinished {
            library_id,
            library_name: data
                .library_name
                .map(|n| label(&n))
                .or_else(|| scan.and_then(|s| s.library_name)),
            added: results.added,
            updated: results.updated,
            missing: results.missing,
            failed: task.is_failed,
        })
    }

    /// A watcher scan's `task_finished`, once per task: news only when it updated or removed
    /// items (its new ones come as `item_added`, and nobody waits for it to finish).
    fn files_changed(&mut self, task: &Task) -> Option<Happening> {
        if !self.first_finish(&task.id) {
            return None;
        }
        let data = task.data.clone().unwrap_or_default();
        let results = data.scan_results.unwrap_or_default();
        if task.is_failed || results.updated.saturating_add(results.removed) == 0 {
            return None;
        }
        Some(Happening::FilesChanged {
            library_id: data.library_id.unwrap_or_default(),
            library_name: data.library_name.map(|n| label(&n)),
            added: results.added,
            updated: results.updated,
            removed: results.removed,
        })
    }

    /// Remembers a finished task id; false when it was seen already (a repeated event).
    fn first_finish(&mut self, task_id: &str) -> bool {
        if self.finished.iter().any(|id| id == task_id) {
            return false;
        }
        if self.finished.len() >= FINISHED_MEMORY {
            self.finished.pop_front();
        }
        self.finished.push_back(task_id.to_owned());
        true
    }

    /// Old servers' `init.librariesScanning`: libraries scanning, without task ids.
    pub(crate) fn legacy(&mut self, libraries: &[ScanningLibrary], seq: u64) {
        for library in libraries {
            if self.running.len() >= self.cap {
                break;
            }
            self.running.insert(
                legacy_key(&library.id),
                Scan {
                    library_id: Some(library.id.clone()),
                    library_name: library.name.as_deref().map(label),
                    started_at_ms: None,
                    touched: seq,
                },
            );
        }
    }

    /// `GET /api/tasks`: the running scans are exactly the unfinished scan tasks listed, except
    /// scans an event started after sequence number `guard`.
    pub(crate) fn reconcile(&mut self, tasks: &[Task], guard: u64) {
        let listed: HashSet<&str> = tasks
            .iter()
            .filter(|t| t.is_library_scan() && !t.is_finished && !t.is_failed)
            .map(|t| t.id.as_str())
            .collect();
        self.running
            .retain(|id, scan| scan.touched > guard || listed.contains(id.as_str()));
        for task in tasks {
            if listed.contains(task.id.as_str()) && !self.running.contains_key(&task.id) {
                self.insert(task, 0);
            }
        }
    }

    /// Whether a library is being scanned (its `items_added` then belong to the scan's counts).
    pub(crate) fn scanning(&self, library_id: &str) -> bool {
        self.running
            .values()
            .any(|s| s.library_id.as_deref() == Some(library_id))
    }

    /// A library was removed: its scan will not report.
    pub(crate) fn library_removed(&mut self, library_id: &str) {
        self.running
            .retain(|_, s| s.library_id.as_deref() != Some(library_id));
    }

    /// The rows the window shows, oldest first.
    pub(crate) fn rows(&self) -> Vec<ScanInProgress> {
        let mut rows: Vec<ScanInProgress> = self
            .running
            .iter()
            .map(|(id, s)| ScanInProgress {
                task_id: id.clone(),
                library_id: s.library_id.clone(),
                library_name: s.library_name.clone(),
                started_at_ms: s.started_at_ms,
            })
            .collect();
        rows.sort_by(|a, b| {
            a.started_at_ms
                .cmp(&b.started_at_ms)
                .then_with(|| a.task_id.cmp(&b.task_id))
        });
        rows
    }

    /// Records a running scan task, within the cap.
    fn insert(&mut self, task: &Task, seq: u64) {
        if self.running.len() >= self.cap && !self.running.contains_key(&task.id) {
            tracing::debug!("scan table full; a scan is not shown");
            return;
        }
        let data = task.data.clone().unwrap_or_default();
        self.running.insert(
            task.id.clone(),
            Scan {
                library_id: data.library_id,
                library_name: data.library_name.as_deref().map(label),
                started_at_ms: task.started_at.map(server_ms),
                touched: seq,
            },
        );
    }
}

/// The key of a scan known only by its library (old servers).
fn legacy_key(library_id: &str) -> String {
    format!("library:{library_id}")
}
