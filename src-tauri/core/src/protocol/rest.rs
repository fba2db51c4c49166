//! Replies of the REST endpoints the tray reads (status, login, presence, sessions).

use serde::Deserialize;

use super::bounded;
use super::session::PlaybackSession;
use super::user::{PublicUser, User};

/// `GET /status`: version detection and available login methods, before any login.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerStatus {
    /// `audiobookshelf` (absent on old servers).
    #[serde(default, deserialize_with = "bounded::opt_ident")]
    pub app: Option<String>,
    /// e.g. `2.36.0`.
    #[serde(default, deserialize_with = "bounded::opt_ident")]
    pub server_version: Option<String>,
    /// `false` until a root user exists.
    pub is_init: bool,
    /// Server UI language.
    #[serde(default, deserialize_with = "bounded::opt_ident")]
    pub language: Option<String>,
    /// `local`, `openid`, ...
    #[serde(default, deserialize_with = "bounded::idents")]
    pub auth_methods: Vec<String>,
}

/// `POST /login`, `POST /auth/refresh` and `POST /api/authorize` replies.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    /// The account, with its tokens.
    pub user: User,
    /// Library the web client would open first.
    #[serde(default, deserialize_with = "bounded::opt_ident")]
    pub user_default_library_id: Option<String>,
    /// Server settings (only the version is kept).
    #[serde(default)]
    pub server_settings: Option<ServerSettings>,
}

/// `serverSettings` of a login reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerSettings {
    /// Server version, for servers too old to have it in `/status`.
    #[serde(default, deserialize_with = "bounded::opt_ident")]
    pub version: Option<String>,
}

/// `GET /api/users/online` (admin): the truth for presence and live session positions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsersOnline {
    /// One entry per online user, with `connections` (at most [`MAX_LIST_LEN`](super::MAX_LIST_LEN)).
    #[serde(deserialize_with = "bounded::list")]
    pub users_online: Vec<PublicUser>,
    /// Every open session with its current position.
    #[serde(default, deserialize_with = "bounded::list")]
    pub open_sessions: Vec<PlaybackSession>,
}

/// `GET /api/sessions/open` (admin); `shareSessions` (public share links) are ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenSessions {
    /// Open sessions, each with its `user`.
    #[serde(deserialize_with = "bounded::list")]
    pub sessions: Vec<PlaybackSession>,
}
