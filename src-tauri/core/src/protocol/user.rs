//! Users as the server shows them: presence entries, full accounts, and the `init` reply.

use std::fmt;

use serde::de::value::{MapAccessDeserializer, StrDeserializer};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::bounded;
use super::session::PlaybackSession;
use crate::secret::Secret;

/// Account type; root and admin sockets are the only ones that see other users' activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserType {
    /// The server owner.
    Root,
    /// An administrator.
    Admin,
    /// A regular user.
    User,
    /// A guest account.
    Guest,
    /// A type this client does not know (newer server).
    #[serde(other)]
    Unknown,
}

impl UserType {
    /// Admin-only socket events (`user_online`, `user_stream_update`, ...) reach only these.
    pub fn is_admin(self) -> bool {
        matches!(self, Self::Root | Self::Admin)
    }
}

/// `User.toJSONForPublic`: the presence entry of `user_online`/`user_offline`/`user_stream_update`,
/// `init.usersOnline` and `GET /api/users/online`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicUser {
    /// User id.
    #[serde(deserialize_with = "bounded::ident")]
    pub id: String,
    /// Display name.
    #[serde(deserialize_with = "bounded::text")]
    pub username: String,
    /// Account type.
    #[serde(rename = "type")]
    pub user_type: UserType,
    /// The user's *first* open playback session, if any (on close, still the closing one).
    #[serde(default)]
    pub session: Option<Box<PlaybackSession>>,
    /// Last login before this one (ms); `null` for a first login.
    #[serde(default, deserialize_with = "bounded::opt_ms")]
    pub last_seen: Option<i64>,
    /// Account creation (ms).
    #[serde(default, deserialize_with = "bounded::opt_ms")]
    pub created_at: Option<i64>,
    /// Authenticated sockets of this user; only in `init` and `GET /api/users/online`.
    #[serde(default)]
    pub connections: Option<u32>,
}

/// `User.toOldJSONForBrowser` (`user_added`/`user_updated`/`user_removed`, and the `user` of
/// login/refresh/authorize replies), reduced to what the tray needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// User id.
    #[serde(deserialize_with = "bounded::ident")]
    pub id: String,
    /// Display name.
    #[serde(deserialize_with = "bounded::text")]
    pub username: String,
    /// E-mail address, when set.
    #[serde(default, deserialize_with = "bounded::opt_text")]
    pub email: Option<String>,
    /// Account type.
    #[serde(rename = "type")]
    pub user_type: UserType,
    /// Legacy non-expiring token (always sent, deprecated since 2.26).
    #[serde(default, deserialize_with = "bounded::opt_token")]
    pub token: Option<Secret>,
    /// Short-lived access token (login/refresh on 2.26+ only).
    #[serde(default, deserialize_with = "bounded::opt_token")]
    pub access_token: Option<Secret>,
    /// Rotating refresh token (only with `x-return-tokens` / `x-refresh-token`).
    #[serde(default, deserialize_with = "bounded::opt_token")]
    pub refresh_token: Option<Secret>,
    /// Inactive users cannot authenticate a socket.
    pub is_active: bool,
    /// Locked users cannot change their own settings.
    #[serde(default)]
    pub is_locked: bool,
    /// Last login (ms).
    #[serde(default, deserialize_with = "bounded::opt_ms")]
    pub last_seen: Option<i64>,
    /// Account creation (ms).
    #[serde(default, deserialize_with = "bounded::opt_ms")]
    pub created_at: Option<i64>,
}

impl User {
    /// The token to `auth` the socket with: the access token on 2.26+, else the legacy token.
    pub fn socket_token(&self) -> Option<&Secret> {
        self.access_token.as_ref().or(self.token.as_ref())
    }
}

/// `init`: the socket is authenticated as this user.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Init {
    /// The authenticated user's id.
    #[serde(deserialize_with = "bounded::ident")]
    pub user_id: String,
    /// The authenticated user's name.
    #[serde(deserialize_with = "bounded::text")]
    pub username: String,
    /// Everyone online, one entry per user; sent to admins only.
    #[serde(default, deserialize_with = "bounded::opt_list")]
    pub users_online: Option<Vec<PublicUser>>,
    /// Libraries being scanned; only old servers send it (use `GET /api/tasks` otherwise).
    #[serde(default, deserialize_with = "bounded::opt_list")]
    pub libraries_scanning: Option<Vec<ScanningLibrary>>,
}

/// An entry of the legacy `init.librariesScanning`: a library id string (as documented) or a
/// scan object `{id, name, ...}` (as some old servers sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanningLibrary {
    /// Library id.
    pub id: String,
    /// Library name, when the server sent an object.
    pub name: Option<String>,
}

impl<'de> Deserialize<'de> for ScanningLibrary {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // By hand rather than `untagged`, which would copy each entry into a tree first.
        deserializer.deserialize_any(ScanningLibraryVisitor)
    }
}

/// Reads either shape of a [`ScanningLibrary`].
struct ScanningLibraryVisitor;

impl<'de> Visitor<'de> for ScanningLibraryVisitor {
    type Value = ScanningLibrary;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a library id or a scan object")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ScanningLibrary, E> {
        let id = bounded::ident(StrDeserializer::<E>::new(v))?;
        Ok(ScanningLibrary { id, name: None })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ScanningLibrary, A::Error> {
        let scan = ScanObject::deserialize(MapAccessDeserializer::new(map))?;
        Ok(ScanningLibrary {
            id: scan.id,
            name: scan.name,
        })
    }
}

/// The object form of a [`ScanningLibrary`].
#[derive(Deserialize)]
struct ScanObject {
    /// Library id.
    #[serde(deserialize_with = "bounded::ident")]
    id: String,
    /// Library name.
    #[serde(default, deserialize_with = "bounded::opt_text")]
    name: Option<String>,
}

/// `auth_failed` (2.26+): the token was refused; the socket stays connected but useless.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AuthFailed {
    /// `Invalid token` or `Invalid user`; `None` if the server sent no message.
    #[serde(default, deserialize_with = "bounded::opt_message")]
    pub message: Option<String>,
}
