//! A stand-in browser: an `xdg-open` first on the app's PATH that writes what it was asked to
//! open to a file, so a test sees from outside the process which address the app opened.
//!
//! The app opens pages through tauri-plugin-opener, which on Linux runs the `open` crate's
//! launchers in order: `xdg-open` first (then `gio open`, ...), each by name from PATH.

use std::ffi::OsString;
use std::path::Path;

/// The directory holding the stub and the file it writes; both go when dropped.
#[derive(Debug)]
pub struct RecordingOpener {
    dir: tempfile::TempDir,
}

impl RecordingOpener {
    /// Writes the stub into a new temporary directory.
    pub fn new() -> std::io::Result<Self> {
        use std::os::unix::fs::PermissionsExt as _;

        let dir = tempfile::tempdir()?;
        let record = dir.path().join("opened");
        let quoted = shell_quote(&record);
        let script = format!("#!/bin/sh\nprintf '%s\\n' \"$@\" >> {quoted}\n");
        let stub = dir.path().join("xdg-open");
        std::fs::write(&stub, script)?;
        std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755))?;
        Ok(Self { dir })
    }

    /// `PATH` for the app: the stub's directory first, then the test's own `PATH`.
    pub fn path_env(&self) -> OsString {
        let mut dirs = vec![self.dir.path().to_path_buf()];
        if let Some(path) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&path));
        }
        std::env::join_paths(dirs).unwrap_or_else(|_| self.dir.path().as_os_str().to_owned())
    }

    /// Every argument the stub was given so far, one per entry (poll it: the stub is another
    /// process and tells nobody).
    pub fn opened(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("opened"))
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

/// `path` in single quotes for sh (a temp path has no quote, but be exact anyway).
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}
