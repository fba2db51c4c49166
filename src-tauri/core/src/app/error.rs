//! Why an app action failed: one enum for every layer below, each with a stable code. Commands
//! answer with it as `{code, message, detail, diagnose}` ([`Problem`](super::Problem)): the
//! window keeps no list of codes of its own.

use serde::{Serialize, Serializer};

use super::Problem;
use crate::auth::AuthError;
use crate::config::ConfigError;
use crate::connection::CommandError;
use crate::doctor::sentence;
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
    #[error("sign in to a server first")]
    NotSignedIn,
    /// Only admins may do this.
    #[error("only an admin of the server can do this")]
    NotAdmin,
    /// A broadcast with nothing in it.
    #[error("write a message first")]
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
    /// A choice the command does not know (a pause length, say).
    #[error("that choice is not offered: {0}")]
    InvalidChoice(String),
    /// The desktop refused to do something for the app (open a browser, a login item).
    #[error("the desktop could not {what}: {reason}")]
    Desktop {
        /// What was asked, as a verb phrase ("open the browser").
        what: &'static str,
        /// What the desktop said.
        reason: String,
    },
}

/// Every code an [`AppError`] can have; the window's code is tested against it.
#[cfg(test)]
const CODES: &[&str] = &[
    "bad_credentials",
    "invalid_api_key",
    "rate_limited",
    "refresh_rejected",
    "not_signed_in",
    "unreachable",
    "timeout",
    "tls_untrusted",
    "tls_host_mismatch",
    "token_refused",
    "tls",
    "not_abs",
    "not_set_up",
    "redirected",
    "http_error",
    "bad_reply",
    "reply_too_large",
    "client_setup",
    "config_no_dir",
    "config_unreadable",
    "config_invalid",
    "config_broken_kept",
    "config_not_loaded",
    "config_write_failed",
    "not_connected",
    "connection_stopped",
    "command_failed",
    "keyring_unavailable",
    "keyring_locked",
    "keyring_failed",
    "tls_cert_unreadable",
    "tls_cert_invalid",
    "tls_bad_fingerprint",
    "tls_pinned_missing",
    "tls_fingerprint_mismatch",
    "tls_setup_failed",
    "tls_not_https",
    "tls_handshake_failed",
    "tls_pin_write_failed",
    "tls_certificate_changed",
    "invalid_address",
    "not_admin",
    "empty_message",
    "missing_credentials",
    "invalid_settings",
    "invalid_log_level",
    "invalid_choice",
    "desktop_failed",
];

