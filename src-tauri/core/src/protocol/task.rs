//! Server tasks: library scans, podcast downloads, encodes (`task_started` / `task_finished`).

use serde::{Deserialize, Deserializer};

use super::bounded;

/// `Task.toJSON()`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// Task id (same in `task_started` and `task_finished`).
    #[serde(deserialize_with = "bounded::ident")]
    pub id: String,
    /// `library-scan`, `watcher-scan`, `download-podcast-episode`, `encode-m4b`, ...
    #[serde(deserialize_with = "bounded::ident")]
    pub action: String,
    /// Action-specific details.
    #[serde(default)]
    pub data: Option<TaskData>,
    /// Human-readable title (English; `titleKey` is ignored).
    #[serde(default, deserialize_with = "bounded::opt_text")]
    pub title: Option<String>,
    /// Human-readable description.
    #[serde(default, deserialize_with = "bounded::opt_text")]
    pub description: Option<String>,
    /// Failure reason.
    #[serde(default, deserialize_with = "bounded::opt_message")]
    pub error: Option<String>,
    /// The task failed.
    #[serde(default)]
    pub is_failed: bool,
    /// The task is over (successfully or not).
    #[serde(default)]
    pub is_finished: bool,
    /// Start (ms).
    #[serde(default, deserialize_with = "bounded::opt_ms")]
    pub started_at: Option<i64>,
    /// End (ms).
    #[serde(default, deserialize_with = "bounded::opt_ms")]
    pub finished_at: Option<i64>,
}

impl Task {
    /// Scans are what the tray shows as "library scanning".
    pub fn is_library_scan(&self) -> bool {
        self.action == "library-scan"
    }
}

/// `Task.data`, the fields the tray uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskData {
    /// Library concerned.
    #[serde(default, deserialize_with = "bounded::opt_ident")]
    pub library_id: Option<String>,
    /// Its name.
    #[serde(default, deserialize_with = "bounded::opt_text")]
    pub library_name: Option<String>,
    /// Item concerned (downloads, encodes).
    #[serde(default, deserialize_with = "bounded::opt_ident")]
    pub library_item_id: Option<String>,
    /// Scan outcome, only in `task_finished` of a scan.
    #[serde(default)]
    pub scan_results: Option<ScanResults>,
}

/// `data.scanResults` of a finished library scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanResults {
    /// Items added.
    #[serde(default)]
    pub added: u64,
    /// Items updated.
    #[serde(default)]
    pub updated: u64,
    /// Items now missing.
    #[serde(default)]
    pub missing: u64,
    /// Scan duration (ms).
    #[serde(default, deserialize_with = "bounded::opt_ms")]
    pub elapsed: Option<i64>,
    /// Server-made summary, e.g. `1 added (107 ms)`.
    #[serde(default, deserialize_with = "bounded::opt_text")]
    pub text: Option<String>,
}

/// `GET /api/tasks`: `{tasks: [...]}` at 2.36 (a bare array is accepted too), used to learn
/// which libraries are scanning after a (re)connect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskList {
    /// Tasks in progress (and recently finished ones the server still holds), at most
    /// [`MAX_LIST_LEN`](super::MAX_LIST_LEN).
    pub tasks: Vec<Task>,
}

impl<'de> Deserialize<'de> for TaskList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        bounded::bare_or_field(deserializer, "tasks", false).map(|tasks| Self { tasks })
    }
}
