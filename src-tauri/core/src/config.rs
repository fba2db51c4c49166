//! `settings.toml`: the user's choices (server, user name, sign-in kind, TLS trust, notification
//! options) in a small human-readable file. Never a secret: those live in the keyring only.
//!
//! The file is never overwritten silently: a file that failed to load blocks saving until the
//! user explicitly resets (which keeps the old file as `settings.toml.bak`), and every write is
//! atomic (temporary file, fsync, rename) with mode 0600 on Unix.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::server_url::ServerUrl;
use crate::tls::{TlsConfig, TlsError, TlsOptions};

/// Environment variable that moves the configuration folder (tests, portable installs).
pub const CONFIG_DIR_ENV: &str = "ABS_TRAY_CONFIG_DIR";
/// Name of the settings file inside the configuration folder.
pub const SETTINGS_FILE: &str = "settings.toml";
/// Folder name under the OS configuration directory.
const APP_DIR: &str = "abs-tray";
/// Largest settings file read; a real one is well under a kilobyte.
const MAX_SETTINGS_BYTES: u64 = 1024 * 1024;

/// How the account signs in, so the app knows which credential the keyring holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// User name and password; the keyring holds the rotating refresh token (or, for servers
    /// before 2.26, the non-expiring legacy token).
    #[default]
    Password,
    /// An admin-issued API key (OIDC-only accounts); the keyring holds the key.
    ApiKey,
}

/// Everything the user chose, as stored in `settings.toml`. Deliberately has no field that could
/// hold a secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The server, normalised (see [`ServerUrl`]); `None` until the user set one up.
    pub server_url: Option<ServerUrl>,
    /// The account name; with the server it names the keyring entry.
    pub username: Option<String>,
    /// Password or API key sign-in.
    pub auth_kind: AuthKind,
    /// Extra CA or pinned certificate for self-hosted servers.
    pub tls: TlsOptions,
    /// Notification options, owned by the notification policy; kept as an open table so this
    /// module does not need to know them.
    pub notifications: toml::Table,
}

/// Why the settings could not be read or written; every message names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Neither `ABS_TRAY_CONFIG_DIR` nor an OS configuration directory is known.
    #[error("no configuration folder found; set {CONFIG_DIR_ENV}")]
    NoConfigDir,
    /// The file exists but cannot be read (permissions, not UTF-8, ...).
    #[error("cannot read {}: {reason}", path.display())]
    Read {
        /// The settings file.
        path: PathBuf,
        /// What the OS said.
        reason: String,
    },
    /// The file is not valid TOML or has a value of the wrong type.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The settings file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// The parser's explanation.
        message: String,
    },
    /// Saving was refused because the file on disk failed to load and would be lost.
    #[error(
        "{} could not be read, so it was left untouched; fix it by hand or reset the settings",
        path.display()
    )]
    BrokenFileKept {
        /// The settings file.
        path: PathBuf,
    },
    /// Saving before loading: the file on disk was never looked at, so it is not overwritten.
    #[error("the settings in {} were not loaded, so they were not overwritten", path.display())]
    NotLoaded {
        /// The settings file.
        path: PathBuf,
    },
    /// Writing failed (disk full, read-only folder, ...).
    #[error("cannot write {}: {reason}", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// What the OS said.
        reason: String,
    },
}

impl ConfigError {
    /// A stable snake_case identifier for the UI (`{code, message}`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoConfigDir => "config_no_dir",
            Self::Read { .. } => "config_unreadable",
            Self::Parse { .. } => "config_invalid",
            Self::BrokenFileKept { .. } => "config_broken_kept",
            Self::NotLoaded { .. } => "config_not_loaded",
            Self::Write { .. } => "config_write_failed",
        }
    }
}

/// Where the last load left the file; saving is allowed only after a successful load or reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoadState {
    /// Nothing read yet: the file on disk is unknown, so it must not be replaced.
    NotLoaded,
    /// Read (or absent, or reset): saving is safe.
    Loaded,
    /// Unreadable or invalid: kept as it is until the user resets.
    Failed,
}

/// The settings file of one configuration folder, with the guard that keeps a broken file safe.
#[derive(Debug)]
pub struct SettingsFile {
    dir: PathBuf,
    state: LoadState,
}