impl AppError {
    /// A stable snake_case identifier for the UI.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Auth(e) => e.code(),
            Self::Config(e) => e.code(),
            Self::Command(e) => e.code(),
            Self::Store(e) => e.code(),
            Self::Tls(e) => e.code(),
            Self::Address(_) => "invalid_address",
            Self::NotSignedIn => "not_signed_in",
            Self::NotAdmin => "not_admin",
            Self::EmptyMessage => "empty_message",
            Self::MissingCredentials => "missing_credentials",
            Self::InvalidSettings(_) => "invalid_settings",
            Self::InvalidLogLevel(_) => "invalid_log_level",
            Self::InvalidChoice(_) => "invalid_choice",
            Self::Desktop { .. } => "desktop_failed",
        }
    }

    /// True when the server could not be reached or used as it should: the doctor's step-by-step
    /// check can say why (and its first failed step says it best).
    pub fn diagnose(&self) -> bool {
        match self {
            Self::Auth(e) => matches!(
                e,
                AuthError::Unreachable { .. }
                    | AuthError::Timeout
                    | AuthError::UntrustedCertificate { .. }
                    | AuthError::HostMismatch { .. }
                    | AuthError::Tls { .. }
                    | AuthError::NotAbs
                    | AuthError::Redirected { .. }
                    | AuthError::Http { .. }
                    | AuthError::Decode { .. }
                    | AuthError::TooLarge
            ),
            Self::Address(_) => true,
            Self::Tls(e) => matches!(e, TlsError::Connect(_) | TlsError::Handshake(_)),
            _ => false,
        }
    }

    /// One plain sentence for people, and the system's own words behind it (for "Details").
    pub fn plain(&self) -> (String, Option<String>) {
        let (said, detail) = match self {
            Self::Auth(AuthError::Unreachable { reason }) => (
                "Cannot reach the server: check the address, and that the server is running."
                    .to_owned(),
                Some(reason.clone()),
            ),
            Self::Auth(AuthError::Tls { reason }) => (
                "The secure connection to the server failed.".to_owned(),
                Some(reason.clone()),
            ),
            Self::Auth(AuthError::HostMismatch { reason, .. }) => {
                (self.to_string(), Some(reason.clone()))
            }
            Self::Auth(AuthError::UntrustedCertificate { reason }) => (
                "The server's certificate is not trusted by this computer: trust its CA, or pin \
                 the certificate if the server is yours."
                    .to_owned(),
                Some(reason.clone()),
            ),
            Self::Config(e @ ConfigError::Read { path, .. }) => (
                format!(
                    "The settings file {} cannot be read: check its permissions.",
                    path.display()
                ),
                Some(e.to_string()),
            ),
            Self::Config(e @ ConfigError::Parse { path, .. }) => (
                format!(
                    "The settings file {} has a mistake: fix it by hand (see the details) or \
                     delete it.",
                    path.display()
                ),
                Some(e.to_string()),
            ),
            Self::Config(e @ ConfigError::BrokenFileKept { path }) => (
                format!(
                    "The settings file {} could not be read, so it was left untouched: fix it by \
                     hand or delete it.",
                    path.display()
                ),
                Some(e.to_string()),
            ),
            Self::Config(e @ ConfigError::Write { path, .. }) => (
                format!(
                    "The settings cannot be saved to {}: check that its folder is writable.",
                    path.display()
                ),
                Some(e.to_string()),
            ),
            other => (other.to_string(), None),
        };
        (sentence(&said), detail)
    }
}

