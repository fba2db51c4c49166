//! Why an app action failed: one enum for every layer below, each with a stable code for the
//! window (`{code, message}`).

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::auth::AuthError;
use crate::config::ConfigError;
use crate::connection::CommandError;
use crate::server_url::ServerUrlError;
use crate::tls::TlsError;
use crate::token_store::StoreError;

/// A failed [`App`](super::App) action; its message is for people, its [`code`](Self::code) for
/// the window. Never carries a secret.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppError {
    /// Signing in, refreshing or reaching the server failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The settings file could not be read or written.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The connection could not carry out a command.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The keyring refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The saved trust settings (extra CA, pinned certificate) cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The server address as typed cannot be used.
    #[error(transparent)]
    Address(#[from] ServerUrlError),
    /// Nobody is signed in.
    #[error("not signed in")]
    NotSignedIn,
    /// Only admins may do this.
    #[error("only an admin of the server can do this")]
    NotAdmin,
    /// A broadcast with nothing in it.
    #[error("the message is empty")]
    EmptyMessage,
    /// The sign-in form lacks a user name and password, or an API key.
    #[error("enter a user name and password, or an API key")]
    MissingCredentials,
    /// Notification settings that do not fit [`PolicySettings`](crate::policy::PolicySettings).
    #[error("the notification settings are not valid: {0}")]
    InvalidSettings(String),
    /// A server log level outside 0..=6.
    #[error("log levels go from 0 (trace) to 6 (note), not {0}")]
    InvalidLogLevel(u8),
}

impl AppError {
    /// A stable snake_case identifier for the UI.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Auth(e) => e.code(),
            Self::Config(e) => e.code(),
            Self::Command(e) => match e {
                CommandError::NotConnected => "not_connected",
                CommandError::Stopped => "connection_stopped",
                CommandError::Failed(_) => "command_failed",
            },
            Self::Store(e) => e.code(),
            Self::Tls(e) => e.code(),
            Self::Address(_) => "invalid_address",
            Self::NotSignedIn => "not_signed_in",
            Self::NotAdmin => "not_admin",
            Self::EmptyMessage => "empty_message",
            Self::MissingCredentials => "missing_credentials",
            Self::InvalidSettings(_) => "invalid_settings",
            Self::InvalidLogLevel(_) => "invalid_log_level",
        }
    }
}

/// `{"code": ..., "message": ...}`, what commands answer with.
impl Serialize for AppError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("AppError", 2)?;
        out.serialize_field("code", self.code())?;
        out.serialize_field("message", &self.to_string())?;
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_code_and_message() {
        let json = serde_json::to_value(AppError::NotAdmin).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code": "not_admin", "message": "only an admin of the server can do this"})
        );
        let auth = AppError::from(AuthError::BadCredentials);
        assert_eq!(auth.code(), "bad_credentials");
        assert_eq!(auth.to_string(), "wrong user name or password");
        let store = AppError::from(AuthError::Store(StoreError::Locked { detail: "x".into() }));
        assert_eq!(store.code(), "keyring_locked");
    }
}
