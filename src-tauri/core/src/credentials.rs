//! Tokens for the connection, from the keyring-backed sign-in: the access token lives in memory,
//! the long-lived credential in the keyring, and a refresh happens before the token expires.

use std::time::SystemTime;

use tokio::sync::Mutex;

use crate::auth::{AuthError, Session, TokenManager};
use crate::connection::{CredentialError, Credentials};
use crate::protocol::DailyLogs;
use crate::secret::Secret;

/// The signed-in account as the connection sees it.
#[derive(Debug)]
pub struct SignedIn {
    /// Reads and rotates the stored credential.
    manager: TokenManager,
    /// The current session; `None` until the first token is asked for.
    session: Mutex<Option<Session>>,
}

impl SignedIn {
    /// Starts from a fresh sign-in (its session is used as is) or from the keyring (`None`).
    pub fn new(manager: TokenManager, session: Option<Session>) -> Self {
        Self {
            manager,
            session: Mutex::new(session),
        }
    }

    /// The sign-in behind these credentials.
    pub fn manager(&self) -> &TokenManager {
        &self.manager
    }

    /// The current session, refreshed first when asked to or when its token is about to expire.
    pub async fn session(&self, refresh: bool) -> Result<Session, AuthError> {
        let mut current = self.session.lock().await;
        let stale = current
            .as_ref()
            .is_none_or(|session| session.needs_refresh(SystemTime::now()));
        if refresh || stale {
            *current = Some(self.manager.resume().await?);
        }
        current.clone().ok_or(AuthError::NotSignedIn)
    }
}

impl Credentials for SignedIn {
    async fn access_token(&self, refresh: bool) -> Result<Secret, CredentialError> {
        self.session(refresh)
            .await
            .map(|session| session.access)
            .map_err(credential_error)
    }

    async fn user_id(&self) -> Option<String> {
        self.session
            .lock()
            .await
            .as_ref()
            .map(|s| s.user_id.clone())
    }

    async fn daily_logs(&self) -> Result<DailyLogs, CredentialError> {
        let session = self.session(false).await.map_err(credential_error)?;
        self.manager
            .client()
            .get_json("/api/logger-data", &session.access)
            .await
            .map_err(credential_error)
    }
}

/// Whether a sign-in failure needs the user or just time.
fn credential_error(err: AuthError) -> CredentialError {
    if err.sign_in_required() {
        CredentialError::SignInRequired(err.to_string())
    } else {
        CredentialError::Unavailable(err.to_string())
    }
}