/// `{"code", "message", "detail", "diagnose"}`: what commands answer with.
impl Serialize for AppError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Problem::of(self).serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_code_message_detail_and_diagnose() {
        let json = serde_json::to_value(AppError::NotAdmin).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code": "not_admin", "message": "Only an admin of the server can do this.",
                "detail": null, "diagnose": false})
        );
        let auth = AppError::from(AuthError::BadCredentials);
        assert_eq!(auth.code(), "bad_credentials");
        assert_eq!(auth.plain().0, "Wrong user name or password.");
        let store = AppError::from(AuthError::Store(StoreError::Locked { detail: "x".into() }));
        assert_eq!(store.code(), "keyring_locked");
    }

    #[test]
    fn system_text_goes_to_the_detail() {
        let error = AppError::from(AuthError::Unreachable {
            reason: "failed to lookup address information: Name or service not known".into(),
        });
        let json = serde_json::to_value(&error).unwrap();
        assert_eq!(json["code"], "unreachable");
        assert!(
            json["message"]
                .as_str()
                .unwrap()
                .starts_with("Cannot reach the server")
        );
        assert!(!json["message"].as_str().unwrap().contains("lookup"));
        assert_eq!(
            json["detail"],
            "failed to lookup address information: Name or service not known"
        );
        assert_eq!(json["diagnose"], true);
    }

    /// One of each variant (and of each inner error's variants that have their own code).
    fn samples() -> Vec<AppError> {
        let path = std::path::PathBuf::from("x");
        let mut all: Vec<AppError> = vec![
            AuthError::BadCredentials.into(),
            AuthError::InvalidApiKey.into(),
            AuthError::RateLimited { retry_after: None }.into(),
            AuthError::RefreshRejected { reason: "x".into() }.into(),
            AuthError::NotSignedIn.into(),
            AuthError::Unreachable { reason: "x".into() }.into(),
            AuthError::Timeout.into(),
            AuthError::UntrustedCertificate { reason: "x".into() }.into(),
            AuthError::Tls { reason: "x".into() }.into(),
            AuthError::HostMismatch {
                host: "x".into(),
                reason: "y".into(),
            }
            .into(),
            AuthError::TokenRefused {
                retry_in: std::time::Duration::from_secs(5),
            }
            .into(),
            AuthError::NotAbs.into(),
            AuthError::NotSetUp.into(),
            AuthError::Redirected {
                location: "x".into(),
            }
            .into(),
            AuthError::Http { status: 500 }.into(),
            AuthError::Decode { reason: "x".into() }.into(),
            AuthError::TooLarge.into(),
            AuthError::Client("x".into()).into(),
            CommandError::NotConnected.into(),
            CommandError::Stopped.into(),
            CommandError::Failed("x".into()).into(),
            StoreError::Unavailable { detail: "x".into() }.into(),
            StoreError::Locked { detail: "x".into() }.into(),
            StoreError::Other { detail: "x".into() }.into(),
            TlsError::ReadFile {
                path: path.clone(),
                reason: "x".into(),
            }
            .into(),
            TlsError::BadCertificate {
                path: path.clone(),
                reason: "x".into(),
            }
            .into(),
            TlsError::BadFingerprint.into(),
            TlsError::PinnedCertificateMissing { path: path.clone() }.into(),
            TlsError::FingerprintMismatch {
                path: path.clone(),
                expected: "x".into(),
                actual: "y".into(),
            }
            .into(),
            TlsError::Build("x".into()).into(),
            TlsError::NotHttps.into(),
            TlsError::Handshake("x".into()).into(),
            TlsError::Write {
                path,
                reason: "x".into(),
            }
            .into(),
            TlsError::CertificateChanged {
                presented: "x".into(),
            }
            .into(),
            ServerUrlError::Empty.into(),
            AppError::NotSignedIn,
            AppError::NotAdmin,
            AppError::EmptyMessage,
            AppError::MissingCredentials,
            AppError::InvalidSettings("x".into()),
            AppError::InvalidLogLevel(9),
            AppError::InvalidChoice("x".into()),
            AppError::Desktop {
                what: "open the browser",
                reason: "x".into(),
            },
        ];
        let file = std::path::PathBuf::from("settings.toml");
        all.extend(
            [
                ConfigError::NoConfigDir,
                ConfigError::Read {
                    path: file.clone(),
                    reason: "x".into(),
                },
                ConfigError::Parse {
                    path: file.clone(),
                    line: 1,
                    column: 1,
                    message: "x".into(),
                },
                ConfigError::BrokenFileKept { path: file.clone() },
                ConfigError::NotLoaded { path: file.clone() },
                ConfigError::Write {
                    path: file,
                    reason: "x".into(),
                },
            ]
            .into_iter()
            .map(AppError::from),
        );
        all
    }

    #[test]
    fn every_code_is_listed_and_every_listed_code_is_sent() {
        let sent: std::collections::BTreeSet<&str> = samples().iter().map(AppError::code).collect();
        let listed: std::collections::BTreeSet<&str> = CODES.iter().copied().collect();
        assert_eq!(sent, listed);
    }

    #[test]
    fn every_message_is_a_capitalised_sentence() {
        for error in samples() {
            let (message, _) = error.plain();
            let first = message.chars().next().unwrap();
            assert!(first.is_uppercase(), "{message}");
            assert!(
                message.ends_with('.') || message.ends_with('?'),
                "{message}"
            );
        }
    }

    /// The codes the window's scripts compare `.code` with, e.g. `error.code === "x"`.
    fn codes_in_ui() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/js");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, _) in text.match_indices("code") {
                let line_start = text[..i].rfind('\n').map_or(0, |n| n + 1);
                if text[line_start..i].contains("typeof") {
                    continue;
                }
                let rest = &text[i + 4..];
                let rest = rest.trim_start_matches([' ', ')']);
                let Some(rest) = rest
                    .strip_prefix("===")
                    .or_else(|| rest.strip_prefix("!=="))
                    .or_else(|| rest.strip_prefix("=="))
                else {
                    continue;
                };
                let rest = rest.trim_start();
                let Some(quoted) = rest.strip_prefix('"') else {
                    continue;
                };
                if let Some(end) = quoted.find('"') {
                    found.push((path.display().to_string(), quoted[..end].to_owned()));
                }
            }
        }
        found
    }

    #[test]
    fn the_window_handles_only_codes_that_rust_sends() {
        let extra = ["sign_in_required"]; // the connection's own problem (view.rs)
        for (file, code) in codes_in_ui() {
            assert!(
                CODES.contains(&code.as_str()) || extra.contains(&code.as_str()),
                "{file} handles the code {code:?}, which Rust never sends"
            );
        }
    }
}
