//! Configuration of a simulator instance and the server version it pretends to be.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::error::SimError;

/// An Audiobookshelf server version such as `2.36.0`; it switches the version-dependent behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerVersion {
    /// Major part.
    pub major: u32,
    /// Minor part.
    pub minor: u32,
    /// Patch part.
    pub patch: u32,
}

impl ServerVersion {
    /// The version the captures come from.
    pub const V2_36_0: ServerVersion = ServerVersion::new(2, 36, 0);

    /// Builds a version.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        ServerVersion {
            major,
            minor,
            patch,
        }
    }

    /// Since 2.26.0: access + refresh tokens, `auth_failed`, API keys, the `isActive` socket check.
    pub(crate) fn has_jwt_sessions(self) -> bool {
        self >= ServerVersion::new(2, 26, 0)
    }

    /// Since 2.36.0 refresh tokens are no longer accepted where an access token is expected.
    pub(crate) fn rejects_refresh_as_access(self) -> bool {
        self >= ServerVersion::new(2, 36, 0)
    }

    /// Since 2.35.0 `cancel_scan` and `set_log_listener` are admin-only.
    pub(crate) fn admin_only_scan_and_logs(self) -> bool {
        self >= ServerVersion::new(2, 35, 0)
    }

    /// Servers before 2.26.0 (as the simulator models them) answer `fetch_daily_logs`.
    pub(crate) fn answers_fetch_daily_logs(self) -> bool {
        !self.has_jwt_sessions()
    }
}

impl Default for ServerVersion {
    fn default() -> Self {
        ServerVersion::V2_36_0
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for ServerVersion {
    type Err = SimError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || SimError::InvalidVersion(s.to_string());
        let mut parts = s.trim().trim_start_matches('v').split('.');
        let mut next = || -> Result<u32, SimError> {
            parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())
        };
        let v = ServerVersion::new(next()?, next()?, next()?);
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(v)
    }
}

/// A user to create at start: `NAME:PASS[:admin]` on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSpec {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Type admin instead of user.
    pub admin: bool,
}

impl FromStr for UserSpec {
    type Err = SimError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || SimError::InvalidUserSpec(s.to_string());
        let mut parts = s.splitn(3, ':');
        let username = parts.next().filter(|u| !u.is_empty()).ok_or_else(bad)?;
        let password = parts.next().ok_or_else(bad)?;
        let admin = match parts.next() {
            None => false,
            Some("admin") => true,
            Some(_) => return Err(bad()),
        };
        Ok(UserSpec {
            username: username.to_string(),
            password: password.to_string(),
            admin,
        })
    }
}

/// What the simulator does by itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scenario {
    /// Nothing: activity only through the Rust API, the players' REST calls or `/__sim/`.
    #[default]
    Idle,
    /// Believable activity forever (users listening, finishing books, scans, admin messages).
    Demo,
    /// A hostile server forever: wrong types, markup and bidi overrides in names, a 10 MB admin
    /// message, floods, 100,000 users online (see `docs/simulator.md`).
    Hostile,
}

impl FromStr for Scenario {
    type Err = SimError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "idle" => Ok(Scenario::Idle),
            "demo" => Ok(Scenario::Demo),
            "hostile" => Ok(Scenario::Hostile),
            other => Err(SimError::InvalidScenario(other.to_string())),
        }
    }
}

/// Configuration of one simulator instance. `SimConfig::default()` suits tests: an ephemeral
/// port on 127.0.0.1, version 2.36.0, real-server token lifetimes and rate limit.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The version to pretend to be.
    pub server_version: ServerVersion,
    /// Users to create (besides `root`/`root`, which always exists).
    pub users: Vec<UserSpec>,
    /// Mount the `/__sim/` control API.
    pub control: bool,
    /// Persist users, the JWT secret, refresh sessions, API keys and the library here.
    pub data_dir: Option<PathBuf>,
    /// Access-token lifetime (`ACCESS_TOKEN_EXPIRY`), whole seconds on the wire.
    pub access_ttl: Duration,
    /// Refresh-token lifetime (`REFRESH_TOKEN_EXPIRY`).
    pub refresh_ttl: Duration,
    /// How long a rotated refresh token stays usable (`REFRESH_TOKEN_GRACE_PERIOD`).
    pub grace: Duration,
    /// Requests to `/login` and `/auth/refresh` per IP and window (`RATE_LIMIT_AUTH_MAX`; 0 = off).
    pub auth_rate_limit: u32,
    /// The rate-limit window (`RATE_LIMIT_AUTH_WINDOW`).
    pub auth_rate_window: Duration,
    /// Built-in activity.
    pub scenario: Scenario,
    /// Number of books in the initial "Audiobooks" library.
    pub initial_books: usize,
    /// Engine.IO `pingInterval`: how often the server pings each socket (ABS: 25 s).
    pub ping_interval: Duration,
    /// Engine.IO `pingTimeout`: how long a ping may go unanswered before the server closes the
    /// socket (ABS: 20 s). Tests shrink both to see a frozen client timed out in seconds.
    pub ping_timeout: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            server_version: ServerVersion::default(),
            users: Vec::new(),
            control: false,
            data_dir: None,
            access_ttl: Duration::from_secs(60 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 60 * 60),
            grace: Duration::from_secs(10 * 60),
            auth_rate_limit: 40,
            auth_rate_window: Duration::from_secs(10 * 60),
            scenario: Scenario::Idle,
            initial_books: 6,
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
        }
    }
}

impl SimConfig {
    /// Adds a user to create at start.
    pub fn with_user(mut self, username: &str, password: &str, admin: bool) -> Self {
        self.users.push(UserSpec {
            username: username.to_string(),
            password: password.to_string(),
            admin,
        });
        self
    }

    /// Sets the server version.
    pub fn with_version(mut self, version: ServerVersion) -> Self {
        self.server_version = version;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_compare() {
        let v: ServerVersion = "2.25.0".parse().unwrap();
        assert!(!v.has_jwt_sessions());
        assert!(v.answers_fetch_daily_logs());
        assert!(ServerVersion::V2_36_0.rejects_refresh_as_access());
        assert!("2.x".parse::<ServerVersion>().is_err());
        assert_eq!(ServerVersion::V2_36_0.to_string(), "2.36.0");
    }

    #[test]
    fn user_specs_parse() {
        let u: UserSpec = "alice:pw:admin".parse().unwrap();
        assert!(u.admin);
        let u: UserSpec = "bob:secret".parse().unwrap();
        assert_eq!((u.username.as_str(), u.admin), ("bob", false));
        assert!("bob".parse::<UserSpec>().is_err());
        assert!("bob:x:root".parse::<UserSpec>().is_err());
    }
}
