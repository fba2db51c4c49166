//! The simulated server's data: what a real ABS keeps in its database (users, refresh sessions,
//! API keys, libraries, items, devices, media progress) and in memory (playback sessions, tasks).

use serde::{Deserialize, Serialize};

/// An ABS account type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserType {
    /// The root user (one per server).
    Root,
    /// An administrator.
    Admin,
    /// A normal user.
    User,
    /// A guest.
    Guest,
}

impl UserType {
    /// `user.isAdminOrUp` of the real server.
    pub fn is_admin_or_up(self) -> bool {
        matches!(self, UserType::Root | UserType::Admin)
    }

    /// Parses the `type` field of `POST /api/users`.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "root" => Some(UserType::Root),
            "admin" => Some(UserType::Admin),
            "user" => Some(UserType::User),
            "guest" => Some(UserType::Guest),
            _ => None,
        }
    }
}

/// `user.permissions` minus the two arrays the old JSON shows at the top level.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Permissions {
    pub download: bool,
    pub update: bool,
    pub delete: bool,
    pub upload: bool,
    pub create_ereader: bool,
    pub access_all_libraries: bool,
    pub access_all_tags: bool,
    pub access_explicit_content: bool,
    pub selected_tags_not_accessible: bool,
}

impl Permissions {
    /// `User.getDefaultPermissionsForUserType`.
    pub fn defaults_for(t: UserType) -> Self {
        let admin = matches!(t, UserType::Root | UserType::Admin);
        Permissions {
            download: true,
            update: admin,
            delete: t == UserType::Root,
            upload: admin,
            create_ereader: admin,
            access_all_libraries: true,
            access_all_tags: true,
            access_explicit_content: admin,
            selected_tags_not_accessible: false,
        }
    }
}

/// A user account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct User {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub user_type: UserType,
    /// The legacy, non-expiring JWT (`user.token`).
    pub token: String,
    pub password_salt: String,
    pub password_hash: String,
    pub is_active: bool,
    pub is_locked: bool,
    pub last_seen: Option<i64>,
    pub created_at: i64,
    pub permissions: Permissions,
    pub libraries_accessible: Vec<String>,
    pub item_tags_selected: Vec<String>,
    pub media_progress: Vec<MediaProgress>,
}

impl User {
    /// `checkCanAccessLibrary`.
    pub fn can_access_library(&self, library_id: &str) -> bool {
        self.permissions.access_all_libraries
            || self.libraries_accessible.iter().any(|l| l == library_id)
    }
}

/// One user's progress in one book.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct MediaProgress {
    pub id: String,
    pub library_item_id: String,
    pub media_item_id: String,
    pub duration: f64,
    pub progress: f64,
    pub current_time: f64,
    pub is_finished: bool,
    pub hide_from_continue_listening: bool,
    pub last_update: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

/// A refresh-token session (the `sessions` table of the real server).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RefreshSession {
    pub id: String,
    pub user_id: String,
    pub refresh_token: String,
    pub expires_at: i64,
    pub last_refresh_token: Option<String>,
    pub last_refresh_token_expires_at: Option<i64>,
    pub ip_address: String,
    pub user_agent: Option<String>,
    pub created_at: i64,
}

/// An API key (its JWT is shown once, at creation).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ApiKey {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub created_by_user_id: String,
    pub is_active: bool,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A library (always one folder here).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Library {
    pub id: String,
    pub name: String,
    pub folder_id: String,
    pub folder_path: String,
    pub folder_added_at: i64,
    pub display_order: u32,
    pub icon: String,
    pub media_type: String,
    pub provider: String,
    pub last_scan: Option<i64>,
    pub created_at: i64,
    pub last_update: i64,
}

/// An author row.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Author {
    pub id: String,
    pub name: String,
    pub library_id: String,
    pub added_at: i64,
    pub updated_at: i64,
}

/// A series reference of a book.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SeriesRef {
    pub id: String,
    pub name: String,
    pub sequence: Option<String>,
}

/// A chapter of a book.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Chapter {
    pub id: u32,
    pub start: f64,
    pub end: f64,
    pub title: String,
}

/// A library item of media type book, with one `.m4b` audio file and a cover image.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Item {
    pub id: String,
    pub ino: String,
    pub library_id: String,
    pub folder_id: String,
    pub path: String,
    pub rel_path: String,
    pub mtime_ms: i64,
    pub ctime_ms: i64,
    pub birthtime_ms: i64,
    pub added_at: i64,
    pub updated_at: i64,
    pub is_missing: bool,
    pub last_scan: i64,
    pub media_id: String,
    pub title: String,
    pub subtitle: Option<String>,
    /// `(author id, author name)`.
    pub authors: Vec<(String, String)>,
    pub narrators: Vec<String>,
    pub series: Vec<SeriesRef>,
    pub genres: Vec<String>,
    pub published_year: Option<String>,
    pub publisher: Option<String>,
    pub description: Option<String>,
    pub isbn: Option<String>,
    pub asin: Option<String>,
    pub language: Option<String>,
    pub explicit: bool,
    pub abridged: bool,
    pub duration: f64,
    pub audio_size: u64,
    pub audio_ino: String,
    pub cover_ino: String,
    pub cover_size: u64,
    pub bit_rate: u32,
    pub chapters: Vec<Chapter>,
}

