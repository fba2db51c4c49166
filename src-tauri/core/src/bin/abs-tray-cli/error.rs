//! The CLI's failures and their exit codes: one clear line each, never a backtrace or a Debug dump.
//! Each kind of failure has one exit code in every command (`--help` lists them).

use abs_tray_core::app::AppError;
use abs_tray_core::auth::AuthError;
use abs_tray_core::config::ConfigError;
use abs_tray_core::server_url::ServerUrlError;
use abs_tray_core::tls::TlsError;
use abs_tray_core::token_store::StoreError;

/// How a command failed; the variant decides the exit code.
#[derive(Debug)]
pub enum CliError {
    /// Exit 1: anything else (keyring, settings file, a misbehaving server, ...).
    Failed(String),
    /// Exit 2: the command line cannot work as given.
    Usage(String),
    /// Exit 3: only signing in (again) helps.
    SignInRequired(String),
    /// Exit 4: the server cannot be reached.
    Unreachable(String),
    /// Exit 5: the live connection (the WebSocket) does not open although the server answers,
    /// usually a reverse proxy setting; `login` still signed in and kept the sign-in.
    LiveRefused(String),
    /// Exit 0 without a message: the output ended (a closed pipe), which is not an error.
    OutputClosed,
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::OutputClosed => 0,
            Self::Failed(_) => 1,
            Self::Usage(_) => 2,
            Self::SignInRequired(_) => 3,
            Self::Unreachable(_) => 4,
            Self::LiveRefused(_) => 5,
        }
    }

    /// The line for stderr, if any.
    pub fn message(&self) -> Option<&str> {
        match self {
            Self::Failed(m)
            | Self::Usage(m)
            | Self::SignInRequired(m)
            | Self::Unreachable(m)
            | Self::LiveRefused(m) => Some(m),
            Self::OutputClosed => None,
        }
    }
}

impl From<AuthError> for CliError {
    /// The same plain sentence the window shows, with the system's words after it.
    fn from(error: AuthError) -> Self {
        let message = match AppError::from(error.clone()).plain() {
            (plain, Some(detail)) => format!("{plain} (details: {detail})"),
            (plain, None) => plain,
        };
        if error.sign_in_required() {
            Self::SignInRequired(message)
        } else if matches!(error, AuthError::Unreachable { .. } | AuthError::Timeout) {
            Self::Unreachable(message)
        } else {
            Self::Failed(message)
        }
    }
}

impl From<ServerUrlError> for CliError {
    fn from(error: ServerUrlError) -> Self {
        Self::Usage(error.to_string())
    }
}

impl From<ConfigError> for CliError {
    fn from(error: ConfigError) -> Self {
        Self::Failed(error.to_string())
    }
}

impl From<StoreError> for CliError {
    fn from(error: StoreError) -> Self {
        Self::Failed(format!("{error} ({})", error.detail()))
    }
}

impl From<TlsError> for CliError {
    fn from(error: TlsError) -> Self {
        match error {
            TlsError::Connect(_) => Self::Unreachable(error.to_string()),
            other => Self::Failed(other.to_string()),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> Self {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            Self::OutputClosed
        } else {
            Self::Failed(format!("cannot write the output: {error}"))
        }
    }
}
