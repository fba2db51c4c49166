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

    /// The file watcher's scan of changed files: nobody started it and nobody can cancel it.
    pub fn is_watcher_scan(&self) -> bool {
        self.action == "watcher-scan"
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

/// `data.scanResults` of a finished scan: a library scan counts `missing`, a watcher scan
/// `removed` (items whose files are gone, which ABS marks missing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanResults {
    /// Items added.
    #[serde(default)]
    pub added: u64,
    /// Items updated.
    #[serde(default)]
    pub updated: u64,
    /// Items now missing (library scans).
    #[serde(default)]
    pub missing: u64,
    /// Items whose files were removed (watcher scans); ABS marks them missing.
    #[serde(default)]
    pub removed: u64,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The watcher-scan fixture's `task_finished` (a reconstruction, see its `note`).
    fn watcher_task_finished() -> serde_json::Value {
        let fixture: serde_json::Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/abs-2.36.0/watcher-scan-events.json"
        )))
        .expect("the fixture is JSON");
        fixture["events"]
            .as_array()
            .expect("events")
            .iter()
            .find(|e| e["event"] == "task_finished")
            .expect("a task_finished")["args"][0]
            .clone()
    }

    #[test]
    fn a_watcher_scan_counts_removed_items_not_missing_ones() {
        let task: Task = serde_json::from_value(watcher_task_finished()).expect("decodes");
        assert!(task.is_watcher_scan() && !task.is_library_scan());
        let results = task.data.and_then(|d| d.scan_results).expect("results");
        assert_eq!((results.removed, results.missing), (1, 0));
        assert_eq!(results.text.as_deref(), Some("1 missing"));
    }

    #[test]
    fn a_library_scan_counts_missing_items() {
        let results: ScanResults =
            serde_json::from_value(serde_json::json!({"added": 1, "missing": 2, "text": "x"}))
                .expect("decodes");
        assert_eq!((results.added, results.missing, results.removed), (1, 2, 0));
    }
}