impl Settings {
    /// True when `url` is the saved server (same origin; the base path may differ).
    pub fn is_saved_server(&self, url: &ServerUrl) -> bool {
        self.server_url
            .as_ref()
            .is_some_and(|saved| saved.same_origin(url))
    }

    /// The saved trust settings for the saved server, the system's roots for any other: trust
    /// made for one server must not apply to another. `config_dir` holds pinned certificates.
    pub fn trust_for(&self, config_dir: &Path, url: &ServerUrl) -> Result<TlsConfig, TlsError> {
        if self.is_saved_server(url) {
            self.tls.build(config_dir)
        } else {
            TlsConfig::system()
        }
    }
}

impl SettingsFile {
    /// The settings file in `dir` (nothing is read yet).
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            state: LoadState::NotLoaded,
        }
    }

    /// The settings file in the default folder ([`default_dir`]).
    pub fn open_default() -> Result<Self, ConfigError> {
        default_dir().map(Self::in_dir)
    }

    /// The configuration folder (pinned certificates live here too).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/settings.toml`.
    pub fn path(&self) -> PathBuf {
        self.dir.join(SETTINGS_FILE)
    }

    /// `<dir>/settings.toml.bak`, where [`SettingsFile::reset`] keeps the previous file.
    pub fn backup_path(&self) -> PathBuf {
        self.dir.join(format!("{SETTINGS_FILE}.bak"))
    }

    /// Reads the settings: a missing file gives the defaults, a broken or unreadable one an
    /// error naming the file (and line), after which saving is refused until [`reset`](Self::reset).
    pub fn load(&mut self) -> Result<Settings, ConfigError> {
        let result = self.read();
        self.state = if result.is_ok() {
            LoadState::Loaded
        } else {
            LoadState::Failed
        };
        result
    }

    /// Parses the file on disk without touching the load state.
    fn read(&self) -> Result<Settings, ConfigError> {
        let path = self.path();
        let bytes = match read_regular_file(&path, MAX_SETTINGS_BYTES) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(e) => {
                return Err(ConfigError::Read {
                    path,
                    reason: e.to_string(),
                });
            }
        };
        let text = String::from_utf8(bytes).map_err(|_| ConfigError::Read {
            path: path.clone(),
            reason: "it is not UTF-8 text".to_owned(),
        })?;
        toml::from_str(&text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((1, 1), |span| line_and_column(&text, span.start));
            ConfigError::Parse {
                path,
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })
    }

    /// Writes the settings atomically (mode 0600 on Unix). Refused after a failed load, and
    /// before any load, so a file the app could not understand is never replaced behind the
    /// user's back.
    pub fn save(&mut self, settings: &Settings) -> Result<(), ConfigError> {
        let path = self.path();
        match self.state {
            LoadState::Loaded => {}
            LoadState::Failed => return Err(ConfigError::BrokenFileKept { path }),
            LoadState::NotLoaded => return Err(ConfigError::NotLoaded { path }),
        }
        let text = toml::to_string_pretty(settings).map_err(|e| ConfigError::Write {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let text = format!(
            "# ABS Tray settings. Passwords and tokens are never stored here (see the system keyring).\n{text}"
        );
        write_atomically(&path, text.as_bytes(), 0o600).map_err(|e| ConfigError::Write {
            path,
            reason: e.to_string(),
        })
    }

    /// The user's explicit "start over": moves the current file (if any) to `settings.toml.bak`,
    /// returns the defaults and allows saving again. Returns the backup's path when one was made.
    pub fn reset(&mut self) -> Result<(Settings, Option<PathBuf>), ConfigError> {
        let path = self.path();
        let backup = self.backup_path();
        let kept = match fs::rename(&path, &backup) {
            Ok(()) => Some(backup),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(ConfigError::Write {
                    path: backup,
                    reason: e.to_string(),
                });
            }
        };
        self.state = LoadState::Loaded;
        Ok((Settings::default(), kept))
    }
}

/// `ABS_TRAY_CONFIG_DIR` when set, else the OS configuration folder + `abs-tray`
/// (`~/.config/abs-tray`, `~/Library/Application Support/abs-tray`, `%APPDATA%\abs-tray`).
pub fn default_dir() -> Result<PathBuf, ConfigError> {
    resolve_dir(std::env::var_os(CONFIG_DIR_ENV), dirs::config_dir())
}

