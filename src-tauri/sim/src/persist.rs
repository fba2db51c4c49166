//! `--data-dir`: the database part of the state (users, JWT secret, refresh sessions, API keys,
//! library, devices, progress) in one JSON file, written atomically (temp file + rename).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::SimError;
use crate::state::{Core, Db, State};

const FILE_NAME: &str = "abs-sim-state.json";
const FORMAT: u32 = 1;

#[derive(Deserialize)]
struct OnDisk {
    format: u32,
    db: Db,
}

#[derive(Serialize)]
struct OnDiskRef<'a> {
    format: u32,
    db: &'a Db,
}

fn file(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Reads the saved database, if the directory has one.
pub(crate) fn load(dir: &Path) -> Result<Option<Db>, SimError> {
    let path = file(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SimError::State(format!("{}: {e}", path.display()))),
    };
    let on_disk: OnDisk = serde_json::from_str(&text)
        .map_err(|e| SimError::State(format!("{}: {e}", path.display())))?;
    if on_disk.format != FORMAT {
        return Err(SimError::State(format!(
            "{}: unsupported format {}",
            path.display(),
            on_disk.format
        )));
    }
    Ok(Some(on_disk.db))
}

fn write(dir: &Path, db: &Db) -> Result<(), SimError> {
    std::fs::create_dir_all(dir)?;
    let text = serde_json::to_string_pretty(&OnDiskRef { format: FORMAT, db })
        .map_err(|e| SimError::State(e.to_string()))?;
    let tmp = dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, file(dir))?;
    Ok(())
}

/// Saves the database if `--data-dir` is set. Called with the state lock held, so writes are
/// in mutation order.
pub(crate) fn save(core: &Core, st: &State) {
    let Some(dir) = &core.cfg.data_dir else {
        return;
    };
    if let Err(e) = write(dir, &st.db) {
        tracing::error!(
            "could not save the simulator state to {}: {e}",
            dir.display()
        );
    }
}
