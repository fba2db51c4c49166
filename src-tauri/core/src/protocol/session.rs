//! Playback sessions: who is listening to what, on which device.

use serde::{Deserialize, Deserializer};

use super::bounded;
use super::library::MediaType;

/// `PlaybackSession.toJSONForClient()` / `toJSON()`, reduced to what a notifier shows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaybackSession {
    /// Session id (matches `user_session_closed` and `user_item_progress_updated.sessionId`).
    #[serde(deserialize_with = "bounded::ident")]
    pub id: String,
    /// The listening user.
    #[serde(deserialize_with = "bounded::ident")]
    pub user_id: String,
    /// Library of the item.
    #[serde(default, deserialize_with = "bounded::opt_ident")]
    pub library_id: Option<String>,
    /// The item being played (cover: `/api/items/{id}/cover`).
    #[serde(default, deserialize_with = "bounded::opt_ident")]
    pub library_item_id: Option<String>,
    /// Podcast episode id; `None` for books.
    #[serde(default, deserialize_with = "bounded::opt_ident")]
    pub episode_id: Option<String>,
    /// Book or podcast.
    #[serde(default)]
    pub media_type: MediaType,
    /// Book title or episode title.
    #[serde(default, deserialize_with = "bounded::opt_text")]
    pub display_title: Option<String>,
    /// Author, or podcast author.
    #[serde(default, deserialize_with = "bounded::opt_text")]
    pub display_author: Option<String>,
    /// Total length in seconds, when known.
    #[serde(default)]
    pub duration: Option<f64>,
    /// How the audio reaches the client.
    pub play_method: PlayMethod,
    /// Player name chosen by the client (`html5`, `ExoPlayer`, ...).
    #[serde(default, deserialize_with = "bounded::opt_loose_text")]
    pub media_player: Option<String>,
    /// The client device; the server omits null keys.
    #[serde(default)]
    pub device_info: Option<DeviceInfo>,
    /// Seconds listened in this session (stale between syncs for pushed events).
    #[serde(default, deserialize_with = "bounded::seconds")]
    pub time_listening: f64,
    /// Position (s) where the session started.
    #[serde(default, deserialize_with = "bounded::seconds")]
    pub start_time: f64,
    /// Position (s) at the last sync.
    #[serde(default, deserialize_with = "bounded::seconds")]
    pub current_time: f64,
    /// Session start (ms).
    #[serde(deserialize_with = "bounded::ms")]
    pub started_at: i64,
    /// Last sync (ms).
    #[serde(deserialize_with = "bounded::ms")]
    pub updated_at: i64,
    /// Owner, only in `GET /api/sessions/open`.
    #[serde(default)]
    pub user: Option<SessionUser>,
}

/// `playMethod`: kept as a number the app may not know yet, rather than failing the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayMethod {
    /// 0: the client plays the original files.
    DirectPlay,
    /// 1: remuxed stream.
    DirectStream,
    /// 2: HLS transcode by the server.
    Transcode,
    /// 3: offline playback of downloaded files.
    Local,
    /// Any other value.
    Unknown(i64),
}

impl PlayMethod {
    /// The wire value, for logs and round trips.
    pub fn code(self) -> i64 {
        match self {
            Self::DirectPlay => 0,
            Self::DirectStream => 1,
            Self::Transcode => 2,
            Self::Local => 3,
            Self::Unknown(code) => code,
        }
    }
}

impl From<i64> for PlayMethod {
    fn from(code: i64) -> Self {
        match code {
            0 => Self::DirectPlay,
            1 => Self::DirectStream,
            2 => Self::Transcode,
            3 => Self::Local,
            other => Self::Unknown(other),
        }
    }
}

impl<'de> Deserialize<'de> for PlayMethod {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        i64::deserialize(deserializer).map(Self::from)
    }
}

/// `deviceInfo`: every key is optional (null ones are omitted) and client-supplied, so values
/// are free text and numbers are accepted as text (Android sends `sdkVersion` as a number).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    /// Server-side device record id.
    #[serde(default, deserialize_with = "bounded::opt_loose_text")]
    pub id: Option<String>,
    /// Owner of the device record.
    #[serde(default, deserialize_with = "bounded::opt_loose_text")]
    pub user_id: Option<String>,
    /// Client-chosen device id.
    #[serde(default, deserialize_with = "bounded::opt_loose_text")]
    pub device_id: Option<String>,
    /// Client address as seen by the server.
    #[serde(default, deserialize_with = "bounded::opt_loose_text")]
    pub ip_address: Option<String>,
    /// Browser name (web client).
    #[serde(default, deserialize_with = "bounded::opt_loose_text")]
    pub browser_name: Option<String>,
    /// Browser version (web client).
    #[serde(default, deserialize_with = "bounded::opt_loose_text")]
    pub browser_version: Option<String>,
    /// Operating system name.
    #[serde(default, deserialize_with = "bounded::opt_loose_text")]
    pub os_name: Option<String>,
    /// Operating system version.
    #[serde(default, deserialize_with = "bounded::opt_loose_text")]
    pub os_version: Option<String>,
    /// Device type (e.g. `mobile`).
    #[serde(default, deserialize_with = "bounded::opt_loose_text")]
    pub device_type: Option<String>,
    /// Client app version.
    #[serde(default, deserialize_with = "bounded::opt_loose_text")]
    pub client_version: Option<String>,
    /// Phone manufacturer (mobile apps).
    #[serde(default, deserialize_with = "bounded::opt_loose_text")]
    pub manufacturer: Option<String>,
    /// Phone model (mobile apps).
    #[serde(default, deserialize_with = "bounded::opt_loose_text")]
    pub model: Option<String>,
    /// Android SDK level (sent as a number).
    #[serde(default, deserialize_with = "bounded::opt_loose_text")]
    pub sdk_version: Option<String>,
    /// Client app name.
    #[serde(default, deserialize_with = "bounded::opt_loose_text")]
    pub client_name: Option<String>,
    /// User-given device name.
    #[serde(default, deserialize_with = "bounded::opt_loose_text")]
    pub device_name: Option<String>,
}

/// Owner of a session in `GET /api/sessions/open`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SessionUser {
    /// User id.
    #[serde(deserialize_with = "bounded::ident")]
    pub id: String,
    /// Display name.
    #[serde(deserialize_with = "bounded::text")]
    pub username: String,
}