impl Item {
    /// `displayAuthor`: author names joined with ", ".
    pub fn author_name(&self) -> String {
        self.authors
            .iter()
            .map(|(_, n)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Mime type of the single audio track.
    pub fn mime_type(&self) -> &'static str {
        "audio/mp4"
    }

    /// File name of the audio file.
    pub fn audio_filename(&self) -> String {
        format!("{}.m4b", self.title)
    }
}

/// A client device (`DeviceInfo`), found again by the `deviceId` the client sends.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Device {
    pub id: String,
    pub user_id: String,
    pub device_id: String,
    pub ip_address: Option<String>,
    pub client_version: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub sdk_version: Option<String>,
    pub client_name: Option<String>,
    pub device_name: Option<String>,
}

impl Device {
    /// `DeviceInfo.deviceDescription` (browser and OS fields are always unknown here, so a
    /// client without a `model` gets the literal "null null / null" like on the real server).
    pub fn description(&self) -> String {
        match self.model.as_deref() {
            Some(model) if !model.is_empty() => {
                let version = self.client_version.as_deref().unwrap_or("null");
                match self.sdk_version.as_deref() {
                    Some(sdk) if !sdk.is_empty() => format!("{model} SDK {sdk} / v{version}"),
                    _ => format!("{model} / v{version}"),
                }
            }
            _ => "null null / null".to_string(),
        }
    }
}

/// How a session plays its media (`PlayMethod`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PlayMethod {
    /// 0: the client downloads the files.
    DirectPlay,
    /// 2: the server transcodes to HLS.
    Transcode,
}

impl PlayMethod {
    /// The number on the wire.
    pub fn code(self) -> u8 {
        match self {
            PlayMethod::DirectPlay => 0,
            PlayMethod::Transcode => 2,
        }
    }
}

/// An open playback session (memory only, like the real server: lost on restart).
#[derive(Clone, Debug)]
pub(crate) struct PlaybackSession {
    pub id: String,
    pub user_id: String,
    pub library_id: String,
    pub library_item_id: String,
    pub book_id: String,
    pub device: Device,
    pub play_method: PlayMethod,
    pub media_player: String,
    pub date: String,
    pub day_of_week: String,
    pub time_listening: f64,
    pub start_time: f64,
    pub current_time: f64,
    pub started_at: i64,
    pub updated_at: i64,
    /// Title, author, duration, chapters, cover copied when the session started.
    pub item: Item,
}

impl PlaybackSession {
    /// `PlaybackSession.progress`.
    pub fn progress(&self) -> f64 {
        if self.item.duration <= 0.0 {
            return 0.0;
        }
        (self.current_time / self.item.duration).clamp(0.0, 1.0)
    }
}

/// Scan results attached to a finished scan task.
#[derive(Clone, Debug)]
pub(crate) struct ScanResults {
    pub added: u32,
    pub updated: u32,
    /// Items marked missing: `missing` of a library scan, `removed` of a watcher scan.
    pub missing: u32,
    pub elapsed: i64,
    pub text: String,
}

/// Who started a scan: someone (`library-scan`) or the file watcher (`watcher-scan`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScanKind {
    /// `LibraryScanner.scan`: an admin's (or the schedule's) full scan.
    Library,
    /// `LibraryScanner.scanFilesChanged`: files changed under a library folder.
    Watcher,
}

/// A task in progress (`Task`), here always a scan.
#[derive(Clone, Debug)]
pub(crate) struct Task {
    pub id: String,
    pub kind: ScanKind,
    pub library_id: String,
    pub library_name: String,
    pub library_media_type: String,
    pub scan_results: Option<ScanResults>,
    pub description: Option<(String, String)>,
    pub is_finished: bool,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// Set by `cancel_scan`.
    pub cancel_requested: bool,
}

/// A server log line as the real `Logger` sends it to listeners.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LogEvent {
    /// Local time, `YYYY-MM-DD HH:mm:ss.SSS`.
    pub timestamp: String,
    /// `File.js:line`.
    pub source: String,
    /// The message.
    pub message: String,
    /// `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL` or `NOTE`.
    pub level_name: String,
    /// 0 to 6.
    pub level: u8,
}
