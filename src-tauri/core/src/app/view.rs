//! What the shell renders: one serializable picture of the app, published on a watch channel.
//! It holds names, addresses and the live snapshot, never a token or a password.

use serde::Serialize;

use crate::connection::ConnectionStatus;
use crate::live::Snapshot;
use crate::server_url::ServerUrl;

/// The app at one moment, for the window and the tray.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    /// The signed-in account; `None` when signed out.
    pub account: Option<AccountView>,
    /// The last server signed in to (kept after sign-out and restarts), to prefill the form.
    pub last_server: Option<String>,
    /// The account is the built-in demo server's (nothing of it is saved).
    pub demo: bool,
    /// Popups are paused until then (Unix ms); may lie in the past.
    pub paused_until_ms: Option<i64>,
    /// The notification settings in force, as the Settings form edits them.
    pub notifications: serde_json::Value,
    /// What keeps the app from working as it should, for a banner; `None` when all is well.
    pub problem: Option<Problem>,
    /// The live state ([`Snapshot::empty`] when signed out).
    pub snapshot: Snapshot,
}

/// Who is signed in where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountView {
    /// The server's address as people see it (no credentials: [`ServerUrl`](crate::server_url::ServerUrl) refuses them).
    pub server_url: String,
    /// The user name.
    pub username: String,
    /// How the connection travels, when the user should know ("Connected over http: not encrypted.").
    pub transport_note: Option<String>,
}

impl AccountView {
    /// `username` on `url`, as shown.
    pub fn new(url: &ServerUrl, username: &str) -> Self {
        Self {
            server_url: url.to_string(),
            username: username.to_owned(),
            transport_note: url.transport_note(),
        }
    }
}

/// A problem shown in the window, and what a failed command answers: `{code, message, detail,
/// diagnose}`, always made from an [`AppError`](super::AppError) or the connection's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Stable snake_case identifier (`config_invalid`, `keyring_locked`, `sign_in_required`, ...).
    pub code: String,
    /// One plain sentence for people: what is wrong, what to do.
    pub message: String,
    /// The system's own words, for a "Details" disclosure.
    pub detail: Option<String>,
    /// The doctor can tell more about it (the server could not be reached or used).
    pub diagnose: bool,
}

impl Problem {
    /// A problem with this code and message.
    pub(super) fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            detail: None,
            diagnose: false,
        }
    }

    /// The problem an error stands for.
    pub fn of(err: &super::AppError) -> Self {
        let (message, detail) = err.plain();
        Self {
            code: err.code().to_owned(),
            message,
            detail,
            diagnose: err.diagnose(),
        }
    }

    /// The problem the connection reports by itself: the server wants a new sign-in.
    pub(super) fn of_connection(status: &ConnectionStatus) -> Option<Self> {
        match status {
            ConnectionStatus::SignInRequired { reason } => Some(Self::new(
                "sign_in_required",
                crate::doctor::sentence(reason),
            )),
            _ => None,
        }
    }
}
