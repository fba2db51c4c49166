//! Scans as tasks (`task_started` / `task_finished` with `scanResults`): library scans, which
//! can be cancelled, and the file watcher's scans; new items appearing.

use crate::catalog;
use crate::emit;
use crate::error::SimError;
use crate::logs::{self, LogLevel};
use crate::model::{Author, Item, Library, ScanKind, ScanResults, Task, User};
use crate::payloads;
use crate::persist;
use crate::state::{Core, State, now_ms};

/// `elapsedPretty(seconds)`.
fn elapsed_pretty(ms: i64) -> String {
    let seconds = ms as f64 / 1000.0;
    if seconds > 0.0 && seconds < 1.0 {
        return format!("{} ms", (seconds * 1000.0).floor());
    }
    if seconds < 60.0 {
        return format!("{} sec", seconds.floor());
    }
    let mut minutes = (seconds / 60.0).floor() as i64;
    if minutes < 70 {
        return format!("{minutes} min");
    }
    let mut hours = minutes / 60;
    minutes -= hours * 60;
    let days = hours / 24;
    hours -= days * 24;
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days} d"));
    }
    if hours > 0 || (days > 0 && minutes > 0) {
        parts.push(format!("{hours} hr"));
    }
    if minutes > 0 {
        parts.push(format!("{minutes} min"));
    }
    parts.join(" ")
}

/// `secondsToTimestamp` as used in the scanner's log lines.
fn timestamp(ms: i64) -> String {
    let total = ms / 1000;
    let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// The counts and the server's text; a watcher scan's text has no duration and calls its
/// removed items "missing" (`scanFilesChanged`).
fn results(kind: ScanKind, added: u32, updated: u32, missing: u32, elapsed: i64) -> ScanResults {
    let mut parts = Vec::new();
    if added > 0 {
        parts.push(format!("{added} added"));
    }
    if updated > 0 {
        parts.push(format!("{updated} updated"));
    }
    if missing > 0 {
        parts.push(format!("{missing} missing"));
    }
    let changes = if parts.is_empty() {
        "No changes needed".to_string()
    } else {
        parts.join(", ")
    };
    let text = match kind {
        ScanKind::Library => format!("{changes} ({})", elapsed_pretty(elapsed)),
        ScanKind::Watcher => changes,
    };
    ScanResults {
        added,
        updated,
        missing,
        elapsed,
        text,
    }
}

fn can_access(library_id: &str) -> impl Fn(&User) -> bool + '_ {
    move |u: &User| u.can_access_library(library_id)
}

/// Starts a library scan task: `task_started` to everyone authenticated.
pub(crate) fn start(core: &Core, st: &mut State, library_id: &str) -> Result<String, SimError> {
    let lib = st
        .library(library_id)
        .cloned()
        .ok_or_else(|| SimError::UnknownLibrary(library_id.to_string()))?;
    if st
        .tasks
        .iter()
        .any(|t| t.library_id == library_id && t.kind == ScanKind::Library)
    {
        let msg = format!("[LibraryScanner] Already scanning {library_id}");
        logs::log(core, st, LogLevel::Error, "LibraryScanner.js:57", msg);
        return Err(SimError::AlreadyScanning(library_id.to_string()));
    }
    let id = begin(core, st, ScanKind::Library, &lib);
    let msg = format!(
        "[LibraryScanner] Starting library scan {id} for {}",
        lib.name
    );
    logs::log(core, st, LogLevel::Info, "LibraryScanner.js:94", msg);
    Ok(id)
}

/// The file watcher saw files change under a library folder: a `watcher-scan` task starts
/// (`task_started` to everyone authenticated, like every task), to be ended by [`finish`].
pub(crate) fn start_watcher(
    core: &Core,
    st: &mut State,
    library_id: &str,
) -> Result<String, SimError> {
    let lib = st
        .library(library_id)
        .cloned()
        .ok_or_else(|| SimError::UnknownLibrary(library_id.to_string()))?;
    let id = begin(core, st, ScanKind::Watcher, &lib);
    Ok(id)
}

/// Starts a task of `kind` on `lib` and tells every authenticated socket (`task_started`).
fn begin(core: &Core, st: &mut State, kind: ScanKind, lib: &Library) -> String {
    let task = Task {
        id: uuid::Uuid::new_v4().to_string(),
        kind,
        library_id: lib.id.clone(),
        library_name: lib.name.clone(),
        library_media_type: lib.media_type.clone(),
        scan_results: None,
        description: None,
        is_finished: false,
        started_at: now_ms(),
        finished_at: None,
        cancel_requested: false,
    };
    let id = task.id.clone();
    let json = payloads::task_json(&task);
    st.tasks.push(task);
    emit::to_all(core, st, "task_started", &json, None);
    id
}

