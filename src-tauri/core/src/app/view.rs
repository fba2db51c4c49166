//! What the shell renders: one serializable picture of the app, published on a watch channel.
//! It holds names, addresses and the live snapshot, never a token or a password.

use serde::Serialize;

use crate::connection::ConnectionStatus;
use crate::live::Snapshot;

/// The app at one moment, for the window and the tray.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    /// The signed-in account; `None` when signed out.
    pub account: Option<AccountView>,
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
}

/// A problem shown in the window: a stable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Stable snake_case identifier (`config_invalid`, `keyring_locked`, `sign_in_required`, ...).
    pub code: String,
    /// For people.
    pub message: String,
}

impl Problem {
    /// A problem with this code and message.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// The problem an error stands for.
    pub(super) fn of(err: &super::AppError) -> Self {
        Self::new(err.code(), err.to_string())
    }

    /// The problem the connection reports by itself: the server wants a new sign-in.
    pub(super) fn of_connection(status: &ConnectionStatus) -> Option<Self> {
        match status {
            ConnectionStatus::SignInRequired { reason } => Some(Self::new(
                "sign_in_required",
                format!("Sign in again: {reason}"),
            )),
            _ => None,
        }
    }
}