/// The folder choice, separated from the environment so it can be tested without mutating it.
fn resolve_dir(
    override_dir: Option<OsString>,
    os_config: Option<PathBuf>,
) -> Result<PathBuf, ConfigError> {
    match override_dir.filter(|dir| !dir.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => os_config
            .map(|dir| dir.join(APP_DIR))
            .ok_or(ConfigError::NoConfigDir),
    }
}

/// Reads a file the user points at (settings, a CA file), refusing anything but a regular file
/// of at most `max` bytes: opening a FIFO for reading waits for a writer forever, and a device
/// such as `/dev/zero` never ends. The type is checked before opening (a FIFO would block the
/// open itself) and again on the opened file.
pub(crate) fn read_regular_file(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let not_regular = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is not a regular file (a FIFO, a device or a folder): replace it with a normal \
             file or remove it",
        )
    };
    if !fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let file = fs::File::open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(not_regular());
    }
    if metadata.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("it is larger than {max} bytes"),
        ));
    }
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut io::Read::take(file, max + 1), &mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("it is larger than {max} bytes"),
        ));
    }
    Ok(bytes)
}

/// 1-based line and column (in characters) of byte offset `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new file, never a
/// half-written one: write a temporary file beside it (mode `mode` on Unix), fsync, rename,
/// fsync the folder. Creates the folder (0700 on Unix) when missing.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    create_private_dir(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let written = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    #[cfg(unix)]
    {
        // Make the rename itself durable; some file systems refuse to fsync a folder.
        if let Ok(folder) = fs::File::open(dir) {
            let _ = folder.sync_all();
        }
    }
    Ok(())
}

/// Creates `dir` and its parents, the last one readable by the user only on Unix.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_wins_over_the_os_folder() {
        let os = Some(PathBuf::from("/home/u/.config"));
        assert_eq!(
            resolve_dir(Some("/tmp/abs".into()), os.clone()).unwrap(),
            PathBuf::from("/tmp/abs")
        );
        assert_eq!(
            resolve_dir(Some(OsString::new()), os.clone()).unwrap(),
            PathBuf::from("/home/u/.config/abs-tray")
        );
        assert_eq!(
            resolve_dir(None, os).unwrap(),
            PathBuf::from("/home/u/.config/abs-tray")
        );
        assert_eq!(resolve_dir(None, None), Err(ConfigError::NoConfigDir));
    }

    #[test]
    fn line_and_column_count_from_one() {
        let text = "a = 1\nb = é?\n";
        assert_eq!(line_and_column(text, 0), (1, 1));
        assert_eq!(line_and_column(text, 6), (2, 1));
        assert_eq!(line_and_column(text, text.find('?').unwrap()), (2, 6));
        assert_eq!(line_and_column(text, 999), (3, 1));
    }

    #[cfg(unix)]
    #[test]
    fn special_files_are_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SETTINGS_FILE);
        // A FIFO without a writer: opening it for reading would wait forever.
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        let mut file = SettingsFile::in_dir(dir.path());
        let err = file.load().unwrap_err();
        assert_eq!(err.code(), "config_unreadable");
        assert!(err.to_string().contains("not a regular file"), "{err}");
        // Kept as it is: saving is refused after the failed load.
        assert_eq!(
            file.save(&Settings::default()).unwrap_err().code(),
            "config_broken_kept"
        );
        fs::remove_file(&path).unwrap();
        // A folder, and a symlink to a device.
        fs::create_dir(&path).unwrap();
        assert!(
            file.load()
                .unwrap_err()
                .to_string()
                .contains("not a regular file")
        );
        fs::remove_dir(&path).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        assert!(
            file.load()
                .unwrap_err()
                .to_string()
                .contains("not a regular file")
        );
    }

    #[test]
    fn huge_or_binary_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SETTINGS_FILE);
        fs::write(&path, vec![b'#'; MAX_SETTINGS_BYTES as usize + 1]).unwrap();
        let mut file = SettingsFile::in_dir(dir.path());
        assert!(file.load().unwrap_err().to_string().contains("larger than"));
        fs::write(&path, b"\xff\xfe").unwrap();
        assert!(file.load().unwrap_err().to_string().contains("not UTF-8"));
    }

    #[test]
    fn save_before_load_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = SettingsFile::in_dir(dir.path());
        let err = file.save(&Settings::default()).unwrap_err();
        assert_eq!(err.code(), "config_not_loaded");
        assert!(!file.path().exists());
    }
}