/// `cancel_scan`: a running library scan of that library ends as "Task canceled by user"
/// (watcher scans cannot be cancelled).
pub(crate) fn cancel(core: &Core, st: &mut State, library_id: &str) {
    let Some(task_id) = st
        .tasks
        .iter_mut()
        .find(|t| t.library_id == library_id && t.kind == ScanKind::Library)
        .map(|t| {
            t.cancel_requested = true;
            t.id.clone()
        })
    else {
        return;
    };
    let _ = finish_task(core, st, &task_id, 0, 0, 0, true);
}

/// Ends a scan. A library scan: updated and missing items (`items_updated`), new ones
/// (`author_added`, `items_added`), then `task_finished` with `scanResults`. A watcher scan:
/// `item_updated` for each updated or removed (marked missing) item, `author_added` and
/// `item_added` for each new one, then `task_finished` whose results say `removed`.
pub(crate) fn finish(
    core: &Core,
    st: &mut State,
    task_id: &str,
    added: u32,
    updated: u32,
    missing: u32,
) -> Result<(), SimError> {
    finish_task(core, st, task_id, added, updated, missing, false)
}

fn finish_task(
    core: &Core,
    st: &mut State,
    task_id: &str,
    added: u32,
    updated: u32,
    missing: u32,
    canceled: bool,
) -> Result<(), SimError> {
    let idx = st
        .tasks
        .iter()
        .position(|t| t.id == task_id)
        .ok_or_else(|| SimError::UnknownTask(task_id.to_string()))?;
    let library_id = st.tasks[idx].library_id.clone();
    if st.tasks[idx].kind == ScanKind::Watcher {
        return finish_watcher(core, st, idx, added, updated, missing);
    }
    let now = now_ms();
    let version = core.version_string();

    // Existing items first (updated, then missing), like the scanner's loop over existing items.
    let mut changed: Vec<String> = Vec::new();
    let candidates: Vec<String> = st
        .db
        .items
        .iter()
        .filter(|i| i.library_id == library_id && !i.is_missing)
        .map(|i| i.id.clone())
        .collect();
    let mut it = candidates.into_iter();
    let mut n_updated = 0;
    for id in it.by_ref().take(updated as usize) {
        if let Some(item) = st.db.items.iter_mut().find(|i| i.id == id) {
            item.updated_at = now;
            item.last_scan = now;
            changed.push(id);
            n_updated += 1;
        }
    }
    let mut n_missing = 0;
    for id in it.take(missing as usize) {
        if let Some(item) = st.db.items.iter_mut().find(|i| i.id == id) {
            item.is_missing = true;
            item.updated_at = now;
            changed.push(id);
            n_missing += 1;
        }
    }
    let changed_items: Vec<Item> = changed
        .iter()
        .filter_map(|id| st.item(id).cloned())
        .collect();
    for chunk in changed_items.chunks(10) {
        let json: Vec<_> = chunk
            .iter()
            .map(|i| payloads::item_expanded(i, &version))
            .collect();
        emit::to_all(
            core,
            st,
            "items_updated",
            &json,
            Some(&can_access(&library_id)),
        );
    }

    let mut new_items = Vec::new();
    for _ in 0..added {
        let index = st.db.items.len();
        let Some((item, authors)) = catalog::add_book(&mut st.db, &library_id, index, now) else {
            break;
        };
        emit_new_authors(core, st, &authors);
        new_items.push(item);
        if new_items.len() == 10 {
            emit_items_added(core, st, &library_id, &new_items);
            new_items.clear();
        }
    }
    if !new_items.is_empty() {
        emit_items_added(core, st, &library_id, &new_items);
    }

    let task = &mut st.tasks[idx];
    let elapsed = now - task.started_at;
    task.scan_results = Some(results(
        ScanKind::Library,
        added,
        n_updated,
        n_missing,
        elapsed,
    ));
    task.is_finished = true;
    task.finished_at = Some(now);
    if canceled {
        task.description = Some((
            "Task canceled by user".to_string(),
            "MessageTaskCanceledByUser".to_string(),
        ));
    }
    let task = st.tasks.remove(idx);
    if !canceled && let Some(lib) = st.db.libraries.iter_mut().find(|l| l.id == library_id) {
        lib.last_scan = Some(now);
    }
    let json = payloads::task_json(&task);
    emit::to_all(core, st, "task_finished", &json, None);
    let msg = format!(
        "[LibraryScanner] Library scan \"{}\" {} {} | {} Added | {} Updated | {} Missing",
        task.id,
        if canceled {
            "canceled after"
        } else {
            "completed in"
        },
        timestamp(elapsed),
        added,
        n_updated,
        n_missing
    );
    logs::log(core, st, LogLevel::Info, "LibraryScanner.js:100", msg);
    persist::save(core, st);
    Ok(())
}

/// `scanFilesChanged` + `scanFolderUpdates`: one item at a time, then the task's results.
fn finish_watcher(
    core: &Core,
    st: &mut State,
    idx: usize,
    added: u32,
    updated: u32,
    removed: u32,
) -> Result<(), SimError> {
    let library_id = st.tasks[idx].library_id.clone();
    let now = now_ms();
    let version = core.version_string();
    let candidates: Vec<String> = st
        .db
        .items
        .iter()
        .filter(|i| i.library_id == library_id && !i.is_missing)
        .map(|i| i.id.clone())
        .collect();
    let mut it = candidates.into_iter();
    let updates: Vec<_> = it.by_ref().take(updated as usize).collect();
    let changes = updates
        .into_iter()
        .map(|id| (id, false))
        .chain(it.take(removed as usize).map(|id| (id, true)));
    // (updated, removed)
    let mut counts = (0, 0);
    for (id, gone) in changes {
        let Some(item) = st.db.items.iter_mut().find(|i| i.id == id) else {
            continue;
        };
        item.updated_at = now;
        if gone {
            item.is_missing = true;
            counts.1 += 1;
        } else {
            item.last_scan = now;
            counts.0 += 1;
        }
        let (title, json) = (item.title.clone(), payloads::item_expanded(item, &version));
        if gone {
            let msg = format!(
                "[LibraryScanner] Scanning file update group and library item was deleted \"{title}\" - marking as missing"
            );
            logs::log(core, st, LogLevel::Info, "LibraryScanner.js:603", msg);
        }
        emit::to_all(
            core,
            st,
            "item_updated",
            &json,
            Some(&can_access(&library_id)),
        );
    }
    let mut n_added = 0;
    for _ in 0..added {
        let index = st.db.items.len();
        let Some((item, authors)) = catalog::add_book(&mut st.db, &library_id, index, now) else {
            break;
        };
        emit_new_authors(core, st, &authors);
        let json = payloads::item_expanded(&item, &version);
        emit::to_all(
            core,
            st,
            "item_added",
            &json,
            Some(&can_access(&library_id)),
        );
        n_added += 1;
    }
    let mut task = st.tasks.remove(idx);
    let elapsed = now - task.started_at;
    task.scan_results = Some(results(
        ScanKind::Watcher,
        n_added,
        counts.0,
        counts.1,
        elapsed,
    ));
    task.is_finished = true;
    task.finished_at = Some(now);
    let json = payloads::task_json(&task);
    emit::to_all(core, st, "task_finished", &json, None);
    persist::save(core, st);
    Ok(())
}

fn emit_new_authors(core: &Core, st: &State, authors: &[Author]) {
    for a in authors {
        let json = serde_json::json!({
            "id": a.id, "name": a.name, "libraryId": a.library_id,
            "addedAt": a.added_at, "updatedAt": a.updated_at,
        });
        emit::to_all(core, st, "author_added", &json, None);
    }
}

fn emit_items_added(core: &Core, st: &State, library_id: &str, items: &[Item]) {
    let version = core.version_string();
    let json: Vec<_> = items
        .iter()
        .map(|i| payloads::item_expanded(i, &version))
        .collect();
    emit::to_all(
        core,
        st,
        "items_added",
        &json,
        Some(&can_access(library_id)),
    );
}

/// New books appearing outside a scan (watcher / upload): `author_added` and one `item_added` each.
pub(crate) fn add_items(
    core: &Core,
    st: &mut State,
    library_id: &str,
    n: usize,
) -> Result<Vec<String>, SimError> {
    if st.library(library_id).is_none() {
        return Err(SimError::UnknownLibrary(library_id.to_string()));
    }
    let version = core.version_string();
    let mut ids = Vec::new();
    for _ in 0..n {
        let index = st.db.items.len();
        let Some((item, authors)) = catalog::add_book(&mut st.db, library_id, index, now_ms())
        else {
            break;
        };
        emit_new_authors(core, st, &authors);
        let json = payloads::item_expanded(&item, &version);
        emit::to_all(core, st, "item_added", &json, Some(&can_access(library_id)));
        ids.push(item.id);
    }
    persist::save(core, st);
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_texts_match_the_server() {
        use ScanKind::{Library, Watcher};
        assert_eq!(results(Library, 1, 0, 0, 107).text, "1 added (107 ms)");
        assert_eq!(
            results(Library, 0, 0, 0, 2_500).text,
            "No changes needed (2 sec)"
        );
        assert_eq!(
            results(Library, 2, 1, 3, 61_000).text,
            "2 added, 1 updated, 3 missing (1 min)"
        );
        assert_eq!(results(Watcher, 0, 0, 1, 5_000).text, "1 missing");
        assert_eq!(results(Watcher, 0, 0, 0, 5).text, "No changes needed");
        assert_eq!(timestamp(65_000), "1:05");
    }
}
